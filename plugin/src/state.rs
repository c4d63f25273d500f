//! The guest's state: one per module instance, living across calls.
//!
//! A WebAssembly instance is single-threaded, so the state sits in a `thread_local!`. It holds
//! the compiled detector (built lazily from the built-in rules unless a host configures others),
//! the options, and the buffers results are returned in: a host reads them after a call and they
//! stay valid until the next call that writes them.
//!
//! **Surviving a trap.** WebAssembly does not unwind: a call that traps (a stack overflow in
//! WAMR's small interpreter stack, say) simply never returns, and Fluent Bit goes on calling the
//! same instance. A `RefCell` would stay borrowed for ever and every later record would trap too
//! (found in a real Fluent Bit). So the state is reached through [`with_state`], which marks the
//! instance busy for the length of a call; finding it still busy on entry means the previous call
//! trapped, and the half-written per-call buffers are reset before going on. The detector and
//! options are only ever replaced whole, so they are intact.
#![allow(
    unsafe_code,
    reason = "the instance's state outlives traps, which no safe cell does"
)]

use std::cell::{Cell, UnsafeCell};

use serde::Deserialize;
use trailtag_engine::{Detector, Options, RuleSource, Scratch};

use crate::contract::{Status, stats};

/// Everything an instance keeps between calls.
#[derive(Debug, Default)]
pub struct State {
    pub(crate) detector: Option<Detector>,
    /// Processing options.
    pub options: Options,
    /// Test hooks; inert unless configured.
    pub faults: FaultInjection,
    /// Per-record scratch space.
    pub scratch: Scratch,
    /// Output of the last batch (raw ABI) or record (Fluent Bit ABI).
    pub output: Vec<u8>,
    /// Statistics block of the last batch.
    pub stats: Vec<u8>,
    /// Unreadable-line report of the last batch.
    pub unreadable: Vec<u8>,
    /// Rules metadata document.
    pub rules: Vec<u8>,
    /// The last error message.
    pub error: Vec<u8>,
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
    /// The last batch's output.
    Output,
    /// The statistics block.
    Stats,
    /// The unreadable-line report.
    Unreadable,
    /// The rules document.
    Rules,
    /// The last error message.
    Error,
}

/// The configuration document `tt_configure` accepts (every key optional).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigDoc {
    #[serde(default = "yes")]
    builtin_rules: bool,
    #[serde(default)]
    rules: Vec<RuleDoc>,
    #[serde(default)]
    only_matches: bool,
    #[serde(default)]
    validate: bool,
    #[serde(default)]
    fault_injection: FaultInjection,
}

/// Test hooks for hosts (`docs/abi.md`, section 8): a call whose input contains one of these
/// byte strings traps, spins until the host's deadline, or allocates until the memory cap.
/// Off unless configured; they let a host prove its fault isolation against the real module.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultInjection {
    #[serde(default)]
    trap: Option<String>,
    #[serde(default)]
    spin: Option<String>,
    #[serde(default)]
    grow: Option<String>,
}

impl FaultInjection {
    /// Triggers the configured fault if `input` contains its marker.
    pub fn check(&self, input: &[u8]) {
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    name: String,
    text: String,
}

/// The document must be a JSON object: serde would also accept an array, by position.
fn parse_config(document: &[u8]) -> Result<ConfigDoc, serde_json::Error> {
    let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(document)?;
    serde_json::from_value(serde_json::Value::Object(object))
}

fn yes() -> bool {
    true
}

impl State {
    /// The detector, built from the built-in rules on first use if none was configured.
    pub fn detector(&mut self) -> Result<&Detector, Status> {
        if self.detector.is_none() {
            match Detector::builtin() {
                Ok(detector) => self.install(detector),
                Err(e) => return Err(self.fail(Status::RuleError, &e.to_string())),
            }
        }
        self.detector.as_ref().ok_or(Status::RuleError)
    }

    /// Applies a configuration document. On failure the previous configuration stays.
    pub fn configure(&mut self, document: &[u8]) -> Status {
        self.error.clear();
        let config = match parse_config(document) {
            Ok(config) => config,
            Err(e) => return self.fail(Status::InvalidConfig, &format!("configuration: {e}")),
        };
        let sources = config
            .rules
            .into_iter()
            .map(|r| RuleSource::new(r.name, r.text));
        match Detector::builder()
            .builtin(config.builtin_rules)
            .sources(sources)
            .build()
        {
            Ok(detector) => {
                self.options = Options {
                    only_matches: config.only_matches,
                    validate: config.validate,
                };
                self.faults = config.fault_injection;
                self.install(detector);
                Status::Ok
            }
            Err(e) => self.fail(Status::RuleError, &e.to_string()),
        }
    }

    /// Resets what a call that trapped may have left half-written.
    fn recover_from_trap(&mut self) {
        self.output.clear();
        self.unreadable.clear();
        self.scratch = Scratch::default();
        self.stats = self.detector.as_ref().map_or_else(Vec::new, zero_stats);
        self.error = b"the previous call trapped; per-call buffers were reset".to_vec();
    }

    fn install(&mut self, detector: Detector) {
        self.rules = rules_document(&detector);
        self.stats = zero_stats(&detector);
        self.detector = Some(detector);
    }

    /// The buffer a raw-ABI getter exposes. Rules and statistics exist before the first call:
    /// asking for them loads the built-in rules if nothing was configured.
    pub fn buffer(&mut self, which: Buffer) -> &[u8] {
        if matches!(which, Buffer::Rules | Buffer::Stats) && self.detector.is_none() {
            let _ = self.detector();
        }
        match which {
            Buffer::Output => &self.output,
            Buffer::Stats => &self.stats,
            Buffer::Unreadable => &self.unreadable,
            Buffer::Rules => &self.rules,
            Buffer::Error => &self.error,
        }
    }

    /// Records an error message and returns `status`.
    pub fn fail(&mut self, status: Status, message: &str) -> Status {
        self.error = message.as_bytes().to_vec();
        status
    }

    /// Runs the batch transform over `input`, filling the output buffers.
    pub fn transform(&mut self, input: &[u8]) -> Status {
        self.error.clear();
        if let Err(status) = self.detector() {
            return status;
        }
        let Some(detector) = self.detector.as_ref() else {
            return Status::RuleError;
        };
        self.faults.check(input);
        self.output.clear();
        let report =
            detector.transform_ndjson(input, &self.options, &mut self.scratch, &mut self.output);
        self.stats = stats_block(&report.counts);
        self.unreadable.clear();
        for line in &report.unreadable {
            let reason = line.reason.replace(['\t', '\n', '\r'], " ");
            self.unreadable
                .extend_from_slice(format!("{}\t{reason}\n", line.line).as_bytes());
        }
        Status::Ok
    }
}

/// The statistics block of a call that has counted nothing yet.
fn zero_stats(detector: &Detector) -> Vec<u8> {
    stats_block(&trailtag_engine::Counts::for_rules(detector.rules().len()))
}

/// The statistics block: see [`crate::contract::stats`].
pub fn stats_block(counts: &trailtag_engine::Counts) -> Vec<u8> {
    let mut slots = vec![0u64; stats::FIRST_RULE + counts.per_rule.len()];
    slots[stats::RECORDS_IN] = counts.records_in;
    slots[stats::RECORDS_OUT] = counts.records_out;
    slots[stats::TAGGED] = counts.tagged;
    slots[stats::UNREADABLE] = counts.unreadable;
    slots[stats::BLANK] = counts.blank;
    slots[stats::RULE_COUNT] = counts.per_rule.len() as u64;
    slots[stats::FIRST_RULE..].copy_from_slice(&counts.per_rule);
    slots.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// The rules document: a JSON array of each rule's metadata, in rule order.
pub fn rules_document(detector: &Detector) -> Vec<u8> {
    let metas: Vec<_> = detector.rules().iter().map(|r| r.meta()).collect();
    serde_json::to_vec(&metas).unwrap_or_else(|_| b"[]".to_vec())
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
