//! A batch's answer as edits to the batch instead of a copy of it (ABI v2, `docs/abi.md` §4).
//!
//! Most records match nothing and leave byte for byte as they came, so a full copy of the batch
//! is mostly a copy of the input. Instead, the transform can answer with the few places where
//! the output differs: each [`Edit`] replaces a range of the input (whole lines, with their
//! `\n`) by a range of a replacement buffer (those lines as they leave). The host keeps the
//! batch it sent and writes the output from it and the replacements ([`segments`]), so that
//! an untagged byte is never copied again after it entered the guest.
//!
//! Edits are in input order, never overlap, and adjacent edits are merged (with
//! `only_matches`, a run of dropped lines is one edit). Applying the edits of a batch gives
//! exactly the bytes the copying transform writes for it; a property test holds the two to
//! each other.

use std::ops::Range;

/// Bytes one edit occupies in the guest's edit table: four little-endian `u32`s.
pub const EDIT_BYTES: usize = 16;

/// The input bytes `input` are replaced by the replacement bytes `output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edit {
    /// Start of the replaced input range (a line's first byte).
    pub input_start: u32,
    /// End of the replaced input range (past a line's `\n`, or the end of the batch).
    pub input_end: u32,
    /// Start of the replacement in the call's replacement buffer.
    pub output_start: u32,
    /// End of the replacement.
    pub output_end: u32,
}

impl Edit {
    /// The replaced input range.
    pub fn input(&self) -> Range<usize> {
        self.input_start as usize..self.input_end as usize
    }

    /// The replacement's range in the replacement buffer.
    pub fn output(&self) -> Range<usize> {
        self.output_start as usize..self.output_end as usize
    }

    /// The edit as the guest's table holds it.
    pub fn to_bytes(self) -> [u8; EDIT_BYTES] {
        let mut bytes = [0; EDIT_BYTES];
        let fields = [
            self.input_start,
            self.input_end,
            self.output_start,
            self.output_end,
        ];
        for (chunk, field) in bytes.chunks_exact_mut(4).zip(fields) {
            chunk.copy_from_slice(&field.to_le_bytes());
        }
        bytes
    }

    /// Reads an edit table (`len` a multiple of [`EDIT_BYTES`]).
    pub fn parse_table(table: &[u8]) -> Result<Vec<Edit>, InvalidEdits> {
        if !table.len().is_multiple_of(EDIT_BYTES) {
            return Err(InvalidEdits(format!(
                "the edit table's {} bytes are not a whole number of {EDIT_BYTES}-byte edits",
                table.len()
            )));
        }
        let field = |chunk: &[u8], i: usize| {
            let mut word = [0; 4];
            word.copy_from_slice(&chunk[i * 4..i * 4 + 4]);
            u32::from_le_bytes(word)
        };
        Ok(table
            .chunks_exact(EDIT_BYTES)
            .map(|chunk| Edit {
                input_start: field(chunk, 0),
                input_end: field(chunk, 1),
                output_start: field(chunk, 2),
                output_end: field(chunk, 3),
            })
            .collect())
    }
}

/// Edits that do not describe an output: out of order, overlapping or out of bounds. A host
/// treats them as a broken guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEdits(pub String);

impl std::fmt::Display for InvalidEdits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidEdits {}

/// The output of a batch, in order, as slices of the input and of the replacements.
pub fn segments<'a>(
    input: &'a [u8],
    edits: &[Edit],
    replacements: &'a [u8],
) -> Result<Vec<&'a [u8]>, InvalidEdits> {
    let mut out = Vec::with_capacity(edits.len() * 2 + 1);
    let mut copied = 0;
    for edit in edits {
        let kept = input.get(copied..edit.input_start as usize);
        let replaced = input.get(edit.input());
        let replacement = replacements.get(edit.output());
        let (Some(kept), Some(_), Some(replacement)) = (kept, replaced, replacement) else {
            return Err(InvalidEdits(format!(
                "edit {edit:?} does not fit a batch of {} bytes with {} bytes of replacements after byte {copied}",
                input.len(),
                replacements.len()
            )));
        };
        out.extend([kept, replacement].into_iter().filter(|s| !s.is_empty()));
        copied = edit.input_end as usize;
    }
    if copied < input.len() {
        out.push(&input[copied..]);
    }
    Ok(out)
}

/// The output of a batch as one buffer (tests, and hosts that want it whole).
pub fn apply(input: &[u8], edits: &[Edit], replacements: &[u8]) -> Result<Vec<u8>, InvalidEdits> {
    Ok(segments(input, edits, replacements)?.concat())
}

/// Collects a call's edits while the transform writes only the lines that change.
#[derive(Debug, Default)]
pub struct EditLog {
    edits: Vec<Edit>,
}

impl EditLog {
    /// An empty log (reused across calls: [`EditLog::clear`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the last call's edits.
    pub fn clear(&mut self) {
        self.edits.clear();
    }

    /// The edits, in input order.
    pub fn edits(&self) -> &[Edit] {
        &self.edits
    }

    /// The edit table as the guest exports it.
    pub fn table(&self, into: &mut Vec<u8>) {
        into.clear();
        into.reserve(self.edits.len() * EDIT_BYTES);
        for edit in &self.edits {
            into.extend_from_slice(&edit.to_bytes());
        }
    }

    /// Records that `input` (a line with its `\n`) leaves as `output` (replacement bytes),
    /// merging with the previous edit when the two touch.
    pub fn replace(&mut self, input: Range<usize>, output: Range<usize>) {
        let edit = Edit {
            input_start: to_u32(input.start),
            input_end: to_u32(input.end),
            output_start: to_u32(output.start),
            output_end: to_u32(output.end),
        };
        match self.edits.last_mut() {
            Some(last)
                if last.input_end == edit.input_start && last.output_end == edit.output_start =>
            {
                last.input_end = edit.input_end;
                last.output_end = edit.output_end;
            }
            _ => self.edits.push(edit),
        }
    }
}

/// Offsets within a batch: batches are cut well below 4 GiB (a guest's memory is 32-bit).
fn to_u32(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_replace_ranges_and_keep_the_rest() {
        let input = b"a\nb\nc\n";
        let mut log = EditLog::new();
        log.replace(2..4, 0..4);
        assert_eq!(apply(input, log.edits(), b"B+T\n").unwrap(), b"a\nB+T\nc\n");
    }

    #[test]
    fn touching_edits_merge() {
        let mut log = EditLog::new();
        log.replace(0..2, 0..0);
        log.replace(2..4, 0..0);
        log.replace(6..8, 0..3);
        assert_eq!(log.edits().len(), 2);
        assert_eq!(
            apply(b"a\nb\nc\nd\n", log.edits(), b"D!\n").unwrap(),
            b"c\nD!\n"
        );
    }

    #[test]
    fn the_table_round_trips_and_bad_edits_are_refused() {
        let mut log = EditLog::new();
        log.replace(1..2, 3..4);
        let mut table = Vec::new();
        log.table(&mut table);
        assert_eq!(Edit::parse_table(&table).unwrap(), log.edits());
        assert!(Edit::parse_table(&table[..15]).is_err());
        let backwards = [
            Edit {
                input_start: 4,
                input_end: 6,
                output_start: 0,
                output_end: 0,
            },
            Edit {
                input_start: 0,
                input_end: 2,
                output_start: 0,
                output_end: 0,
            },
        ];
        assert!(segments(b"a\nb\nc\n", &backwards, b"").is_err());
        let outside = [Edit {
            input_start: 0,
            input_end: 9,
            output_start: 0,
            output_end: 0,
        }];
        assert!(segments(b"a\n", &outside, b"").is_err());
    }
}
