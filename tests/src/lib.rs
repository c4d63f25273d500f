//! Access to the shared, read-only test data in `../shared` (beside the repository), for every
//! crate's tests: the labelled cases, the ambiguous cases, the real corpus and the envelopes.
//!
//! The data is never copied into the repository. If it is missing, the helpers panic with a
//! message saying where it was looked for: a test that needs it fails, it never skips.

#![expect(
    clippy::panic,
    reason = "test-data helpers exist to fail the calling test loudly when data is missing"
)]

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde_json::value::RawValue;

/// `../shared` relative to the repository root, or the nearest `shared` folder beside one of
/// the root's ancestors (a git worktree kept in a folder of worktrees, `wt/<name>`, finds the
/// data its main checkout sits beside).
pub fn shared_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest);
    let beside = root.join("../shared");
    let found = root
        .ancestors()
        .skip(1)
        .map(|dir| dir.join("shared"))
        .find(|dir| dir.join("data/cloudtrail").is_dir());
    found.unwrap_or_else(|| {
        panic!(
            "the shared test data is missing: expected {} (the `shared` folder beside the \
             repository or one of its parent folders)",
            beside.display()
        )
    })
}

/// `../shared/data/cloudtrail`.
pub fn cloudtrail_dir() -> PathBuf {
    shared_dir().join("data/cloudtrail")
}

/// The repository root.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Reads a file or panics with its path.
pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Reads a file, gunzipping it when it is gzip.
pub fn read_maybe_gzip(path: &Path) -> Vec<u8> {
    let raw = read(path);
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return raw;
    }
    let mut out = Vec::new();
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("cannot gunzip {}: {e}", path.display()));
    out
}

/// A labelled case from `fixtures/cases.jsonl` (or `ambiguous.jsonl`).
#[derive(Debug, Clone)]
pub struct Case {
    /// The case id.
    pub id: String,
    /// The record's exact bytes as written in the fixture file (one line, no newline).
    pub record: String,
    /// Expected detection ids, sorted (for `ambiguous.jsonl`: every `expect_if_*` reading).
    pub expect: Vec<String>,
    /// For ambiguous cases: each reading's name and expected ids.
    pub readings: Vec<(String, Vec<String>)>,
}

#[derive(Deserialize)]
struct CaseLine {
    id: String,
    record: Box<RawValue>,
    #[serde(default)]
    expect: Vec<String>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

fn parse_cases(path: &Path) -> Vec<Case> {
    let text = String::from_utf8(read(path))
        .unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let case: CaseLine =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let readings = case
                .rest
                .iter()
                .filter_map(|(k, v)| {
                    let reading = k.strip_prefix("expect_if_")?;
                    let ids = serde_json::from_value::<Vec<String>>(v.clone()).ok()?;
                    Some((reading.to_owned(), sorted(ids)))
                })
                .collect();
            Case {
                id: case.id,
                record: case.record.get().to_owned(),
                expect: sorted(case.expect),
                readings,
            }
        })
        .collect()
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// The 100 labelled cases.
pub fn cases() -> Vec<Case> {
    parse_cases(&cloudtrail_dir().join("fixtures/cases.jsonl"))
}

/// The 4 ambiguous cases, with their readings.
pub fn ambiguous_cases() -> Vec<Case> {
    parse_cases(&cloudtrail_dir().join("fixtures/ambiguous.jsonl"))
}

/// The corpus files (`corpus/*.ndjson.gz`), sorted.
pub fn corpus_files() -> Vec<PathBuf> {
    let dir = cloudtrail_dir().join("corpus");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".ndjson.gz"))
        .collect();
    files.sort();
    assert_eq!(
        files.len(),
        3,
        "expected the 3 corpus files in {}",
        dir.display()
    );
    files
}

/// Every corpus record, decompressed, as NDJSON (files in order, each line ending in `\n`).
pub fn corpus_ndjson() -> Vec<u8> {
    let mut all = Vec::new();
    for file in corpus_files() {
        let mut text = read_maybe_gzip(&file);
        if !text.ends_with(b"\n") {
            text.push(b'\n');
        }
        all.extend_from_slice(&text);
    }
    all
}

/// The first corpus lines, whole, adding up to at least `bytes` (or the whole corpus).
pub fn corpus_batch(bytes: usize) -> Vec<u8> {
    let corpus = corpus_ndjson();
    let mut batch = Vec::with_capacity(bytes + 8192);
    for line in corpus.split_inclusive(|&b| b == b'\n') {
        if batch.len() >= bytes {
            break;
        }
        batch.extend_from_slice(line);
    }
    batch
}

/// Every corpus record, one per element.
pub fn corpus_records() -> Vec<Vec<u8>> {
    corpus_ndjson()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// The expected tag counts on the corpus (`data/cloudtrail/README.md`).
pub const CORPUS_EXPECTED_COUNTS: [(&str, u64); 5] = [
    ("iam_group_created", 2),
    ("iam_group_deleted", 1),
    ("roles_anywhere_activity", 7),
    ("roles_anywhere_profile_created", 1),
    ("roles_anywhere_trust_anchor_external_ca", 1),
];

/// `fixtures/envelopes`.
pub fn envelopes_dir() -> PathBuf {
    cloudtrail_dir().join("fixtures/envelopes")
}

/// `fixtures/envelopes/expectations.json`.
pub fn envelope_expectations() -> serde_json::Map<String, serde_json::Value> {
    let path = envelopes_dir().join("expectations.json");
    serde_json::from_slice(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sorted detection ids in a tagged record (empty when it has no tag).
pub fn detection_ids(record: &[u8]) -> Vec<String> {
    let value: serde_json::Value = serde_json::from_slice(record).unwrap_or_default();
    let mut ids: Vec<String> = value["trailtag"]["detections"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|d| d["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Our decisions on the four ambiguous cases (the first issue; `docs/decisions.md`): the
/// reading each one follows.
pub const AMBIGUOUS_DECISIONS: [(&str, &str); 4] = [
    ("amb-CreateTrustAnchor-requestParameters-null", "literal"),
    ("amb-CreateGroup-errorCode-empty-string", "truthy"),
    (
        "amb-sts-AssumeRole-invokedBy-rolesanywhere",
        "eventSource_only",
    ),
    ("amb-CreateTrustAnchor-lowercase-acm-pca", "exact_compare"),
];

/// The expected ids of an ambiguous case under our decision.
pub fn decided_expectation(case: &Case) -> Vec<String> {
    let (_, reading) = AMBIGUOUS_DECISIONS
        .iter()
        .find(|(id, _)| *id == case.id)
        .unwrap_or_else(|| panic!("no decision recorded for ambiguous case {}", case.id));
    case.readings
        .iter()
        .find(|(name, _)| name == reading)
        .map(|(_, ids)| ids.clone())
        .unwrap_or_else(|| panic!("case {} has no reading {reading}", case.id))
}

/// Every CloudTrail record in `output`, wherever it sits (bare on a line, in an EventBridge
/// `detail`, as a string in a CloudWatch Logs message, base64 and gzip in a Firehose or Lambda
/// payload), in document order, with the sorted detection ids of its tag.
pub fn records_in_output(output: &[u8]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for line in output.split(|&b| b == b'\n') {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) {
            collect_records(&value, &mut found);
        }
    }
    found
}

fn collect_records(value: &serde_json::Value, found: &mut Vec<Vec<String>>) {
    use serde_json::Value;
    match value {
        Value::Object(members) if is_cloudtrail_record(members) => {
            let text = serde_json::to_vec(value).unwrap_or_default();
            found.push(detection_ids(&text));
        }
        Value::Object(members) => members.values().for_each(|v| collect_records(v, found)),
        Value::Array(items) => items.iter().for_each(|v| collect_records(v, found)),
        Value::String(text) => {
            if let Some(inner) = decode_embedded(text) {
                collect_records(&inner, found);
            }
        }
        _ => {}
    }
}

/// `eventName`, or an `eventSource` that is not a Lambda event source's (`aws:sqs` …).
fn is_cloudtrail_record(members: &serde_json::Map<String, serde_json::Value>) -> bool {
    let source = members
        .get("eventSource")
        .and_then(serde_json::Value::as_str);
    members.contains_key("eventName") || source.is_some_and(|s| !s.starts_with("aws:"))
}

/// A JSON document carried in a string: as text, or base64 (of gzip or not).
fn decode_embedded(text: &str) -> Option<serde_json::Value> {
    use base64::Engine;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        return serde_json::from_str(trimmed).ok();
    }
    if text.len() < 8 {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        bytes
    };
    serde_json::from_slice(&bytes).ok()
}

/// What `expectations.json` says of one envelope file: the detection ids of each record in it,
/// in order (a file with a `note` and no records: none).
pub fn expected_records(expectation: &serde_json::Value) -> Vec<Vec<String>> {
    let Some(members) = expectation.as_object() else {
        return Vec::new();
    };
    let mut records = Vec::new();
    for (key, ids) in members.iter().filter(|(k, _)| k.as_str() != "note") {
        let as_list = |v: &serde_json::Value| -> Vec<String> {
            sorted(serde_json::from_value(v.clone()).unwrap_or_default())
        };
        match key.as_str() {
            "detail" => records.push(as_list(ids)),
            _ => records.extend(ids.as_array().into_iter().flatten().map(as_list)),
        }
    }
    records
}
