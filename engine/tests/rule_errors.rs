//! Configuration mistakes surface at load time, all of them, with file, line and rule id.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use trailtag_engine::{Detector, Error, RuleErrorKind, RuleSource};

fn load(files: &[(&str, &str)]) -> Result<Detector, Error> {
    Detector::builder()
        .builtin(false)
        .sources(files.iter().map(|(n, t)| RuleSource::new(*n, *t)))
        .build()
}

fn errors(files: &[(&str, &str)]) -> Vec<trailtag_engine::RuleError> {
    match load(files) {
        Err(Error::Rules(errors)) => errors,
        other => panic!("expected rule errors, got {other:?}"),
    }
}

const HEADER: &str =
    "[rule]\nid = \"r\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"low\"\nrisk_score = 5\n";

#[test]
fn a_query_error_points_at_its_line_and_column_in_the_file() {
    let text = format!("{HEADER}query = '''\neventName == \"A\"\n  and eventSource = \"b\"\n'''\n");
    let errors = errors(&[("bad.toml", &text)]);
    assert_eq!(errors.len(), 1);
    let e = &errors[0];
    assert_eq!(
        (e.file.as_str(), e.line, e.column, e.kind),
        ("bad.toml", 9, 19, RuleErrorKind::Query)
    );
    assert_eq!(e.rule_id.as_deref(), Some("r"));
    assert_eq!(e.to_string(), "bad.toml:9:19: rule r: use `==` to compare");
}

#[test]
fn every_problem_of_every_file_is_reported_at_once() {
    let bad_metadata = "[rule]\nid = \"Bad-Id\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"low\"\nrisk_score = 101\nquery = 'a == 1'\n";
    let unknown_key = format!("{HEADER}query = 'a == 1'\nqeury = 'typo'\n");
    let not_toml = "[rule\n";
    let errors = errors(&[
        ("a.toml", bad_metadata),
        ("b.toml", &unknown_key),
        ("c.toml", not_toml),
        ("d.json", "{}"),
        ("e.yml", "title: x\nid: x\n"),
    ]);
    let summary: Vec<(&str, RuleErrorKind)> =
        errors.iter().map(|e| (e.file.as_str(), e.kind)).collect();
    assert_eq!(
        summary,
        [
            ("a.toml", RuleErrorKind::Metadata),
            ("a.toml", RuleErrorKind::Metadata),
            ("b.toml", RuleErrorKind::Syntax),
            ("c.toml", RuleErrorKind::Syntax),
            ("d.json", RuleErrorKind::Unsupported),
            ("e.yml", RuleErrorKind::Syntax),
            ("e.yml", RuleErrorKind::Syntax),
        ]
    );
    assert!(errors[2].message.contains("qeury"), "{}", errors[2].message);
    assert_eq!(errors[2].line, 8);
}

#[test]
fn duplicate_ids_are_rejected() {
    let text = format!("{HEADER}query = 'a == 1'\n");
    let errors = errors(&[("one.toml", &text), ("two.toml", &text)]);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, RuleErrorKind::DuplicateId);
    assert!(errors[0].message.contains("one.toml"));
}

#[test]
fn threat_ids_must_be_well_formed() {
    let text = format!(
        "{HEADER}query = 'a == 1'\n[[rule.threat]]\nframework = \"MITRE ATT&CK\"\ntactic = {{ id = \"TA3\", name = \"x\", reference = \"y\" }}\n"
    );
    let errors = errors(&[("t.toml", &text)]);
    assert!(
        errors[0].message.contains("TA0000"),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[0].line, 8);
}

#[test]
fn an_unsupported_language_and_a_disabled_rule() {
    let eql = format!("{HEADER}language = \"eql\"\nquery = 'any where true'\n");
    assert_eq!(
        errors(&[("e.toml", &eql)])[0].kind,
        RuleErrorKind::Unsupported
    );
    let disabled = format!("{HEADER}query = 'a == 1'\nenabled = false\n");
    assert!(load(&[("x.toml", &disabled)]).unwrap().rules().is_empty());
    let disabled_but_broken = format!("{HEADER}query = 'a = 1'\nenabled = false\n");
    assert!(load(&[("x.toml", &disabled_but_broken)]).is_err());
}

#[test]
fn a_bad_regex_and_an_ordering_against_null_point_at_their_own_clause() {
    let text = format!(
        "{HEADER}query = '''\neventName == \"A\"\n  and userAgent regex \"(\"\n  or n < null\n'''\n"
    );
    let errors = errors(&[("bad.toml", &text)]);
    let places: Vec<(usize, usize, RuleErrorKind)> =
        errors.iter().map(|e| (e.line, e.column, e.kind)).collect();
    assert_eq!(
        places,
        [(9, 7, RuleErrorKind::Query), (10, 6, RuleErrorKind::Query)],
        "{errors:#?}"
    );
    assert!(
        errors[0].message.contains("invalid pattern"),
        "{}",
        errors[0]
    );
    assert!(errors[1].message.contains("ordered"), "{}", errors[1]);
}

#[test]
fn a_misspelt_context_key_is_named_in_the_authors_words() {
    let text = format!(
        "{HEADER}query = 'a == 1'\n[rule.context]\ngroup = {{ form = [\"requestParameters.groupName\"] }}\n"
    );
    let errors = errors(&[("ctx.toml", &text)]);
    assert_eq!(errors.len(), 1);
    let message = &errors[0].message;
    assert!(message.contains("unknown key `form`"), "{message}");
    assert!(!message.contains("enum"), "no serde jargon: {message}");
    assert_eq!(errors[0].line, 9);
}

/// TOML files are parsed once and then read as Elastic or native rules: a syntax error and a
/// shape error keep the line and column of the byte at fault in either kind of file.
#[test]
fn toml_syntax_and_shape_errors_point_at_their_line_and_column() {
    let unterminated =
        "[metadata]\nmaturity = \"production\"\n\n[rule]\nrule_id = \"abc\nname = \"n\"\n";
    let wrong_type = "[metadata]\nmaturity = \"production\"\n\n[rule]\nrule_id = \"abc\"\nname = \"n\"\nseverity = 3\n";
    let native_wrong_type = format!("{HEADER}query = 7\n");
    let errors = errors(&[
        ("unterminated.toml", unterminated),
        ("wrong-type.toml", wrong_type),
        ("native.toml", &native_wrong_type),
    ]);
    let found: Vec<(&str, usize, usize, RuleErrorKind)> = errors
        .iter()
        .map(|e| (e.file.as_str(), e.line, e.column, e.kind))
        .collect();
    assert_eq!(
        found,
        [
            ("unterminated.toml", 5, 15, RuleErrorKind::Syntax),
            ("wrong-type.toml", 7, 12, RuleErrorKind::Syntax),
            ("native.toml", 7, 9, RuleErrorKind::Syntax),
        ]
    );
}
