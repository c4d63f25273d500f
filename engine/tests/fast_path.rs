//! The fast path is exact: for every input, [`Detector::tag_record`] (cheap scan, parse only
//! candidates, splice) writes the same bytes and reports the same rules as
//! [`Detector::tag_record_exhaustively`] (parse everything, evaluate every rule).
//!
//! Inputs: CloudTrail-like records generated with every disguise JSON allows (`\uXXXX` escapes in
//! keys and values, `\/`, whitespace, any key order, duplicate keys, decoys nested elsewhere,
//! wrong types, an existing `trailtag` member), the real corpus, mutations of real records, and
//! arbitrary bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use proptest::prelude::*;
use trailtag_conformance as data;
use trailtag_engine::output::fluent_bit::as_fluent_bit_writes_it;
use trailtag_engine::{Detector, Options, Scratch, Verdict};

fn detector() -> &'static Detector {
    static DETECTOR: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
    DETECTOR.get_or_init(|| Detector::builtin().expect("built-in rules"))
}

/// Rules whose pins are `contains` pins: substrings (sensitive and not), prefixes, suffixes,
/// wildcards and the literal a regular expression requires, on the keys the generator writes.
const SUBSTRING_RULES: &[(&str, &str)] = &[
    ("contains_group", r#"stringContains(eventName, "Group")"#),
    (
        "contains_anywhere_folded",
        r#"stringContains~(eventSource, "ROLESANY")"#,
    ),
    (
        "prefix_create",
        r#"startsWith(eventName, "Create") and (errorCode == null or errorCode == "")"#,
    ),
    (
        "suffix_folded",
        r#"endsWith~(requestParameters.source.sourceType, "_pca")"#,
    ),
    ("wildcard_trust", r#"eventName : "*trust*anchor*""#),
    (
        "regex_literal",
        r#"eventName regex "^(Create|Delete)Group$""#,
    ),
    (
        "regex_required",
        r#"eventSource regex ".+[.]amazonaws[.]com" and not eventName == "CreateGroup""#,
    ),
];

fn substring_detector() -> &'static Detector {
    static DETECTOR: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
    DETECTOR.get_or_init(|| {
        let sources = SUBSTRING_RULES.iter().map(|(id, query)| {
            trailtag_engine::RuleSource::new(
                format!("{id}.toml"),
                format!(
                    "[rule]\nid = \"{id}\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"low\"\nrisk_score = 21\nquery = '''{query}'''\n"
                ),
            )
        });
        Detector::builder()
            .sources(sources)
            .build()
            .expect("substring rules")
    })
}

#[test]
fn substring_rules_are_pinned_by_what_they_contain() {
    for rule in substring_detector().rules() {
        let need = trailtag_engine::ir::pins::Need::of(rule.condition());
        let clause = need
            .best_clause()
            .unwrap_or_else(|| panic!("{} is not pinned", rule.id()));
        let builtin = detector().rules().iter().any(|r| r.id() == rule.id());
        assert!(
            builtin || clause.iter().all(|p| p.contains),
            "{}: {clause:?}",
            rule.id()
        );
    }
}

fn detectors() -> [&'static Detector; 2] {
    [detector(), substring_detector()]
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    NoMatch,
    Tagged(Vec<u32>),
    Unreadable,
}

fn decide(detector: &Detector, record: &[u8], exhaustive: bool, validate: bool) -> (Vec<u8>, Kind) {
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    let verdict = if exhaustive {
        detector.tag_record_exhaustively(record, &mut scratch, &mut out)
    } else {
        detector.tag_record(
            record,
            &Options {
                only_matches: false,
                validate,
                ..Options::default()
            },
            &mut scratch,
            &mut out,
        )
    };
    let kind = match verdict {
        Verdict::Tagged => Kind::Tagged(scratch.matched().to_vec()),
        Verdict::Skipped | Verdict::NoMatch => Kind::NoMatch,
        Verdict::Unreadable(_) => Kind::Unreadable,
    };
    if kind != Kind::Tagged(scratch.matched().to_vec()) {
        out = record.to_vec();
    }
    (out, kind)
}

/// The property. Without `validate`, the fast path may pass a malformed non-candidate through
/// without calling it unreadable; its output bytes must still be the same.
fn assert_fast_path_is_exact(record: &[u8]) {
    for detector in detectors() {
        assert_exact_with(detector, record);
    }
}

fn assert_exact_with(detector: &Detector, record: &[u8]) {
    let (reference_out, reference) = decide(detector, record, true, false);
    let (validated_out, validated) = decide(detector, record, false, true);
    assert_eq!(
        validated,
        reference,
        "validated fast path vs exhaustive on {:?}",
        String::from_utf8_lossy(record)
    );
    assert_eq!(validated_out, reference_out);
    let (fast_out, fast) = decide(detector, record, false, false);
    assert_eq!(
        fast_out,
        reference_out,
        "fast path vs exhaustive on {:?}",
        String::from_utf8_lossy(record)
    );
    match reference {
        Kind::Unreadable => assert!(matches!(fast, Kind::Unreadable | Kind::NoMatch)),
        _ => assert_eq!(fast, reference),
    }
}

// ---- under Fluent Bit's ABI: the skip scan --------------------------------------------------

/// The property under Fluent Bit's ABI: on a record as Fluent Bit writes it, the skip scan
/// (`Options::encoded_by_fluent_bit`) decides what the exhaustive evaluation decides.
fn assert_skip_scan_is_exact(record: &[u8]) {
    for escape_unicode in [true, false] {
        let Some(written) = as_fluent_bit_writes_it(record, escape_unicode) else {
            return;
        };
        for detector in detectors() {
            let (reference_out, reference) = decide(detector, &written, true, false);
            let mut scratch = Scratch::default();
            let mut out = Vec::new();
            let options = Options {
                encoded_by_fluent_bit: true,
                ..Options::default()
            };
            let verdict = detector.tag_record(&written, &options, &mut scratch, &mut out);
            let kind = match verdict {
                Verdict::Tagged => Kind::Tagged(scratch.matched().to_vec()),
                Verdict::Skipped | Verdict::NoMatch => Kind::NoMatch,
                Verdict::Unreadable(_) => Kind::Unreadable,
            };
            assert_eq!(
                kind,
                reference,
                "skip scan on {:?}",
                String::from_utf8_lossy(&written)
            );
            if kind == Kind::NoMatch {
                // The record leaves as the full path writes it (a foreign tag removed).
                let mut full = Vec::new();
                detector.tag_record(
                    &written,
                    &Options::default(),
                    &mut Scratch::default(),
                    &mut full,
                );
                assert_eq!(out, full, "{:?}", String::from_utf8_lossy(&written));
            } else {
                assert_eq!(out, reference_out);
            }
        }
    }
}

#[test]
fn the_built_in_rules_have_a_skip_scan() {
    assert!(
        detector().skips_for_fluent_bit(),
        "the property below would test nothing"
    );
}

#[test]
fn the_skip_scan_on_every_real_record_as_fluent_bit_writes_it() {
    for record in real_records() {
        assert_skip_scan_is_exact(record);
    }
}

// ---- generators ------------------------------------------------------------------------------

/// Renders `s` as a JSON string, escaping each character in one of the ways JSON allows.
fn json_string(s: &str, escapes: &[u8]) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        let choice = escapes.get(i % escapes.len().max(1)).copied().unwrap_or(0);
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            '/' if choice % 3 == 1 => out.push_str("\\/"),
            c if choice % 7 == 3 && (c as u32) < 0x10000 => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c if choice % 7 == 4 && (c as u32) < 0x10000 => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn text_strategy(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(pool).prop_map(str::to_owned),
        1 => "[a-zA-Z./_ -]{0,12}",
        1 => "[a-zéü日本/_ -]{0,8}",
    ]
}

const SOURCES: &[&str] = &[
    "rolesanywhere.amazonaws.com",
    "iam.amazonaws.com",
    "sts.amazonaws.com",
    "RolesAnywhere.amazonaws.com",
    "profile.amazonaws.com",
    "",
];
const NAMES: &[&str] = &[
    "CreateProfile",
    "CreateTrustAnchor",
    "CreateGroup",
    "DeleteGroup",
    "DeleteGroupPolicy",
    "ListProfiles",
    "createprofile",
    "",
];
const SOURCE_TYPES: &[&str] = &[
    "AWS_ACM_PCA",
    "CERTIFICATE_BUNDLE",
    "SELF_SIGNED_REPOSITORY",
    "aws_acm_pca",
    "",
];
const KEYS: &[&str] = &[
    "eventSource",
    "eventName",
    "errorCode",
    "requestParameters",
    "responseElements",
    "userIdentity",
    "trailtag",
    "additionalEventData",
];

/// A JSON value fragment for `key`, of a plausible or deliberately wrong type.
fn value_for(key: &'static str) -> BoxedStrategy<String> {
    let escapes = proptest::collection::vec(any::<u8>(), 1..6);
    let string_of = move |pool: &'static [&'static str]| {
        (text_strategy(pool), escapes.clone()).prop_map(|(s, e)| json_string(&s, &e))
    };
    let wrong_type = prop_oneof![
        Just("null".to_owned()),
        Just("200".to_owned()),
        Just("true".to_owned()),
        Just("[\"iam.amazonaws.com\"]".to_owned()),
        Just("{}".to_owned())
    ];
    match key {
        "eventSource" => prop_oneof![6 => string_of(SOURCES), 1 => wrong_type].boxed(),
        "eventName" => prop_oneof![6 => string_of(NAMES), 1 => wrong_type].boxed(),
        "errorCode" => prop_oneof![
            Just("null".to_owned()),
            Just("\"\"".to_owned()),
            Just("\"AccessDenied\"".to_owned()),
            Just("200".to_owned())
        ]
        .boxed(),
        "requestParameters" | "responseElements" => {
            let source_type = prop_oneof![string_of(SOURCE_TYPES), Just("null".to_owned())];
            (source_type, any::<u8>())
                .prop_map(move |(st, shape)| match (key, shape % 5) {
                    (_, 0) => "null".to_owned(),
                    ("requestParameters", 1) => r#"{"name":"a","source":{"sourceData":{}}}"#.to_owned(),
                    ("requestParameters", _) => format!(r#"{{"name":"a","roleArns":["x"],"source":{{"sourceType":{st}}},"groupName":"g"}}"#),
                    (_, 1) => "{}".to_owned(),
                    _ => format!(r#"{{"trustAnchor":{{"source":{{"sourceType":{st}}},"trustAnchorArn":"arn"}}}}"#),
                })
                .boxed()
        }
        "additionalEventData" => (string_of(SOURCES), string_of(NAMES))
            .prop_map(|(s, n)| format!(r#"{{"eventSource":{s},"eventName":{n}}}"#))
            .boxed(),
        "trailtag" => {
            prop_oneof![Just(r#"{"version":0}"#.to_owned()), Just("1".to_owned())].boxed()
        }
        _ => Just(r#"{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"}"#.to_owned()).boxed(),
    }
}

fn member() -> impl Strategy<Value = String> {
    proptest::sample::select(KEYS).prop_flat_map(|key| rendered_member(key, value_for(key)))
}

/// A key rendered with random escapes, then `:` with random spacing, then `value`.
fn rendered_member(
    key: &'static str,
    value: impl Strategy<Value = String>,
) -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(any::<u8>(), 1..4),
        "[ \t\r\n]{0,2}",
        value,
    )
        .prop_map(move |(escapes, ws, value)| {
            format!("{}{ws}:{ws}{value}", json_string(key, &escapes))
        })
}

/// eventSource and eventName, usually a pair some rule cares about, each sometimes missing.
fn core_members() -> impl Strategy<Value = Vec<String>> {
    const PAIRS: &[(&str, &str)] = &[
        ("rolesanywhere.amazonaws.com", "CreateProfile"),
        ("rolesanywhere.amazonaws.com", "CreateTrustAnchor"),
        ("iam.amazonaws.com", "CreateGroup"),
        ("iam.amazonaws.com", "DeleteGroup"),
        ("rolesanywhere.amazonaws.com", "ListProfiles"),
    ];
    let escapes = proptest::collection::vec(any::<u8>(), 1..6);
    let pair = prop_oneof![
        3 => (proptest::sample::select(PAIRS), escapes.clone(), escapes.clone())
            .prop_map(|((s, n), es, en)| (json_string(s, &es), json_string(n, &en))),
        1 => (value_for("eventSource"), value_for("eventName")),
    ];
    let error_code = proptest::option::weighted(0.3, value_for("errorCode"));
    (pair, any::<u8>(), error_code).prop_flat_map(|((source, name), presence, error_code)| {
        let mut members: Vec<BoxedStrategy<String>> = Vec::new();
        if presence % 10 != 0 {
            members.push(rendered_member("eventSource", Just(source)).boxed());
        }
        if presence % 10 != 1 {
            members.push(rendered_member("eventName", Just(name)).boxed());
        }
        if let Some(code) = error_code {
            members.push(rendered_member("errorCode", Just(code)).boxed());
        }
        members
    })
}

fn record() -> impl Strategy<Value = String> {
    (
        core_members(),
        proptest::collection::vec(member(), 0..6),
        "[ \n]{0,2}",
    )
        .prop_flat_map(|(core, extra, ws)| {
            let all: Vec<String> = core.into_iter().chain(extra).collect();
            (Just(all).prop_shuffle(), Just(ws))
        })
        .prop_map(|(members, ws)| format!("{ws}{{{ws}{}{ws}}}{ws}", members.join(",")))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn generated_records(record in record()) {
        assert_fast_path_is_exact(record.as_bytes());
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        assert_fast_path_is_exact(&bytes);
    }

    #[test]
    fn mutated_real_records(index in 0usize..3027, at in any::<usize>(), insert in proptest::collection::vec(any::<u8>(), 0..8), cut in 0usize..4) {
        let records = real_records();
        let mut record = records[index % records.len()].clone();
        let at = at % (record.len() + 1);
        let end = (at + cut).min(record.len());
        record.splice(at..end, insert);
        assert_fast_path_is_exact(&record);
    }

    #[test]
    fn skip_scan_on_generated_records(record in record()) {
        assert_skip_scan_is_exact(record.as_bytes());
    }

    #[test]
    fn skip_scan_on_mutated_real_records(index in 0usize..3027, at in any::<usize>(), insert in "[a-zA-Z\"{}:,]{0,6}") {
        let records = real_records();
        let mut record = records[index % records.len()].clone();
        let at = at % (record.len() + 1);
        record.splice(at..at, insert.into_bytes());
        assert_skip_scan_is_exact(&record);
    }

    #[test]
    fn tagging_is_idempotent(record in record()) {
        let (once, kind) = decide(detector(), record.as_bytes(), false, false);
        if matches!(kind, Kind::Tagged(_)) {
            let (twice, _) = decide(detector(), &once, false, false);
            prop_assert_eq!(String::from_utf8_lossy(&twice), String::from_utf8_lossy(&once));
        }
    }
}

fn real_records() -> &'static [Vec<u8>] {
    static RECORDS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    RECORDS.get_or_init(|| {
        let mut records = data::corpus_records();
        records.extend(data::cases().into_iter().map(|c| c.record.into_bytes()));
        records
    })
}

#[test]
fn every_real_record_and_labelled_case() {
    for record in real_records() {
        assert_fast_path_is_exact(record);
    }
}

#[test]
fn disguises_that_must_not_fool_the_scan() {
    let disguised = [
        r#"{"event\u0053ource":"rolesanywhere.amazonaws.com","eventName":"ListProfiles"}"#,
        r#"{"eventSource":"roles\u0061nywhere.amazonaws.com","eventName":"ListProfiles"}"#,
        r#"{"eventSource":"iam.amazonaws.com","eventName":"Create\u0047roup"}"#,
        r#"{"eventSource" :
            "iam.amazonaws.com", "eventName"	:	"DeleteGroup"}"#,
        r#"{"additionalEventData":{"eventName":"CreateGroup"},"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","eventName":"GetGroup"}"#,
        r#"{"eventSource":"iam.amazonaws.com","eventName":"GetGroup","eventName":"CreateGroup"}"#,
    ];
    let expectations: [&[&str]; 6] = [
        &["roles_anywhere_activity"],
        &["roles_anywhere_activity"],
        &["iam_group_created"],
        &["iam_group_deleted"],
        &[],
        &["iam_group_created"],
    ];
    for (record, expected) in disguised.iter().zip(expectations) {
        assert_fast_path_is_exact(record.as_bytes());
        let (out, _) = decide(detector(), record.as_bytes(), false, false);
        assert_eq!(data::detection_ids(&out), expected, "{record}");
    }
}

/// The generator must reach every outcome, or the properties above would prove little.
#[test]
fn the_generator_reaches_every_rule_and_every_disguise() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config::default());
    let strategy = record();
    let rule_count = detector().rules().len();
    let (mut per_rule, mut unreadable, mut escaped_candidates) =
        (vec![0u32; rule_count], 0u32, 0u32);
    let mut per_substring_rule = vec![0u32; substring_detector().rules().len()];
    for _ in 0..3000 {
        let record = strategy.new_tree(&mut runner).unwrap().current();
        if let (_, Kind::Tagged(rules)) =
            decide(substring_detector(), record.as_bytes(), true, false)
        {
            rules
                .iter()
                .for_each(|&r| per_substring_rule[r as usize] += 1);
        }
        let (_, kind) = decide(detector(), record.as_bytes(), true, false);
        match kind {
            Kind::Tagged(rules) => {
                rules.iter().for_each(|&r| per_rule[r as usize] += 1);
                escaped_candidates += u32::from(record.contains("\\u"));
            }
            Kind::Unreadable => unreadable += 1,
            Kind::NoMatch => {}
        }
    }
    eprintln!("coverage: per rule {per_rule:?}, escaped tagged {escaped_candidates}");
    assert!(
        per_rule.iter().all(|&n| n >= 10),
        "rules rarely tagged by generated records: {per_rule:?}"
    );
    assert!(
        per_substring_rule.iter().all(|&n| n >= 10),
        "substring rules rarely tagged by generated records: {per_substring_rule:?}"
    );
    assert!(
        escaped_candidates >= 10,
        "escaped tagged records: {escaped_candidates}"
    );
    assert!(unreadable == 0, "generated records are valid JSON objects");
}
