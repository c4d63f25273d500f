//! The guest's state: one per module instance, living across calls.
//!
//! A WebAssembly instance is single-threaded, so the state sits in a `thread_local!`. It holds
//! the compiled detector (built lazily from the built-in rules unless a host configures others),
//! the configuration, the last call's output and report, and the buffers a host reads them from.
//! Those buffers are encoded by [`crate::codec`] when a host first asks for them after a call,
//! so a call whose results nobody reads (Fluent Bit never reads them) pays nothing for them.
//!
//! **Surviving a trap.** WebAssembly does not unwind: a call that traps (a stack overflow in
//! WAMR's small interpreter stack, say) simply never returns, and Fluent Bit goes on calling the
//! same instance. A `RefCell` would stay borrowed for ever and every later record would trap too
//! (found in a real Fluent Bit). So the state is reached through [`with_state`], which marks the
//! instance busy for the length of a call; finding it still busy on entry means the previous call
//! trapped, and the half-written per-call buffers are reset before going on. The detector and
//! configuration are only ever replaced whole, so they are intact.
#![allow(
    unsafe_code,
    reason = "the instance's state outlives traps, which no safe cell does"
)]

use std::cell::{Cell, UnsafeCell};

use trailtag_engine::edits::EditLog;
use trailtag_engine::output::{FormatWriter, TagWriter};
use trailtag_engine::{BatchReport, Detector, Options, Scratch, Verdict};

use crate::codec::{self, Config, FaultInjection};
use crate::contract::Status;

/// Everything an instance keeps between calls.
#[derive(Debug, Default)]
pub struct State {
    detector: Option<Detector>,
    /// The configured format's writer for the detector's rules (the native one renders each
    /// rule's entry once).
    writer: FormatWriter,
    config: Config,
    scratch: Scratch,
    /// Output of the last batch (raw ABI) or record (Fluent Bit ABI); after
    /// `tt_transform_edits`, only the lines that changed.
    pub output: Vec<u8>,
    /// Where the last `tt_transform_edits` call's changed lines go.
    edit_log: EditLog,
    /// Its edit table, as the host reads it.
    edits: Vec<u8>,
    report: BatchReport,
    encoded: Encoded,
    rules: Vec<u8>,
    load_report: Vec<u8>,
    error: Vec<u8>,
}

/// The last call's documents, encoded on first request.
#[derive(Debug, Default)]
struct Encoded {
    stats: Option<Vec<u8>>,
    unreadable: Option<Vec<u8>>,
    results: Option<Vec<u8>>,
}

/// The state and whether a call is using it.
#[derive(Default)]
struct Instance {
    state: UnsafeCell<State>,
    busy: Cell<bool>,
}

thread_local! {
    static INSTANCE: Instance = Instance::default();
}

/// Runs `f` with the instance's state, first recovering from a call that trapped.
pub fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> T {
    INSTANCE.with(|instance| {
        let interrupted = instance.busy.replace(true);
        // SAFETY: an instance runs one call at a time (single-threaded, and no export calls
        // another), and `busy` marks the call in progress: this is the only reference to the
        // state while `f` runs. A call that trapped never returns to use its reference again.
        let state = unsafe { &mut *instance.state.get() };
        if interrupted {
            state.recover_from_trap();
        }
        let result = f(state);
        instance.busy.set(false);
        result
    })
}

/// The result buffers the raw ABI exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    /// The last call's output.
    Output,
    /// The statistics block.
    Stats,
    /// The unreadable-line report.
    Unreadable,
    /// The results document.
    Results,
    /// The rules document.
    Rules,
    /// The load report.
    LoadReport,
    /// The last error message.
    Error,
    /// The last `tt_transform_edits` call's edit table.
    Edits,
}

/// How a record left one Fluent Bit filter call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterAnswer {
    /// The output buffer holds the answer.
    Written,
    /// `only_matches` drops the record: answer the empty string.
    Dropped,
    /// The record could not be read: answer the wrapper (`why` says why).
    Unreadable(String),
}

impl FaultInjection {
    /// Triggers the configured fault if `input` contains its marker.
    fn check(&self, input: &[u8]) {
        let contains = |marker: &Option<String>| {
            marker.as_deref().is_some_and(|m| {
                !m.is_empty() && memchr::memmem::find(input, m.as_bytes()).is_some()
            })
        };
        if contains(&self.trap) {
            deliberate_trap();
        }
        if contains(&self.spin) {
            spin_forever();
        }
        if contains(&self.grow) {
            grow_forever();
        }
    }
}

#[expect(
    clippy::panic,
    reason = "fault injection: a deliberate trap, configured by a test host"
)]
fn deliberate_trap() {
    panic!("fault injection: trap");
}

fn spin_forever() {
    let mut n = 0u64;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn grow_forever() {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(vec![0u8; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

impl State {
    /// The detector, built on first use if none was configured: from the baked configuration
    /// if the module has one (`crate::baked`), else from the built-in rules.
    fn ensure_detector(&mut self) -> Result<(), Status> {
        if self.detector.is_some() {
            return Ok(());
        }
        if let Some(document) = crate::baked::baked_config() {
            return match self.configure(document) {
                Status::Ok => Ok(()),
                status => Err(status),
            };
        }
        match Detector::builtin() {
            Ok(detector) => self.install(detector),
            Err(e) => return Err(self.fail(Status::RuleError, &e.to_string())),
        }
        Ok(())
    }

    /// Applies a configuration document. On failure nothing changes but the error buffer.
    pub fn configure(&mut self, document: &[u8]) -> Status {
        self.error.clear();
        let config = match Config::decode(document) {
            Ok(config) => config,
            Err(e) => return self.fail(Status::InvalidConfig, &format!("configuration: {e}")),
        };
        match config.detector() {
            Ok(detector) => {
                self.config = config;
                self.install(detector);
                Status::Ok
            }
            Err(e) => self.fail(Status::RuleError, &e.to_string()),
        }
    }

    /// Empties the last call's answer: its output and, after `tt_transform_edits`, its edits.
    fn clear_output(&mut self) {
        self.output.clear();
        self.edit_log.clear();
        self.edits.clear();
    }

    /// Resets what a call that trapped may have left half-written.
    fn recover_from_trap(&mut self) {
        self.clear_output();
        self.scratch = Scratch::default();
        self.clear_report();
        self.error = b"the previous call trapped; per-call buffers were reset".to_vec();
    }

    /// A new detector: the rules document is rebuilt and every result buffer emptied (with the
    /// new rule count), so that no result of the old rules can be read as one of the new.
    fn install(&mut self, detector: Detector) {
        self.rules = codec::encode_rules(&detector);
        self.load_report = codec::encode_load_report(&detector);
        self.writer = self.config.writer(&detector);
        self.detector = Some(detector);
        self.clear_output();
        self.clear_report();
    }

    fn clear_report(&mut self) {
        let rule_count = self.detector.as_ref().map_or(0, |d| d.rules().len());
        self.report.reset(rule_count);
        self.encoded = Encoded::default();
    }

    /// The buffer a raw-ABI getter exposes. Rules and statistics exist before the first call:
    /// asking for them loads the built-in rules if nothing was configured.
    pub fn buffer(&mut self, which: Buffer) -> &[u8] {
        if matches!(which, Buffer::Rules | Buffer::Stats | Buffer::LoadReport)
            && self.detector.is_none()
        {
            let _ = self.ensure_detector();
        }
        let report = &self.report;
        match which {
            Buffer::Output => &self.output,
            Buffer::Stats => self
                .encoded
                .stats
                .get_or_insert_with(|| codec::encode_stats(&report.counts)),
            Buffer::Unreadable => self
                .encoded
                .unreadable
                .get_or_insert_with(|| codec::encode_unreadable(&report.unreadable)),
            Buffer::Results => self
                .encoded
                .results
                .get_or_insert_with(|| codec::encode_results(report)),
            Buffer::Rules => &self.rules,
            Buffer::LoadReport => &self.load_report,
            Buffer::Error => &self.error,
            Buffer::Edits => &self.edits,
        }
    }

    /// Records an error message and returns `status`.
    pub fn fail(&mut self, status: Status, message: &str) -> Status {
        self.error = message.as_bytes().to_vec();
        status
    }

    /// Runs the batch transform over `input`, filling the output and the report.
    pub fn transform(&mut self, input: &[u8]) -> Status {
        self.answer(input, false)
    }

    /// The batch transform answering with edits (`tt_transform_edits`): the output buffer
    /// holds only the lines that change, the edit table where they go.
    pub fn transform_edits(&mut self, input: &[u8]) -> Status {
        self.answer(input, true)
    }

    fn answer(&mut self, input: &[u8], as_edits: bool) -> Status {
        self.error.clear();
        if let Err(status) = self.ensure_detector() {
            return status;
        }
        self.config
            .fault_injection
            .iter()
            .for_each(|f| f.check(input));
        self.clear_output();
        self.encoded = Encoded::default();
        let options = self.config.options();
        let Some(detector) = self.detector.as_ref() else {
            return Status::RuleError;
        };
        let (scratch, output, report) = (&mut self.scratch, &mut self.output, &mut self.report);
        if as_edits {
            detector.transform_ndjson_edits_into(
                &self.writer,
                input,
                &options,
                scratch,
                output,
                &mut self.edit_log,
                report,
            );
            self.edit_log.table(&mut self.edits);
        } else {
            detector.transform_ndjson_into(&self.writer, input, &options, scratch, output, report);
        }
        Status::Ok
    }

    /// Decides one record for the Fluent Bit filter, with the configured options; whether
    /// records that match nothing are dropped is the export's choice (`only_matches`).
    pub fn filter(&mut self, record: &[u8], only_matches: bool) -> FilterAnswer {
        self.clear_output();
        self.encoded = Encoded::default();
        self.config
            .fault_injection
            .iter()
            .for_each(|f| f.check(record));
        if let Err(status) = self.ensure_detector() {
            return FilterAnswer::Unreadable(format!("no detector ({})", status.name()));
        }
        // One record in, one record out: Fluent Bit's filter cannot return an envelope's
        // records as several, so envelopes always leave with the tags inside them here.
        let options = Options {
            only_matches,
            unwrap: false,
            // The host is Fluent Bit, which writes the record's JSON itself (the skip scan).
            encoded_by_fluent_bit: true,
            ..self.config.options()
        };
        let Some(detector) = self.detector.as_ref() else {
            return FilterAnswer::Unreadable("no detector".into());
        };
        let writer: &dyn TagWriter = &self.writer;
        let verdict = detector.transform_one_into(
            writer,
            record,
            &options,
            &mut self.scratch,
            &mut self.output,
            &mut self.report,
        );
        match verdict {
            Verdict::Unreadable(unreadable) => FilterAnswer::Unreadable(unreadable.detail),
            Verdict::Tagged => FilterAnswer::Written,
            Verdict::Skipped | Verdict::NoMatch if only_matches => FilterAnswer::Dropped,
            Verdict::Skipped | Verdict::NoMatch => FilterAnswer::Written,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::panic,
        reason = "a test fails by panicking"
    )]
    use super::*;

    /// Natively a panic unwinds, but the state sees it exactly as it sees a trap: the call never
    /// finished.
    #[test]
    fn a_call_that_never_returns_does_not_poison_the_next() {
        with_state(|state| state.output.extend_from_slice(b"kept until the next call"));
        let interrupted = std::panic::catch_unwind(|| {
            with_state(|state| {
                state.output.extend_from_slice(b"half-written");
                panic!("a trap");
            })
        });
        assert!(interrupted.is_err());
        let after = with_state(|state| (state.output.clone(), state.error.clone()));
        assert!(after.0.is_empty(), "the half-written output was reset");
        assert!(String::from_utf8(after.1).unwrap().contains("trapped"));
        assert_eq!(with_state(|state| state.transform(b"{}\n")), Status::Ok);
    }
}
