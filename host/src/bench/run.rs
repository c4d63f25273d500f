//! `trailtag bench run`: every mode and rule set over one file, each in its own process, plus
//! `trailtag tag` end to end; a table (or JSON) of throughput and memory.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::measure::{Measurement, Mode};
use super::ruleset::Ruleset;

/// `trailtag bench run`
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The benchmark file (see `trailtag bench generate`).
    pub file: PathBuf,
    /// Rule sets to run.
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Ruleset::Builtin, Ruleset::Pack])]
    pub rulesets: Vec<Ruleset>,
    /// Modes to run.
    #[arg(long, value_enum, num_args = 1.., default_values_t = [Mode::Native, Mode::Wasm, Mode::WasmPortable, Mode::FluentBit])]
    pub modes: Vec<Mode>,
    /// Leave out `trailtag tag` end to end.
    #[arg(long)]
    pub no_cli: bool,
    /// Rounds; each runs every measurement once. The median run (by time) is reported, and the
    /// median within-round ratio to the native engine.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One measurement of the table: a mode of the engine or the CLI, with a rule set.
#[derive(Debug, Clone, Copy)]
enum Job {
    Measure(Mode, Ruleset),
    Cli(Ruleset),
}

/// A row of the table: the median run and its throughput relative to the native engine's.
#[derive(Debug, serde::Serialize)]
struct Row {
    #[serde(flatten)]
    median: Measurement,
    /// Median over rounds of this run's throughput divided by the native engine's in the same
    /// round (the ratio a noisy machine distorts least).
    vs_native: Option<f64>,
}

/// Runs the benchmark and prints the results.
///
/// The measurements are interleaved: each round runs every job once, so that a burst of load
/// from other tenants of the machine falls on all of them alike, and ratios are taken within a
/// round.
pub fn run(args: &RunArgs) -> Result<()> {
    let exe = std::env::current_exe().context("locating the trailtag executable")?;
    let jobs = jobs(args);
    let mut runs: Vec<Vec<Measurement>> = jobs.iter().map(|_| Vec::new()).collect();
    for _ in 0..args.repeat.max(1) {
        for (job, runs) in jobs.iter().zip(&mut runs) {
            runs.push(match *job {
                Job::Measure(mode, ruleset) => spawn_measure(&exe, mode, ruleset, &args.file)?,
                Job::Cli(ruleset) => spawn_cli(&exe, ruleset, &args.file)?,
            });
        }
    }
    let rows = rows(&jobs, runs);
    let mut out = io::stdout().lock();
    if args.json {
        for row in &rows {
            writeln!(out, "{}", serde_json::to_string(row)?)?;
        }
    } else {
        write_table(&mut out, &args.file, &rows)?;
    }
    Ok(())
}

fn jobs(args: &RunArgs) -> Vec<Job> {
    let mut jobs = Vec::new();
    for &ruleset in &args.rulesets {
        jobs.extend(args.modes.iter().map(|&mode| Job::Measure(mode, ruleset)));
        if !args.no_cli {
            jobs.push(Job::Cli(ruleset));
        }
    }
    jobs
}

/// The median run of each job (by time), with its ratio to the native engine on the same rules.
fn rows(jobs: &[Job], runs: Vec<Vec<Measurement>>) -> Vec<Row> {
    let ruleset = |job: &Job| match *job {
        Job::Measure(_, ruleset) | Job::Cli(ruleset) => ruleset,
    };
    let native_seconds: Vec<Option<Vec<f64>>> = jobs
        .iter()
        .map(|job| {
            let native = jobs.iter().position(
                |other| matches!(other, Job::Measure(Mode::Native, r) if *r == ruleset(job)),
            )?;
            Some(runs[native].iter().map(|m| m.seconds).collect())
        })
        .collect();
    runs.into_iter()
        .zip(native_seconds)
        .map(|(job_runs, native)| {
            let vs_native = native.map(|native| {
                median_f64(
                    job_runs
                        .iter()
                        .zip(native)
                        .map(|(m, native)| native / m.seconds.max(f64::MIN_POSITIVE))
                        .collect(),
                )
            });
            Row {
                median: median_run(job_runs),
                vs_native,
            }
        })
        .collect()
}

fn median_run(mut runs: Vec<Measurement>) -> Measurement {
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    runs.swap_remove(runs.len() / 2)
}

fn median_f64(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn spawn_measure(exe: &Path, mode: Mode, ruleset: Ruleset, file: &Path) -> Result<Measurement> {
    let mode_name = serde_json::to_value(mode)?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ruleset_name = ruleset.arg();
    let output = Command::new(exe)
        .args([
            "bench",
            "measure",
            "--mode",
            &mode_name,
            "--ruleset",
            ruleset_name,
        ])
        .arg(file)
        .output()?;
    if !output.status.success() {
        bail!(
            "measuring {mode:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// `trailtag tag FILE -o /dev/null`, timed from outside: startup and module compilation included.
#[expect(clippy::disallowed_methods, reason = "a benchmark measures wall time")]
fn spawn_cli(exe: &Path, ruleset: Ruleset, file: &Path) -> Result<Measurement> {
    let dir = std::env::temp_dir().join(format!("trailtag-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut command = Command::new(exe);
    command
        .args([
            "tag",
            "--summary",
            "json",
            "--progress",
            "never",
            "--report-peak-memory",
            "-o",
            "/dev/null",
        ])
        .arg(file);
    if !ruleset.with_builtin() {
        command.arg("--no-builtin-rules");
    }
    for (i, rule) in ruleset.extra_rules()?.iter().enumerate() {
        let base = Path::new(&rule.name).file_name().unwrap_or_default();
        let path = dir.join(format!("{i:03}-{}", base.to_string_lossy()));
        std::fs::write(&path, &rule.text)?;
        command.arg("--rules").arg(path);
    }
    let started = Instant::now();
    let output = command.output()?;
    let seconds = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let summary: serde_json::Value = String::from_utf8_lossy(&output.stderr)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("trailtag tag printed no JSON summary")?;
    Ok(Measurement {
        what: "trailtag tag (CLI, end to end)".to_owned(),
        ruleset: ruleset.name().to_owned(),
        bytes: std::fs::metadata(file)?.len(),
        records: summary["records_in"].as_u64().unwrap_or_default(),
        tagged: summary["tagged"].as_u64().unwrap_or_default(),
        setup_seconds: 0.0,
        seconds,
        peak_rss_bytes: summary["peak_rss_bytes"].as_u64(),
        guest_memory_bytes: None,
    })
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or_else(
        || "-".to_owned(),
        |b| format!("{:.0} MiB", b as f64 / f64::from(1 << 20)),
    )
}

fn write_table(out: &mut impl Write, file: &Path, rows: &[Row]) -> io::Result<()> {
    let first = rows.first().map(|row| &row.median);
    let (bytes, records) = first.map_or((0, 0), |m| (m.bytes, m.records));
    writeln!(
        out,
        "{}: {:.1} MB, {records} records",
        file.display(),
        bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "{:<32} {:<22} {:>9} {:>12} {:>9} {:>9} {:>8} {:>8} {:>9}",
        "what",
        "rules",
        "MB/s",
        "records/s",
        "peak RSS",
        "guest mem",
        "tagged",
        "setup s",
        "÷ native"
    )?;
    for Row {
        median: m,
        vs_native,
    } in rows
    {
        writeln!(
            out,
            "{:<32} {:<22} {:>9.0} {:>12.0} {:>9} {:>9} {:>8} {:>8.2} {:>9}",
            m.what,
            m.ruleset,
            m.mb_per_second(),
            m.records_per_second(),
            mib(m.peak_rss_bytes),
            mib(m.guest_memory_bytes),
            m.tagged,
            m.setup_seconds,
            vs_native.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"))
        )?;
    }
    Ok(())
}
