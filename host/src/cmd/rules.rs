//! `trailtag rules list|check|test`.

use std::io::{self, Write};
use std::process::ExitCode;

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use trailtag_engine::framing::to_one_line;
use trailtag_engine::hygiene;

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
    let session = super::session_allowing_no_rules(args, ModuleVariant::Simd, |_| {})?;
    let mut out = io::stdout().lock();
    if json {
        out.write_all(session.rules_document())?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    for rule in session.rules() {
        let status = rule.status.as_deref().unwrap_or("-");
        let partial = if rule.partial.is_some() {
            " [partial]"
        } else {
            ""
        };
        writeln!(
            out,
            "{:<45} {:<8} {:<13} {:>3} {:<12} {}{partial}",
            rule.id, rule.format, rule.severity, rule.risk_score, status, rule.name
        )?;
    }
    writeln!(out, "{}", load_summary(&session))?;
    Ok(if session.rules().is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `61 rules loaded (2 native, 57 sigma, 2 elastic), 3 partial; 29 rule files skipped (23
/// unsupported, 6 query)`.
fn load_summary(session: &Session) -> String {
    let rules = session.rules();
    let partial = rules.iter().filter(|r| r.partial.is_some()).count();
    let mut summary = format!(
        "{} rules loaded ({}), {partial} partial",
        rules.len(),
        super::module::per_format(rules)
    );
    let skipped = &session.load_report().skipped;
    if !skipped.is_empty() {
        let mut files = BTreeMap::<&str, &str>::new();
        for problem in skipped {
            files.entry(problem.file.as_str()).or_insert(&problem.kind);
        }
        let mut kinds = BTreeMap::<&str, usize>::new();
        for kind in files.values() {
            *kinds.entry(kind).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        summary.push_str(&format!(
            "; {} rule file(s) skipped ({})",
            files.len(),
            kinds.join(", ")
        ));
    }
    summary
}

/// Loads the rules in the module (every error, with file, line and column, fails the load), then
/// reports what would make them weaker than they look: no examples, no pins for the cheap scan,
/// fields CloudTrail records do not have, partial translations.
fn check(args: &GuestArgs) -> Result<ExitCode> {
    let session = super::session_allowing_no_rules(args, ModuleVariant::Simd, |_| {})?;
    let (config, _) = super::config(args)?;
    let native = config.detector().context("loading the rules")?;
    let warnings = hygiene::check(&native);
    let mut out = io::stdout().lock();
    for warning in &warnings {
        writeln!(out, "warning: {warning}")?;
    }
    writeln!(
        out,
        "{}; {} warning(s)",
        load_summary(&session),
        warnings.len()
    )?;
    let skipped = !session.load_report().skipped.is_empty();
    Ok(if session.rules().is_empty() || skipped {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Every rule's examples, run through the module: an example must be tagged by its rule if and
/// only if it says `matches = true`.
fn test(args: &GuestArgs) -> Result<ExitCode> {
    let (config, _) = super::config(args)?;
    let native = config.detector().context("loading the rules")?;
    let mut session = super::session(args, ModuleVariant::Simd, |_| {})?;
    let mut out = io::stdout().lock();
    let (mut passed, mut failed) = (0usize, 0usize);
    let untested: Vec<&str> = native
        .rules()
        .iter()
        .filter(|r| r.examples().is_empty())
        .map(|r| r.id())
        .collect();
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
    if !untested.is_empty() {
        let shown: Vec<&str> = untested.iter().take(5).copied().collect();
        let more = if untested.len() > 5 { ", ..." } else { "" };
        writeln!(
            out,
            "{} of {} rules have no examples, so nothing tests them: {}{more}",
            untested.len(),
            native.rules().len(),
            shown.join(", ")
        )?;
    }
    if passed + failed == 0 {
        writeln!(out, "no example ran: nothing was tested")?;
    }
    Ok(if failed == 0 && passed > 0 {
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
