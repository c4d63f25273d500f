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
    /// Runs of each measurement; the median (by time) is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the benchmark and prints the results.
pub fn run(args: &RunArgs) -> Result<()> {
    let exe = std::env::current_exe().context("locating the trailtag executable")?;
    let mut results = Vec::new();
    for &ruleset in &args.rulesets {
        for &mode in &args.modes {
            results.push(median(args.repeat, || {
                spawn_measure(&exe, mode, ruleset, &args.file)
            })?);
        }
        if !args.no_cli {
            results.push(median(args.repeat, || {
                spawn_cli(&exe, ruleset, &args.file)
            })?);
        }
    }
    let mut out = io::stdout().lock();
    if args.json {
        for result in &results {
            writeln!(out, "{}", serde_json::to_string(result)?)?;
        }
    } else {
        write_table(&mut out, &args.file, &results)?;
    }
    Ok(())
}

fn median(repeat: usize, mut f: impl FnMut() -> Result<Measurement>) -> Result<Measurement> {
    let mut runs = (0..repeat.max(1))
        .map(|_| f())
        .collect::<Result<Vec<_>>>()?;
    runs.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    Ok(runs.swap_remove(runs.len() / 2))
}

fn spawn_measure(exe: &Path, mode: Mode, ruleset: Ruleset, file: &Path) -> Result<Measurement> {
    let mode_name = serde_json::to_value(mode)?
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ruleset_name = match ruleset {
        Ruleset::Builtin => "builtin",
        Ruleset::Pack => "pack",
    };
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
    for (i, rule) in ruleset.extra_rules().iter().enumerate() {
        let path = dir.join(format!("{i:03}.toml"));
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

fn write_table(out: &mut impl Write, file: &Path, results: &[Measurement]) -> io::Result<()> {
    let first = results.first();
    let (bytes, records) = first.map_or((0, 0), |m| (m.bytes, m.records));
    writeln!(
        out,
        "{}: {:.1} MB, {records} records",
        file.display(),
        bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "{:<32} {:<22} {:>9} {:>12} {:>9} {:>9} {:>8} {:>8}",
        "what", "rules", "MB/s", "records/s", "peak RSS", "guest mem", "tagged", "setup s"
    )?;
    for m in results {
        writeln!(
            out,
            "{:<32} {:<22} {:>9.0} {:>12.0} {:>9} {:>9} {:>8} {:>8.2}",
            m.what,
            m.ruleset,
            m.mb_per_second(),
            m.records_per_second(),
            mib(m.peak_rss_bytes),
            mib(m.guest_memory_bytes),
            m.tagged,
            m.setup_seconds
        )?;
    }
    Ok(())
}
