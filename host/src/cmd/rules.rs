//! `trailtag rules list|check|test`.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use trailtag_engine::framing::to_one_line;

use crate::cli::{GuestArgs, RulesCommand};
use crate::runtime::ModuleVariant;
use crate::session::Session;

/// Runs a `rules` subcommand.
pub fn run(command: &RulesCommand) -> Result<ExitCode> {
    match command {
        RulesCommand::List { json, guest } => list(guest, *json),
        RulesCommand::Check { guest } => check(guest),
        RulesCommand::Test { guest } => test(guest),
    }
}

fn list(args: &GuestArgs, json: bool) -> Result<ExitCode> {
    let session = super::session(args, ModuleVariant::Simd, |_| {})?;
    let mut out = io::stdout().lock();
    if json {
        out.write_all(session.rules_document())?;
        writeln!(out)?;
    } else {
        for rule in session.rules() {
            writeln!(
                out,
                "{:<45} {:<13} {:>3}  {}",
                rule.id, rule.severity, rule.risk_score, rule.name
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(args: &GuestArgs) -> Result<ExitCode> {
    let session = super::session(args, ModuleVariant::Simd, |_| {})?;
    writeln!(
        io::stdout().lock(),
        "{} rules loaded without problems",
        session.rules().len()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Every rule's examples, run through the module: an example must be tagged by its rule if and
/// only if it says `matches = true`.
fn test(args: &GuestArgs) -> Result<ExitCode> {
    let (config, _) = super::config(args)?;
    let native = config.detector().context("loading the rules")?;
    let mut session = super::session(args, ModuleVariant::Simd, |_| {})?;
    let mut out = io::stdout().lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    for rule in native.rules() {
        for example in rule.examples() {
            let detections = detections_in_module(&mut session, &example.record)?;
            let matched = detections.iter().any(|id| id == rule.id());
            if matched == example.matches {
                passed += 1;
            } else {
                failed += 1;
                let expected = if example.matches { "match" } else { "no match" };
                writeln!(
                    out,
                    "FAIL {} ({}:{}): {:?}: expected {expected}, the module tagged {detections:?}",
                    rule.id(),
                    rule.meta().source,
                    example.line,
                    example.name
                )?;
            }
        }
    }
    writeln!(out, "{passed} examples passed, {failed} failed")?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The ids of the rules the module matched on `record`, from the module's own results.
fn detections_in_module(session: &mut Session, record: &str) -> Result<Vec<String>> {
    let mut line = to_one_line(record.as_bytes());
    line.push(b'\n');
    let output = session
        .transform(&line)?
        .context("the module failed on an example")?;
    let rules = session.rules();
    Ok(output
        .report
        .tagged
        .iter()
        .flat_map(|t| &t.rules)
        .filter_map(|&i| rules.get(i as usize).map(|r| r.id.clone()))
        .collect())
}
