//! Command-line interface (clap).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use trailtag_engine::envelope::Shape;
use trailtag_engine::output::TagFormat;
use trailtag_plugin::codec::Config;

pub use crate::pipeline::Abi;
pub use crate::protocol::Protocol;
pub use crate::report::SummaryFormat;
use crate::units::{parse_duration, parse_size};

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
    /// Why each record matched a rule or nearly did: every clause, held or not.
    Explain(ExplainArgs),
    /// Print the ECS document Elastic rules read for each record (one JSON document per line).
    Ecs(EcsArgs),
    /// Write a copy of the module with the rules and options baked in, for hosts that cannot
    /// configure a module (Fluent Bit's `wasm` filter).
    Module(ModuleArgs),
    /// Benchmarks: generate data, measure throughput and memory (BENCHMARKS.md).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run as a log shipper's child: answer each line on stdin as soon as it is read (rsyslog
    /// `mmexternal`, Fluentd `exec_filter`).
    Filter(FilterArgs),
    /// Run as a sidecar: NDJSON records in over TCP or HTTP, the same records tagged out, in
    /// order; Prometheus metrics; rules reloaded on SIGHUP; drains on SIGTERM
    /// (pipelines/sidecar/README.md).
    Serve(ServeArgs),
}

/// `trailtag serve`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("listeners").required(true).multiple(true).args(["listen", "http"])))]
pub struct ServeArgs {
    /// Raw TCP: each connection sends NDJSON and reads the same lines back, tagged, in order
    /// (e.g. 127.0.0.1:7171; port 0 picks a free one, printed on stderr).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// HTTP/1.1: `POST /v1/tag` (NDJSON body, tagged NDJSON answer), `GET /metrics`,
    /// `GET /healthz`, `GET /readyz` (e.g. 127.0.0.1:7172).
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<std::net::SocketAddr>,
    /// Accept an address other than loopback. The sidecar has no authentication and no TLS:
    /// put it beside the shipper, not on a network.
    #[arg(long)]
    pub allow_remote: bool,
    /// Guest instances tagging in parallel, shared by every connection. Default: the available
    /// parallelism.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,
    /// Batches one connection may have in flight; a client that does not read its answers stops
    /// being read once this many wait (backpressure), and slows nobody else.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub window: u16,
    /// Lines longer than this are passed through unevaluated, streamed, never held whole in
    /// memory, and counted (as `trailtag tag` does).
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size)]
    pub max_record: u64,
    /// How long SIGTERM waits for open connections to be answered before exiting anyway.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// Keep a `trailtag` member a record arrives with when it matches nothing.
    #[arg(long)]
    pub keep_foreign_tags: bool,
    /// Also deliver every tagged line to a downstream, `tcp://HOST:PORT` (NDJSON on a connection)
    /// or `http://HOST:PORT/PATH` (NDJSON POSTs), and answer a client only once the downstream
    /// took its lines: an HTTP request then gets `200` with an empty body, or `503` with the
    /// reason; a TCP connection is answered line by line as its lines are taken, and closed when
    /// they cannot be. For shippers that discard what their sinks are answered (Vector).
    #[arg(long, value_name = "URL")]
    pub forward: Option<crate::serve::forward::Target>,
    /// How long connecting to the `--forward` downstream, each write to it and its answer may
    /// take before the delivery fails.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration, requires = "forward")]
    pub forward_timeout: Duration,
    /// The module and rules (the rule paths are read again on SIGHUP).
    #[command(flatten)]
    pub guest: GuestArgs,
}

/// `trailtag filter`
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// What the parent process speaks on trailtag's stdin and stdout.
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    /// Append everything trailtag reports (rules skipped, records it could not read, summaries,
    /// errors) to FILE instead of stderr. Required with mmexternal, which reads the child's stderr
    /// as replies.
    #[arg(long, value_name = "FILE", required_if_eq("protocol", "mmexternal"))]
    pub log: Option<PathBuf>,
    /// How records are read and tags written.
    #[command(flatten)]
    pub record: RecordArgs,
    /// Lines longer than this are passed through unevaluated, without being held in memory.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_record: u64,
    /// How to print summaries.
    #[arg(long, value_enum, default_value_t = SummaryFormat::Json)]
    pub summary: SummaryFormat,
    /// Print a summary of the totals so far when this long has passed since the last one (checked
    /// after each answer; 0: only when the input ends).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub summary_every: Duration,
    /// The module and rules.
    #[command(flatten)]
    pub guest: GuestArgs,
}

/// How the commands that tag (`tag`, `filter`, `module`) read records and write tags.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Keep a `trailtag` member a record arrives with when it matches nothing (for chained
    /// deployments). By default such members are removed, so that a tag downstream always means
    /// this pass wrote it.
    #[arg(long)]
    pub keep_foreign_tags: bool,
    /// Read every record as this shape instead of recognising it (docs/ingest.md).
    #[command(flatten)]
    pub input_shape: InputShapeArg,
    /// How a match is written: the native `trailtag` member, ECS alert fields, or OCSF Detection
    /// Findings (docs/tag-formats.md).
    #[arg(long, value_enum, default_value_t = TagFormatArg::Trailtag)]
    pub tag_format: TagFormatArg,
}

impl RecordArgs {
    /// Sets the configuration keys these options stand for.
    pub fn apply(&self, config: &mut Config) {
        config.keep_foreign_tags = self.keep_foreign_tags;
        config.input_shape = self.input_shape.shape();
        config.tag_format = self.tag_format.into();
    }
}

/// `--input-shape`, shared by the commands that tag.
#[derive(Debug, Clone, Args)]
pub struct InputShapeArg {
    /// Read every record as this shape (`record`, or an envelope: `eventbridge`, `firehose`, …)
    /// instead of recognising each one; what an envelope holds is still recognised
    /// (docs/ingest.md).
    #[arg(long = "input-shape", value_name = "SHAPE",
          value_parser = clap::builder::PossibleValuesParser::new(Shape::forced_codes()))]
    pub code: Option<String>,
}

impl InputShapeArg {
    /// The forced shape, if any.
    pub fn shape(&self) -> Option<Shape> {
        self.code.as_deref().and_then(Shape::forced)
    }
}

/// `trailtag explain`
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Inputs (any framing `trailtag tag` reads); stdin when none is given or for `-`.
    pub inputs: Vec<PathBuf>,
    /// Explain only this rule (by id); repeatable.
    #[arg(long = "rule", value_name = "ID")]
    pub rules_shown: Vec<String>,
    /// Show every rule, not only matches and near misses.
    #[arg(long)]
    pub all: bool,
    /// One JSON object per record instead of text.
    #[arg(long)]
    pub json: bool,
    /// The rules.
    #[command(flatten)]
    pub guest: GuestArgs,
}

/// `trailtag ecs`
#[derive(Debug, Args)]
pub struct EcsArgs {
    /// Inputs (any framing `trailtag tag` reads); stdin when none is given or for `-`.
    pub inputs: Vec<PathBuf>,
    /// Indent the documents.
    #[arg(long)]
    pub pretty: bool,
}

/// `trailtag module`
#[derive(Debug, Args)]
pub struct ModuleArgs {
    /// Where to write the module.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Write only tagged records (the module's `only_matches` option).
    #[arg(long)]
    pub only_matches: bool,
    /// How records are read and tags written.
    #[command(flatten)]
    pub record: RecordArgs,
    /// The base module and the rules to bake in (`--module-variant` defaults to `portable`, the
    /// module Fluent Bit loads).
    #[command(flatten)]
    pub guest: GuestArgs,
}

/// `trailtag bench ...`
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Write benchmark data expanded from the real corpus.
    Generate(crate::bench::generate::GenerateArgs),
    /// Measure every mode and rule set over a file.
    Run(crate::bench::run::RunArgs),
    /// Load-test `trailtag serve` on loopback: many clients over HTTP and TCP, a SIGHUP in the
    /// middle; throughput, latency percentiles, the server's peak memory, records lost (none).
    Serve(crate::bench::serve::ServeBenchArgs),
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
    /// A rule file or a directory of them (read recursively), loaded besides the built-in
    /// rules; repeatable. trailtag TOML, Sigma YAML and Elastic TOML rules, and
    /// FILE.examples.toml examples; other files in a directory are reported and ignored.
    #[arg(long = "rules", value_name = "PATH", global = true)]
    pub rules: Vec<PathBuf>,
    /// Leave the built-in rules out (`--rules` then replaces them).
    #[arg(long, global = true)]
    pub no_builtin_rules: bool,
    /// Skip a rule file that cannot be loaded, reporting and counting it, instead of refusing
    /// to start.
    #[arg(long, global = true)]
    pub skip_invalid_rules: bool,
    /// A value of a Sigma placeholder (`%NAME%`, read by the `expand` modifier), e.g.
    /// `--placeholder Admins=alice`; repeat a name for several values.
    #[arg(long = "placeholder", value_name = "NAME=VALUE", value_parser = parse_placeholder, global = true)]
    pub placeholders: Vec<(String, String)>,
    /// Send the module no configuration: a module written by `trailtag module` then runs the
    /// rules baked into it (as Fluent Bit runs it); rule and option flags are not applied.
    #[arg(long, global = true, conflicts_with_all = ["rules", "no_builtin_rules", "skip_invalid_rules", "placeholders"])]
    pub use_baked_config: bool,
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
    /// How records are read and tags written.
    #[command(flatten)]
    pub record: RecordArgs,
    /// Write the CloudTrail records inside envelopes (EventBridge events, CloudWatch Logs and
    /// Firehose payloads, Splunk HEC events, a shipper's `log` string …) one per line, instead of
    /// each envelope with the tags written inside it (docs/ingest.md).
    /// Not with `--abi fluent-bit`, whose filter returns one record per record.
    #[arg(long)]
    pub unwrap: bool,
    /// Longest a record read from a slow input (a pipe, `tail -f`) waits for more input before it
    /// is processed and written.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
    pub idle_flush: Duration,
    /// Guest instances tagging batches in parallel (raw ABI; output stays in input order).
    /// Default: the available parallelism.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
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

/// The tag formats (`trailtag_engine::output::TagFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TagFormatArg {
    /// The native `trailtag` member (docs/tag-schema.md).
    Trailtag,
    /// Elastic Common Schema alert fields: `rule`, `threat`, `event.kind: alert`, `tags`.
    Ecs,
    /// OCSF Detection Findings (class 2004) in a `detection_findings` member.
    Ocsf,
}

impl From<TagFormatArg> for TagFormat {
    fn from(arg: TagFormatArg) -> Self {
        match arg {
            TagFormatArg::Trailtag => TagFormat::Trailtag,
            TagFormatArg::Ecs => TagFormat::Ecs,
            TagFormatArg::Ocsf => TagFormat::Ocsf,
        }
    }
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

fn parse_placeholder(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=VALUE, got `{text}`"))?;
    let name = name.trim_matches('%');
    if name.is_empty() {
        return Err(format!("the placeholder in `{text}` has no name"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}
