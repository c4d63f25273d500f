//! The tagging pipeline any front door uses: batches in, tagged bytes out, faults isolated,
//! everything counted.
//!
//! A [`Pipeline`] takes items from a [`Feed`] (files, stdin, any reader), sends each batch
//! through its [`Session`] (the raw batch ABI, or Fluent Bit's per-record ABI), writes what comes
//! back to its sink in input order, and keeps the [`Totals`]. It never loses a record:
//! - when the guest fails on a batch, the batch is retried record by record on fresh instances,
//!   and a record the guest fails on again is written unchanged and reported;
//! - a record over the size limit streams through unevaluated;
//! - an input that cannot be opened or read to its end is reported and the next one is read.
//!
//! Counts come from the guest's own report (decoded by the contract's codec), never from
//! re-reading the tagged output. Diagnostics go to a [`Diagnostics`] the caller supplies (the
//! CLI prints them; a server would export them). When the feed goes idle the sink is flushed, so
//! a stream is written as it arrives.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;
use std::sync::Arc;

use serde::Serialize;
use trailtag_engine::output::fluent_bit::as_fluent_bit_writes_it;
use trailtag_engine::{BatchReport, Counts, Reason};
use trailtag_plugin::codec::RuleInfo;

use crate::feed::{BufferPool, Feed, Item, Next};
use crate::guest::{BatchOutput, GuestFault};
use crate::input::Origin;
use crate::session::Session;
use crate::workers::Workers;

/// The tag Fluent Bit would pass with each record; the engine does not use it.
const FLUENT_BIT_TAG: &[u8] = b"cloudtrail";

/// Which of the module's ABIs a pipeline drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Abi {
    /// The batch transform (NDJSON in, NDJSON out).
    Raw,
    /// Fluent Bit's per-record filter, called exactly as Fluent Bit calls it.
    FluentBit,
}

/// Kinds of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diagnostic {
    /// A record that is not a JSON object the engine can read.
    Unreadable,
    /// A record the guest failed on.
    GuestFault,
    /// A record over the size limit.
    Oversized,
    /// An input that could not be read completely.
    Input,
}

/// Where a pipeline reports what happened to individual records and inputs.
pub trait Diagnostics {
    /// One event, with a message for people.
    fn diagnostic(&mut self, kind: Diagnostic, message: &str);
    /// Raw input bytes read so far (for a progress display).
    fn progress(&mut self, _bytes: u64) {}
}

/// Running totals over every input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Inputs opened (or tried).
    pub inputs: u64,
    /// Inputs that could not be opened or read to their end.
    pub input_errors: u64,
    /// What the guest counted (records in and out, tagged, unreadable per reason, blank lines,
    /// foreign tags, per rule).
    pub counts: Counts,
    /// Records larger than the size limit (passed through unevaluated).
    pub oversized: u64,
    /// Records passed through unevaluated because the guest failed on them.
    pub guest_faults: u64,
}

impl Totals {
    /// Records dropped by `only_matches`.
    pub fn filtered(&self) -> u64 {
        self.counts
            .records_in
            .saturating_sub(self.counts.records_out)
    }

    /// What a person must not miss: an input in which nothing looks like CloudTrail gives zero
    /// detections that mean nothing.
    pub fn warnings(&self) -> Vec<String> {
        let c = &self.counts;
        let mut warnings = Vec::new();
        if c.records_in > 0 && c.cloudtrail_events == 0 {
            warnings.push(format!(
                "nothing in the input looks like a CloudTrail record: {} records read, none with \
                 eventSource or eventName, bare or inside an envelope trailtag knows \
                 (docs/ingest.md). Zero detections here says nothing about the account.",
                c.records_in
            ));
        }
        warnings
    }

    /// Whether every input was read and every record evaluated.
    pub fn is_clean(&self) -> bool {
        self.input_errors == 0 && self.guest_faults == 0
    }

    /// The totals as the JSON summary shows them (`per_rule` by rule id).
    pub fn summary(&self, rules: &[RuleInfo]) -> serde_json::Value {
        let c = &self.counts;
        let summary = Summary {
            inputs: self.inputs,
            input_errors: self.input_errors,
            records_in: c.records_in,
            records_out: c.records_out,
            tagged: c.tagged,
            unreadable: c.unreadable,
            unreadable_by_reason: Reason::ALL
                .iter()
                .map(|r| (r.code(), c.unreadable_by_reason[r.index()]))
                .collect(),
            blank: c.blank,
            oversized: self.oversized,
            guest_faults: self.guest_faults,
            filtered: self.filtered(),
            foreign_tags_removed: c.foreign_tags_removed,
            events: c.events,
            events_tagged: c.events_tagged,
            cloudtrail_events: c.cloudtrail_events,
            envelopes: c.envelopes_by_shape(),
            unreadable_inside: c.unreadable_inside,
            warnings: self.warnings(),
            per_rule: rules
                .iter()
                .zip(&c.per_rule)
                .map(|(r, n)| (r.id.as_str(), *n))
                .collect(),
        };
        serde_json::to_value(summary).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    inputs: u64,
    input_errors: u64,
    records_in: u64,
    records_out: u64,
    tagged: u64,
    unreadable: u64,
    unreadable_by_reason: std::collections::BTreeMap<&'static str, u64>,
    blank: u64,
    oversized: u64,
    guest_faults: u64,
    filtered: u64,
    foreign_tags_removed: u64,
    events: u64,
    events_tagged: u64,
    cloudtrail_events: u64,
    envelopes: std::collections::BTreeMap<&'static str, u64>,
    unreadable_inside: u64,
    warnings: Vec<String>,
    per_rule: std::collections::BTreeMap<&'a str, u64>,
}

/// A sink that a front door reads back after each item it processes (the child-process protocols
/// and the sidecar answer each block with what the pipeline wrote for it).
#[derive(Debug, Clone, Default)]
pub struct Captured(Rc<RefCell<Vec<u8>>>);

impl Captured {
    /// What was written since the last call.
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.borrow_mut())
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a pipeline runs.
#[derive(Debug, Clone, Copy)]
pub struct PipelineOptions {
    /// Which ABI to drive.
    pub abi: Abi,
    /// Whether the guest is configured to write only tagged records.
    pub only_matches: bool,
}

/// Where the records of the batch being processed come from.
#[derive(Debug, Clone)]
struct Position {
    input: Arc<str>,
    next: Origin,
}

/// A session, a sink, and the totals of everything sent through them.
pub struct Pipeline<'d> {
    session: Session,
    /// Parallel instances for the batch ABI (`with_jobs`); `None`: the session does the work.
    workers: Option<Workers>,
    options: PipelineOptions,
    sink: Box<dyn Write + 'd>,
    diagnostics: &'d mut dyn Diagnostics,
    totals: Totals,
    position: Position,
    /// Where written batches go back to the feed that read them (set by [`Pipeline::run`]).
    pool: Option<BufferPool>,
}

impl std::fmt::Debug for Pipeline<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("options", &self.options)
            .field("totals", &self.totals)
            .finish_non_exhaustive()
    }
}

impl<'d> Pipeline<'d> {
    /// A pipeline writing to `sink` and reporting to `diagnostics`.
    pub fn new(
        session: Session,
        options: PipelineOptions,
        sink: Box<dyn Write + 'd>,
        diagnostics: &'d mut dyn Diagnostics,
    ) -> Self {
        let rule_count = session.rules().len();
        Self {
            session,
            workers: None,
            options,
            sink,
            diagnostics,
            totals: Totals {
                counts: Counts::for_rules(rule_count),
                ..Totals::default()
            },
            position: Position {
                input: Arc::from("-"),
                next: Origin::Line(1),
            },
            pool: None,
        }
    }

    /// Runs batches on `jobs` instances in parallel (the batch ABI only: Fluent Bit's ABI is
    /// one record per call, as Fluent Bit makes them, and stays on one instance). Output stays
    /// in input order, and at most two batches per instance are in flight.
    pub fn with_jobs(mut self, jobs: usize) -> anyhow::Result<Self> {
        if jobs > 1 && self.options.abi == Abi::Raw {
            self.workers = Some(Workers::start(&self.session, jobs)?);
        }
        Ok(self)
    }

    /// The rules the session runs.
    pub fn rules(&self) -> &[RuleInfo] {
        self.session.rules()
    }

    /// The totals so far.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Takes the totals so far, leaving zeros: a long-running front door (the sidecar) exports
    /// counts as it goes instead of once at the end.
    pub fn take_totals(&mut self) -> Totals {
        let fresh = Totals {
            counts: Counts::for_rules(self.session.rules().len()),
            ..Totals::default()
        };
        std::mem::replace(&mut self.totals, fresh)
    }

    /// Names the stream the next items come from and the number of their first record: a front
    /// door that interleaves many streams on one pipeline (the sidecar's connections) keeps the
    /// line numbers of its diagnostics true to each stream.
    pub fn set_position(&mut self, input: Arc<str>, next: Origin) {
        self.position = Position { input, next };
    }

    /// Processes everything the feed delivers, then flushes the sink. An error means the sink
    /// failed (or the module could not be brought back after a fault); records already written
    /// stay written.
    pub fn run(&mut self, feed: &Feed, read_bytes: &dyn Fn() -> u64) -> io::Result<()> {
        self.pool = Some(feed.pool());
        loop {
            match feed.next() {
                Next::Item(Item::Batch(batch)) if self.workers.is_some() => {
                    self.send_to_workers(batch)?;
                }
                Next::Item(item) => {
                    self.drain_workers()?;
                    self.item(item)?;
                }
                Next::Idle => {
                    self.drain_workers()?;
                    self.sink.flush()?;
                }
                Next::End => break,
            }
            self.diagnostics.progress(read_bytes());
        }
        self.drain_workers()?;
        self.sink.flush()
    }

    /// Processes one item the caller read itself, then flushes the sink: for a front door that
    /// must answer each message before the next one is written (a child-process protocol), where
    /// waiting for a feed's idle interval would delay every answer.
    pub fn process(&mut self, item: Item) -> io::Result<()> {
        self.drain_workers()?;
        self.item(item)?;
        self.sink.flush()
    }

    /// Queues a batch on the workers, first taking in answers while as many batches as they
    /// may hold are in flight.
    fn send_to_workers(&mut self, batch: Vec<u8>) -> io::Result<()> {
        while self
            .workers
            .as_ref()
            .is_some_and(|w| w.in_flight() >= w.capacity())
        {
            self.take_answer()?;
        }
        match &mut self.workers {
            Some(workers) => workers.send(batch).map_err(io::Error::other),
            None => Ok(()),
        }
    }

    /// Writes the answers of every batch in flight, in input order.
    fn drain_workers(&mut self) -> io::Result<()> {
        while self.take_answer()? {}
        Ok(())
    }

    /// Writes the oldest answer; false when nothing was in flight.
    fn take_answer(&mut self) -> io::Result<bool> {
        let Some(workers) = &mut self.workers else {
            return Ok(false);
        };
        let Some(answer) = workers.next_answer().map_err(io::Error::other)? else {
            return Ok(false);
        };
        let result = answer.result.map_err(io::Error::other)?;
        let lines = self.raw_answer(&answer.batch, result)?;
        self.position.next = self.position.next.advanced(lines);
        self.recycle(answer.batch);
        Ok(true)
    }

    fn item(&mut self, item: Item) -> io::Result<()> {
        match item {
            Item::Opened { name, framing } => {
                self.totals.inputs += 1;
                self.position = Position {
                    input: name,
                    next: Origin::first(framing),
                };
            }
            Item::OpenFailed { name, error } => {
                self.totals.inputs += 1;
                self.input_error(&format!("{name}: cannot open: {error}"));
            }
            Item::Batch(batch) => {
                self.batch(&batch)?;
                self.recycle(batch);
            }
            Item::OversizedPiece(piece) => self.oversized_piece(&piece)?,
            Item::OversizedEnd => self.oversized_end()?,
            Item::Closed(Ok(())) => {}
            Item::Closed(Err(error)) => {
                let message = format!("{}: {error}", self.position.input);
                self.input_error(&message);
            }
        }
        Ok(())
    }

    /// Hands a written batch back to the feed, to be read into again.
    fn recycle(&self, batch: Vec<u8>) {
        if let Some(pool) = &self.pool {
            pool.give(batch);
        }
    }

    fn input_error(&mut self, message: &str) {
        self.totals.input_errors += 1;
        self.diagnostics.diagnostic(Diagnostic::Input, message);
    }

    fn batch(&mut self, batch: &[u8]) -> io::Result<()> {
        let lines = match self.options.abi {
            Abi::Raw => self.raw_batch(batch)?,
            Abi::FluentBit => self.fluent_bit_batch(batch)?,
        };
        self.position.next = self.position.next.advanced(lines);
        Ok(())
    }

    /// Sends a batch through the batch ABI; returns its number of lines (the guest counts them:
    /// every line is a record or a blank line).
    fn raw_batch(&mut self, batch: &[u8]) -> io::Result<u64> {
        let result = self.session.transform(batch).map_err(io::Error::other)?;
        self.raw_answer(batch, result)
    }

    /// Writes the guest's answer for a batch (or isolates its records after a fault); returns
    /// the batch's number of lines.
    fn raw_answer(
        &mut self,
        batch: &[u8],
        result: Result<BatchOutput, GuestFault>,
    ) -> io::Result<u64> {
        match result {
            Ok(output) => {
                output.write_to(batch, &mut self.sink)?;
                let first = self.position.next;
                self.accept(&output.report, first);
                Ok(output.report.counts.records_in + output.report.counts.blank)
            }
            Err(fault) => {
                let message = format!(
                    "{}: the module failed on a batch ({fault}); retrying its records one by one",
                    self.position.input
                );
                self.diagnostics
                    .diagnostic(Diagnostic::GuestFault, &message);
                self.isolate(batch)
            }
        }
    }

    /// Adds a call's counts and reports its unreadable records.
    fn accept(&mut self, report: &BatchReport, first: Origin) {
        self.totals.counts.add(&report.counts);
        let whole = report
            .unreadable
            .iter()
            .map(|l| (l, "", "passed through unchanged"));
        let inside = (report.unreadable_inside.iter())
            .map(|l| (l, "inside the envelope: ", "left as it is"));
        for (line, prefix, outcome) in whole.chain(inside) {
            let message = format!(
                "{}:{}: {prefix}{}; {outcome}",
                self.position.input,
                first.advanced(line.line),
                line.message
            );
            self.diagnostics
                .diagnostic(Diagnostic::Unreadable, &message);
        }
    }

    /// Sends each record of a failed batch alone; a record the guest fails on again is written
    /// unchanged and reported. Returns the batch's number of lines.
    fn isolate(&mut self, batch: &[u8]) -> io::Result<u64> {
        let mut lines = 0;
        for line in trailtag_engine::lines(batch) {
            let origin = self.position.next.advanced(lines);
            lines += 1;
            let mut single = Vec::with_capacity(line.len() + 1);
            single.extend_from_slice(line);
            single.push(b'\n');
            match self.session.transform(&single).map_err(io::Error::other)? {
                Ok(output) => {
                    output.write_to(&single, &mut self.sink)?;
                    self.accept(&output.report, origin);
                }
                Err(fault) => self.pass_faulted(line, origin, &fault)?,
            }
        }
        Ok(lines)
    }

    /// A record the guest failed on is written unchanged, even with `only_matches`: it was not
    /// evaluated, so nothing says it does not match.
    fn pass_faulted(&mut self, line: &[u8], origin: Origin, fault: &GuestFault) -> io::Result<()> {
        self.totals.counts.records_in += 1;
        self.totals.counts.records_out += 1;
        self.totals.guest_faults += 1;
        self.sink.write_all(line)?;
        self.sink.write_all(b"\n")?;
        let message = format!(
            "{}:{origin}: {fault}; the record was passed through unevaluated",
            self.position.input
        );
        self.diagnostics
            .diagnostic(Diagnostic::GuestFault, &message);
        Ok(())
    }

    /// Sends a batch's lines one by one through the Fluent Bit ABI; returns how many.
    fn fluent_bit_batch(&mut self, batch: &[u8]) -> io::Result<u64> {
        let mut lines = 0;
        for line in trailtag_engine::lines(batch) {
            let origin = self.position.next.advanced(lines);
            lines += 1;
            self.fluent_bit_record(line, origin)?;
        }
        Ok(lines)
    }

    fn fluent_bit_record(&mut self, line: &[u8], origin: Origin) -> io::Result<()> {
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            self.totals.counts.blank += 1;
            if !self.options.only_matches {
                self.sink.write_all(line)?;
                self.sink.write_all(b"\n")?;
            }
            return Ok(());
        }
        let only_matches = self.options.only_matches;
        // Fluent Bit hands a filter the JSON it writes itself, and the filter relies on that
        // (its skip scan); a line that is not a JSON object goes as it is, to be wrapped.
        let written = as_fluent_bit_writes_it(line, true);
        let record = written.as_deref().unwrap_or(line);
        let answer = self
            .session
            .call(|guest| {
                let answer = guest.fluent_bit_filter(FLUENT_BIT_TAG, record, only_matches)?;
                Ok((answer, guest.read_report()?))
            })
            .map_err(io::Error::other)?;
        let (answer, mut report) = match answer {
            Ok(answered) => answered,
            Err(fault) => return self.pass_faulted(line, origin, &fault),
        };
        // Fluent Bit gets unreadable records back wrapped, so they are written either way.
        report.counts.records_out = u64::from(!answer.is_empty());
        self.accept(&report, origin);
        if !answer.is_empty() {
            self.sink.write_all(&answer)?;
            self.sink.write_all(b"\n")?;
        }
        Ok(())
    }

    /// An oversized record is written unevaluated, even with `only_matches` (like a fault).
    fn oversized_piece(&mut self, piece: &[u8]) -> io::Result<()> {
        self.sink.write_all(piece)
    }

    fn oversized_end(&mut self) -> io::Result<()> {
        self.totals.counts.records_in += 1;
        self.totals.counts.records_out += 1;
        self.totals.oversized += 1;
        self.sink.write_all(b"\n")?;
        let origin = self.position.next;
        self.position.next = origin.advanced(1);
        let message = format!(
            "{}:{origin}: record larger than --max-record, passed through unevaluated",
            self.position.input
        );
        self.diagnostics.diagnostic(Diagnostic::Oversized, &message);
        Ok(())
    }
}
