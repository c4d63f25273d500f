//! Writers: findings into bytes, in the format a destination reads.
//!
//! Detection ([`crate::Detector::detect`]) only finds; a writer decides how a record leaves.
//! Every tag format ([`TagFormat`]) is a [`TagWriter`]: the top-level members it owns, the
//! producer's members it merges into, and how to write its members for a matching record.
//! [`write_record`] does the rest the same way for every format: a match is spliced into the
//! original bytes as members after the last one; a record that arrived with members the format
//! owns loses them (so a tag downstream means this pass wrote it); every other record leaves byte
//! for byte as it came. `docs/tag-formats.md` documents each format's fields.
//!
//! - [`trailtag`]: the native `trailtag` member (`docs/tag-schema.md`);
//! - [`ecs`]: Elastic Common Schema alert fields (`rule`, `threat`, `event.kind: alert`, ...);
//! - [`ocsf`]: OCSF Detection Findings (class 2004) in a `detection_findings` member;
//! - [`fluent_bit`]: the wrapper Fluent Bit's filter ABI needs for a record it cannot return;
//! - [`splice`]: the byte surgery all of them use.
//!
//! The detector must be built with the format's owned keys
//! ([`crate::DetectorBuilder::tag_keys`] with [`TagFormat::owned_keys`]): its scan is what finds
//! the records that arrive with them.

pub mod ecs;
mod fields;
pub mod fluent_bit;
pub mod ocsf;
pub mod splice;
pub mod trailtag;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::findings::Detection;
use crate::rule::Rule;
use splice::{Members, insert_members, without_members};

/// A tag format.
pub trait TagWriter {
    /// The top-level members the format owns: removed from every record that arrives with them,
    /// and written again on a match.
    fn owned_keys(&self) -> &[&str];

    /// Top-level members of the producer's that the format merges into on a match (ECS `event`,
    /// `tags`): removed from a matching record and written again by [`TagWriter::write_members`]
    /// with the producer's content kept. Records that match nothing keep them untouched.
    fn merged_keys(&self) -> &[&str] {
        &[]
    }

    /// Writes the format's members for a matching record (`record` is the original bytes).
    fn write_members(&self, record: &[u8], detection: &Detection<'_>, out: &mut Members<'_>);
}

/// Appends `record` as it leaves: tagged when it matched, without the members it arrived with
/// under the writer's owned keys when there were any, otherwise unchanged.
pub fn write_record(
    writer: &dyn TagWriter,
    record: &[u8],
    detection: &Detection<'_>,
    out: &mut Vec<u8>,
) {
    let strip = detection.findings().foreign_tags() > 0;
    if detection.is_match() {
        let mut removed: Vec<&str> = writer.merged_keys().to_vec();
        if strip {
            removed.extend_from_slice(writer.owned_keys());
        }
        let write = |members: &mut Members<'_>| writer.write_members(record, detection, members);
        if removed.is_empty() {
            insert_members(record, out, write);
        } else {
            insert_members(&without_members(record, &removed), out, write);
        }
    } else if strip {
        out.extend_from_slice(&without_members(record, writer.owned_keys()));
    } else {
        out.extend_from_slice(record);
    }
}

/// How a match is written (`--tag-format`, `tag_format` in the module's configuration).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagFormat {
    /// The native `trailtag` member.
    #[default]
    Trailtag,
    /// Elastic Common Schema alert fields.
    Ecs,
    /// OCSF Detection Findings (class 2004).
    Ocsf,
}

impl TagFormat {
    /// Every format, default first.
    pub const ALL: [TagFormat; 3] = [TagFormat::Trailtag, TagFormat::Ecs, TagFormat::Ocsf];

    /// The name used in flags and configuration.
    pub fn name(self) -> &'static str {
        match self {
            TagFormat::Trailtag => "trailtag",
            TagFormat::Ecs => "ecs",
            TagFormat::Ocsf => "ocsf",
        }
    }

    /// The format of this name.
    pub fn from_name(name: &str) -> Option<TagFormat> {
        TagFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The top-level members the format owns (what the detector's scan must look for).
    pub fn owned_keys(self) -> &'static [&'static str] {
        match self {
            TagFormat::Trailtag => &[crate::findings::TAG_KEY],
            TagFormat::Ecs => ecs::OWNED_KEYS,
            TagFormat::Ocsf => &[ocsf::FINDINGS_KEY],
        }
    }

    /// The format's writer for a rule set (rendering what it can once, per rule).
    pub fn writer(self, rules: &[Rule]) -> FormatWriter {
        match self {
            TagFormat::Trailtag => FormatWriter::Trailtag(trailtag::TrailtagTag::for_rules(rules)),
            TagFormat::Ecs => FormatWriter::Ecs(ecs::EcsTag),
            TagFormat::Ocsf => FormatWriter::Ocsf(ocsf::OcsfTag),
        }
    }
}

impl fmt::Display for TagFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The writer of any [`TagFormat`], chosen at run time.
#[derive(Debug, Clone)]
pub enum FormatWriter {
    /// [`trailtag::TrailtagTag`].
    Trailtag(trailtag::TrailtagTag),
    /// [`ecs::EcsTag`].
    Ecs(ecs::EcsTag),
    /// [`ocsf::OcsfTag`].
    Ocsf(ocsf::OcsfTag),
}

impl Default for FormatWriter {
    fn default() -> Self {
        FormatWriter::Trailtag(trailtag::TrailtagTag::default())
    }
}

impl FormatWriter {
    fn inner(&self) -> &dyn TagWriter {
        match self {
            FormatWriter::Trailtag(w) => w,
            FormatWriter::Ecs(w) => w,
            FormatWriter::Ocsf(w) => w,
        }
    }
}

impl TagWriter for FormatWriter {
    fn owned_keys(&self) -> &[&str] {
        self.inner().owned_keys()
    }

    fn merged_keys(&self) -> &[&str] {
        self.inner().merged_keys()
    }

    fn write_members(&self, record: &[u8], detection: &Detection<'_>, out: &mut Members<'_>) {
        self.inner().write_members(record, detection, out);
    }
}
