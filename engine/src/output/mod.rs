//! Writers: findings into bytes, in the format a destination reads.
//!
//! Detection ([`crate::Detector::detect`]) only finds; a writer decides how a record leaves.
//! Every tag format is a [`TagWriter`]: the name of the top-level member it owns and how to write
//! that member's value for a matching record. [`write_record`] does the rest the same way for
//! every format: a match is spliced into the original bytes as one member after the last one; a
//! record that arrived with a member of that name loses it (so a tag downstream means this pass
//! wrote it); every other record leaves byte for byte as it came.
//!
//! - [`trailtag`]: the native `trailtag` member (`docs/tag-schema.md`);
//! - [`fluent_bit`]: the wrapper Fluent Bit's filter ABI needs for a record it cannot return;
//! - [`splice`]: the byte surgery both use.

pub mod fluent_bit;
pub mod splice;
pub mod trailtag;

use crate::findings::Detection;

/// A tag format.
pub trait TagWriter {
    /// The top-level member the format writes (and removes from records that arrive with it).
    fn key(&self) -> &str;

    /// Writes the member's value for a matching record.
    fn write_value(&self, detection: &Detection<'_>, out: &mut Vec<u8>);
}

/// Appends `record` as it leaves: tagged when it matched, without the members it arrived with
/// under the writer's key when there were any, otherwise unchanged.
pub fn write_record(
    writer: &dyn TagWriter,
    record: &[u8],
    detection: &Detection<'_>,
    out: &mut Vec<u8>,
) {
    let strip = detection.findings().foreign_tags() > 0;
    if detection.is_match() {
        let member = |out: &mut Vec<u8>| writer.write_value(detection, out);
        splice::insert_member(record, writer.key(), strip, out, member);
    } else if strip {
        out.extend_from_slice(&splice::without_members(record, writer.key()));
    } else {
        out.extend_from_slice(record);
    }
}
