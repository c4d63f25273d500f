//! The JavaScript build: wasm-bindgen exports around the engine, packaged in `plugin/js/`.
//!
//! A [`Trailtag`] object is one configured detector with its own state (options, scratch
//! space, counts since creation), so a program may hold several with different rules. Like the
//! other shells this one only marshals: JS values become bytes, the engine decides, bytes become
//! JS values again. Records go through the engine's `transform_one_into`, batches through
//! `transform_ndjson_into`, and the configuration through the codec every host uses, so the
//! output and the counts are the raw ABI's (`docs/abi.md`): the shell counts nothing itself.
//!
//! `plugin/js/README.md` is the JavaScript reference; `scripts/build-js` builds the package.

use std::collections::BTreeMap;

use serde::Serialize;
use trailtag_engine::output::trailtag::TrailtagTag;
use trailtag_engine::{BatchReport, Counts, Detector, Error, Options, Reason, Scratch, Verdict};
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
}

/// A configured detector and everything it keeps between calls.
#[wasm_bindgen]
#[derive(Debug)]
pub struct Trailtag {
    detector: Detector,
    writer: TrailtagTag,
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
            writer: TrailtagTag::for_rules(detector.rules()),
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
        let text = match record.as_string() {
            Some(text) => text,
            None if record.is_object() => stringify(&record)?.as_string().unwrap_or_default(),
            None => return Err(JsError::new("tagRecord takes a JSON string or an object").into()),
        };
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
        };
        parse(&serde_json::to_string(&summary).unwrap_or_default())
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
}
"#;
