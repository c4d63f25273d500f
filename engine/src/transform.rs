//! The batch transform: NDJSON in, NDJSON out. Every ABI wraps this function.
//!
//! Lines are separated by `\n`. Each non-blank line is one record and comes out as one line:
//! tagged if a rule matched, otherwise byte for byte as it came in (a `\r` before the `\n`
//! included). Every output line ends with `\n`, also when the input's last line had none.
//! Blank lines are not records: they are copied through (and counted) so that line N of the
//! output is line N of the input. With `only_matches`, only tagged records are written.
//!
//! Nothing is dropped silently: a line that is not a JSON object is written unchanged and
//! counted, and its line number and reason are reported.

use crate::detector::{Detector, Options, Scratch, Verdict};

/// Counts for one call (or, summed, for a whole stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Non-blank lines read.
    pub records_in: u64,
    /// Lines written (records and blank lines).
    pub records_out: u64,
    /// Records that matched at least one rule.
    pub tagged: u64,
    /// Records that are not JSON objects the engine could read.
    pub unreadable: u64,
    /// Blank lines seen.
    pub blank: u64,
    /// Matches per rule, indexed like [`Detector::rules`].
    pub per_rule: Vec<u64>,
}

impl Counts {
    /// Zero counts for a detector's rules.
    pub fn for_rules(rule_count: usize) -> Self {
        Self {
            per_rule: vec![0; rule_count],
            ..Self::default()
        }
    }

    /// Adds `other` to `self`.
    pub fn add(&mut self, other: &Counts) {
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        self.tagged += other.tagged;
        self.unreadable += other.unreadable;
        self.blank += other.blank;
        if self.per_rule.len() < other.per_rule.len() {
            self.per_rule.resize(other.per_rule.len(), 0);
        }
        for (total, n) in self.per_rule.iter_mut().zip(&other.per_rule) {
            *total += n;
        }
    }
}

/// A record that could not be read: its 0-based line within the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableLine {
    /// 0-based line index within the batch.
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// The result of one batch, besides its output bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// The batch's counts.
    pub counts: Counts,
    /// Every unreadable line, in order.
    pub unreadable: Vec<UnreadableLine>,
}

impl Detector {
    /// Transforms one batch of NDJSON, appending the output to `out`.
    pub fn transform_ndjson(
        &self,
        input: &[u8],
        options: &Options,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> BatchReport {
        let mut report = BatchReport {
            counts: Counts::for_rules(self.rules().len()),
            unreadable: Vec::new(),
        };
        for (index, line) in (0u64..).zip(lines(input)) {
            self.transform_line(index, line, options, scratch, out, &mut report);
        }
        report
    }

    fn transform_line(
        &self,
        index: u64,
        line: &[u8],
        options: &Options,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
        report: &mut BatchReport,
    ) {
        let counts = &mut report.counts;
        if is_blank(line) {
            counts.blank += 1;
            if !options.only_matches {
                write_line(out, line, counts);
            }
            return;
        }
        counts.records_in += 1;
        match self.tag_record(line, options, scratch, out) {
            Verdict::Tagged => {
                out.push(b'\n');
                counts.records_out += 1;
                counts.tagged += 1;
                for &rule in scratch.matched() {
                    counts.per_rule[rule as usize] += 1;
                }
                return;
            }
            Verdict::Unreadable(reason) => {
                counts.unreadable += 1;
                report.unreadable.push(UnreadableLine {
                    line: index,
                    reason,
                });
            }
            Verdict::Skipped | Verdict::NoMatch => {}
        }
        if !options.only_matches {
            write_line(out, line, counts);
        }
    }
}

fn write_line(out: &mut Vec<u8>, line: &[u8], counts: &mut Counts) {
    out.extend_from_slice(line);
    out.push(b'\n');
    counts.records_out += 1;
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

/// The lines of `input` without their `\n`; a final line without `\n` counts, an empty tail not.
pub fn lines(input: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = input;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, tail) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = tail;
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_on_newline_and_keep_carriage_returns() {
        let all: Vec<&[u8]> = lines(b"a\r\n\nb").collect();
        assert_eq!(all, [&b"a\r"[..], b"", b"b"]);
        assert_eq!(lines(b"a\n").count(), 1);
        assert_eq!(lines(b"").count(), 0);
        assert_eq!(lines(b"\n").count(), 1);
    }
}
