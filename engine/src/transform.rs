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
use crate::edits::EditLog;
use crate::envelope::{self, MAX_DEPTH, Opened, Schema, Shape, Slot};
use crate::findings::{Reason, Unreadable};
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
    /// Records decided, whether bare or inside an envelope (a CloudWatch Logs payload of three
    /// messages is one record in, three events).
    pub events: u64,
    /// Events that matched at least one rule.
    pub events_tagged: u64,
    /// Events that look like CloudTrail records (`eventSource` or `eventName` at the top).
    pub cloudtrail_events: u64,
    /// Records that were envelopes, per shape, indexed like [`Shape::ENVELOPES`].
    pub envelopes: [u64; Shape::ENVELOPES.len()],
    /// Documents inside envelopes that are not JSON objects the engine can read (a plain-text
    /// CloudWatch Logs message); they are left as they are.
    pub unreadable_inside: u64,
}

impl Counts {
    /// Zero counts for a detector's rules.
    pub fn for_rules(rule_count: usize) -> Self {
        Self {
            per_rule: vec![0; rule_count],
            ..Self::default()
        }
    }

    /// The envelope counts by shape code, for the shapes seen.
    pub fn envelopes_by_shape(&self) -> std::collections::BTreeMap<&'static str, u64> {
        Shape::ENVELOPES
            .iter()
            .zip(&self.envelopes)
            .filter(|(_, n)| **n > 0)
            .map(|(shape, n)| (shape.code(), *n))
            .collect()
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
        self.events += other.events;
        self.events_tagged += other.events_tagged;
        self.cloudtrail_events += other.cloudtrail_events;
        self.unreadable_inside += other.unreadable_inside;
        for (total, n) in self.envelopes.iter_mut().zip(&other.envelopes) {
            *total += n;
        }
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
    fn record(&mut self, verdict: &Verdict, matched: &[u32], foreign_tags: usize, lines: u64) {
        self.records_in += 1;
        self.records_out += lines;
        self.lines_out += lines;
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
    /// Documents inside envelopes that could not be read or opened, by the envelope's line.
    pub unreadable_inside: Vec<UnreadableLine>,
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
        self.unreadable_inside.clear();
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
        let writer = TrailtagTag::default();
        Call::new(self, &writer, options, scratch, out, &mut report).batch(input);
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
        Call::new(self, writer, options, scratch, out, report).batch(input);
    }

    /// [`Detector::transform_ndjson_into`] answering with edits (ABI v2, [`crate::edits`]):
    /// `out` receives only the lines that leave changed, and `edits` where they go. Applying
    /// the edits to `input` gives the bytes `transform_ndjson_into` writes.
    #[allow(
        clippy::too_many_arguments,
        reason = "the copying transform's arguments and the log"
    )]
    pub fn transform_ndjson_edits_into(
        &self,
        writer: &dyn TagWriter,
        input: &[u8],
        options: &Options,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
        edits: &mut EditLog,
        report: &mut BatchReport,
    ) {
        edits.clear();
        let mut call = Call::new(self, writer, options, scratch, out, report);
        call.edits = Some(edits);
        call.batch(input);
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
        Call::new(self, writer, options, scratch, out, report)
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
    /// With edits (ABI v2): where the changed lines go; `out` holds only those lines.
    edits: Option<&'a mut EditLog>,
    /// With edits: the current line leaves as it came, and was not written.
    passed_through: bool,
}

impl<'a> Call<'a> {
    /// A call writing to `out`, counting into `report` (reset first), with no edit log.
    fn new(
        detector: &'a Detector,
        writer: &'a dyn TagWriter,
        options: &'a Options,
        scratch: &'a mut Scratch,
        out: &'a mut Vec<u8>,
        report: &'a mut BatchReport,
    ) -> Self {
        report.reset(detector.rules().len());
        Self {
            detector,
            writer,
            options,
            scratch,
            out,
            report,
            edits: None,
            passed_through: false,
        }
    }

    fn batch(mut self, input: &[u8]) {
        let mut start = 0;
        for (index, line) in (0u64..).zip(lines(input)) {
            let end = (start + line.len() + 1).min(input.len());
            let mark = self.out.len();
            self.passed_through = false;
            if is_blank(line) {
                self.blank(line);
            } else if self.record(index, line).1 && !self.passed_through {
                self.out.push(b'\n');
            }
            if self.edits.is_some() {
                self.log_line(input, start..end, mark);
            }
            start = end;
        }
    }

    /// With edits: records how the line `input[line]` left (its bytes in `out` from `mark`).
    /// A line that leaves as it came needs no edit, unless it is the batch's last and lacks
    /// the `\n` every output line ends with.
    fn log_line(&mut self, input: &[u8], line: std::ops::Range<usize>, mark: usize) {
        let original = &input[line.clone()];
        if self.passed_through {
            if original.last() == Some(&b'\n') {
                return;
            }
            self.out.extend_from_slice(original);
            self.out.push(b'\n');
        } else if self.out[mark..] == *original {
            self.out.truncate(mark);
            return;
        }
        if let Some(edits) = self.edits.as_deref_mut() {
            edits.replace(line, mark..self.out.len());
        }
    }

    /// Whether the current line may be left out of `out` because it leaves as it came (only
    /// with edits); marks it so.
    fn pass_through(&mut self) -> bool {
        self.passed_through = self.edits.is_some();
        self.passed_through
    }

    fn blank(&mut self, line: &[u8]) {
        self.report.counts.blank += 1;
        if !self.options.only_matches {
            if !self.pass_through() {
                self.out.extend_from_slice(line);
                self.out.push(b'\n');
            }
            self.report.counts.lines_out += 1;
        }
    }

    /// Decides, writes and counts one record (bare or an envelope); returns the verdict and
    /// whether anything was written.
    fn record(&mut self, index: u64, line: &[u8]) -> (Verdict, bool) {
        match envelope::open_as(line, self.options.input_shape) {
            (Shape::Record { cloudtrail }, _) => self.bare(index, line, cloudtrail),
            (Shape::Ecs, _) => self.projected(index, line, Shape::Ecs, Schema::Ecs),
            (Shape::Ocsf, _) => self.projected(index, line, Shape::Ocsf, Schema::Ocsf),
            (shape, slots) => self.envelope(index, line, shape, slots),
        }
    }

    /// An ECS or OCSF document: decided through its projection, tagged at its top level.
    fn projected(
        &mut self,
        index: u64,
        line: &[u8],
        shape: Shape,
        schema: Schema,
    ) -> (Verdict, bool) {
        let (verdict, cloudtrail, rebuilt) = match self.decide_projection(line, schema) {
            Ok((decided, rebuilt)) => (decided.verdict, decided.cloudtrail, rebuilt),
            Err(unreadable) => (Verdict::Unreadable(unreadable), false, None),
        };
        let tagged = verdict == Verdict::Tagged;
        let written = !self.options.only_matches || tagged;
        if written {
            self.out
                .extend_from_slice(rebuilt.as_deref().unwrap_or(line));
        }
        let (matched, foreign_tags) = match verdict {
            Verdict::Unreadable(_) => (Vec::new(), false),
            _ => {
                let findings = self.scratch.findings();
                (findings.matched().to_vec(), findings.foreign_tags() > 0)
            }
        };
        let counts = &mut self.report.counts;
        if let Some(i) = shape.index() {
            counts.envelopes[i] += 1;
        }
        if !matches!(verdict, Verdict::Unreadable(_)) {
            counts.events += 1;
            counts.cloudtrail_events += u64::from(cloudtrail);
            counts.events_tagged += u64::from(tagged);
        }
        self.report_line(index, &verdict, matched, foreign_tags, u64::from(written));
        (verdict, written)
    }

    /// Decides the projection of `doc`; returns the verdict and, when the document changes
    /// (tagged, or stripped of a foreign tag), the document as it leaves.
    fn decide_projection(
        &mut self,
        doc: &[u8],
        schema: Schema,
    ) -> Result<(Decided, Option<Vec<u8>>), Unreadable> {
        let projection = envelope::project(doc, schema).map_err(bad_envelope)?;
        let verdict =
            self.detector
                .detect(&projection.record, &self.options.inside(), self.scratch);
        if let Verdict::Unreadable(unreadable) = verdict {
            return Err(unreadable);
        }
        let decided = Decided {
            verdict,
            cloudtrail: projection.cloudtrail,
        };
        if decided.verdict != Verdict::Tagged && self.scratch.findings().foreign_tags() == 0 {
            return Ok((decided, None));
        }
        let out = self.written(doc);
        Ok((decided, Some(out)))
    }

    fn bare(&mut self, index: u64, line: &[u8], cloudtrail: bool) -> (Verdict, bool) {
        let verdict = self.detector.detect(line, self.options, self.scratch);
        let written = !self.options.only_matches || verdict == Verdict::Tagged;
        if written {
            let findings = self.scratch.findings();
            let unchanged = findings.matched().is_empty() && findings.foreign_tags() == 0;
            if !(unchanged && self.pass_through()) {
                let detection = self.detector.detection(self.scratch);
                write_record(self.writer, line, &detection, self.out);
            }
        }
        let findings = self.scratch.findings();
        let counts = &mut self.report.counts;
        if !matches!(verdict, Verdict::Unreadable(_)) {
            counts.events += 1;
            counts.cloudtrail_events += u64::from(cloudtrail);
            counts.events_tagged += u64::from(verdict == Verdict::Tagged);
        }
        let foreign_tags = findings.foreign_tags() > 0;
        let matched = findings.matched().to_vec();
        self.report_line(index, &verdict, matched, foreign_tags, u64::from(written));
        (verdict, written)
    }

    /// An envelope: every record inside is decided, and the envelope leaves with the tags inside
    /// it (or, with `unwrap`, as its records, one per line).
    fn envelope(
        &mut self,
        index: u64,
        line: &[u8],
        shape: Shape,
        slots: Vec<Slot>,
    ) -> (Verdict, bool) {
        let mut walk = Walk::new(self.options.unwrap);
        let opened = self.open(line, slots, 0, &mut walk);
        walk.matched.sort_unstable();
        walk.matched.dedup();
        let verdict = match &opened {
            Err(unreadable) => Verdict::Unreadable(unreadable.clone()),
            Ok(_) if !walk.matched.is_empty() => Verdict::Tagged,
            Ok(_) => Verdict::NoMatch,
        };
        let lines = match opened {
            Ok(_) if walk.unwrap => {
                walk.lines.pop(); // the batch ends the last line
                self.out.extend_from_slice(&walk.lines);
                walk.line_count
            }
            _ if self.options.only_matches && verdict != Verdict::Tagged => 0,
            Ok(Some(rebuilt)) => {
                self.out.extend_from_slice(&rebuilt);
                1
            }
            Ok(None) | Err(_) => {
                self.out.extend_from_slice(line);
                1
            }
        };
        let counts = &mut self.report.counts;
        if let Some(i) = shape.index() {
            counts.envelopes[i] += 1;
        }
        counts.events += walk.events;
        counts.events_tagged += walk.events_tagged;
        counts.cloudtrail_events += walk.cloudtrail_events;
        counts.unreadable_inside += walk.inside.len() as u64;
        for unreadable in walk.inside.drain(..) {
            self.report.unreadable_inside.push(UnreadableLine {
                line: index,
                reason: unreadable.reason,
                message: unreadable.detail,
            });
        }
        let foreign_tags = walk.foreign_tags;
        self.report_line(index, &verdict, walk.matched, foreign_tags, lines);
        (verdict, lines > 0)
    }

    /// Opens the envelope `doc` and decides what its slots hold; returns the envelope rebuilt
    /// when a record in it changed. A slot that cannot be opened is left as it is and reported.
    /// As for a bare record, the envelope is only validated as a whole with `validate` (then an
    /// invalid one is unreadable): its records are scanned in place, and candidates parsed.
    fn open(
        &mut self,
        doc: &[u8],
        slots: Vec<Slot>,
        depth: u8,
        walk: &mut Walk,
    ) -> Result<Option<Vec<u8>>, Unreadable> {
        if self.options.validate
            && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(doc)
        {
            return Err(crate::findings::classify(doc, &e));
        }
        let mut rebuilt: Option<Vec<u8>> = None;
        let mut copied = 0;
        for slot in slots {
            let opened = match Opened::decode(doc, &slot) {
                Ok(opened) => opened,
                Err(why) => {
                    let raw = doc.get(slot.span.clone()).unwrap_or_default();
                    walk.cannot_open(raw, bad_envelope(why));
                    continue;
                }
            };
            let Some(document) = self.inner(opened.document(), depth + 1, walk) else {
                continue;
            };
            let out = rebuilt.get_or_insert_with(|| Vec::with_capacity(doc.len() + 1024));
            out.extend_from_slice(&doc[copied..slot.span.start]);
            opened.encode(&document, out);
            copied = slot.span.end;
        }
        if let Some(out) = rebuilt.as_mut() {
            out.extend_from_slice(&doc[copied..]);
        }
        Ok(rebuilt)
    }

    /// What a slot holds: a record, decided, or an envelope, opened; returns it rebuilt when it
    /// changed (never with `unwrap`, which writes records to the walk instead).
    fn inner(&mut self, doc: &[u8], depth: u8, walk: &mut Walk) -> Option<Vec<u8>> {
        match envelope::open(doc) {
            (Shape::Record { cloudtrail }, _) => self.inner_record(doc, cloudtrail, walk),
            (Shape::Ecs, _) => self.inner_projected(doc, Schema::Ecs, walk),
            (Shape::Ocsf, _) => self.inner_projected(doc, Schema::Ocsf, walk),
            _ if depth >= MAX_DEPTH => {
                let why = format!("envelopes nested more than {MAX_DEPTH} deep");
                walk.cannot_open(doc, bad_envelope(why));
                None
            }
            (_, slots) => self
                .open(doc, slots, depth, walk)
                .unwrap_or_else(|unreadable| {
                    walk.cannot_open(doc, unreadable);
                    None
                }),
        }
    }

    fn inner_projected(&mut self, doc: &[u8], schema: Schema, walk: &mut Walk) -> Option<Vec<u8>> {
        let (decided, rebuilt) = match self.decide_projection(doc, schema) {
            Ok(decided) => decided,
            Err(unreadable) => {
                walk.cannot_open(doc, unreadable);
                return None;
            }
        };
        let verdict = decided.verdict;
        walk.events += 1;
        walk.cloudtrail_events += u64::from(decided.cloudtrail);
        let findings = self.scratch.findings();
        let tagged = verdict == Verdict::Tagged;
        if tagged {
            walk.events_tagged += 1;
            walk.matched.extend_from_slice(findings.matched());
        }
        walk.foreign_tags |= findings.foreign_tags() > 0;
        if walk.unwrap {
            if !self.options.only_matches || tagged {
                walk.line(rebuilt.as_deref().unwrap_or(doc));
            }
            return None;
        }
        rebuilt
    }

    fn inner_record(&mut self, doc: &[u8], cloudtrail: bool, walk: &mut Walk) -> Option<Vec<u8>> {
        let verdict = self
            .detector
            .detect(doc, &self.options.inside(), self.scratch);
        if let Verdict::Unreadable(unreadable) = verdict {
            walk.cannot_open(doc, unreadable);
            return None;
        }
        walk.events += 1;
        walk.cloudtrail_events += u64::from(cloudtrail);
        let findings = self.scratch.findings();
        let tagged = verdict == Verdict::Tagged;
        if tagged {
            walk.events_tagged += 1;
            walk.matched.extend_from_slice(findings.matched());
        }
        let stripped = findings.foreign_tags() > 0;
        walk.foreign_tags |= stripped;
        let keep = !self.options.only_matches || tagged;
        if !tagged && !stripped {
            if walk.unwrap && keep {
                walk.line(doc);
            }
            return None;
        }
        let out = self.written(doc);
        if walk.unwrap {
            if keep {
                walk.line(&out);
            }
            return None;
        }
        Some(out)
    }

    /// `doc` as it leaves after the last decision (tagged, or stripped of a foreign tag).
    fn written(&self, doc: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(doc.len() + 512);
        write_record(
            self.writer,
            doc,
            &self.detector.detection(self.scratch),
            &mut out,
        );
        out
    }

    /// Counts one line and lists it in the report.
    fn report_line(
        &mut self,
        index: u64,
        verdict: &Verdict,
        matched: Vec<u32>,
        foreign_tags: bool,
        lines: u64,
    ) {
        let report = &mut *self.report;
        report
            .counts
            .record(verdict, &matched, usize::from(foreign_tags), lines);
        match verdict {
            Verdict::Tagged => report.tagged.push(TaggedLine {
                line: index,
                rules: matched,
            }),
            Verdict::Unreadable(unreadable) => report.unreadable.push(UnreadableLine {
                line: index,
                reason: unreadable.reason,
                message: unreadable.detail.clone(),
            }),
            Verdict::Skipped | Verdict::NoMatch => {}
        }
        if foreign_tags {
            report.foreign_tags.push(index);
        }
    }
}

/// A projection's verdict, and whether the document was CloudTrail's.
struct Decided {
    verdict: Verdict,
    cloudtrail: bool,
}

fn bad_envelope(why: String) -> Unreadable {
    Unreadable {
        reason: Reason::BadEnvelope,
        detail: format!("an envelope that cannot be opened: {why}"),
    }
}

/// What the records of one envelope came to.
#[derive(Debug, Default)]
struct Walk {
    unwrap: bool,
    /// Rules matched by any record inside.
    matched: Vec<u32>,
    events: u64,
    events_tagged: u64,
    cloudtrail_events: u64,
    foreign_tags: bool,
    /// Documents inside that could not be read or opened.
    inside: Vec<Unreadable>,
    /// With `unwrap`: the records, each ending with `\n`.
    lines: Vec<u8>,
    line_count: u64,
}

impl Walk {
    fn new(unwrap: bool) -> Self {
        Self {
            unwrap,
            ..Self::default()
        }
    }

    /// One record of the output, on one line: a raw line break (whitespace in valid JSON, a
    /// string that was invalid anyway otherwise) becomes a space.
    fn line(&mut self, bytes: &[u8]) {
        self.lines
            .extend(bytes.iter().map(|&b| if b == b'\n' { b' ' } else { b }));
        self.lines.push(b'\n');
        self.line_count += 1;
    }

    /// A document inside that cannot be read: reported, and with `unwrap` written as it is.
    fn cannot_open(&mut self, doc: &[u8], why: Unreadable) {
        self.inside.push(why);
        if self.unwrap {
            self.line(doc);
        }
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
