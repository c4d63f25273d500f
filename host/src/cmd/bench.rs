//! `trailtag bench generate|run|serve|measure`.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Result;

use crate::bench::{generate, measure, run, serve};
use crate::cli::BenchCommand;

/// Runs a `bench` subcommand.
pub fn run(command: &BenchCommand) -> Result<ExitCode> {
    match command {
        BenchCommand::Generate(args) => {
            let written = generate::generate(args)?;
            writeln!(
                io::stderr(),
                "trailtag: wrote {} records ({:.1} MB uncompressed, {} drawn from the positive pool) to {}",
                written.records,
                written.bytes as f64 / 1e6,
                written.positives,
                args.output.display()
            )?;
        }
        BenchCommand::Run(args) => run::run(args)?,
        BenchCommand::Serve(args) => serve::run(args)?,
        BenchCommand::Measure {
            mode,
            ruleset,
            file,
        } => {
            let measurement = measure::measure(*mode, *ruleset, file)?;
            writeln!(
                io::stdout().lock(),
                "{}",
                serde_json::to_string(&measurement)?
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
