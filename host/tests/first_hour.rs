//! What a new user hit in their first hour, tried as they tried it, through the real binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::io::Write;

use common::{lines, path, temp_dir, trailtag};
use trailtag_conformance as data;

#[test]
fn an_output_that_is_also_an_input_is_refused_and_left_alone() {
    let dir = temp_dir("same-file");
    let file = dir.join("trail.ndjson");
    let record = &data::cases()[0].record;
    std::fs::write(&file, format!("{record}\n")).unwrap();
    let run = trailtag(&["tag", path(&file), "-o", path(&file)], b"");
    assert_ne!(run.code, 0, "refused: {}", run.stderr);
    assert!(run.stderr.contains("is also an input"), "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{record}\n")
    );
    // The same file under another name is the same file.
    let link = dir.join("link.ndjson");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let run = trailtag(&["tag", path(&file), "-o", path(&link)], b"");
    assert_ne!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{record}\n")
    );
}

/// 100 KB of random bytes said "391 records in, 395 out": "out" counted the blank lines
/// copied through as records. Records in and out now count the same things.
#[test]
fn random_bytes_count_the_same_records_in_and_out() {
    let mut bytes = Vec::with_capacity(100_000);
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    while bytes.len() < 100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.extend_from_slice(b"\n\n \r\n");
    let run = trailtag(&["tag", "--summary", "json"], &bytes);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout, bytes, "every byte passes through");
    let (records_in, records_out, blank) = (
        run.count("records_in"),
        run.count("records_out"),
        run.count("blank"),
    );
    assert_eq!(records_in, records_out);
    assert!(blank >= 2, "blank lines are counted apart: {blank}");
    assert_eq!(
        records_in + blank,
        lines(&run.stdout).len() as u64,
        "every line is a record or a blank line"
    );
    let text = trailtag(&["tag"], &bytes);
    let summary = text
        .stderr
        .lines()
        .find(|l| l.contains("records in"))
        .unwrap();
    assert!(
        summary.starts_with(&format!(
            "trailtag: {records_in} records in, {records_in} out"
        )),
        "{summary}"
    );
}

#[test]
fn messages_speak_the_users_words() {
    let input: String = (0..30).map(|i| format!("not json {i}\n")).collect();
    let run = trailtag(&["tag"], input.as_bytes());
    assert!(
        run.stderr
            .contains("more unreadable records follow; they are counted in the summary"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("(Unreadable)"), "{}", run.stderr);
    let dir = temp_dir("context-typo");
    let rule = dir.join("typo.toml");
    let mut text =
        std::fs::read_to_string(data::repo_dir().join("rules/iam_group_deleted.toml")).unwrap();
    text = text.replace("id = \"iam_group_deleted\"", "id = \"typo_rule\"");
    text = text.replace(
        "[rule.context]",
        "[rule.context]\nbad = { form = [\"a.b\"] }",
    );
    std::fs::write(&rule, text).unwrap();
    let run = trailtag(&["rules", "check", "--rules", path(&rule)], b"");
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("unknown key `form`"), "{}", run.stderr);
    assert!(!run.stderr.contains("enum"), "{}", run.stderr);
}

#[test]
fn a_forged_tag_is_removed_and_counted_unless_kept_on_purpose() {
    let forged = r#"{"eventName":"GetObject","trailtag":{"version":1,"severity":"critical"}}"#;
    let run = trailtag(&["tag", "--summary", "json"], forged.as_bytes());
    assert_eq!(run.stdout, b"{\"eventName\":\"GetObject\"}\n");
    assert_eq!(run.count("foreign_tags_removed"), 1);
    let kept = trailtag(
        &["tag", "--keep-foreign-tags", "--summary", "json"],
        forged.as_bytes(),
    );
    assert_eq!(kept.stdout, format!("{forged}\n").as_bytes());
    assert_eq!(kept.count("foreign_tags_removed"), 0);
    for abi in ["raw", "fluent-bit"] {
        let run = trailtag(
            &["tag", "--abi", abi, "--summary", "json"],
            forged.as_bytes(),
        );
        assert_eq!(run.stdout, b"{\"eventName\":\"GetObject\"}\n", "{abi}");
    }
}

#[test]
fn the_fluent_bit_shell_honours_the_configured_options() {
    let malformed = b"{\"eventName\":\"GetObject\",}\n";
    let plain = trailtag(
        &["tag", "--abi", "fluent-bit", "--summary", "json"],
        malformed,
    );
    assert_eq!(plain.stdout, malformed, "no candidate: unchanged");
    assert_eq!(plain.count("unreadable"), 0);
    let validated = trailtag(
        &[
            "tag",
            "--abi",
            "fluent-bit",
            "--validate",
            "--summary",
            "json",
        ],
        malformed,
    );
    assert_eq!(validated.count("unreadable"), 1, "{}", validated.stderr);
    let answer: serde_json::Value = serde_json::from_slice(&validated.stdout).unwrap();
    assert!(
        answer["trailtag"]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"),
        "wrapped for Fluent Bit: {answer}"
    );
    assert_eq!(
        validated.summary()["unreadable_by_reason"]["invalid_json"],
        1
    );
}

#[test]
fn a_terminal_needs_one_end_of_input() {
    // A pipe closed after one write stands in for one Ctrl-D: the input must end at the first
    // read of 0 bytes (the reader's own test, `input::tests::one_end_of_input_ends_the_input`,
    // holds the exact read sequence of a terminal).
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_trailtag"))
        .args(["tag"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"a\":1}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"{\"a\":1}\n");
}
