//! The batch transform: NDJSON in, NDJSON out. Every ABI wraps these functions.
//!
//! Lines are separated by `\n`. Each non-blank line is one record and comes out as one line,
//! written by the native writer ([`crate::output::trailtag`]): tagged if a rule matched, without
//! a `trailtag` member it arrived with, otherwise byte for byte as it came in (a `\r` before the
//! `\n` included). Every output line ends with `\n`, also when the input's last line had none.
//! Blank lines are not records: they are copied through (and counted) so that line N of the
//! output is line N of the input. With `only_matches`, only tagged records are written.
//!
//! Nothing is dropped silently: a line that is not a JSON object is written unchanged, counted
//! under its [`Reason`], and its line number reported; so is every line that was tagged (with
//! the rules that matched) and every line that lost a foreign tag, so that hosts count from the
//! report instead of re-reading the output.

use crate::detector::{Detector, Options, Scratch, Verdict};
use crate::findings::Reason;
use crate::output::trailtag::TrailtagTag;
use crate::output::{TagWriter, write_record};

/// Counts for one call (or, summed, for a whole stream).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Records read (non-blank lines).
    pub records_in: u64,
    /// Records written (blank lines, counted apart, excluded).
    pub records_out: u64,
    /// Lines written: the records written and the blank lines copied through.
    pub lines_out: u64,
    /// Records that matched at least one rule.
    pub tagged: u64,
    /// Records that are not JSON objects the engine could read.
    pub unreadable: u64,
    /// Blank lines seen.
    pub blank: u64,
    /// Matches per rule, indexed like [`Detector::rules`].
    pub per_rule: Vec<u64>,
    /// Unreadable records per reason, indexed like [`Reason::ALL`].
    pub unreadable_by_reason: [u64; Reason::ALL.len()],
    /// Records from which a `trailtag` member they arrived with was removed.
    pub foreign_tags_removed: u64,
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
        self.lines_out += other.lines_out;
        self.tagged += other.tagged;
        self.unreadable += other.unreadable;
        self.blank += other.blank;
        self.foreign_tags_removed += other.foreign_tags_removed;
        if self.per_rule.len() < other.per_rule.len() {
            self.per_rule.resize(other.per_rule.len(), 0);
        }
        for (total, n) in self.per_rule.iter_mut().zip(&other.per_rule) {
            *total += n;
        }
        for (total, n) in self
            .unreadable_by_reason
            .iter_mut()
            .zip(&other.unreadable_by_reason)
        {
            *total += n;
        }
    }

    /// Counts one decided record of a batch (written or not).
    fn record(&mut self, verdict: &Verdict, matched: &[u32], foreign_tags: usize, written: bool) {
        self.records_in += 1;
        self.records_out += u64::from(written);
        self.lines_out += u64::from(written);
        match verdict {
            Verdict::Tagged => {
                self.tagged += 1;
                for &rule in matched {
                    self.per_rule[rule as usize] += 1;
                }
            }
            Verdict::Unreadable(unreadable) => {
                self.unreadable += 1;
                self.unreadable_by_reason[unreadable.reason.index()] += 1;
            }
            Verdict::Skipped | Verdict::NoMatch => {}
        }
        self.foreign_tags_removed += u64::from(foreign_tags > 0);
    }
}

/// A record that could not be read: its 0-based line within the batch and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableLine {
    /// 0-based line index within the batch.
    pub line: u64,
    /// The typed reason.
    pub reason: Reason,
    /// What is wrong with it, for people.
    pub message: String,
}

/// A record that was tagged: its 0-based line within the batch and the rules that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedLine {
    /// 0-based line index within the batch.
    pub line: u64,
    /// Indexes into [`Detector::rules`], ascending.
    pub rules: Vec<u32>,
}

/// The result of one batch, besides its output bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// The batch's counts.
    pub counts: Counts,
    /// Every unreadable line, in order.
    pub unreadable: Vec<UnreadableLine>,
    /// Every tagged line, in order.
    pub tagged: Vec<TaggedLine>,
    /// Lines that lost a foreign `trailtag` member, in order.
    pub foreign_tags: Vec<u64>,
}

impl BatchReport {
    /// An empty report for a detector with `rule_count` rules.
    pub fn for_rules(rule_count: usize) -> Self {
        Self {
            counts: Counts::for_rules(rule_count),
            ..Self::default()
        }
    }
}

impl BatchReport {
    /// Empties the report for reuse with a detector of `rule_count` rules. Only the per-rule
    /// counters the tagged lines raised are zeroed, so that reusing a report per record (the
    /// Fluent Bit ABI) costs nothing per rule.
    pub fn reset(&mut self, rule_count: usize) {
        let mut per_rule = std::mem::take(&mut self.counts.per_rule);
        if per_rule.len() == rule_count {
            for rule in self.tagged.iter().flat_map(|t| &t.rules) {
                per_rule[*rule as usize] = 0;
            }
        } else {
            per_rule.clear();
            per_rule.resize(rule_count, 0);
        }
        self.counts = Counts {
            per_rule,
            ..Counts::default()
        };
        self.unreadable.clear();
        self.tagged.clear();
        self.foreign_tags.clear();
    }
}

impl Detector {
    /// Decides one record and appends it as it leaves (tagged, stripped of a foreign tag, or
    /// unchanged) to `out`, in the native format; the findings stay in `scratch`.
    pub fn tag_record(
        &self,
        record: &[u8],
        options: &Options,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Verdict {
        let verdict = self.detect(record, options, scratch);
        write_record(
            &TrailtagTag::default(),
            record,
            &self.detection(scratch),
            out,
        );
        verdict
    }

    /// [`Detector::tag_record`] on the reference path: no scan, every rule evaluated.
    pub fn tag_record_exhaustively(
        &self,
        record: &[u8],
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Verdict {
        let verdict = self.detect_exhaustively(record, &Options::default(), scratch);
        write_record(
            &TrailtagTag::default(),
            record,
            &self.detection(scratch),
            out,
        );
        verdict
    }

    /// Transforms one batch of NDJSON, appending the output to `out` (a convenience: hosts that
    /// call it many times keep a [`TrailtagTag::for_rules`] and call
    /// [`Detector::transform_ndjson_into`]).
    pub fn transform_ndjson(
        &self,
        input: &[u8],
        options: &Options,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> BatchReport {
        let mut report = BatchReport::for_rules(self.rules().len());
        let mut call = Call {
            detector: self,
            writer: &TrailtagTag::default(),
            options,
            scratch,
            out,
            report: &mut report,
        };
        call.batch(input);
        report
    }

    /// [`Detector::transform_ndjson`] with a tag format, into a report the caller reuses (it is
    /// reset first).
    pub fn transform_ndjson_into(
        &self,
        writer: &dyn TagWriter,
        input: &[u8],
        options: &Options,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
        report: &mut BatchReport,
    ) {
        report.reset(self.rules().len());
        Call {
            detector: self,
            writer,
            options,
            scratch,
            out,
            report,
        }
        .batch(input);
    }

    /// Decides exactly one record (line breaks inside it are its own, and no `\n` is added) and
    /// appends it as it leaves to `out`, unless `only_matches` drops it; `report` (reset first)
    /// counts it as line 0. For hosts that hand over one record at a time.
    pub fn transform_one_into(
        &self,
        writer: &dyn TagWriter,
        record: &[u8],
        options: &Options,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
        report: &mut BatchReport,
    ) -> Verdict {
        report.reset(self.rules().len());
        Call {
            detector: self,
            writer,
            options,
            scratch,
            out,
            report,
        }
        .record(0, record)
        .0
    }
}

/// One transform call: what every record of it needs.
struct Call<'a> {
    detector: &'a Detector,
    writer: &'a dyn TagWriter,
    options: &'a Options,
    scratch: &'a mut Scratch,
    out: &'a mut Vec<u8>,
    report: &'a mut BatchReport,
}

impl Call<'_> {
    fn batch(&mut self, input: &[u8]) {
        for (index, line) in (0u64..).zip(lines(input)) {
            if is_blank(line) {
                self.blank(line);
            } else if self.record(index, line).1 {
                self.out.push(b'\n');
            }
        }
    }

    fn blank(&mut self, line: &[u8]) {
        self.report.counts.blank += 1;
        if !self.options.only_matches {
            self.out.extend_from_slice(line);
            self.out.push(b'\n');
            self.report.counts.lines_out += 1;
        }
    }

    /// Decides, writes and counts one record; returns the verdict and whether it was written.
    fn record(&mut self, index: u64, line: &[u8]) -> (Verdict, bool) {
        let verdict = self.detector.detect(line, self.options, self.scratch);
        let written = !self.options.only_matches || verdict == Verdict::Tagged;
        if written {
            let detection = self.detector.detection(self.scratch);
            write_record(self.writer, line, &detection, self.out);
        }
        let findings = self.scratch.findings();
        let report = &mut *self.report;
        report.counts.record(
            &verdict,
            findings.matched(),
            findings.foreign_tags(),
            written,
        );
        match &verdict {
            Verdict::Tagged => report.tagged.push(TaggedLine {
                line: index,
                rules: findings.matched().to_vec(),
            }),
            Verdict::Unreadable(unreadable) => report.unreadable.push(UnreadableLine {
                line: index,
                reason: unreadable.reason,
                message: unreadable.detail.clone(),
            }),
            Verdict::Skipped | Verdict::NoMatch => {}
        }
        if findings.foreign_tags() > 0 {
            report.foreign_tags.push(index);
        }
        (verdict, written)
    }
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

    #[test]
    fn out_counts_records_and_blank_lines_apart() {
        let detector = Detector::builtin().unwrap();
        let mut out = Vec::new();
        let report = detector.transform_ndjson(
            b"{}\n\n \r\nnot json\n{\"a\":1,\"trailtag\":{\"forged\":1}}",
            &Options::default(),
            &mut Scratch::default(),
            &mut out,
        );
        let counts = &report.counts;
        assert_eq!(
            (counts.records_in, counts.records_out, counts.blank),
            (3, 3, 2)
        );
        assert_eq!(counts.lines_out, 5);
        assert_eq!(counts.unreadable_by_reason[Reason::NotAnObject.index()], 1);
        assert_eq!(counts.foreign_tags_removed, 1);
        assert_eq!(report.foreign_tags, [4]);
        assert_eq!(out, b"{}\n\n \r\nnot json\n{\"a\":1}\n");
    }
}
