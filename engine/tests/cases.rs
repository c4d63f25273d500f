//! The shared labelled data through the native engine. (The same data goes through the wasm
//! module in `host/tests/cli.rs` and through every build in `tests/tests/conformance.rs`.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use trailtag_conformance as data;
use trailtag_engine::{Detector, Options, Scratch, Verdict};

fn tagged_ids(detector: &Detector, record: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    match detector.tag_record(
        record,
        &Options::default(),
        &mut Scratch::default(),
        &mut out,
    ) {
        Verdict::Tagged => data::detection_ids(&out),
        _ => Vec::new(),
    }
}

#[test]
fn every_labelled_case_yields_exactly_its_expected_detections() {
    let detector = Detector::builtin().unwrap();
    let cases = data::cases();
    assert_eq!(cases.len(), 100);
    let wrong: Vec<_> = cases
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.expect.clone(),
                tagged_ids(&detector, c.record.as_bytes()),
            )
        })
        .filter(|(_, expected, got)| expected != got)
        .collect();
    assert!(
        wrong.is_empty(),
        "cases with other detections than expected: {wrong:#?}"
    );
}

#[test]
fn the_ambiguous_cases_follow_our_decisions() {
    let detector = Detector::builtin().unwrap();
    let cases = data::ambiguous_cases();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let expected = data::decided_expectation(&case);
        assert_eq!(
            tagged_ids(&detector, case.record.as_bytes()),
            expected,
            "{}",
            case.id
        );
    }
}

#[test]
fn the_corpus_gets_the_documented_counts_and_untagged_lines_stay_identical() {
    let detector = Detector::builtin().unwrap();
    let input = data::corpus_ndjson();
    let mut out = Vec::new();
    let report = detector.transform_ndjson(
        &input,
        &Options::default(),
        &mut Scratch::default(),
        &mut out,
    );
    assert_eq!(report.counts.records_in, 3027);
    assert_eq!(report.counts.records_out, 3027);
    assert_eq!(report.counts.unreadable, 0);
    let counts: Vec<(&str, u64)> = detector
        .rules()
        .iter()
        .map(|r| r.id())
        .zip(report.counts.per_rule.iter().copied())
        .collect();
    assert_eq!(counts, data::CORPUS_EXPECTED_COUNTS);
    let (mut same, mut tagged) = (0, 0);
    for (line_in, line_out) in trailtag_engine::lines(&input).zip(trailtag_engine::lines(&out)) {
        if data::detection_ids(line_out).is_empty() {
            assert_eq!(line_in, line_out);
            same += 1;
        } else {
            tagged += 1;
        }
    }
    assert_eq!(
        (same, tagged),
        (3027 - report.counts.tagged, report.counts.tagged)
    );
}
