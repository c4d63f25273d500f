//! What `tag` tells people: per-record diagnostics (bounded) and the final summary.

use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::SummaryFormat;
use crate::session::RuleInfo;

/// How many diagnostics of each kind are printed before they are only counted.
const MAX_DIAGNOSTICS: u64 = 20;

/// Running totals over every input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Inputs opened.
    pub inputs: u64,
    /// Inputs that could not be opened or read to their end.
    pub input_errors: u64,
    /// Records read (blank lines excluded).
    pub records_in: u64,
    /// Lines written.
    pub records_out: u64,
    /// Records tagged.
    pub tagged: u64,
    /// Records that are not JSON objects (passed through unchanged).
    pub unreadable: u64,
    /// Blank lines (passed through).
    pub blank: u64,
    /// Records larger than `--max-record` (passed through unevaluated).
    pub oversized: u64,
    /// Records passed through unevaluated because the guest failed on them.
    pub guest_faults: u64,
    /// Records dropped by `--only-matches`.
    pub filtered: u64,
    /// Matches per rule, in rule order.
    #[serde(skip)]
    pub per_rule: Vec<u64>,
    /// Peak resident memory, when asked for (`--report-peak-memory`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
}

/// Prints diagnostics on stderr, politely around a progress bar.
#[derive(Debug)]
pub struct Reporter {
    progress: Option<ProgressBar>,
    printed: [u64; 4],
}

/// Kinds of diagnostics, each with its own budget.
#[derive(Debug, Clone, Copy)]
pub enum Diagnostic {
    /// A record that is not a JSON object.
    Unreadable = 0,
    /// A record the guest failed on.
    GuestFault = 1,
    /// A record over the size limit.
    Oversized = 2,
    /// An input that could not be read completely.
    Input = 3,
}

impl Reporter {
    /// A reporter with a progress bar over `total_bytes` when `show_progress` and stderr is a
    /// terminal.
    pub fn new(show_progress: bool, total_bytes: u64) -> Self {
        let progress = (show_progress && io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total_bytes);
            if let Ok(style) = ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            progress,
            printed: [0; 4],
        }
    }

    /// Moves the progress bar.
    pub fn progress(&self, bytes: u64) {
        if let Some(bar) = &self.progress {
            bar.set_position(bytes);
        }
    }

    /// Prints one diagnostic, unless its kind's budget is spent.
    pub fn diagnostic(&mut self, kind: Diagnostic, message: &str) {
        let printed = &mut self.printed[kind as usize];
        *printed += 1;
        if *printed <= MAX_DIAGNOSTICS {
            self.line(&format!("trailtag: {message}"));
        } else if *printed == MAX_DIAGNOSTICS + 1 {
            self.line(&format!(
                "trailtag: further messages of this kind ({kind:?}) are only counted"
            ));
        }
    }

    fn line(&self, text: &str) {
        let print = || {
            let _ = writeln!(io::stderr(), "{text}");
        };
        match &self.progress {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }

    /// Removes the progress bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.progress {
            bar.finish_and_clear();
        }
    }
}

/// Prints the summary on stderr.
pub fn print_summary(format: SummaryFormat, totals: &Totals, rules: &[RuleInfo]) -> io::Result<()> {
    let mut err = io::stderr().lock();
    match format {
        SummaryFormat::None => Ok(()),
        SummaryFormat::Json => {
            let mut value = serde_json::to_value(totals).unwrap_or_default();
            let per_rule: serde_json::Map<String, serde_json::Value> = rules
                .iter()
                .zip(&totals.per_rule)
                .map(|(r, n)| (r.id.clone(), (*n).into()))
                .collect();
            value["per_rule"] = serde_json::Value::Object(per_rule);
            writeln!(err, "{value}")
        }
        SummaryFormat::Text => write_text_summary(&mut err, totals, rules),
    }
}

fn write_text_summary(err: &mut impl Write, t: &Totals, rules: &[RuleInfo]) -> io::Result<()> {
    writeln!(
        err,
        "trailtag: {} records in, {} out, {} tagged, {} not JSON objects (passed through)",
        t.records_in, t.records_out, t.tagged, t.unreadable
    )?;
    writeln!(
        err,
        "  inputs {} ({} with errors), blank lines {}, oversized {}, guest faults {}, dropped by --only-matches {}",
        t.inputs, t.input_errors, t.blank, t.oversized, t.guest_faults, t.filtered
    )?;
    for (rule, count) in rules.iter().zip(&t.per_rule) {
        writeln!(err, "  {:<45} {:>10}  {}", rule.id, count, rule.severity)?;
    }
    Ok(())
}
