//! Child-process protocols: a log shipper starts trailtag as its child, writes messages to its
//! stdin one per line and reads the answers from its stdout.
//!
//! Two parents, two protocols, one [`Responder`]:
//! - [`Protocol::Mmexternal`] is rsyslog's `mmexternal` (message modification by an external
//!   program). rsyslog writes one message (its `msg` property, `interface.input="msg"`) and
//!   blocks until it has read one reply line: a JSON object of the properties to change. A tagged
//!   record is answered `{"msg":"<the tagged record>"}`, so the message rsyslog carries on with
//!   *is* the tagged record, whatever it does next (a template of `%msg%`, a parser, a
//!   forwarder). Every other line is answered `{}`, "change nothing": a record that matched
//!   nothing, could not be read, was too large or made the module fail stays byte for byte what
//!   rsyslog had, because rsyslog keeps its own copy. The decision is made on bytes: the answer is
//!   `{}` exactly when the pipeline wrote line N back unchanged (line N of its output is line N of
//!   its input, see `trailtag_engine::transform`).
//! - [`Protocol::Lines`] is NDJSON in and out (Fluentd's `exec_filter` with JSON both ways):
//!   every line is answered by its tagged or unchanged line, in order.
//!
//! Every answer is written as soon as its line is read. The responder reads whatever the parent
//! has written so far (`input::lines`: no framing is sniffed, so no read waits for more bytes than
//! the parent sent), sends those lines through the [`Pipeline`] as one batch, writes their answers
//! and flushes. A parent that writes one line and waits (rsyslog) is answered at once; one that
//! writes many (Fluentd writes a buffer chunk) is answered a read buffer at a time. The pipeline
//! keeps its guarantees: a module fault is isolated to its record, which is passed through
//! unevaluated; a record over the size limit streams through unevaluated; everything is counted.
//! Nothing the parent writes ends the child: invalid JSON, a blank line, a message that is not
//! CloudTrail each get their one answer and are counted.
//!
//! Diagnostics and summaries go to stderr, which the command points at a log file first when
//! the parent reads stderr as answers (rsyslog does: see `cmd::filter`).

use std::io::{self, Write};
use std::time::{Duration, Instant};

use trailtag_engine::framing::Framing;

use crate::feed::Item;
use crate::input::{self, Consumer, Input, InputError};
use crate::pipeline::{Abi, Captured, Diagnostics, Pipeline, PipelineOptions, Totals};
use crate::report::{SummaryFormat, print_summary};
use crate::session::Session;

/// The reply that changes nothing (mmexternal).
const UNCHANGED: &[u8] = b"{}\n";

/// What the parent speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// rsyslog's `mmexternal` with `interface.input="msg"`: one message per line in, one JSON
    /// reply per line out (`{}`, or `{"msg":...}` with the tagged record).
    Mmexternal,
    /// NDJSON in, NDJSON out, line for line (Fluentd's `exec_filter` with JSON in and out).
    Lines,
}

/// How a responder answers and reports.
#[derive(Debug, Clone, Copy)]
pub struct ResponderOptions {
    /// What the parent speaks.
    pub protocol: Protocol,
    /// Lines longer than this are passed through unevaluated, without being held in memory.
    pub max_record: usize,
    /// How summaries are printed on stderr.
    pub summary: SummaryFormat,
    /// A summary of the totals so far is printed when this long has passed since the last one,
    /// after the next answer; `None`: only at the end.
    pub summary_every: Option<Duration>,
}

/// Answers a parent's lines through a pipeline, each block as soon as it is read.
pub struct Responder<'d> {
    pipeline: Pipeline<'d>,
    options: ResponderOptions,
    /// What the pipeline wrote for the block being answered.
    output: Captured,
    answers: Box<dyn Write + 'd>,
    last_summary: Instant,
}

impl std::fmt::Debug for Responder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Responder")
            .field("pipeline", &self.pipeline)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'d> Responder<'d> {
    /// A responder tagging with `session` (configured to keep every record: a protocol answers
    /// each line), writing answers to `answers` and reporting to `diagnostics`.
    pub fn new(
        session: Session,
        options: ResponderOptions,
        answers: Box<dyn Write + 'd>,
        diagnostics: &'d mut dyn Diagnostics,
    ) -> Self {
        let output = Captured::default();
        let sink = Box::new(output.clone());
        let pipeline_options = PipelineOptions {
            abi: Abi::Raw,
            only_matches: false,
        };
        Self {
            pipeline: Pipeline::new(session, pipeline_options, sink, diagnostics),
            options,
            output,
            answers,
            last_summary: now(),
        }
    }

    /// Answers every line of `input` until it ends, then prints the summary; returns the totals.
    /// An error means the answers could not be written (the parent went away) or the module
    /// could not be brought back after a fault.
    pub fn serve(mut self, input: &mut Input) -> io::Result<Totals> {
        self.pipeline.process(Item::Opened {
            name: input.name.as_str().into(),
            framing: Framing::Lines,
        })?;
        let result = input::read_records(input, self.options.max_record, &mut self);
        match result {
            Err(InputError::Consumer(error)) => return Err(error),
            closed => self.pipeline.process(Item::Closed(closed))?,
        }
        self.summary()?;
        Ok(self.pipeline.totals().clone())
    }

    /// What the pipeline wrote since the last call.
    fn take_output(&self) -> Vec<u8> {
        self.output.take()
    }

    /// Writes the answers to `block`'s lines, given what the pipeline wrote for them.
    fn answer(&mut self, block: &[u8], output: &[u8]) -> io::Result<()> {
        match self.options.protocol {
            Protocol::Lines => self.answers.write_all(output)?,
            Protocol::Mmexternal => {
                if !mmexternal_replies(block, output, &mut self.answers)? {
                    writeln!(
                        io::stderr(),
                        "trailtag: internal error: the pipeline did not answer line for line; {} message(s) were left unchanged",
                        split_lines(block).len()
                    )?;
                }
            }
        }
        self.answers.flush()?;
        self.summary_if_due()
    }

    fn summary_if_due(&mut self) -> io::Result<()> {
        match self.options.summary_every {
            Some(every) if self.last_summary.elapsed() >= every => self.summary(),
            _ => Ok(()),
        }
    }

    fn summary(&mut self) -> io::Result<()> {
        self.last_summary = now();
        print_summary(
            self.options.summary,
            self.pipeline.totals(),
            self.pipeline.rules(),
            None,
        )
    }
}

impl Consumer for Responder<'_> {
    fn lines(&mut self, block: &[u8]) -> io::Result<()> {
        self.pipeline.process(Item::Batch(block.to_vec()))?;
        let output = self.take_output();
        self.answer(block, &output)
    }

    /// Not called for an input read as lines; answered as one line if it were.
    fn record(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut line = Vec::with_capacity(bytes.len() + 1);
        line.extend_from_slice(bytes);
        line.push(b'\n');
        self.lines(&line)
    }

    /// A piece of a line over the size limit: streamed through (lines), or dropped from the
    /// answer (mmexternal: the message is answered `{}` at its end, it was not evaluated).
    fn oversized_piece(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pipeline
            .process(Item::OversizedPiece(bytes.to_vec()))?;
        let output = self.take_output();
        if self.options.protocol == Protocol::Lines {
            self.answers.write_all(&output)?;
        }
        Ok(())
    }

    fn oversized_end(&mut self) -> io::Result<()> {
        self.pipeline.process(Item::OversizedEnd)?;
        let output = self.take_output();
        match self.options.protocol {
            Protocol::Lines => self.answers.write_all(&output)?,
            Protocol::Mmexternal => self.answers.write_all(UNCHANGED)?,
        }
        self.answers.flush()?;
        self.summary_if_due()
    }
}

/// Writes one mmexternal reply per line of `block`: `{}` where the pipeline's line equals the
/// input line, `{"msg":...}` with the pipeline's line where it does not. When the two do not pair
/// up (they always do), every message is answered `{}` and false is returned.
fn mmexternal_replies(block: &[u8], output: &[u8], answers: &mut dyn Write) -> io::Result<bool> {
    let inputs = split_lines(block);
    let outputs = split_lines(output);
    if inputs.len() != outputs.len() {
        for _ in &inputs {
            answers.write_all(UNCHANGED)?;
        }
        return Ok(false);
    }
    for (line, answer) in inputs.iter().zip(&outputs) {
        if line == answer {
            answers.write_all(UNCHANGED)?;
        } else {
            write_msg_reply(answer, answers)?;
        }
    }
    Ok(true)
}

/// `{"msg":"<line>"}` and a newline: the line as a JSON string (a tagged record is UTF-8, as
/// JSON is; a byte that is not would be replaced rather than the reply refused).
fn write_msg_reply(line: &[u8], answers: &mut dyn Write) -> io::Result<()> {
    let text = String::from_utf8_lossy(line);
    answers.write_all(b"{\"msg\":")?;
    serde_json::to_writer(&mut *answers, &text)?;
    answers.write_all(b"}\n")
}

/// The lines of `bytes`, without their `\n`.
fn split_lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\n").unwrap_or(line))
        .collect()
}

#[expect(
    clippy::disallowed_methods,
    reason = "periodic summaries: a long-running child reports its totals at most once per interval"
)]
fn now() -> Instant {
    Instant::now()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    fn replies(block: &[u8], output: &[u8]) -> (String, bool) {
        let mut out = Vec::new();
        let paired = mmexternal_replies(block, output, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), paired)
    }

    #[test]
    fn unchanged_lines_are_answered_with_an_empty_object() {
        let (out, paired) = replies(b"a\n\nnot json\r\n", b"a\n\nnot json\r\n");
        assert!(paired);
        assert_eq!(out, "{}\n{}\n{}\n");
    }

    #[test]
    fn a_changed_line_replaces_the_message() {
        let tagged = br#"{"eventName":"CreateGroup","trailtag":{"x":"\u00e9"}}"#;
        let block = b"{\"eventName\":\"CreateGroup\"}\nplain\n";
        let output = [tagged.as_slice(), b"\nplain\n"].concat();
        let (out, paired) = replies(block, &output);
        assert!(paired);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        let reply: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(reply["msg"].as_str().unwrap().as_bytes(), tagged);
        assert_eq!(lines[1], "{}");
    }

    #[test]
    fn lines_that_do_not_pair_up_are_left_unchanged() {
        let (out, paired) = replies(b"a\nb\n", b"a\n");
        assert!(!paired);
        assert_eq!(out, "{}\n{}\n");
    }
}
