//! Every ingest path through the CLI: the envelope fixtures as files (pretty-printed, gzip, S3
//! bodies), kept and unwrapped; a trail's prefix as a directory; a pretty JSON array; and the
//! loud summary when nothing looks like CloudTrail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use common::{lines, path, temp_dir, trailtag};
use trailtag_conformance as data;

#[test]
fn every_envelope_fixture_file_gives_its_expectations_wherever_the_record_sits() {
    let expectations = data::envelope_expectations();
    for (file, expectation) in &expectations {
        let expected = data::expected_records(expectation);
        let input = data::envelopes_dir().join(file);
        for unwrap in [false, true] {
            let mut args = vec!["tag", "--summary", "json", path(&input)];
            if unwrap {
                args.push("--unwrap");
            }
            let run = trailtag(&args, b"");
            assert_eq!(run.code, 0, "{file}: {}", run.stderr);
            assert_eq!(
                data::records_in_output(&run.stdout),
                expected,
                "{file}, unwrap {unwrap}"
            );
            let summary = run.summary();
            assert_eq!(summary["cloudtrail_events"], expected.len(), "{file}");
            assert_eq!(summary["unreadable"], 0, "{file}");
            assert_eq!(summary["unreadable_inside"], 0, "{file}");
            for line in lines(&run.stdout) {
                serde_json::from_slice::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("{file}: an output line is not JSON: {e}"));
            }
        }
    }
}

#[test]
fn an_eventbridge_event_keeps_its_shape_with_the_tag_inside_detail() {
    let input = data::envelopes_dir().join("eventbridge_iam_CreateGroup.json");
    let run = trailtag(&["tag", "--summary", "json", path(&input)], b"");
    let out: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let original: serde_json::Value = serde_json::from_slice(&data::read(&input)).unwrap();
    assert_eq!(out["detail-type"], original["detail-type"]);
    assert_eq!(
        out["detail"]["trailtag"]["detections"][0]["id"],
        "iam_group_created"
    );
    let mut untagged = out.clone();
    untagged["detail"]
        .as_object_mut()
        .unwrap()
        .remove("trailtag");
    assert_eq!(untagged, original, "only the tag is added");
    assert_eq!(run.summary()["envelopes"]["eventbridge"], 1);
}

#[test]
fn a_trail_prefix_is_walked_in_order_with_gzip_and_plain_files_mixed() {
    let dir = temp_dir("trail-prefix");
    let day = dir.join("AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10");
    std::fs::create_dir_all(&day).unwrap();
    let envelopes = data::envelopes_dir();
    let original = "s3_original_invictus_218007301253_CloudTrail_us-east-1_20230710T1230Z_04rtp9DpvIpSZzMr.json";
    std::fs::copy(
        envelopes.join(format!("{original}.gz")),
        day.join("b.json.gz"),
    )
    .unwrap();
    std::fs::copy(envelopes.join("s3_records_mixed.json"), day.join("a.json")).unwrap();
    let run = trailtag(&["tag", "--summary", "json", path(&dir)], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let expectations = data::envelope_expectations();
    let mut expected = data::expected_records(&expectations["s3_records_mixed.json"]);
    expected.extend(data::expected_records(&expectations[original]));
    assert_eq!(
        data::records_in_output(&run.stdout),
        expected,
        "a.json, then b.json.gz"
    );
    assert_eq!(run.summary()["inputs"], 2);
}

#[test]
fn a_pretty_json_array_of_records_is_read_element_by_element() {
    let cases: Vec<serde_json::Value> = data::cases()
        .iter()
        .filter(|c| !c.expect.is_empty())
        .take(4)
        .map(|c| serde_json::from_str(&c.record).unwrap())
        .collect();
    let expected: Vec<Vec<String>> = data::cases()
        .iter()
        .filter(|c| !c.expect.is_empty())
        .take(4)
        .map(|c| c.expect.clone())
        .collect();
    let pretty = serde_json::to_string_pretty(&cases).unwrap();
    let run = trailtag(&["tag", "--summary", "json"], pretty.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(lines(&run.stdout).len(), 4, "one record per line");
    assert_eq!(data::records_in_output(&run.stdout), expected);
}

#[test]
fn nothing_that_looks_like_cloudtrail_is_said_loudly() {
    let digest = data::envelopes_dir().join("s3_cloudtrail_digest.json");
    let run = trailtag(&["tag", path(&digest)], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("WARNING: nothing in the input looks like a CloudTrail record"),
        "{}",
        run.stderr
    );
    let json = trailtag(&["tag", "--summary", "json", path(&digest)], b"");
    let warnings = json.summary()["warnings"].as_array().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let real = trailtag(
        &[
            "tag",
            path(&data::envelopes_dir().join("s3_records_mixed.json")),
        ],
        b"",
    );
    assert!(!real.stderr.contains("WARNING"), "{}", real.stderr);
}

#[test]
fn an_envelope_that_cannot_be_opened_is_reported_and_the_others_still_tagged() {
    let good = data::cases()
        .into_iter()
        .find(|c| c.expect == ["iam_group_created"])
        .unwrap();
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(&good.record);
    let input = format!(
        r#"{{"invocationId":"i","records":[{{"recordId":"1","data":"not base64!"}},{{"recordId":"2","data":"{data}"}}]}}"#
    );
    let run = trailtag(&["tag", "--summary", "json"], input.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        data::records_in_output(&run.stdout),
        [vec!["iam_group_created".to_owned()]]
    );
    let summary = run.summary();
    assert_eq!(summary["unreadable_inside"], 1);
    assert_eq!(summary["tagged"], 1);
    assert!(run.stderr.contains("base64"), "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(out["records"][0]["data"], "not base64!", "left as it was");
}

#[test]
fn unwrap_is_refused_with_the_fluent_bit_abi() {
    let run = trailtag(&["tag", "--abi", "fluent-bit", "--unwrap"], b"{}\n");
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--unwrap"), "{}", run.stderr);
}

#[test]
fn input_shape_forces_a_shape_and_refuses_an_unknown_one() {
    let group = data::cases()
        .into_iter()
        .find(|c| c.expect == ["iam_group_created"])
        .unwrap()
        .record;
    let line = format!("{{\"detail\":{group}}}\n");
    let run = trailtag(&["tag", "--input-shape", "eventbridge"], line.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        data::records_in_output(&run.stdout),
        [vec!["iam_group_created".to_owned()]]
    );
    let bad = trailtag(&["tag", "--input-shape", "nonsense"], line.as_bytes());
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("eventbridge"), "{}", bad.stderr);
}
