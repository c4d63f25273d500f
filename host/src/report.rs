//! What `tag` tells people: per-record diagnostics (bounded), a progress bar, the summary.

use std::io::{self, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use trailtag_engine::{Counts, Reason};
use trailtag_plugin::codec::RuleInfo;

use crate::pipeline::{Diagnostic, Diagnostics, Totals};

/// How many diagnostics of each kind are printed before they are only counted.
const MAX_DIAGNOSTICS: u64 = 20;

/// How to print the summary on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    /// Lines for people.
    Text,
    /// One JSON object.
    Json,
    /// Nothing.
    None,
}

/// Prints diagnostics on stderr, politely around a progress bar.
#[derive(Debug)]
pub struct Reporter {
    progress: Option<ProgressBar>,
    printed: [u64; 4],
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

/// The words a person reads for each kind of diagnostic.
fn kind_in_words(kind: Diagnostic) -> &'static str {
    match kind {
        Diagnostic::Unreadable => "unreadable records",
        Diagnostic::GuestFault => "records the module failed on",
        Diagnostic::Oversized => "oversized records",
        Diagnostic::Input => "input errors",
    }
}

impl Diagnostics for Reporter {
    /// Prints one diagnostic, unless its kind's budget is spent.
    fn diagnostic(&mut self, kind: Diagnostic, message: &str) {
        let printed = &mut self.printed[kind as usize];
        *printed += 1;
        if *printed <= MAX_DIAGNOSTICS {
            self.line(&format!("trailtag: {message}"));
        } else if *printed == MAX_DIAGNOSTICS + 1 {
            self.line(&format!(
                "trailtag: more {} follow; they are counted in the summary, not shown",
                kind_in_words(kind)
            ));
        }
    }

    fn progress(&mut self, bytes: u64) {
        if let Some(bar) = &self.progress {
            bar.set_position(bytes);
        }
    }
}

/// Prints the summary on stderr; `peak_rss` is added to the JSON form when given.
pub fn print_summary(
    format: SummaryFormat,
    totals: &Totals,
    rules: &[RuleInfo],
    peak_rss: Option<u64>,
) -> io::Result<()> {
    let mut err = io::stderr().lock();
    match format {
        SummaryFormat::None => Ok(()),
        SummaryFormat::Json => {
            let mut value = totals.summary(rules);
            if let Some(bytes) = peak_rss {
                value["peak_rss_bytes"] = bytes.into();
            }
            writeln!(err, "{value}")
        }
        SummaryFormat::Text => write_text_summary(&mut err, totals, rules),
    }
}

fn write_text_summary(err: &mut impl Write, t: &Totals, rules: &[RuleInfo]) -> io::Result<()> {
    let c = &t.counts;
    writeln!(
        err,
        "trailtag: {} records in, {} out, {} tagged, {} unreadable (passed through)",
        c.records_in, c.records_out, c.tagged, c.unreadable
    )?;
    writeln!(
        err,
        "  inputs {} ({} with errors), blank lines {}, oversized {}, module failures {}, dropped by --only-matches {}, foreign tags removed {}",
        t.inputs,
        t.input_errors,
        c.blank,
        t.oversized,
        t.guest_faults,
        t.filtered(),
        c.foreign_tags_removed
    )?;
    let reasons: Vec<String> = Reason::ALL
        .iter()
        .filter(|r| c.unreadable_by_reason[r.index()] > 0)
        .map(|r| format!("{} {}", r.describe(), c.unreadable_by_reason[r.index()]))
        .collect();
    if !reasons.is_empty() {
        writeln!(err, "  unreadable: {}", reasons.join(", "))?;
    }
    write_envelope_summary(err, c)?;
    for (rule, count) in rules.iter().zip(&c.per_rule) {
        writeln!(err, "  {:<45} {:>10}  {}", rule.id, count, rule.severity)?;
    }
    for warning in t.warnings() {
        writeln!(err, "trailtag: WARNING: {warning}")?;
    }
    Ok(())
}

/// Events and envelopes, when any record was an envelope.
fn write_envelope_summary(err: &mut impl Write, c: &Counts) -> io::Result<()> {
    let shapes: Vec<String> = c
        .envelopes_by_shape()
        .iter()
        .map(|(code, n)| format!("{code} {n}"))
        .collect();
    if shapes.is_empty() && c.unreadable_inside == 0 {
        return Ok(());
    }
    writeln!(
        err,
        "  events {} ({} tagged, {} CloudTrail), envelopes: {}; unreadable inside envelopes {}",
        c.events,
        c.events_tagged,
        c.cloudtrail_events,
        shapes.join(", "),
        c.unreadable_inside
    )
}
