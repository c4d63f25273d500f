//! The ECS view two ways, held to each other on the real corpus: what `ecs::document` shows a
//! person (`trailtag ecs`) is what a rule reads through the resolver (`EcsFields`).
//!
//! For every record and every value of every field of its document, the KQL query
//! `field: "value"` compiled against the resolver matches the record, `field: *` matches it, and
//! the same field with a value the document does not hold does not. Every field the document
//! shows is one the resolver knows. Values past a keyword field's `ignore_above` are not
//! searchable in Elasticsearch, so they are checked not to match.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use serde_json::Value;
use trailtag_conformance as data;
use trailtag_engine::FieldPath;
use trailtag_engine::ecs;
use trailtag_engine::frontend::elastic::fields::EcsFields;
use trailtag_engine::frontend::fields::{FieldKind, Fields};
use trailtag_engine::frontend::kql;
use trailtag_engine::json::Json;

/// Elastic's `ignore_above` for the payload keyword fields (`ecs::computed`).
const IGNORE_ABOVE: usize = 8191;

/// `(dotted name, leaf value)` for every scalar of the document; array elements under their
/// array's name.
fn leaves(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(members) => {
            for (key, member) in members {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaves(&name, member, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| leaves(prefix, item, out)),
        Value::Null => {}
        scalar => out.push((prefix.to_owned(), scalar.clone())),
    }
}

/// A KQL literal for `value`: strings quoted (so wildcards and keywords are literal).
fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")),
        other => other.to_string(),
    }
}

/// A field name as KQL writes it: its special characters escaped.
fn field_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if "\\():<>\"*{} ".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn holds(query: &str, record: &Json<'_>) -> bool {
    let expr = kql::compile(query, &EcsFields::default())
        .unwrap_or_else(|e| panic!("`{query}` does not compile: {e:?}"));
    expr.matches(record)
}

/// Names whose values the document derives from something other than the record's own fields'
/// text, where a different value of the same type could still be in the record.
fn is_flattened(name: &str) -> bool {
    name.contains(".flattened.")
}

/// A value of the field's type that the corpus does not hold (`None`: booleans, and flattened
/// payload paths whose neighbours may hold anything).
fn absent_value(name: &str, value: &Value) -> Option<&'static str> {
    if is_flattened(name) || value.is_boolean() {
        return None;
    }
    let field = FieldPath::parse_dotted(name).unwrap();
    Some(match EcsFields::default().kind(&field) {
        FieldKind::Ip => "198.51.100.254",
        FieldKind::Number => "987654321.5",
        FieldKind::Boolean => return None,
        FieldKind::Keyword => "\"no such value 3f9c\"",
    })
}

#[test]
fn every_value_the_document_shows_is_what_a_rule_reads() {
    let records = data::corpus_records();
    assert!(records.len() > 2_000, "the corpus is missing");
    let (mut checked, mut unsearchable) = (0usize, 0usize);
    for (index, bytes) in records.iter().enumerate() {
        let record = Json::parse(bytes).unwrap();
        let document = ecs::document(&record);
        let mut fields = Vec::new();
        leaves("", &document, &mut fields);
        assert!(
            fields.iter().any(|(n, _)| n == "data_stream.dataset"),
            "record {index}"
        );
        for (name, value) in &fields {
            assert!(
                ecs::source(name).is_some(),
                "record {index}: the document shows `{name}`, which the resolver does not know"
            );
            let name = &field_name(name);
            let query = format!("{name}: {}", literal(value));
            let long = value
                .as_str()
                .is_some_and(|s| s.chars().count() > IGNORE_ABOVE);
            if long {
                unsearchable += 1;
                assert!(
                    !holds(&query, &record),
                    "record {index}: `{name}` is longer than ignore_above, yet a query finds it"
                );
                continue;
            }
            assert!(
                holds(&query, &record),
                "record {index}: the document shows {name} = {value}, but `{query}` does not match"
            );
            assert!(
                holds(&format!("{name}: *"), &record),
                "record {index}: {name} exists"
            );
            if let Some(absent) = absent_value(name, value) {
                let absent = format!("{name}: {absent}");
                assert!(
                    !holds(&absent, &record),
                    "record {index}: `{absent}` matches"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100_000, "only {checked} values checked");
    println!("{checked} values checked, {unsearchable} past ignore_above");
}
