//! `trailtag tag`: read inputs, run them through the module, write tagged NDJSON.
//!
//! Records are gathered into batches (`--batch-size`) and sent through the raw ABI, or one at a
//! time through the Fluent Bit ABI (`--abi fluent-bit`). Whatever happens, every record read is
//! written (unless `--only-matches` drops it): when the guest fails on a batch, the batch is
//! retried record by record on fresh instances, and the record that fails is written unchanged
//! and reported with its input and line.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

use crate::cli::{Abi, ProgressMode, TagArgs};
use trailtag_engine::Counts;

use crate::guest::BatchOutput;
use crate::input::{self, Consumer, Origin};
use crate::report::{Diagnostic, Reporter, Totals, print_summary};
use crate::runtime::ModuleVariant;
use crate::session::Session;

/// The tag Fluent Bit would pass with each record; the engine does not use it.
const FLUENT_BIT_TAG: &[u8] = b"cloudtrail";

/// Exit status when every input was read and evaluated.
pub const EXIT_OK: u8 = 0;
/// Exit status when the run finished but an input could not be read completely, or the guest
/// failed on some records (they were passed through unevaluated).
pub const EXIT_PARTIAL: u8 = 2;

/// Runs `trailtag tag`.
pub fn run(args: &TagArgs) -> Result<ExitCode> {
    // Driving the Fluent Bit ABI means running what Fluent Bit loads: the portable module.
    let variant = match args.abi {
        Abi::Raw => ModuleVariant::Simd,
        Abi::FluentBit => ModuleVariant::Portable,
    };
    let session = Session::start(&args.guest, variant, args.only_matches, args.validate)?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let sources = input::sources(&args.files);
    let total_bytes = sources
        .iter()
        .flatten()
        .filter_map(|p| p.metadata().ok())
        .map(|m| m.len())
        .sum();
    let show_progress = args.progress == ProgressMode::Auto && !args.files.is_empty();
    let rule_count = session.rules().len();
    let mut tagger = Tagger {
        session,
        abi: args.abi,
        only_matches: args.only_matches,
        batch: Batch::new(Arc::from("-"), Origin::Line(1)),
        batch_limit: usize::try_from(args.batch_size)
            .unwrap_or(usize::MAX)
            .max(1),
        out: BufWriter::with_capacity(1 << 20, out),
        totals: Totals {
            per_rule: vec![0; rule_count],
            ..Totals::default()
        },
        reporter: Reporter::new(show_progress, total_bytes),
        read_bytes: Arc::new(AtomicU64::new(0)),
        oversized_open: false,
    };
    let limit = usize::try_from(args.max_record).unwrap_or(usize::MAX);
    for source in &sources {
        tagger.read_source(source.as_deref(), limit)?;
    }
    tagger.out.flush()?;
    tagger.reporter.finish();
    if args.report_peak_memory {
        tagger.totals.peak_rss_bytes = crate::bench::peak_rss_bytes();
    }
    print_summary(args.summary, &tagger.totals, tagger.session.rules())?;
    let clean = tagger.totals.input_errors == 0 && tagger.totals.guest_faults == 0;
    Ok(ExitCode::from(if clean { EXIT_OK } else { EXIT_PARTIAL }))
}

/// Records waiting to be sent to the guest: whole lines, the first of them at `first`.
#[derive(Debug)]
struct Batch {
    bytes: Vec<u8>,
    first: Origin,
    input: Arc<str>,
}

impl Batch {
    fn new(input: Arc<str>, first: Origin) -> Self {
        Self {
            bytes: Vec::new(),
            first,
            input,
        }
    }

    /// The batch's lines with their origins.
    fn lines(&self) -> impl Iterator<Item = (&[u8], Origin)> {
        trailtag_engine::lines(&self.bytes)
            .zip(0..)
            .map(|(line, i)| (line, self.first.advanced(i)))
    }
}

struct Tagger {
    session: Session,
    abi: Abi,
    only_matches: bool,
    batch: Batch,
    batch_limit: usize,
    out: BufWriter<Box<dyn Write>>,
    totals: Totals,
    reporter: Reporter,
    read_bytes: Arc<AtomicU64>,
    oversized_open: bool,
}

impl Tagger {
    fn read_source(&mut self, path: Option<&std::path::Path>, limit: usize) -> Result<()> {
        self.totals.inputs += 1;
        let name = path.map_or_else(|| "-".to_owned(), |p| p.display().to_string());
        let mut input = match input::open(path, Arc::clone(&self.read_bytes)) {
            Ok(input) => input,
            Err(e) => {
                self.totals.input_errors += 1;
                self.reporter
                    .diagnostic(Diagnostic::Input, &format!("{name}: cannot open: {e}"));
                return Ok(());
            }
        };
        self.batch = Batch::new(Arc::from(name.as_str()), Origin::first(input.framing));
        let result = input::read_records(&mut input, limit, self);
        self.flush().map_err(anyhow::Error::from)?;
        match result {
            Ok(()) => Ok(()),
            Err(input::InputError::Consumer(e)) => Err(e.into()),
            Err(e) => {
                self.totals.input_errors += 1;
                self.reporter
                    .diagnostic(Diagnostic::Input, &format!("{name}: {e}"));
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.batch.bytes.is_empty() {
            let lines = match self.abi {
                Abi::Raw => self.flush_raw()?,
                Abi::FluentBit => self.flush_fluent_bit()?,
            };
            self.batch.first = self.batch.first.advanced(lines);
            self.batch.bytes.clear();
        }
        self.reporter
            .progress(self.read_bytes.load(Ordering::Relaxed));
        Ok(())
    }

    /// Sends the batch through the batch ABI; returns its number of lines (the guest counts
    /// them: every line is a record or a blank line).
    fn flush_raw(&mut self) -> io::Result<u64> {
        match self
            .session
            .transform(&self.batch.bytes)
            .map_err(io::Error::other)?
        {
            Ok(output) => {
                self.accept(&output, self.batch.first, &Arc::clone(&self.batch.input))?;
                Ok(output.stats.records_in + output.stats.blank)
            }
            Err(fault) => {
                let message = format!(
                    "{}: the guest failed on a batch ({fault}); retrying its records one by one",
                    self.batch.input
                );
                self.reporter.diagnostic(Diagnostic::GuestFault, &message);
                self.isolate()
            }
        }
    }

    /// Writes a batch's output and adds its counts and diagnostics.
    fn accept(&mut self, output: &BatchOutput, first: Origin, input: &str) -> io::Result<()> {
        self.out.write_all(&output.output)?;
        self.add_stats(&output.stats);
        for (index, reason) in &output.unreadable {
            let message = format!(
                "{input}:{}: {reason}; passed through unchanged",
                first.advanced(*index)
            );
            self.reporter.diagnostic(Diagnostic::Unreadable, &message);
        }
        Ok(())
    }

    fn add_stats(&mut self, stats: &Counts) {
        let t = &mut self.totals;
        t.records_in += stats.records_in;
        t.records_out += stats.records_out;
        t.tagged += stats.tagged;
        t.unreadable += stats.unreadable;
        t.blank += stats.blank;
        if self.only_matches {
            t.filtered += stats.records_in + stats.blank - stats.records_out;
        }
        for (total, n) in t.per_rule.iter_mut().zip(&stats.per_rule) {
            *total += n;
        }
    }

    /// Sends each record of the failed batch alone; a record the guest fails on again is
    /// written unchanged and reported. Returns the batch's number of lines.
    fn isolate(&mut self) -> io::Result<u64> {
        let batch = std::mem::replace(&mut self.batch, Batch::new(Arc::from(""), Origin::Line(1)));
        let mut lines = 0;
        let result = batch.lines().try_for_each(|(line, origin)| {
            lines += 1;
            let mut single = Vec::with_capacity(line.len() + 1);
            single.extend_from_slice(line);
            single.push(b'\n');
            match self.session.transform(&single).map_err(io::Error::other)? {
                Ok(output) => self.accept(&output, origin, &batch.input),
                Err(fault) => self.pass_faulted(line, &batch.input, origin, &fault.to_string()),
            }
        });
        self.batch = batch;
        result.map(|()| lines)
    }

    /// A record the guest failed on is written unchanged, even with `--only-matches`: it was not
    /// evaluated, so nothing says it does not match.
    fn pass_faulted(
        &mut self,
        line: &[u8],
        input: &str,
        origin: Origin,
        fault: &str,
    ) -> io::Result<()> {
        self.totals.records_in += 1;
        self.totals.guest_faults += 1;
        self.out.write_all(line)?;
        self.out.write_all(b"\n")?;
        self.totals.records_out += 1;
        let message =
            format!("{input}:{origin}: {fault}; the record was passed through unevaluated");
        self.reporter.diagnostic(Diagnostic::GuestFault, &message);
        Ok(())
    }

    /// Sends the batch's lines one by one through the Fluent Bit ABI; returns how many.
    fn flush_fluent_bit(&mut self) -> io::Result<u64> {
        let batch = std::mem::replace(&mut self.batch, Batch::new(Arc::from(""), Origin::Line(1)));
        let mut lines = 0;
        let result = batch.lines().try_for_each(|(line, origin)| {
            lines += 1;
            self.fluent_bit_record(line, &batch.input, origin)
        });
        self.batch = batch;
        result.map(|()| lines)
    }

    fn fluent_bit_record(&mut self, line: &[u8], input: &str, origin: Origin) -> io::Result<()> {
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            self.totals.blank += 1;
            return self.write_unless_only_matches(line);
        }
        let answer = self
            .session
            .fluent_bit_filter(FLUENT_BIT_TAG, line, self.only_matches)
            .map_err(io::Error::other)?;
        let answer = match answer {
            Ok(answer) => answer,
            Err(fault) => return self.pass_faulted(line, input, origin, &fault.to_string()),
        };
        self.totals.records_in += 1;
        if answer.is_empty() {
            self.totals.filtered += 1;
            return Ok(());
        }
        if answer != line {
            self.count_fluent_bit_answer(&answer, input, origin);
        }
        self.out.write_all(&answer)?;
        self.out.write_all(b"\n")?;
        self.totals.records_out += 1;
        Ok(())
    }

    /// The Fluent Bit ABI returns no counts: read them off a changed answer's tag.
    fn count_fluent_bit_answer(&mut self, answer: &[u8], input: &str, origin: Origin) {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(answer) else {
            return;
        };
        let tag = &value[trailtag_engine::TAG_KEY];
        if let Some(error) = tag.get("error").and_then(|e| e.as_str()) {
            self.totals.unreadable += 1;
            let message = format!("{input}:{origin}: {error}; wrapped (Fluent Bit ABI)");
            self.reporter.diagnostic(Diagnostic::Unreadable, &message);
            return;
        }
        self.totals.tagged += 1;
        let detections = tag["detections"].as_array().cloned().unwrap_or_default();
        for detection in detections {
            let id = detection["id"].as_str().unwrap_or_default();
            if let Some(index) = self.session.rules().iter().position(|r| r.id == id) {
                self.totals.per_rule[index] += 1;
            }
        }
    }

    fn write_unless_only_matches(&mut self, line: &[u8]) -> io::Result<()> {
        if self.only_matches {
            self.totals.filtered += 1;
            return Ok(());
        }
        self.out.write_all(line)?;
        self.out.write_all(b"\n")?;
        self.totals.records_out += 1;
        Ok(())
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.batch.bytes.len() >= self.batch_limit {
            self.flush()
        } else {
            Ok(())
        }
    }
}

impl Consumer for Tagger {
    fn lines(&mut self, block: &[u8]) -> io::Result<()> {
        self.batch.bytes.extend_from_slice(block);
        self.flush_if_full()
    }

    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.batch.bytes.extend_from_slice(bytes);
        self.batch.bytes.push(b'\n');
        self.flush_if_full()
    }

    /// An oversized record is written unevaluated, even with `--only-matches` (like a guest fault).
    fn oversized_piece(&mut self, bytes: &[u8]) -> io::Result<()> {
        if !self.oversized_open {
            self.flush()?;
            self.oversized_open = true;
        }
        self.out.write_all(bytes)
    }

    fn oversized_end(&mut self) -> io::Result<()> {
        self.oversized_open = false;
        self.totals.records_in += 1;
        self.totals.oversized += 1;
        self.out.write_all(b"\n")?;
        self.totals.records_out += 1;
        let origin = self.batch.first;
        self.batch.first = origin.advanced(1);
        let message = format!(
            "{}:{origin}: record larger than --max-record, passed through unevaluated",
            self.batch.input
        );
        self.reporter.diagnostic(Diagnostic::Oversized, &message);
        Ok(())
    }
}
