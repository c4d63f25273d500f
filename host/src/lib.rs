//! The `trailtag` command-line host: runs the trailtag WebAssembly module on wasmtime.
//!
//! - [`runtime`]: compile the module once; bounded instances (memory cap, epoch deadline).
//! - [`guest`]: one instance and the ABI calls, with checked memory access.
//! - [`session`]: a configured instance that replaces itself after a fault.
//! - [`input`]: files and stdin, gzip, S3 `Records` files, bounded line reading.
//! - [`cmd`]: the subcommands; [`cli`]: their flags; [`bench`]: the benchmark tooling.
//!
//! The library exists so that tests and benchmarks drive the same code the binary runs.

pub mod bench;
pub mod cli;
pub mod cmd;
pub mod guest;
pub mod input;
pub mod report;
pub mod runtime;
pub mod session;

use std::process::ExitCode;

use anyhow::Result;

/// Runs a parsed command line.
pub fn run(cli: cli::Cli) -> Result<ExitCode> {
    match cli.command {
        cli::Command::Tag(args) => cmd::tag::run(&args),
        cli::Command::Rules(command) => cmd::rules::run(&command),
        cli::Command::Bench(command) => cmd::bench::run(&command),
    }
}
