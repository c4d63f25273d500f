//! Command-line interface (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// trailtag: in-flight detections for AWS CloudTrail, in one WebAssembly module.
#[derive(Debug, Parser)]
#[command(name = "trailtag", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Tag CloudTrail records: NDJSON, CloudTrail S3 files ({"Records":[...]}), plain or gzip.
    Tag(TagArgs),
    /// List, check and test rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Benchmarks: generate data, measure throughput and memory (BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `trailtag bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Write benchmark data expanded from the real corpus.
    Generate(crate::bench::generate::GenerateArgs),
    /// Measure every mode and rule set over a file.
    Run(crate::bench::run::RunArgs),
    /// One measurement in this process (what `bench run` spawns); prints JSON.
    #[command(hide = true)]
    Measure {
        /// What to measure.
        #[arg(long, value_enum)]
        mode: crate::bench::measure::Mode,
        /// Which rules.
        #[arg(long, value_enum)]
        ruleset: crate::bench::ruleset::Ruleset,
        /// The benchmark file.
        file: PathBuf,
    },
}

/// Options that choose and bound the guest module.
#[derive(Debug, Clone, Args)]
pub struct GuestArgs {
    /// A trailtag WebAssembly module to run instead of the embedded one.
    #[arg(long, value_name = "FILE", global = true)]
    pub module: Option<PathBuf>,
    /// Which embedded module to run: `simd` (the default; fastest on wasmtime) or `portable` (no
    /// SIMD: the module Fluent Bit loads; the default with `--abi fluent-bit`).
    #[arg(long, value_enum, value_name = "VARIANT", global = true)]
    pub module_variant: Option<crate::runtime::ModuleVariant>,
    /// Rule files, or directories of `*.toml` rule files, loaded besides the built-in rules.
    #[arg(long = "rules", value_name = "PATH", global = true)]
    pub rules: Vec<PathBuf>,
    /// Leave the built-in rules out.
    #[arg(long, global = true)]
    pub no_builtin_rules: bool,
    /// Largest linear memory one guest instance may use (e.g. 512MiB, 2GiB).
    #[arg(long, value_name = "SIZE", default_value = "1GiB", value_parser = parse_size, global = true)]
    pub guest_memory: u64,
    /// Longest one call into the guest may run (e.g. 500ms, 30s).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, global = true)]
    pub guest_timeout: Duration,
    /// Compile the module every time instead of keeping compiled code in wasmtime's cache.
    #[arg(long, global = true)]
    pub no_module_cache: bool,
    /// Test hook: the module's `fault_injection` configuration (docs/abi.md, section 8), e.g.
    /// '{"trap":"MARKER"}'. For proving fault isolation; never needed in production.
    #[arg(long, value_name = "JSON", hide = true, value_parser = parse_json, global = true)]
    pub fault_injection: Option<serde_json::Value>,
}

/// `trailtag tag`
#[derive(Debug, Args)]
pub struct TagArgs {
    /// Inputs; stdin when none is given or for `-`.
    pub files: Vec<PathBuf>,
    /// Write here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write only records that matched a rule.
    #[arg(long)]
    pub only_matches: bool,
    /// Parse every record, so that malformed JSON the cheap scan ruled out is counted too.
    #[arg(long)]
    pub validate: bool,
    /// Which of the module's ABIs to drive.
    #[arg(long, value_enum, default_value_t = Abi::Raw)]
    pub abi: Abi,
    /// Bytes of records per call into the module (raw ABI).
    #[arg(long, value_name = "SIZE", default_value = "1MiB", value_parser = parse_size)]
    pub batch_size: u64,
    /// Records longer than this are passed through unevaluated, without being held in memory.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_record: u64,
    /// How to print the summary on stderr.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub summary: SummaryFormat,
    /// Show a progress bar (auto: when reading files and stderr is a terminal).
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Add the process's peak resident memory to the JSON summary (for `trailtag bench`).
    #[arg(long, hide = true)]
    pub report_peak_memory: bool,
    /// The module and rules.
    #[command(flatten)]
    pub guest: GuestArgs,
}

/// The ABI `tag` drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Abi {
    /// The batch transform (NDJSON in, NDJSON out).
    Raw,
    /// Fluent Bit's per-record filter, called exactly as Fluent Bit calls it.
    FluentBit,
}

/// Summary formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SummaryFormat {
    /// Lines for people.
    Text,
    /// One JSON object.
    Json,
    /// Nothing.
    None,
}

/// Progress bar modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// When reading files and stderr is a terminal.
    Auto,
    /// Never.
    Never,
}

/// `trailtag rules ...`
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the loaded rules.
    List {
        /// Print the rules' metadata as JSON.
        #[arg(long)]
        json: bool,
        /// The module and rules.
        #[command(flatten)]
        guest: GuestArgs,
    },
    /// Load the rules and report every problem, with file, line and rule id.
    Check {
        /// The module and rules.
        #[command(flatten)]
        guest: GuestArgs,
    },
    /// Run every rule's examples through the module and report the ones that disagree.
    Test {
        /// The module and rules.
        #[command(flatten)]
        guest: GuestArgs,
    },
}

/// Parses `123`, `64KiB`, `1MiB`, `2GiB` (also KB/MB/GB as powers of 1000).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 64MiB"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (use B, KiB, MiB, GiB)"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Parses `500ms`, `30s`, `2m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 30s"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" | "" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number.saturating_mul(60))),
        other => Err(format!("unknown duration unit {other:?} (use ms, s, m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("10"), Ok(10));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("1h").is_err());
    }
}
