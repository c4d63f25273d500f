//! Generated Sigma rules, tested as written and after optimising, on the fast path and
//! exhaustively (the Sigma counterpart of `optimiser.rs`).
//!
//! Detections are generated from the whole of what the front end lowers: maps, lists of
//! values, lists of maps, keyword lists; the modifiers `contains`, `startswith`, `endswith`,
//! `all`, `cased`, `re`, `exists`, `neq`; `null`; wildcards and escaped wildcards; conditions
//! with `and`, `or`, `not`, parentheses, `1 of` / `all of` patterns and `them`. Records give the
//! fields strings of every case (the Kelvin sign and long s included, which fold to ASCII
//! letters), numbers, booleans, nulls, arrays and nested objects, or leave them out. For each
//! pair:
//! - the condition as written and optimised decide the record alike;
//! - the optimised detector decides it alike on the fast path (scan, pins) and exhaustively,
//!   and alike to the detector that runs the rule as written.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use proptest::prelude::*;
use trailtag_engine::ir::optimise::optimise;
use trailtag_engine::json::Json;
use trailtag_engine::{Detector, Options, RuleSource, Scratch};

const FIELDS: &[&str] = &[
    "eventName",
    "eventSource",
    "userAgent",
    "requestParameters",
    "requestParameters.sourceType",
    "n",
];

/// Values as a rule writes them: wildcards, escapes, numbers and booleans as text, case and
/// folding variants.
const RULE_WORDS: &[&str] = &[
    "CreateKey",
    "createkey",
    "Create\u{212A}ey",
    "DeleteUser",
    "delete\u{17F}ser",
    "aws-cli/*",
    "Boto3?1.2",
    "Create*",
    "*User",
    "*",
    "",
    "true",
    "1",
    r"a\*b",
    r"x\?y",
    r"C:\dir",
];

/// Values as records hold them.
const RECORD_WORDS: &[&str] = &[
    "CreateKey",
    "CREATEKEY",
    "Create\u{212A}ey",
    "DeleteUser",
    "delete\u{17F}ser",
    "aws-cli/2.0",
    "Boto3/1.2",
    "CreateUser",
    "a*b",
    "axb",
    "x?y",
    r"C:\dir",
    "true",
    "1",
    "",
];

const PATTERNS: &[&str] = &[
    "^create",
    "user$",
    "(create|delete).*",
    "a.c",
    "[0-9]+",
    "K",
];

const SELECTIONS: &[&str] = &["sel_a", "sel_b", "filter_a", "filter_b"];

fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn rule_word() -> impl Strategy<Value = String> {
    proptest::sample::select(RULE_WORDS).prop_map(quoted)
}

fn values(count: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(rule_word(), count).prop_map(|v| format!("[{}]", v.join(", ")))
}

/// One `key: value` entry of a map (flow style, so that it nests anywhere).
fn entry() -> impl Strategy<Value = String> {
    let field = proptest::sample::select(FIELDS);
    let placement = proptest::sample::select(&["", "|contains", "|startswith", "|endswith"][..]);
    let cased = proptest::sample::select(&["", "|cased"][..]);
    prop_oneof![
        4 => (field.clone(), placement.clone(), cased.clone(), rule_word())
            .prop_map(|(f, p, c, v)| format!("'{f}{p}{c}': {v}")),
        2 => (field.clone(), placement.clone(), cased, values(1..4))
            .prop_map(|(f, p, c, v)| format!("'{f}{p}{c}': {v}")),
        1 => (field.clone(), placement.clone(), values(2..4))
            .prop_map(|(f, p, v)| format!("'{f}{p}|all': {v}")),
        1 => (field.clone(), placement, rule_word())
            .prop_map(|(f, p, v)| format!("'{f}{p}|neq': {v}")),
        1 => field.clone().prop_map(|f| format!("'{f}': null")),
        1 => (field.clone(), any::<bool>()).prop_map(|(f, b)| format!("'{f}|exists': {b}")),
        1 => (field.clone(), proptest::sample::select(PATTERNS), proptest::sample::select(&["", "|i"][..]))
            .prop_map(|(f, p, i)| format!("'{f}|re{i}': {}", quoted(p))),
        1 => (field, 0u32..3).prop_map(|(f, n)| format!("'{f}|gte': {n}")),
    ]
}

/// A map of entries with distinct keys (a repeated key is a YAML error).
fn map() -> impl Strategy<Value = String> {
    proptest::collection::vec(entry(), 1..4).prop_map(|entries| {
        let mut kept: Vec<String> = Vec::new();
        for entry in entries {
            let key = entry.split(": ").next().unwrap_or_default().to_owned();
            if !kept.iter().any(|k| k.starts_with(&format!("{key}: "))) {
                kept.push(entry);
            }
        }
        format!("{{{}}}", kept.join(", "))
    })
}

/// A selection's definition: a map, a list of maps, or keywords.
fn definition() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => map(),
        2 => proptest::collection::vec(map(), 1..3).prop_map(|m| format!("[{}]", m.join(", "))),
        1 => values(1..3),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        3 => proptest::sample::select(SELECTIONS).prop_map(str::to_owned),
        1 => proptest::sample::select(&["1 of sel_*", "all of filter_*", "1 of them", "all of them", "any of *_a"][..])
            .prop_map(str::to_owned),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} or {b})")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
}

fn rule() -> impl Strategy<Value = String> {
    (proptest::collection::vec(definition(), 4), condition()).prop_map(|(definitions, condition)| {
        let selections: String = SELECTIONS
            .iter()
            .zip(&definitions)
            .map(|(name, definition)| format!("    {name}: {definition}\n"))
            .collect();
        format!(
            "title: Generated\nid: generated\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n{selections}    condition: {condition}\n"
        )
    })
}

fn record_word() -> impl Strategy<Value = serde_json::Value> {
    proptest::sample::select(RECORD_WORDS).prop_map(serde_json::Value::from)
}

fn value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        5 => record_word(),
        1 => (0u32..3).prop_map(serde_json::Value::from),
        1 => Just(serde_json::Value::Null),
        1 => any::<bool>().prop_map(serde_json::Value::Bool),
        1 => proptest::collection::vec(record_word(), 0..3).prop_map(serde_json::Value::from),
        1 => (record_word(), proptest::collection::vec(record_word(), 0..2))
            .prop_map(|(s, other)| serde_json::json!({"sourceType": s, "other": other})),
    ]
}

fn record() -> impl Strategy<Value = String> {
    proptest::collection::vec((proptest::sample::select(FIELDS), value()), 0..6).prop_map(|pairs| {
        let mut root = serde_json::Map::new();
        for (field, value) in pairs {
            match field.split_once('.') {
                Some((outer, inner)) => {
                    let entry = root
                        .entry(outer.to_owned())
                        .or_insert_with(|| serde_json::json!({}));
                    match entry {
                        serde_json::Value::Object(object) => {
                            object.insert(inner.to_owned(), value);
                        }
                        other => *other = serde_json::json!([other.clone(), {inner: value}]),
                    }
                }
                None => {
                    root.insert(field.to_owned(), value);
                }
            }
        }
        serde_json::Value::Object(root).to_string()
    })
}

fn detector(rule: &str, optimise: bool) -> Detector {
    Detector::builder()
        .builtin(false)
        .optimise(optimise)
        .source(RuleSource::new("generated.yml", rule))
        .build()
        .unwrap_or_else(|e| panic!("{e}\n{rule}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn generated_rules_decide_alike_as_written_optimised_fast_and_exhaustive(
        rule in rule(),
        records in proptest::collection::vec(record(), 1..6),
    ) {
        let written = detector(&rule, false);
        let optimised = detector(&rule, true);
        let condition = written.rules()[0].condition();
        let rewritten = optimise(condition.clone());
        let (mut fast, mut slow, mut plain) = (Scratch::default(), Scratch::default(), Scratch::default());
        for record in &records {
            let doc = Json::parse(record.as_bytes()).unwrap();
            prop_assert_eq!(
                condition.matches(&doc), rewritten.matches(&doc),
                "{}\non {}\noptimised: {:?}", rule, record, rewritten
            );
            optimised.detect(record.as_bytes(), &Options::default(), &mut fast);
            optimised.detect_exhaustively(record.as_bytes(), &Options::default(), &mut slow);
            written.detect(record.as_bytes(), &Options::default(), &mut plain);
            prop_assert_eq!(fast.matched(), slow.matched(), "fast path: {}\non {}", rule, record);
            prop_assert_eq!(fast.matched(), plain.matched(), "as written: {}\non {}", rule, record);
        }
    }
}

#[test]
fn the_generator_makes_rules_that_match_some_records_and_not_others() {
    // Otherwise the property above would hold vacuously.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut matched, mut pairs) = (0usize, 0usize);
    let mut scratch = Scratch::default();
    for _ in 0..300 {
        let rule = rule().new_tree(&mut runner).unwrap().current();
        let detector = detector(&rule, true);
        for _ in 0..5 {
            let record = record().new_tree(&mut runner).unwrap().current();
            detector.detect_exhaustively(record.as_bytes(), &Options::default(), &mut scratch);
            matched += usize::from(!scratch.matched().is_empty());
            pairs += 1;
        }
    }
    let share = matched as f64 / pairs as f64;
    assert!(
        (0.1..0.9).contains(&share),
        "{matched} of {pairs} pairs match"
    );
}
