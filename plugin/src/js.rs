//! The JavaScript build: wasm-bindgen exports around the engine, packaged in `plugin/js/`.
//!
//! A [`Trailtag`] object is one configured detector with its own state (options, scratch
//! space, counts since creation), so a program may hold several with different rules. Like the
//! other shells this one only marshals: JS values become bytes, the engine decides, bytes become
//! JS values again. Records go through [`Detector::tag_record`], batches through
//! [`Detector::transform_ndjson`], so the output is byte for byte the raw ABI's (`docs/abi.md`).
//!
//! `plugin/js/README.md` is the JavaScript reference; `scripts/build-js` builds the package.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trailtag_engine::{
    Counts, Detector, Error, Options, RuleSource, Scratch, UnreadableLine, Verdict,
};
use wasm_bindgen::prelude::*;

use crate::state::rules_document;

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

/// The constructor's configuration: `docs/abi.md` section 3, with JavaScript's camelCase keys.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Config {
    #[serde(default = "yes")]
    builtin_rules: bool,
    #[serde(default)]
    rules: Vec<RuleFile>,
    #[serde(default)]
    only_matches: bool,
    #[serde(default)]
    validate: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    name: String,
    text: String,
}

fn yes() -> bool {
    true
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
    per_rule: BTreeMap<&'a str, u64>,
}

/// What happened to one record given to `tagRecord`.
enum Outcome {
    /// The tagged record is in the output buffer.
    Tagged,
    /// The record comes back as it was.
    Unchanged,
    /// `onlyMatches` drops it.
    Dropped,
}

/// A configured detector and everything it keeps between calls.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Trailtag {
    detector: Detector,
    options: Options,
    scratch: Scratch,
    /// Counts since creation.
    totals: Counts,
    /// Output of the last call.
    output: Vec<u8>,
    /// Unreadable records of the last call.
    unreadable: Vec<UnreadableLine>,
}

#[wasm_bindgen]
impl Trailtag {
    /// Compiles the rules; throws an `Error` listing every rule problem (file:line:column).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "TrailtagConfig")] config: Option<JsValue>,
    ) -> Result<Trailtag, JsError> {
        let config = read_config(config)?;
        let sources = config
            .rules
            .into_iter()
            .map(|r| RuleSource::new(r.name, r.text));
        let detector = Detector::builder()
            .builtin(config.builtin_rules)
            .sources(sources)
            .build()?;
        Ok(Trailtag {
            totals: Counts::for_rules(detector.rules().len()),
            detector,
            options: Options {
                only_matches: config.only_matches,
                validate: config.validate,
            },
            scratch: Scratch::default(),
            output: Vec::new(),
            unreadable: Vec::new(),
        })
    }

    /// Tags one record: a JSON string gives a string, an object gives an object (a new one when
    /// tagged, the same one otherwise); `null` when `onlyMatches` drops it.
    #[wasm_bindgen(
        js_name = tagRecord,
        unchecked_return_type = "string | Record<string, unknown> | null"
    )]
    pub fn tag_record(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string | Record<string, unknown>")] record: JsValue,
    ) -> Result<JsValue, JsValue> {
        let as_object = !record.is_string();
        let text = match record.as_string() {
            Some(text) => text,
            None if record.is_object() => stringify(&record)?.as_string().unwrap_or_default(),
            None => return Err(JsError::new("tagRecord takes a JSON string or an object").into()),
        };
        match self.decide(text.as_bytes()) {
            Outcome::Tagged if as_object => parse(&String::from_utf8_lossy(&self.output)),
            Outcome::Tagged => Ok(JsValue::from_str(&String::from_utf8_lossy(&self.output))),
            Outcome::Unchanged => Ok(record),
            Outcome::Dropped => Ok(JsValue::NULL),
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

    /// Counts since creation: records in and out, tagged, unreadable, blank, and matches per
    /// rule id.
    #[wasm_bindgen(unchecked_return_type = "TrailtagSummary")]
    pub fn summary(&self) -> Result<JsValue, JsValue> {
        let counts = &self.totals;
        let summary = Summary {
            records_in: counts.records_in,
            records_out: counts.records_out,
            tagged: counts.tagged,
            unreadable: counts.unreadable,
            blank: counts.blank,
            per_rule: self
                .detector
                .rules()
                .iter()
                .map(|r| r.id())
                .zip(counts.per_rule.iter().copied())
                .collect(),
        };
        parse(&serde_json::to_string(&summary).unwrap_or_default())
    }

    /// The loaded rules' metadata in rule order (the rules document, `docs/abi.md` section 6).
    #[wasm_bindgen(unchecked_return_type = "Array<Record<string, unknown>>")]
    pub fn rules(&self) -> Result<JsValue, JsValue> {
        parse(&String::from_utf8_lossy(&rules_document(&self.detector)))
    }

    /// The records the last `tagRecord` or `tagBatch` call could not read: `{line, reason}`,
    /// `line` counting from 0 within the batch.
    #[wasm_bindgen(
        js_name = lastUnreadable,
        unchecked_return_type = "Array<{line: number, reason: string}>"
    )]
    pub fn last_unreadable(&self) -> Result<JsValue, JsValue> {
        let lines: Vec<_> = self
            .unreadable
            .iter()
            .map(|u| serde_json::json!({ "line": u.line, "reason": u.reason }))
            .collect();
        parse(&serde_json::Value::from(lines).to_string())
    }
}

impl Trailtag {
    fn transform(&mut self, input: &[u8]) {
        self.output.clear();
        let report = self.detector.transform_ndjson(
            input,
            &self.options,
            &mut self.scratch,
            &mut self.output,
        );
        self.totals.add(&report.counts);
        self.unreadable = report.unreadable;
    }

    /// Decides one record and counts it as the batch transform counts a line.
    fn decide(&mut self, record: &[u8]) -> Outcome {
        self.output.clear();
        self.unreadable.clear();
        let verdict =
            self.detector
                .tag_record(record, &self.options, &mut self.scratch, &mut self.output);
        let mut counts = Counts::for_rules(self.totals.per_rule.len());
        counts.records_in = 1;
        let outcome = match verdict {
            Verdict::Tagged => {
                counts.tagged = 1;
                for &rule in self.scratch.matched() {
                    counts.per_rule[rule as usize] = 1;
                }
                Outcome::Tagged
            }
            Verdict::Unreadable(reason) => {
                counts.unreadable = 1;
                self.unreadable.push(UnreadableLine { line: 0, reason });
                Outcome::Unchanged
            }
            Verdict::Skipped | Verdict::NoMatch => Outcome::Unchanged,
        };
        let outcome = match outcome {
            Outcome::Unchanged if self.options.only_matches => Outcome::Dropped,
            outcome => outcome,
        };
        counts.records_out = u64::from(!matches!(outcome, Outcome::Dropped));
        self.totals.add(&counts);
        outcome
    }
}

/// Reads the constructor's argument (`None` for `undefined` and `null`: every default).
fn read_config(config: Option<JsValue>) -> Result<Config, Error> {
    let text = match config {
        Some(config) => stringify(&config)
            .ok()
            .and_then(|text| text.as_string())
            .ok_or_else(|| Error::Config("not JSON-serialisable".into()))?,
        None => "{}".to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| Error::Config(e.to_string()))
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
}

/** Counts since the object was created. */
export interface TrailtagSummary {
  recordsIn: number;
  recordsOut: number;
  tagged: number;
  unreadable: number;
  blank: number;
  perRule: Record<string, number>;
}
"#;
