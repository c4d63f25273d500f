//! The built-in rules test themselves: every rule carries evidence both ways, and the detector
//! (fast path and exhaustive evaluation) agrees with every example.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use trailtag_engine::{Detector, Options, Scratch, Severity, Verdict};

fn detector() -> Detector {
    Detector::builtin().expect("the built-in rules load")
}

#[test]
fn every_rule_carries_match_and_no_match_examples() {
    for rule in detector().rules() {
        let matching = rule.examples().iter().filter(|e| e.matches).count();
        let not_matching = rule.examples().len() - matching;
        assert!(matching >= 1, "{} has no matching example", rule.id());
        assert!(
            not_matching >= 1,
            "{} has no non-matching example",
            rule.id()
        );
    }
}

#[test]
fn every_example_gives_its_verdict_on_the_fast_path() {
    let failures = detector().check_examples();
    assert!(
        failures.is_empty(),
        "examples that disagree with their rule: {failures:#?}"
    );
}

#[test]
fn every_example_gives_its_verdict_on_the_exhaustive_path() {
    let detector = detector();
    let mut scratch = Scratch::default();
    for (index, rule) in detector.rules().iter().enumerate() {
        for example in rule.examples() {
            let verdict = detector.tag_record_exhaustively(
                example.record.as_bytes(),
                &mut scratch,
                &mut Vec::new(),
            );
            let matched = verdict == Verdict::Tagged && scratch.matched().contains(&(index as u32));
            assert_eq!(matched, example.matches, "{} / {}", rule.id(), example.name);
        }
    }
}

#[test]
fn a_broken_example_is_reported_with_its_line() {
    let text = r#"
[rule]
id = "always_wrong"
name = "n"
description = "d"
severity = "low"
risk_score = 1
query = 'eventName == "A"'

[[example]]
name = "claims a match it is not"
matches = true
record = '''{"eventName":"B"}'''
"#;
    let detector = Detector::builder()
        .builtin(false)
        .source(trailtag_engine::RuleSource::new("always_wrong.toml", text))
        .build()
        .unwrap();
    let failures = detector.check_examples();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].example.line, 13);
    assert_eq!(failures[0].verdict, Verdict::Skipped);
}

/// The founding set as the brief and `../shared/spec/rules-and-fields.md` define it.
#[test]
fn founding_rules_have_the_documented_metadata() {
    let detector = detector();
    let expected = [
        (
            "iam_group_created",
            Severity::Low,
            21,
            vec!["TA0003"],
            vec!["T1136.003"],
        ),
        (
            "iam_group_deleted",
            Severity::Low,
            21,
            vec!["TA0040"],
            vec![],
        ),
        (
            "roles_anywhere_activity",
            Severity::Informational,
            0,
            vec![],
            vec![],
        ),
        (
            "roles_anywhere_profile_created",
            Severity::Low,
            21,
            vec!["TA0003", "TA0004"],
            vec!["T1098.003", "T1098.003"],
        ),
        (
            "roles_anywhere_trust_anchor_external_ca",
            Severity::Medium,
            47,
            vec!["TA0003"],
            vec!["T1098.003"],
        ),
    ];
    let ids: Vec<&str> = detector.rules().iter().map(|r| r.id()).collect();
    assert_eq!(ids, expected.iter().map(|e| e.0).collect::<Vec<_>>());
    for (rule, (id, severity, risk, tactics, subtechniques)) in
        detector.rules().iter().zip(expected)
    {
        let meta = rule.meta();
        assert_eq!((meta.severity, meta.risk_score), (severity, risk), "{id}");
        let found_tactics: Vec<&str> = meta.threat.iter().map(|t| t.tactic.id.as_str()).collect();
        assert_eq!(found_tactics, tactics, "{id}");
        let found_subs: Vec<&str> = meta
            .threat
            .iter()
            .flat_map(|t| &t.technique)
            .flat_map(|t| &t.subtechnique)
            .map(|s| s.id.as_str())
            .collect();
        assert_eq!(found_subs, subtechniques, "{id}");
        assert!(
            !meta.references.is_empty() && !meta.name.is_empty() && !meta.description.is_empty(),
            "{id}"
        );
    }
    let anchor = &detector.rules()[4].meta().threat[0].technique;
    assert_eq!(
        anchor.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(),
        ["T1098", "T1556"]
    );
}

#[test]
fn the_trust_anchor_context_says_unknown_when_no_source_type_is_recorded() {
    let detector = detector();
    let record = br#"{"eventSource":"rolesanywhere.amazonaws.com","eventName":"CreateTrustAnchor","requestParameters":{"name":"x","source":{}}}"#;
    let mut out = Vec::new();
    let verdict = detector.tag_record(
        record,
        &Options::default(),
        &mut Scratch::default(),
        &mut out,
    );
    assert_eq!(verdict, Verdict::Tagged);
    let tagged: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(tagged["trailtag"]["context"]["source_type"], "unknown");
    assert_eq!(tagged["trailtag"]["context"]["trust_anchor_name"], "x");
    assert_eq!(tagged["trailtag"]["severity"], "medium");
    assert_eq!(tagged["trailtag"]["risk_score"], 47);
}
