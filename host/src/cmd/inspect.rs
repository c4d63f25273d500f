//! `trailtag explain` and `trailtag ecs`: looking at records the way the rules do.
//!
//! Both read inputs as `trailtag tag` does (files or stdin, plain or gzip, NDJSON or CloudTrail
//! S3 files) and decide each record with the engine linked into this binary, compiled from the
//! same configuration document the module is sent (`Config::detector`), so they agree with the
//! module rule for rule: `explain`'s verdicts come from the detector as it tags, and a test holds
//! them to the module's tags. They are tools for writing rules, not for streams: a record longer
//! than [`RECORD_LIMIT`] is reported, not explained.

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::{Context, Result};
use serde::Serialize;
use trailtag_engine::explain::{Explanation, RuleExplanation};
use trailtag_engine::json::Json;
use trailtag_engine::{Detector, ecs};

use crate::cli::{EcsArgs, ExplainArgs};
use crate::input::{self, Consumer, InputError};

/// Longest record these tools read (CloudTrail's own records stay far below).
const RECORD_LIMIT: usize = 16 * 1024 * 1024;

/// Runs `trailtag explain`.
pub fn explain(args: &ExplainArgs) -> Result<ExitCode> {
    let (config, _) = super::config(&args.guest)?;
    let detector = config.detector().context("loading the rules")?;
    let unknown: Vec<&String> = args
        .rules_shown
        .iter()
        .filter(|id| !detector.rules().iter().any(|r| r.id() == id.as_str()))
        .collect();
    if !unknown.is_empty() {
        anyhow::bail!("no loaded rule has the id {unknown:?} (`trailtag rules list` lists them)");
    }
    let mut out = io::stdout().lock();
    let (mut problems, mut records, mut shown_records) = (0u64, 0u64, 0u64);
    let too_long = for_each_record(&args.inputs, |number, record| {
        records += 1;
        let shown = explain_one(&detector, args, number, record)?;
        problems += u64::from(shown.is_none());
        match shown {
            Some(text) if !text.is_empty() => {
                shown_records += 1;
                out.write_all(text.as_bytes())
            }
            _ => Ok(()),
        }
    })?;
    problems += too_long;
    writeln!(
        io::stderr(),
        "trailtag: {records} record(s) read, {shown_records} shown (matches and near misses unless --all or --rule), {problems} unreadable or too long"
    )?;
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The text (or JSON line) for one record; `None` (after a message on stderr) when it cannot be
/// read.
fn explain_one(
    detector: &Detector,
    args: &ExplainArgs,
    number: u64,
    record: &[u8],
) -> io::Result<Option<String>> {
    let explanation = match detector.explain(record) {
        Ok(explanation) => explanation,
        Err(unreadable) => {
            writeln!(
                io::stderr(),
                "trailtag: record {number}: not read: {}",
                unreadable.detail
            )?;
            return Ok(None);
        }
    };
    let shown: Vec<&RuleExplanation> = explanation
        .rules
        .iter()
        .filter(|r| is_shown(detector, args, r))
        .collect();
    Ok(Some(if args.json {
        json_line(detector, number, &shown)
    } else {
        text(detector, number, record, &explanation, &shown)
    }))
}

fn is_shown(detector: &Detector, args: &ExplainArgs, rule: &RuleExplanation) -> bool {
    let id = rule_of(detector, rule).id();
    if !args.rules_shown.is_empty() {
        return args.rules_shown.iter().any(|shown| shown == id);
    }
    args.all || rule.matched || rule.is_near_miss()
}

fn rule_of<'d>(detector: &'d Detector, rule: &RuleExplanation) -> &'d trailtag_engine::Rule {
    &detector.rules()[rule.rule as usize]
}

/// `record 3 (CreateProfile from rolesanywhere.amazonaws.com): 1 match, 1 near miss`, then a
/// block per rule shown; nothing when no rule is shown.
fn text(
    detector: &Detector,
    number: u64,
    record: &[u8],
    explanation: &Explanation,
    shown: &[&RuleExplanation],
) -> String {
    if shown.is_empty() {
        return String::new();
    }
    let matches = explanation.rules.iter().filter(|r| r.matched).count();
    let near = explanation
        .rules
        .iter()
        .filter(|r| r.is_near_miss())
        .count();
    let mut text = format!(
        "record {number} ({}): {matches} match(es), {near} near miss(es)\n",
        describe(record)
    );
    for rule in shown {
        let compiled = rule_of(detector, rule);
        let verdict = match (rule.matched, rule.is_near_miss()) {
            (true, _) => "MATCH",
            (false, true) => "near miss",
            (false, false) => "no match",
        };
        text.push_str(&format!(
            "  {verdict}: {} ({}, {} clause(s) of {} held)\n",
            compiled.id(),
            compiled.meta().name,
            rule.clauses_held(),
            rule.clauses.len()
        ));
        for clause in &rule.clauses {
            let mark = if clause.held { "held  " } else { "failed" };
            text.push_str(&format!("      {mark} {}\n", clause.text));
            if let Some(test) = &clause.failed_test {
                text.push_str(&format!("             first failing test: {test}\n"));
            }
        }
    }
    text
}

/// `eventName from eventSource`, or what is missing.
fn describe(record: &[u8]) -> String {
    let Ok(root) = Json::parse(record) else {
        return "not JSON".to_owned();
    };
    let field = |name: &str| root.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    match (field("eventName"), field("eventSource")) {
        (Some(name), Some(source)) => format!("{name} from {source}"),
        (Some(name), None) => name,
        _ => "no eventName".to_owned(),
    }
}

#[derive(Serialize)]
struct JsonRule<'a> {
    id: &'a str,
    matched: bool,
    near_miss: bool,
    candidate: bool,
    clauses: Vec<JsonClause<'a>>,
}

#[derive(Serialize)]
struct JsonClause<'a> {
    text: &'a str,
    held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    failed_test: Option<&'a str>,
}

fn json_line(detector: &Detector, number: u64, shown: &[&RuleExplanation]) -> String {
    let rules: Vec<JsonRule<'_>> = shown
        .iter()
        .map(|rule| JsonRule {
            id: rule_of(detector, rule).id(),
            matched: rule.matched,
            near_miss: rule.is_near_miss(),
            candidate: rule.candidate,
            clauses: rule
                .clauses
                .iter()
                .map(|c| JsonClause {
                    text: &c.text,
                    held: c.held,
                    failed_test: c.failed_test.as_deref(),
                })
                .collect(),
        })
        .collect();
    let line = serde_json::json!({ "record": number, "rules": rules });
    format!("{line}\n")
}

/// Runs `trailtag ecs`.
pub fn ecs(args: &EcsArgs) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    let mut problems = 0u64;
    let too_long = for_each_record(&args.inputs, |number, record| match Json::parse(record) {
        Ok(root) => {
            let document = ecs::document(&root);
            let text = if args.pretty {
                serde_json::to_string_pretty(&document)
            } else {
                serde_json::to_string(&document)
            };
            writeln!(out, "{}", text.map_err(io::Error::other)?)
        }
        Err(e) => {
            problems += 1;
            writeln!(io::stderr(), "trailtag: record {number}: not JSON: {e}")
        }
    })?;
    problems += too_long;
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Calls `each` with every non-blank record of `inputs` and its number (from 1, across inputs);
/// returns how many records were too long to read (each reported on stderr).
fn for_each_record(
    inputs: &[std::path::PathBuf],
    mut each: impl FnMut(u64, &[u8]) -> io::Result<()>,
) -> Result<u64> {
    let mut records = Records {
        each: &mut each,
        number: 0,
        oversized: false,
        too_long: 0,
    };
    for source in input::sources(inputs) {
        let name = source.name();
        let mut opened = input::open_source(source, Arc::new(AtomicU64::new(0)))
            .with_context(|| format!("opening {name}"))?;
        match input::read_records(&mut opened, RECORD_LIMIT, &mut records) {
            Ok(()) => {}
            Err(InputError::Consumer(e)) => return Err(e.into()),
            Err(e) => return Err(anyhow::Error::new(e).context(format!("reading {name}"))),
        }
    }
    Ok(records.too_long)
}

/// Splits what the reader delivers into records.
struct Records<'f> {
    each: &'f mut dyn FnMut(u64, &[u8]) -> io::Result<()>,
    number: u64,
    oversized: bool,
    too_long: u64,
}

impl Consumer for Records<'_> {
    fn lines(&mut self, block: &[u8]) -> io::Result<()> {
        for line in block.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.iter().all(u8::is_ascii_whitespace) {
                self.record(line)?;
            }
        }
        Ok(())
    }

    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.number += 1;
        (self.each)(self.number, bytes)
    }

    fn oversized_piece(&mut self, _bytes: &[u8]) -> io::Result<()> {
        if !self.oversized {
            self.oversized = true;
            self.number += 1;
            self.too_long += 1;
            writeln!(
                io::stderr(),
                "trailtag: record {}: longer than {} MiB, not read",
                self.number,
                RECORD_LIMIT >> 20
            )?;
        }
        Ok(())
    }

    fn oversized_end(&mut self) -> io::Result<()> {
        self.oversized = false;
        Ok(())
    }
}
