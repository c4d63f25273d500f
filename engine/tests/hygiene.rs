//! `rules check`'s field catalogue against real records: every key the corpus and the labelled
//! cases have (to the depth the catalogue checks) is known, so a warning about a field is never
//! a gap in the catalogue; and the built-in rules pass the check clean.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use trailtag_conformance as data;
use trailtag_engine::hygiene::{self, known_field};
use trailtag_engine::{Detector, FieldPath};

fn paths(
    value: &serde_json::Value,
    prefix: &mut Vec<String>,
    depth: usize,
    out: &mut Vec<Vec<String>>,
) {
    match value {
        serde_json::Value::Object(map) if depth > 0 => {
            for (key, child) in map {
                prefix.push(key.clone());
                out.push(prefix.clone());
                paths(child, prefix, depth - 1, out);
                prefix.pop();
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                paths(item, prefix, depth, out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_key_of_real_records_is_in_the_catalogue() {
    let mut records: Vec<Vec<u8>> = data::corpus_records();
    records.extend(data::cases().into_iter().map(|c| c.record.into_bytes()));
    let mut unknown: Vec<String> = Vec::new();
    for record in &records {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(record) else {
            continue;
        };
        let mut found = Vec::new();
        paths(&value, &mut Vec::new(), 2, &mut found);
        for path in found {
            let field = FieldPath::new(path.clone());
            if known_field(&field).is_err() && !unknown.contains(&path.join(".")) {
                unknown.push(path.join("."));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "keys of real records the catalogue does not know: {unknown:?}"
    );
}

#[test]
fn the_built_in_rules_pass_the_check() {
    let warnings = hygiene::check(&Detector::builtin().unwrap());
    assert!(warnings.is_empty(), "{warnings:?}");
}
