//! The `trailtag` command-line host: runs the trailtag WebAssembly module on wasmtime.
//!
//! The flow, one module each:
//! - [`runtime`]: compile the module once; bounded instances; shared by every session;
//! - [`guest`]: one instance, its limits (a resource limiter, an epoch deadline), the ABI calls
//!   with checked memory access and the contract's codec;
//! - [`session`]: a configured instance that replaces itself after a fault;
//! - [`input`] and [`feed`]: files, stdin or any reader; gzip, framing; read on their own thread
//!   and handed over in batches that never wait longer than an idle interval;
//! - [`pipeline`]: batches through a session to a sink, faults isolated, everything counted;
//!   what any front door (the CLI today, a sidecar later) runs;
//! - [`protocol`]: child-process protocols (rsyslog `mmexternal`, NDJSON lines) answered on the
//!   pipeline line by line, as soon as each line is read;
//! - [`serve`]: the sidecar: NDJSON over TCP and HTTP from many clients, on a pool of
//!   pipelines, with metrics, reload on SIGHUP and drain on SIGTERM;
//! - [`cmd`]: the subcommands, each a page of wiring; [`cli`]: their flags; [`report`]: what
//!   people read on stderr; [`bench`]: the benchmark tooling.
//!
//! The library exists so that tests and benchmarks drive the same code the binary runs.

pub mod bake;
pub mod bench;
pub mod cli;
pub mod cmd;
pub mod feed;
pub mod guest;
pub mod input;
pub mod pipeline;
pub mod protocol;
pub mod report;
pub mod rule_files;
pub mod runtime;
pub mod serve;
pub mod session;
pub mod units;
pub mod workers;

use std::process::ExitCode;

use anyhow::Result;

/// Runs a parsed command line.
pub fn run(cli: cli::Cli) -> Result<ExitCode> {
    match cli.command {
        cli::Command::Tag(args) => cmd::tag::run(&args),
        cli::Command::Rules(command) => cmd::rules::run(&command),
        cli::Command::Explain(args) => cmd::inspect::explain(&args),
        cli::Command::Ecs(args) => cmd::inspect::ecs(&args),
        cli::Command::Module(args) => cmd::module::run(&args),
        cli::Command::Bench(command) => cmd::bench::run(&command),
        cli::Command::Filter(args) => cmd::filter::run(&args),
        cli::Command::Serve(args) => cmd::serve::run(&args),
    }
}
