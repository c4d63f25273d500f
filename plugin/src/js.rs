//! The JavaScript build: wasm-bindgen exports around the engine, packaged in `plugin/js/`.
//!
//! A [`Trailtag`] object is one configured detector with its own state (options, scratch
//! space, counts since creation), so a program may hold several with different rules. Like the
//! other shells this one only marshals: JS values become bytes, the engine decides, bytes become
//! JS values again. Records go through the engine's `transform_one_into`, batches through
//! `transform_ndjson_into`, and the configuration through the codec every host uses, so the
//! output and the counts are the raw ABI's (`docs/abi.md`): the shell counts nothing itself.
//! `explain`, `ecs` and `check` (what `playground/` shows) serialise the engine's own
//! explanation, ECS document and rule errors.
//!
//! `plugin/js/README.md` is the JavaScript reference; `scripts/build-js` builds the package.

use std::collections::BTreeMap;

use serde::Serialize;
use trailtag_engine::explain::RuleExplanation;
use trailtag_engine::json::Json;
use trailtag_engine::output::FormatWriter;
use trailtag_engine::{
    BatchReport, Counts, Detector, Error, Options, Reason, RuleError, Scratch, Verdict, ecs,
};
use wasm_bindgen::prelude::*;

use crate::codec::{self, Config};

#[wasm_bindgen]
extern "C" {
    /// `Uint8Array`, and so Node's `Buffer`.
    #[wasm_bindgen(js_name = Uint8Array)]
    type Bytes;

    /// The array itself; returning it as a `Vec` copies its bytes into wasm memory.
    #[wasm_bindgen(method, js_name = valueOf)]
    fn to_vec(this: &Bytes) -> Vec<u8>;

    /// `JSON.stringify`, which throws on cycles and `BigInt`s.
    #[wasm_bindgen(js_namespace = JSON, catch)]
    fn stringify(value: &JsValue) -> Result<JsValue, JsValue>;

    /// `JSON.parse`.
    #[wasm_bindgen(js_namespace = JSON, catch)]
    fn parse(text: &str) -> Result<JsValue, JsValue>;
}

/// What `summary()` returns; `per_rule` in rule order, which is id order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    records_in: u64,
    records_out: u64,
    tagged: u64,
    unreadable: u64,
    blank: u64,
    foreign_tags_removed: u64,
    per_rule: BTreeMap<&'a str, u64>,
    unreadable_by_reason: BTreeMap<&'static str, u64>,
    events: u64,
    events_tagged: u64,
    cloudtrail_events: u64,
    envelopes: BTreeMap<&'static str, u64>,
    unreadable_inside: u64,
}

/// What `explain()` returns: the engine's `Explanation`.
#[derive(Debug, Serialize)]
struct Explained<'a> {
    rules: Vec<RuleExplained<'a>>,
}

/// One rule's entry in what `explain()` returns: the engine's `RuleExplanation`, with the
/// rule's id, name and format beside its index.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleExplained<'a> {
    rule: u32,
    id: &'a str,
    name: &'a str,
    format: &'static str,
    matched: bool,
    candidate: bool,
    near_miss: bool,
    clauses: Vec<ClauseExplained<'a>>,
}

/// One clause of a [`RuleExplained`]: the engine's `ClauseOutcome`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClauseExplained<'a> {
    text: &'a str,
    held: bool,
    failed_test: Option<&'a str>,
}

/// One entry of what `check()` returns: the engine's `RuleError`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleProblem<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    rule_id: Option<&'a str>,
    message: &'a str,
}

/// A configured detector and everything it keeps between calls.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Trailtag {
    detector: Detector,
    writer: FormatWriter,
    options: Options,
    scratch: Scratch,
    /// Counts since creation.
    totals: Counts,
    /// Output of the last call.
    output: Vec<u8>,
    /// Report of the last call.
    report: BatchReport,
}

#[wasm_bindgen]
impl Trailtag {
    /// Compiles the rules; throws an `Error` listing every rule problem (file:line:column).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "TrailtagConfig")] config: Option<JsValue>,
    ) -> Result<Trailtag, JsError> {
        let config = read_config(config)?;
        let detector = config.detector()?;
        Ok(Trailtag {
            writer: config.writer(&detector),
            totals: Counts::for_rules(detector.rules().len()),
            report: BatchReport::for_rules(detector.rules().len()),
            detector,
            options: config.options(),
            scratch: Scratch::default(),
            output: Vec::new(),
        })
    }

    /// Tags one record: a JSON string gives a string, an object gives an object (a new one when
    /// the record changed, the same one otherwise); `null` when `onlyMatches` drops it.
    #[wasm_bindgen(
        js_name = tagRecord,
        unchecked_return_type = "string | Record<string, unknown> | null"
    )]
    pub fn tag_record(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | Record<string, unknown>")] record: JsValue,
    ) -> Result<JsValue, JsValue> {
        let as_object = !record.is_string();
        let text = record_text(&record, "tagRecord")?;
        self.output.clear();
        let verdict = self.detector.transform_one_into(
            &self.writer,
            text.as_bytes(),
            &self.options,
            &mut self.scratch,
            &mut self.output,
            &mut self.report,
        );
        self.totals.add(&self.report.counts);
        let written = verdict == Verdict::Tagged || !self.options.only_matches;
        match (written, self.output.as_slice() == text.as_bytes()) {
            (false, _) => Ok(JsValue::NULL),
            (true, true) => Ok(record),
            (true, false) if as_object => parse(&String::from_utf8_lossy(&self.output)),
            (true, false) => Ok(JsValue::from_str(&String::from_utf8_lossy(&self.output))),
        }
    }

    /// Transforms a batch of NDJSON (`docs/abi.md` section 4): a string gives a string, a
    /// `Uint8Array` (or `Buffer`) gives a `Uint8Array`.
    #[wasm_bindgen(js_name = tagBatch, unchecked_return_type = "string | Uint8Array")]
    pub fn tag_batch(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] ndjson: JsValue,
    ) -> Result<JsValue, JsError> {
        if let Some(text) = ndjson.as_string() {
            self.transform(text.as_bytes());
            return Ok(JsValue::from_str(&String::from_utf8_lossy(&self.output)));
        }
        let Some(bytes) = ndjson.dyn_ref::<Bytes>() else {
            return Err(JsError::new("tagBatch takes a string or a Uint8Array"));
        };
        self.transform(&bytes.to_vec());
        Ok(JsValue::from(self.output.clone()))
    }

    /// Counts since creation: records in and out, tagged, unreadable (also per reason), blank,
    /// foreign tags removed, and matches per rule id.
    #[wasm_bindgen(unchecked_return_type = "TrailtagSummary")]
    pub fn summary(&self) -> Result<JsValue, JsValue> {
        let counts = &self.totals;
        let summary = Summary {
            records_in: counts.records_in,
            records_out: counts.records_out,
            tagged: counts.tagged,
            unreadable: counts.unreadable,
            blank: counts.blank,
            foreign_tags_removed: counts.foreign_tags_removed,
            per_rule: self
                .detector
                .rules()
                .iter()
                .map(|r| r.id())
                .zip(counts.per_rule.iter().copied())
                .collect(),
            unreadable_by_reason: Reason::ALL
                .iter()
                .map(|r| (r.code(), counts.unreadable_by_reason[r.index()]))
                .collect(),
            events: counts.events,
            events_tagged: counts.events_tagged,
            cloudtrail_events: counts.cloudtrail_events,
            envelopes: counts.envelopes_by_shape(),
            unreadable_inside: counts.unreadable_inside,
        };
        to_js(&summary)
    }

    /// The loaded rules' metadata in rule order (the rules document, `docs/abi.md` section 6).
    #[wasm_bindgen(unchecked_return_type = "Array<Record<string, unknown>>")]
    pub fn rules(&self) -> Result<JsValue, JsValue> {
        parse(&String::from_utf8_lossy(&codec::encode_rules(
            &self.detector,
        )))
    }

    /// The records the last `tagRecord` or `tagBatch` call could not read: `{line, reason,
    /// code}`, `line` counting from 0 within the batch, `code` the reason's stable name.
    #[wasm_bindgen(
        js_name = lastUnreadable,
        unchecked_return_type = "Array<{line: number, reason: string, code: string}>"
    )]
    pub fn last_unreadable(&self) -> Result<JsValue, JsValue> {
        let lines: Vec<_> = self
            .report
            .unreadable
            .iter()
            .map(|u| serde_json::json!({ "line": u.line, "reason": u.message, "code": u.reason.code() }))
            .collect();
        parse(&serde_json::Value::from(lines).to_string())
    }

    /// What `record` (a JSON string or an object) does with every rule: `{rules: [...]}`, one
    /// entry per rule in rule order, each clause as written with whether it held and, when it
    /// did not, the first test inside it that failed. Throws when the record is not a JSON
    /// object, with the reason `lastUnreadable()` gives for it under `validate`.
    #[wasm_bindgen(unchecked_return_type = "TrailtagExplanation")]
    pub fn explain(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string | Record<string, unknown>")] record: JsValue,
    ) -> Result<JsValue, JsValue> {
        let text = record_text(&record, "explain")?;
        let explanation = self
            .detector
            .explain(text.as_bytes())
            .map_err(|unreadable| JsError::new(&unreadable.detail))?;
        let rules: Vec<_> = explanation
            .rules
            .iter()
            .map(|r| explained(&self.detector, r))
            .collect();
        to_js(&Explained { rules })
    }

    /// The ECS document Elastic's rules read for `record` (a JSON string or an object): what
    /// Elastic's CloudTrail ingest pipeline would index, nested, keys sorted. It needs no rules,
    /// so it is static. Throws when the record is not a JSON object.
    #[wasm_bindgen(unchecked_return_type = "Record<string, unknown>")]
    pub fn ecs(
        #[wasm_bindgen(unchecked_param_type = "string | Record<string, unknown>")] record: JsValue,
    ) -> Result<JsValue, JsValue> {
        let text = record_text(&record, "ecs")?;
        let root = Json::parse(text.as_bytes())
            .map_err(|e| JsError::new(&format!("invalid JSON: {e}")))?;
        if !matches!(root, Json::Object(_)) {
            return Err(JsError::new(Reason::NotAnObject.describe()).into());
        }
        parse(&ecs::document(&root).to_string())
    }

    /// Compiles the rules `config` names and returns every rule problem instead of throwing:
    /// `[{file, line, column, ruleId, message}]`, empty when they all load. Under
    /// `skipInvalidRules` the problems are those of the files skipped. Throws only when the
    /// configuration itself is malformed.
    #[wasm_bindgen(unchecked_return_type = "Array<TrailtagRuleProblem>")]
    pub fn check(
        #[wasm_bindgen(unchecked_optional_param_type = "TrailtagConfig")] config: Option<JsValue>,
    ) -> Result<JsValue, JsValue> {
        let config = read_config(config).map_err(JsError::from)?;
        let errors = match config.detector() {
            Ok(detector) => detector.skipped().to_vec(),
            Err(Error::Rules(errors)) => errors,
            Err(other) => return Err(JsError::from(other).into()),
        };
        let problems: Vec<_> = errors.iter().map(problem).collect();
        to_js(&problems)
    }
}

impl Trailtag {
    fn transform(&mut self, input: &[u8]) {
        self.output.clear();
        self.detector.transform_ndjson_into(
            &self.writer,
            input,
            &self.options,
            &mut self.scratch,
            &mut self.output,
            &mut self.report,
        );
        self.totals.add(&self.report.counts);
    }
}

/// The text of a record given as a JSON string or an object (through `JSON.stringify`).
fn record_text(record: &JsValue, method: &str) -> Result<String, JsValue> {
    match record.as_string() {
        Some(text) => Ok(text),
        None if record.is_object() => Ok(stringify(record)?.as_string().unwrap_or_default()),
        None => Err(JsError::new(&format!("{method} takes a JSON string or an object")).into()),
    }
}

/// A value as a JavaScript value, through JSON.
fn to_js(value: &impl Serialize) -> Result<JsValue, JsValue> {
    parse(&serde_json::to_string(value).unwrap_or_default())
}

fn explained<'a>(detector: &'a Detector, rule: &'a RuleExplanation) -> RuleExplained<'a> {
    let meta = detector.rules().get(rule.rule as usize).map(|r| r.meta());
    RuleExplained {
        rule: rule.rule,
        id: meta.map_or("", |m| m.id.as_str()),
        name: meta.map_or("", |m| m.name.as_str()),
        format: meta.map_or("", |m| m.format.as_str()),
        matched: rule.matched,
        candidate: rule.candidate,
        near_miss: rule.is_near_miss(),
        clauses: rule
            .clauses
            .iter()
            .map(|c| ClauseExplained {
                text: &c.text,
                held: c.held,
                failed_test: c.failed_test.as_deref(),
            })
            .collect(),
    }
}

fn problem(error: &RuleError) -> RuleProblem<'_> {
    RuleProblem {
        file: &error.file,
        line: error.line,
        column: error.column,
        rule_id: error.rule_id.as_deref(),
        message: &error.message,
    }
}

/// Reads the constructor's argument (`None` for `undefined` and `null`: every default) with
/// the codec every host uses.
fn read_config(config: Option<JsValue>) -> Result<Config, Error> {
    let text = match config {
        Some(config) => stringify(&config)
            .ok()
            .and_then(|text| text.as_string())
            .ok_or_else(|| Error::Config("not JSON-serialisable".into()))?,
        None => "{}".to_owned(),
    };
    Config::decode(text.as_bytes()).map_err(|e| Error::Config(e.0))
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** The constructor's configuration; every key is optional. */
export interface TrailtagConfig {
  /** Load the rules built into the module (default true). */
  builtinRules?: boolean;
  /** Extra rule files: `name` is shown in messages and its extension selects the format. */
  rules?: Array<{ name: string; text: string }>;
  /** Write or return only tagged records (default false). */
  onlyMatches?: boolean;
  /** Parse every record, so malformed JSON is always counted as unreadable (default false). */
  validate?: boolean;
  /** Keep a `trailtag` member a record arrived with when it matches nothing (default false). */
  keepForeignTags?: boolean;
  /** How a match is written: the native `trailtag` member (default), ECS alert fields, or OCSF
   * Detection Findings (docs/tag-formats.md). */
  tagFormat?: "trailtag" | "ecs" | "ocsf";
  /** Skip a rule file that does not load instead of throwing (default false). */
  skipInvalidRules?: boolean;
  /** The values Sigma's `expand` modifier stands for: placeholder name (without `%`) to values. */
  sigmaPlaceholders?: Record<string, string[]>;
}

/** What `explain()` returns: one entry per rule, in rule order. */
export interface TrailtagExplanation {
  rules: Array<TrailtagRuleExplanation>;
}

/** What one record did with one rule. */
export interface TrailtagRuleExplanation {
  /** The rule's index in rule order (as in `rules()`). */
  rule: number;
  id: string;
  name: string;
  format: "native" | "sigma" | "elastic";
  /** The detector's verdict: the rule tags this record. */
  matched: boolean;
  /** Whether the cheap scan let the record through to the rule's evaluation. */
  candidate: boolean;
  /** Not matched although some clauses held. */
  nearMiss: boolean;
  /** The rule's top-level clauses, as written, in order. */
  clauses: Array<{
    text: string;
    held: boolean;
    /** When the clause did not hold: the first test inside it that failed. */
    failedTest: string | null;
  }>;
}

/** One rule problem, as `check()` returns it; line and column count from 1. */
export interface TrailtagRuleProblem {
  file: string;
  line: number;
  column: number;
  /** The rule's id, once it is known. */
  ruleId: string | null;
  message: string;
}

/** Counts since the object was created. */
export interface TrailtagSummary {
  recordsIn: number;
  recordsOut: number;
  tagged: number;
  unreadable: number;
  blank: number;
  foreignTagsRemoved: number;
  perRule: Record<string, number>;
  unreadableByReason: Record<string, number>;
  /** Records decided, bare or inside envelopes (docs/ingest.md). */
  events: number;
  eventsTagged: number;
  /** Events with CloudTrail's `eventSource` or `eventName`: 0 after records means the input
   * holds nothing trailtag recognises as CloudTrail. */
  cloudtrailEvents: number;
  /** Envelope records per shape code (only shapes seen). */
  envelopes: Record<string, number>;
  /** Documents inside envelopes that could not be opened or read (left as they were). */
  unreadableInside: number;
}
"#;
