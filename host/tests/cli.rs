//! The `trailtag` binary, end to end, on the shared data: everything here goes through the
//! embedded WebAssembly module.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::process::{Command, Stdio};

use common::{Run, lines, path, temp_dir, trailtag};
use trailtag_conformance as data;

fn summary(run: &Run) -> serde_json::Value {
    run.summary()
}

#[test]
fn every_labelled_case_as_one_ndjson_line_yields_exactly_its_detections() {
    let cases = data::cases();
    let input: String = cases.iter().map(|c| format!("{}\n", c.record)).collect();
    let run = trailtag(&["tag", "--summary", "json"], input.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let output = lines(&run.stdout);
    assert_eq!(output.len(), cases.len());
    for (case, line) in cases.iter().zip(output) {
        assert_eq!(data::detection_ids(line), case.expect, "case {}", case.id);
        if case.expect.is_empty() {
            assert_eq!(
                line,
                case.record.as_bytes(),
                "case {} must pass through unchanged",
                case.id
            );
        }
    }
    assert_eq!(summary(&run)["records_in"], 100);
}

#[test]
fn single_records_on_stdin_one_invocation_each() {
    for case in data::cases()
        .iter()
        .filter(|c| c.id.starts_with("real-invictus-ra-Create"))
    {
        let run = trailtag(&["tag"], case.record.as_bytes());
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(data::detection_ids(&run.stdout), case.expect, "{}", case.id);
        assert!(run.stdout.ends_with(b"}\n"));
    }
}

#[test]
fn the_ambiguous_cases_follow_our_decisions_through_the_module() {
    for case in data::ambiguous_cases() {
        let run = trailtag(&["tag"], case.record.as_bytes());
        assert_eq!(
            data::detection_ids(&run.stdout),
            data::decided_expectation(&case),
            "{}",
            case.id
        );
    }
}

#[test]
fn the_corpus_counts_and_untagged_lines_are_byte_identical() {
    let files = data::corpus_files();
    let mut args = vec!["tag", "--summary", "json"];
    args.extend(files.iter().map(|f| path(f)));
    let run = trailtag(&args, b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let s = summary(&run);
    for (id, count) in data::CORPUS_EXPECTED_COUNTS {
        assert_eq!(s["per_rule"][id], count, "{id}");
    }
    assert_eq!(
        (
            s["records_in"].as_u64(),
            s["records_out"].as_u64(),
            s["tagged"].as_u64()
        ),
        (Some(3027), Some(3027), Some(10))
    );
    let input = data::corpus_ndjson();
    let (input, output) = (lines(&input), lines(&run.stdout));
    assert_eq!(input.len(), output.len());
    let changed = input.iter().zip(&output).filter(|(i, o)| i != o).count();
    assert_eq!(changed, 10, "only the tagged records may differ");
    for (i, o) in input.iter().zip(&output).filter(|(i, o)| i != o) {
        assert!(
            o.starts_with(&i[..i.len() - 1]),
            "a tagged record keeps its original bytes as a prefix"
        );
    }
}

#[test]
fn s3_delivery_files_come_out_one_record_per_line_with_the_expected_tags() {
    let expectations = data::envelope_expectations();
    for (file, expected) in &expectations {
        if !file.starts_with("s3_") || file.contains("digest") {
            continue;
        }
        let run = trailtag(&["tag", path(&data::envelopes_dir().join(file))], b"");
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let expected: Vec<Vec<String>> =
            serde_json::from_value(expected["Records"].clone()).expect("expectations");
        let got: Vec<Vec<String>> = lines(&run.stdout)
            .iter()
            .map(|l| data::detection_ids(l))
            .collect();
        assert_eq!(got, expected, "{file}");
        for line in lines(&run.stdout) {
            serde_json::from_slice::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{file}: output line is not JSON: {e}"));
        }
    }
}

#[test]
fn the_real_s3_file_keeps_each_record_byte_for_byte() {
    let file = data::envelopes_dir().join("s3_original_invictus_218007301253_CloudTrail_us-east-1_20230710T1230Z_04rtp9DpvIpSZzMr.json");
    let original: serde_json::Value = serde_json::from_slice(&data::read(&file)).unwrap();
    let run = trailtag(&["tag", path(&file)], b"");
    let output = lines(&run.stdout);
    let records = original["Records"].as_array().unwrap();
    assert_eq!(output.len(), records.len());
    for (line, record) in output.iter().zip(records) {
        let mut parsed: serde_json::Value = serde_json::from_slice(line).unwrap();
        parsed.as_object_mut().unwrap().remove("trailtag");
        assert_eq!(&parsed, record);
    }
}

#[test]
fn a_digest_file_and_an_empty_records_file_pass_without_error() {
    let digest = trailtag(
        &[
            "tag",
            "--summary",
            "json",
            path(&data::envelopes_dir().join("s3_cloudtrail_digest.json")),
        ],
        b"",
    );
    assert_eq!(digest.code, 0, "{}", digest.stderr);
    assert_eq!(
        lines(&digest.stdout).len(),
        1,
        "the digest document is one record"
    );
    assert!(data::detection_ids(&digest.stdout).is_empty());
    let empty = trailtag(
        &[
            "tag",
            "--summary",
            "json",
            path(&data::envelopes_dir().join("s3_records_empty.json")),
        ],
        b"",
    );
    assert_eq!((empty.code, empty.stdout.len()), (0, 0));
    assert_eq!(summary(&empty)["records_in"], 0);
}

#[test]
fn only_matches_and_output_file() {
    let dir = temp_dir("only-matches");
    let out = dir.join("tagged.ndjson");
    let corpus = data::corpus_files();
    let run = trailtag(
        &[
            "tag",
            "--only-matches",
            "-o",
            path(&out),
            "--summary",
            "json",
            path(&corpus[1]),
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    let written = std::fs::read(&out).unwrap();
    assert!(!lines(&written).is_empty());
    assert!(
        lines(&written)
            .iter()
            .all(|l| !data::detection_ids(l).is_empty())
    );
    let s = summary(&run);
    assert_eq!(
        s["records_out"].as_u64().unwrap() + s["filtered"].as_u64().unwrap(),
        s["records_in"].as_u64().unwrap()
    );
}

#[test]
fn bad_lines_pass_through_counted_and_located() {
    let good = &data::cases()[0].record;
    let input = format!(
        "{good}\nnot json\n\n{{\"eventName\":\"CreateGroup\",\"eventSource\":\"iam.amazonaws.com\",}}\n[1,2]\r\n{good}"
    );
    let run = trailtag(&["tag", "--summary", "json"], input.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let output = lines(&run.stdout);
    let input_lines = lines(input.as_bytes());
    assert_eq!(output.len(), input_lines.len());
    assert_eq!(
        &output[1..5],
        &input_lines[1..5],
        "bad and blank lines pass through unchanged"
    );
    let s = summary(&run);
    assert_eq!(
        (
            s["unreadable"].as_u64(),
            s["blank"].as_u64(),
            s["records_in"].as_u64()
        ),
        (Some(3), Some(1), Some(5))
    );
    assert!(
        run.stderr.contains("-:line 2: not a JSON object"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("-:line 4: invalid JSON"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.ends_with(b"\n"),
        "a last line without newline gets one"
    );
}

#[test]
fn a_missing_file_and_a_truncated_gzip_do_not_stop_the_stream() {
    let dir = temp_dir("truncated");
    let full = data::read(&data::envelopes_dir().join("s3_records_mixed.json.gz"));
    let truncated = dir.join("truncated.json.gz");
    std::fs::write(&truncated, &full[..full.len() * 2 / 3]).unwrap();
    let good = data::corpus_files()[1].clone();
    let run = trailtag(
        &[
            "tag",
            "--summary",
            "json",
            "/nonexistent/file.ndjson",
            path(&truncated),
            path(&good),
        ],
        b"",
    );
    assert_eq!(run.code, 2, "partial success exits with 2: {}", run.stderr);
    let s = summary(&run);
    assert_eq!(s["inputs"], 3);
    assert_eq!(s["input_errors"], 2);
    assert!(
        run.stderr.contains("/nonexistent/file.ndjson: cannot open"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("truncated.json.gz"), "{}", run.stderr);
    let corpus_lines = lines(&data::read_maybe_gzip(&good)).len() as u64;
    assert!(
        s["records_out"].as_u64().unwrap() >= corpus_lines,
        "the good file was processed after the bad ones"
    );
}

#[test]
fn user_rules_load_and_their_errors_point_at_file_and_line() {
    let dir = temp_dir("rules");
    let rule = "[rule]\nid = \"kms_key_disabled\"\nname = \"KMS key disabled\"\ndescription = \"d\"\nseverity = \"high\"\nrisk_score = 73\nquery = '''\neventSource == \"kms.amazonaws.com\" and eventName == \"DisableKey\"\n'''\n";
    std::fs::write(dir.join("kms.toml"), rule).unwrap();
    let record =
        r#"{"eventSource":"kms.amazonaws.com","eventName":"DisableKey","awsRegion":"eu-west-1"}"#;
    let run = trailtag(&["tag", "--rules", path(&dir)], record.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(data::detection_ids(&run.stdout), ["kms_key_disabled"]);
    let only_user = trailtag(
        &["rules", "list", "--no-builtin-rules", "--rules", path(&dir)],
        b"",
    );
    let listed = String::from_utf8_lossy(&only_user.stdout);
    assert_eq!(
        listed.lines().count(),
        2,
        "the rule and the summary: {listed}"
    );
    assert!(listed.starts_with("kms_key_disabled "), "{listed}");
    assert!(
        listed.ends_with("1 rules loaded (1 native), 0 partial\n"),
        "{listed}"
    );

    std::fs::write(
        dir.join("broken.toml"),
        rule.replace("kms_key_disabled", "broken")
            .replace("==", "="),
    )
    .unwrap();
    let run = trailtag(&["rules", "check", "--rules", path(&dir)], b"");
    assert_eq!(run.code, 1);
    let expected = format!(
        "{}:8:13: rule broken: use `==` to compare",
        dir.join("broken.toml").display()
    );
    assert!(run.stderr.contains(&expected), "{}", run.stderr);
}

#[test]
fn rules_list_and_rules_test() {
    let list = trailtag(&["rules", "list"], b"");
    let text = String::from_utf8_lossy(&list.stdout);
    assert_eq!(
        text.lines().count(),
        6,
        "five rules and the summary: {text}"
    );
    assert!(text.contains("roles_anywhere_trust_anchor_external_ca"));
    let json = trailtag(&["rules", "list", "--json"], b"");
    let rules: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rules[0]["id"], "iam_group_created");
    let test = trailtag(&["rules", "test"], b"");
    assert_eq!(test.code, 0, "{}", String::from_utf8_lossy(&test.stdout));
    assert!(String::from_utf8_lossy(&test.stdout).contains(", 0 failed"));
}

#[test]
fn the_fluent_bit_abi_gives_the_raw_abis_output() {
    let corpus = data::corpus_files();
    let raw = trailtag(&["tag", path(&corpus[1])], b"");
    let fluent_bit = trailtag(
        &[
            "tag",
            "--abi",
            "fluent-bit",
            "--summary",
            "json",
            path(&corpus[1]),
        ],
        b"",
    );
    assert_eq!(fluent_bit.code, 0, "{}", fluent_bit.stderr);
    assert_eq!(raw.stdout, fluent_bit.stdout);
    assert!(summary(&fluent_bit)["tagged"].as_u64().unwrap() > 0);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailtag"))
        .args(["tag", path(&data::corpus_files()[2])])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The progress bar shows on file input when stderr is a terminal (a pseudo-terminal from
/// util-linux's `script`, part of every Debian system), and never otherwise.
#[test]
fn a_progress_bar_only_on_a_terminal() {
    let file = data::corpus_files()[0].clone();
    let command = format!(
        "{} tag {} -o /dev/null --summary none",
        env!("CARGO_BIN_EXE_trailtag"),
        path(&file)
    );
    let terminal = Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .output()
        .expect("util-linux `script` runs");
    assert!(
        terminal.status.success(),
        "{}",
        String::from_utf8_lossy(&terminal.stderr)
    );
    let shown = String::from_utf8_lossy(&terminal.stdout);
    assert!(
        shown.contains('█') && shown.contains("KiB"),
        "no progress bar on the terminal: {shown:?}"
    );
    let piped = trailtag(
        &["tag", "-o", "/dev/null", "--summary", "none", path(&file)],
        b"",
    );
    assert!(
        piped.stderr.is_empty(),
        "stderr is not a terminal: {:?}",
        piped.stderr
    );
}

/// Line numbers in diagnostics run on across batches (the host advances them by the lines each
/// batch held), with either ABI, blank lines included.
#[test]
fn reported_line_numbers_count_across_batches() {
    let mut input = String::new();
    for line in 1..=40 {
        match line {
            21 => input.push('\n'),
            _ if line % 7 == 0 => input.push_str("not json\n"),
            _ => input.push_str("{\"eventName\":\"X\"}\n"),
        }
    }
    for abi in ["raw", "fluent-bit"] {
        let run = trailtag(
            &["tag", "--batch-size", "100", "--abi", abi],
            input.as_bytes(),
        );
        let reported: Vec<&str> = run
            .stderr
            .lines()
            .filter_map(|l| l.split_once("-:line "))
            .filter_map(|(_, rest)| rest.split(':').next())
            .collect();
        assert_eq!(reported, ["7", "14", "28", "35"], "{abi}: {}", run.stderr);
    }
}
