//! Every tag format, exact bytes, blessed: labelled cases from the shared fixtures (and a few
//! records that already carry members a format writes) tagged by the built-in rules and a
//! SigmaHQ rule, compared with `engine/tests/golden/tag-format-<format>.ndjson`.
//!
//! ```text
//! TRAILTAG_BLESS=1 cargo test -p trailtag-engine --test tag_formats
//! ```
//!
//! rewrites the golden files; review the diff. A mismatch fails with the records that differ,
//! pretty-printed, line by line. Beside the golden files, properties every format must keep:
//! records that match nothing leave byte for byte (unless they carry a member the format owns,
//! which is removed), and tagging twice gives the bytes of tagging once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use trailtag_engine::output::{TagFormat, TagWriter};
use trailtag_engine::{BatchReport, Detector, Options, RuleSource, Scratch};

/// Labelled cases: matches of one and two built-in rules, of the Sigma rule, and records that
/// match nothing.
const CASES: &[&str] = &[
    "real-invictus-ra-CreateTrustAnchor",
    "real-elastic-CreateGroup-console-success",
    "syn-iam-DeleteGroup-assumed-role",
    "real-invictus-console-signin",
    "syn-ra-CreateProfile-unicode",
    "real-invictus-CreateUser",
    "real-elastic-consolelogin-failure-no-errorCode",
];

/// The SigmaHQ rule loaded beside the built-in ones (it matches `real-invictus-console-signin`).
const SIGMA_RULE: &str = "aws_cloudtrail_console_login_success_without_mfa.yml";

/// Records that already carry members the formats write: a shipper's `event` and `tags` and
/// forged claims (`trailtag`, `rule`, `threat`, `detection_findings`), on a match and not.
const CARRIERS: &[&str] = &[
    r#"{"eventTime":"2024-05-01T12:34:56Z","eventSource":"iam.amazonaws.com","eventName":"CreateGroup","awsRegion":"eu-west-1","sourceIPAddress":"cloudformation.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/ops/x","accountId":"111122223333"},"requestParameters":{"groupName":"ops"},"eventID":"e-1","event":{"kind":"event","dataset":"aws.cloudtrail","severity":1},"tags":["forwarded","trailtag:forged"],"rule":{"id":"forged"},"cloud":{"provider":"aws","region":"producer-region"},"message":"the producer's message"}"#,
    r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","rule":{"id":"forged"},"threat":{"framework":"forged"},"detection_findings":[{"forged":true}],"trailtag":{"forged":true},"tags":["trailtag"]}"#,
];

fn records() -> Vec<String> {
    let cases = trailtag_conformance::cases();
    let mut records: Vec<String> = CASES
        .iter()
        .map(|id| {
            let case = cases.iter().find(|c| c.id == *id);
            case.unwrap_or_else(|| panic!("no case {id}"))
                .record
                .clone()
        })
        .collect();
    records.extend(CARRIERS.iter().map(|r| (*r).to_owned()));
    records
}

fn detector(format: TagFormat) -> Detector {
    let path = trailtag_conformance::shared_dir()
        .join("rules/sigma-aws")
        .join(SIGMA_RULE);
    Detector::builder()
        .tag_keys(format.owned_keys())
        .source(RuleSource::new(
            SIGMA_RULE,
            fs::read_to_string(path).unwrap(),
        ))
        .build()
        .unwrap()
}

fn tag(detector: &Detector, writer: &dyn TagWriter, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    detector.transform_ndjson_into(
        writer,
        input,
        &Options::default(),
        &mut Scratch::default(),
        &mut out,
        &mut BatchReport::default(),
    );
    out
}

fn golden_path(format: TagFormat) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("tag-format-{}.ndjson", format.name()))
}

/// Compares `actual` with the golden file, or rewrites it when blessing.
fn check_golden(format: TagFormat, actual: &str) {
    let path = golden_path(format);
    if std::env::var_os("TRAILTAG_BLESS").is_some_and(|v| v == "1") {
        fs::write(&path, actual).unwrap();
        return;
    }
    let golden = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); bless it with TRAILTAG_BLESS=1",
            path.display()
        )
    });
    if golden != actual {
        panic!(
            "the {format} output differs from {}:\n{}\nIf the change is intended, bless it with TRAILTAG_BLESS=1 and review the diff.",
            path.display(),
            record_diff(&golden, actual)
        );
    }
}

/// The records that differ, each pretty-printed and diffed line by line (`-` golden, `+` now).
fn record_diff(golden: &str, actual: &str) -> String {
    let (golden, actual): (Vec<&str>, Vec<&str>) =
        (golden.lines().collect(), actual.lines().collect());
    let mut report = String::new();
    if golden.len() != actual.len() {
        let _ = writeln!(
            report,
            "{} records in the golden file, {} now",
            golden.len(),
            actual.len()
        );
    }
    for i in 0..golden.len().max(actual.len()) {
        let (g, a) = (
            golden.get(i).copied().unwrap_or(""),
            actual.get(i).copied().unwrap_or(""),
        );
        if g != a {
            let _ = writeln!(report, "record {} (line {}):", i, i + 1);
            report.push_str(&line_diff(&pretty(g), &pretty(a)));
        }
    }
    report
}

fn pretty(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| line.to_owned())
}

/// A longest-common-subsequence diff of two texts' lines.
fn line_diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "  - {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "  + {}", b[j]);
            j += 1;
        }
    }
    out
}

fn input() -> String {
    records().iter().map(|r| format!("{r}\n")).collect()
}

fn golden_test(format: TagFormat) {
    let detector = detector(format);
    let writer = format.writer(detector.rules());
    let output = String::from_utf8(tag(&detector, &writer, input().as_bytes())).unwrap();
    check_golden(format, &output);
}

#[test]
fn the_trailtag_format_writes_exactly_as_blessed() {
    golden_test(TagFormat::Trailtag);
}

#[test]
fn the_ecs_format_writes_exactly_as_blessed() {
    golden_test(TagFormat::Ecs);
}

#[test]
fn the_ocsf_format_writes_exactly_as_blessed() {
    golden_test(TagFormat::Ocsf);
}

#[test]
fn the_diff_of_a_mismatch_names_the_record_and_the_changed_lines() {
    let diff = record_diff("{\"a\":1,\"b\":2}\n{}\n", "{\"a\":1,\"b\":3}\n{}\n");
    assert!(diff.contains("record 0 (line 1)"), "{diff}");
    assert!(diff.contains("  -   \"b\": 2\n  +   \"b\": 3"), "{diff}");
    assert!(
        !diff.contains("\"a\"") && !diff.contains("record 1"),
        "only what changed: {diff}"
    );
}

#[test]
fn every_format_leaves_records_that_match_nothing_untouched() {
    let untouched: Vec<String> = trailtag_conformance::cases()
        .into_iter()
        .filter(|c| c.expect.is_empty())
        .map(|c| c.record)
        .collect();
    for format in TagFormat::ALL {
        let detector = detector(format);
        let writer = format.writer(detector.rules());
        for record in &untouched {
            let mut scratch = Scratch::default();
            detector.detect(record.as_bytes(), &Options::default(), &mut scratch);
            if scratch.matched().is_empty() {
                let out = tag(&detector, &writer, record.as_bytes());
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    format!("{record}\n"),
                    "{format}"
                );
            }
        }
    }
}

#[test]
fn every_format_removes_the_members_it_owns_from_records_that_match_nothing() {
    let forged = CARRIERS[1];
    for format in TagFormat::ALL {
        let detector = detector(format);
        let out = tag(
            &detector,
            &format.writer(detector.rules()),
            forged.as_bytes(),
        );
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        for key in format.owned_keys() {
            assert!(
                value.get(key).is_none(),
                "{format}: {key} survived: {value}"
            );
        }
        assert_eq!(
            value["tags"],
            serde_json::json!(["trailtag"]),
            "{format}: not ours to judge"
        );
    }
}

#[test]
fn every_format_tags_twice_as_it_tags_once() {
    for format in TagFormat::ALL {
        let detector = detector(format);
        let writer = format.writer(detector.rules());
        let once = tag(&detector, &writer, input().as_bytes());
        assert_eq!(tag(&detector, &writer, &once), once, "{format}");
    }
}

#[test]
fn ecs_keeps_the_producers_event_and_tags_and_sets_its_own() {
    let detector = detector(TagFormat::Ecs);
    let out = tag(
        &detector,
        &TagFormat::Ecs.writer(detector.rules()),
        CARRIERS[0].as_bytes(),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["event"]["kind"], "alert");
    assert_eq!(doc["event"]["dataset"], "aws.cloudtrail");
    assert_eq!(doc["event"]["severity"], 21);
    assert_eq!(doc["event"]["action"], "CreateGroup");
    assert_eq!(
        doc["tags"],
        serde_json::json!(["forwarded", "trailtag", "trailtag:iam_group_created"])
    );
    assert_eq!(doc["rule"]["id"], "iam_group_created");
    assert_eq!(
        doc["cloud"]["region"], "producer-region",
        "the producer's value wins"
    );
    assert_eq!(doc["message"], "the producer's message");
    assert_eq!(doc["source"]["address"], "cloudformation.amazonaws.com");
    assert!(
        doc["source"].get("ip").is_none(),
        "a service name is not an IP"
    );
    assert_eq!(doc["@timestamp"], "2024-05-01T12:34:56Z");
}

#[test]
fn ocsf_writes_one_finding_per_matching_rule() {
    let detector = detector(TagFormat::Ocsf);
    let record = &records()[0];
    let out = tag(
        &detector,
        &TagFormat::Ocsf.writer(detector.rules()),
        record.as_bytes(),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let findings = doc["detection_findings"].as_array().unwrap();
    let ids: Vec<&str> = findings
        .iter()
        .map(|f| f["finding_info"]["analytic"]["uid"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "roles_anywhere_activity",
            "roles_anywhere_trust_anchor_external_ca"
        ]
    );
    assert!(
        findings
            .iter()
            .all(|f| f["class_uid"] == 2004 && f["type_uid"] == 200_401)
    );
    assert_eq!(
        findings[0]["time"], 1_688_992_033_000_i64,
        "eventTime 2023-07-10T12:27:13Z"
    );
}
