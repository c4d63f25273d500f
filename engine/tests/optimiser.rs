//! Rules are tested as written and after optimising: the optimiser may only rewrite a condition
//! into an equivalent one, and the pins derived from the optimised form must never cost a match.
//!
//! Queries are generated from the whole language (equality, sets, `in~`, wildcards, substrings,
//! regexes, `null`, numbers, nested `and`/`or`/`not`), over a few fields, some nested; records
//! give those fields values of every type and case (the Kelvin sign and long s included, which
//! fold to ASCII letters), arrays, nulls, or leave them out. For each pair:
//! - the condition as written and optimised decide the record alike;
//! - a detector holding the rule decides it alike on the fast path (scan, pins) and exhaustively.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use proptest::prelude::*;
use trailtag_engine::ir::optimise::optimise;
use trailtag_engine::json::Json;
use trailtag_engine::query::{lower, parse};
use trailtag_engine::{Detector, Options, RuleSource, Scratch, Verdict};

const FIELDS: &[&str] = &[
    "eventName",
    "eventSource",
    "userAgent",
    "requestParameters.sourceType",
    "n",
];
const WORDS: &[&str] = &[
    "CreateKey",
    "createkey",
    "Create\u{212A}ey",
    "DeleteUser",
    "delete\u{17F}ser",
    "aws-cli/2.0",
    "Boto3/1.2",
    "",
];

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(WORDS).prop_map(|w| format!("{w:?}")),
        (0u32..3).prop_map(|n| n.to_string()),
        Just("null".to_owned()),
        Just("true".to_owned()),
    ]
}

fn word() -> impl Strategy<Value = String> {
    proptest::sample::select(WORDS).prop_map(str::to_owned)
}

fn clause() -> impl Strategy<Value = String> {
    let field = proptest::sample::select(FIELDS);
    prop_oneof![
        (field.clone(), literal()).prop_map(|(f, v)| format!("{f} == {v}")),
        (field.clone(), literal()).prop_map(|(f, v)| format!("{f} != {v}")),
        (field.clone(), proptest::collection::vec(literal(), 1..4))
            .prop_map(|(f, v)| format!("{f} in ({})", v.join(", "))),
        (field.clone(), proptest::collection::vec(word(), 1..4)).prop_map(|(f, v)| {
            let quoted: Vec<String> = v.iter().map(|w| format!("{w:?}")).collect();
            format!("{f} in~ ({})", quoted.join(", "))
        }),
        (field.clone(), word(), 0usize..4).prop_map(|(f, w, shape)| {
            let pattern = match shape {
                0 => w,
                1 => format!("*{w}*"),
                2 => format!("{w}*"),
                _ => format!("*{}?", w.chars().skip(1).collect::<String>()),
            };
            format!("{f} : {pattern:?}")
        }),
        (field.clone(), word()).prop_map(|(f, w)| format!("startsWith~({f}, {w:?})")),
        (field.clone(), word()).prop_map(|(f, w)| format!("stringContains({f}, {w:?})")),
        (field.clone(), 0u32..3).prop_map(|(f, n)| format!("{f} >= {n}")),
        field.prop_map(|f| format!("{f} regex~ \"(create|delete).*\"")),
    ]
}

fn query() -> impl Strategy<Value = String> {
    clause().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4)
                .prop_map(|t| format!("({})", t.join(" and "))),
            proptest::collection::vec(inner.clone(), 2..4)
                .prop_map(|t| format!("({})", t.join(" or "))),
            inner.prop_map(|t| format!("not {t}")),
        ]
    })
}

fn value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        4 => word().prop_map(serde_json::Value::from),
        1 => (0u32..3).prop_map(serde_json::Value::from),
        1 => Just(serde_json::Value::Null),
        1 => Just(serde_json::Value::Bool(true)),
        1 => proptest::collection::vec(word().prop_map(serde_json::Value::from), 0..3)
            .prop_map(serde_json::Value::from),
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
                    if let Some(object) = entry.as_object_mut() {
                        object.insert(inner.to_owned(), value);
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

fn detector(query: &str) -> Detector {
    let text = format!(
        "[rule]\nid = \"generated\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"low\"\nrisk_score = 1\nquery = '''\n{query}\n'''\n"
    );
    Detector::builder()
        .builtin(false)
        .source(RuleSource::new("generated.toml", text))
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn optimised_conditions_decide_as_written(query in query(), records in proptest::collection::vec(record(), 1..6)) {
        let written = lower(&parse(&query).unwrap()).unwrap();
        let optimised = optimise(written.clone());
        for record in &records {
            let doc = Json::parse(record.as_bytes()).unwrap();
            prop_assert_eq!(written.matches(&doc), optimised.matches(&doc), "{} on {}\noptimised: {:?}", query, record, optimised);
        }
    }

    #[test]
    fn pins_of_optimised_rules_never_cost_a_match(query in query(), records in proptest::collection::vec(record(), 1..6)) {
        let detector = detector(&query);
        let (mut fast, mut slow) = (Scratch::default(), Scratch::default());
        for record in &records {
            let quick = detector.detect(record.as_bytes(), &Options::default(), &mut fast);
            let reference = detector.detect_exhaustively(record.as_bytes(), &Options::default(), &mut slow);
            let kind = |v: &Verdict| matches!(v, Verdict::Tagged);
            prop_assert_eq!(kind(&quick), kind(&reference), "{} on {}", query, record);
            prop_assert_eq!(fast.matched(), slow.matched());
        }
    }
}

#[test]
fn every_built_in_rule_s_examples_hold_as_written_and_optimised() {
    for optimise in [false, true] {
        let detector = Detector::builder().optimise(optimise).build().unwrap();
        let failures = detector.check_examples();
        assert!(failures.is_empty(), "optimise {optimise}: {failures:#?}");
    }
}

#[test]
fn the_labelled_cases_decide_alike_as_written_and_optimised() {
    let written = Detector::builder().optimise(false).build().unwrap();
    let optimised = Detector::builtin().unwrap();
    let (mut a, mut b) = (Scratch::default(), Scratch::default());
    for case in trailtag_conformance::cases() {
        let record = case.record.as_bytes();
        written.detect(record, &Options::default(), &mut a);
        optimised.detect(record, &Options::default(), &mut b);
        assert_eq!(a.matched(), b.matched(), "{}", case.id);
    }
}
