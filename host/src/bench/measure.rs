//! One measurement: a mode and a rule set over one file, in this process.
//!
//! The file is read in 1 MiB batches cut at line ends, exactly as `trailtag tag` reads it,
//! and every batch goes through the mode under test; outputs are produced in full and dropped.
//! The clock covers reading and processing, not loading rules or compiling the module (reported
//! apart as `setup_seconds`). Peak memory is the process's `VmHWM`, so one measurement runs per
//! process (`trailtag bench run` spawns them).

use std::io;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use trailtag_engine::edits::EditLog;
use trailtag_engine::output::trailtag::TrailtagTag;
use trailtag_engine::{BatchReport, Detector, Options, Scratch};

use super::peak_rss_bytes;
use super::ruleset::Ruleset;
use crate::input::{self, Consumer};
use crate::runtime::ModuleVariant;
use crate::session::Session;
use trailtag_plugin::codec::Config;

/// Bytes of records per batch (the CLI's default).
pub const BATCH_BYTES: usize = 1 << 20;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// The engine called natively (no WebAssembly).
    Native,
    /// The SIMD module on wasmtime through the raw batch ABI (what `trailtag tag` runs).
    Wasm,
    /// The portable module on wasmtime through the raw batch ABI.
    WasmPortable,
    /// The portable module on wasmtime through the Fluent Bit ABI, one call per record (the
    /// module and calls Fluent Bit makes, on wasmtime's compiler rather than WAMR's interpreter).
    FluentBit,
}

impl Mode {
    /// A name for tables.
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Native => "native engine",
            Mode::Wasm => "wasm (simd), batch ABI",
            Mode::WasmPortable => "wasm (portable), batch ABI",
            Mode::FluentBit => "wasm (portable), Fluent Bit ABI",
        }
    }
}

/// The result of one measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// What ran.
    pub what: String,
    /// Which rules.
    pub ruleset: String,
    /// Input bytes.
    pub bytes: u64,
    /// Records read.
    pub records: u64,
    /// Records tagged.
    pub tagged: u64,
    /// Loading rules and compiling the module.
    pub setup_seconds: f64,
    /// Reading and processing.
    pub seconds: f64,
    /// Peak resident memory of the process.
    pub peak_rss_bytes: Option<u64>,
    /// Linear memory of the guest at the end.
    pub guest_memory_bytes: Option<u64>,
}

impl Measurement {
    /// Megabytes (10^6 bytes) per second.
    pub fn mb_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds.max(f64::MIN_POSITIVE)
    }

    /// Records per second.
    pub fn records_per_second(&self) -> f64 {
        self.records as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// Runs one measurement in this process.
#[expect(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
pub fn measure(mode: Mode, ruleset: Ruleset, file: &Path) -> Result<Measurement> {
    let setup = Instant::now();
    let mut processor = Processor::new(mode, ruleset)?;
    let setup_seconds = setup.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut input = input::open(Some(file), Default::default())
        .with_context(|| format!("opening {}", file.display()))?;
    let mut batcher = Batcher {
        batch: Vec::with_capacity(2 * BATCH_BYTES),
        processor: &mut processor,
        bytes: 0,
    };
    input::read_records(&mut input, usize::MAX, &mut batcher)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    batcher.flush()?;
    let bytes = batcher.bytes;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Measurement {
        what: mode.describe().to_owned(),
        ruleset: ruleset.name().to_owned(),
        bytes,
        records: processor.records,
        tagged: processor.tagged,
        setup_seconds,
        seconds,
        peak_rss_bytes: peak_rss_bytes(),
        guest_memory_bytes: processor.guest_memory(),
    })
}

enum Engine {
    Native {
        detector: Box<Detector>,
        writer: TrailtagTag,
        scratch: Scratch,
        out: Vec<u8>,
        edits: EditLog,
        report: Box<BatchReport>,
    },
    Guest {
        session: Box<Session>,
        per_record: bool,
    },
}

struct Processor {
    engine: Engine,
    records: u64,
    tagged: u64,
}

impl Processor {
    fn new(mode: Mode, ruleset: Ruleset) -> Result<Self> {
        let engine = match mode {
            Mode::Native => {
                let detector = Detector::builder()
                    .builtin(ruleset.with_builtin())
                    .sources(ruleset.extra_sources()?)
                    .build()?;
                Engine::Native {
                    writer: TrailtagTag::for_rules(detector.rules()),
                    detector: Box::new(detector),
                    scratch: Scratch::default(),
                    out: Vec::with_capacity(2 * BATCH_BYTES),
                    edits: EditLog::new(),
                    report: Box::default(),
                }
            }
            Mode::Wasm | Mode::WasmPortable | Mode::FluentBit => {
                let variant = if mode == Mode::Wasm {
                    ModuleVariant::Simd
                } else {
                    ModuleVariant::Portable
                };
                let config = Config {
                    builtin_rules: ruleset.with_builtin(),
                    rules: ruleset.extra_rules()?,
                    ..Config::default()
                };
                let session = Session::embedded(variant, &config)?;
                Engine::Guest {
                    session: Box::new(session),
                    per_record: mode == Mode::FluentBit,
                }
            }
        };
        Ok(Self {
            engine,
            records: 0,
            tagged: 0,
        })
    }

    fn batch(&mut self, batch: &[u8]) -> Result<()> {
        let (records, tagged) = match &mut self.engine {
            Engine::Native {
                detector,
                writer,
                scratch,
                out,
                edits,
                report,
            } => {
                // As the guest runs it: one writer for the rule set, one reused report, the
                // answer as edits (`tt_transform_edits`).
                out.clear();
                detector.transform_ndjson_edits_into(
                    writer,
                    batch,
                    &Options::default(),
                    scratch,
                    out,
                    edits,
                    report,
                );
                (report.counts.records_in, report.counts.tagged)
            }
            Engine::Guest {
                session,
                per_record: false,
            } => {
                let counts = session
                    .transform(batch)?
                    .map_err(anyhow::Error::from)?
                    .report
                    .counts;
                (counts.records_in, counts.tagged)
            }
            Engine::Guest {
                session,
                per_record: true,
            } => {
                let (mut records, mut tagged) = (0, 0);
                for record in trailtag_engine::lines(batch) {
                    let answer = session
                        .fluent_bit_filter(b"cloudtrail", record, false)?
                        .map_err(anyhow::Error::from)?;
                    records += 1;
                    tagged += u64::from(answer.len() != record.len());
                }
                (records, tagged)
            }
        };
        self.records += records;
        self.tagged += tagged;
        Ok(())
    }

    fn guest_memory(&mut self) -> Option<u64> {
        match &mut self.engine {
            Engine::Guest { session, .. } => Some(session.guest().memory_size() as u64),
            Engine::Native { .. } => None,
        }
    }
}

struct Batcher<'p> {
    batch: Vec<u8>,
    processor: &'p mut Processor,
    bytes: u64,
}

impl Batcher<'_> {
    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.batch.len() >= BATCH_BYTES {
            self.flush().map_err(io::Error::other)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if !self.batch.is_empty() {
            self.processor.batch(&self.batch)?;
            self.batch.clear();
        }
        Ok(())
    }
}

impl Consumer for Batcher<'_> {
    fn lines(&mut self, block: &[u8]) -> io::Result<()> {
        self.batch.extend_from_slice(block);
        self.bytes += block.len() as u64;
        self.flush_if_full()
    }

    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.batch.extend_from_slice(bytes);
        self.batch.push(b'\n');
        self.bytes += bytes.len() as u64 + 1;
        self.flush_if_full()
    }

    fn oversized_piece(&mut self, _bytes: &[u8]) -> io::Result<()> {
        Err(io::Error::other(
            "benchmark input holds a record too large to batch",
        ))
    }

    fn oversized_end(&mut self) -> io::Result<()> {
        Ok(())
    }
}
