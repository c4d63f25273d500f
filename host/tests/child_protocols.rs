//! `trailtag filter` as a shipper's child: each line written to its stdin is answered on its
//! stdout before the next one is written, the way rsyslog's `mmexternal` (one message, then it
//! waits for the reply) and Fluentd's `exec_filter` drive it. Whatever a line holds (a tagged
//! record, an untagged one, invalid JSON, text, nothing, a megabyte, a record the module traps
//! on) it gets exactly one answer and the child carries on; with `--log` nothing at all reaches
//! stderr, which mmexternal reads as replies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::path::Path;

use common::LineByLine;
use serde_json::Value;
use trailtag_conformance as data;

/// The module traps on a record holding this (`docs/abi.md`, section 8).
const TRAP: &str = "FAULT-TRAP";

/// `trailtag filter ARGS`, with the module's trap hook armed.
fn filter(args: &[&str]) -> LineByLine {
    let faults = format!(r#"{{"trap":"{TRAP}"}}"#);
    let mut all = vec!["filter", "--fault-injection", &faults];
    all.extend_from_slice(args);
    LineByLine::start(&all)
}

/// `trailtag filter --protocol mmexternal --log LOG ARGS`.
fn mmexternal(log: &Path, args: &[&str]) -> LineByLine {
    let mut all = vec!["--protocol", "mmexternal", "--log", common::path(log)];
    all.extend_from_slice(args);
    filter(&all)
}

fn case(id: &str) -> data::Case {
    data::cases().into_iter().find(|c| c.id == id).unwrap()
}

/// A tagged record and its expected detections.
fn positive() -> data::Case {
    case("real-invictus-ra-CreateProfile")
}

/// A CloudTrail record no rule matches.
fn negative() -> String {
    data::cases()
        .into_iter()
        .find(|c| c.expect.is_empty())
        .unwrap()
        .record
}

/// `record` with a `padding` member of `bytes` bytes added at the front (the rules ignore it).
fn padded(record: &str, bytes: usize) -> String {
    format!(
        r#"{{"padding":"{}",{}"#,
        "p".repeat(bytes),
        record.strip_prefix('{').unwrap()
    )
}

/// The record without its `trailtag` member, and that member's detection ids.
fn untag(record: &str) -> (Value, Vec<String>) {
    let ids = data::detection_ids(record.as_bytes());
    let mut value: Value = serde_json::from_str(record).unwrap();
    value.as_object_mut().unwrap().remove("trailtag");
    (value, ids)
}

/// Checks that `reply` replaces the message with `record`, tagged `expect`.
fn assert_tagged(reply: &str, record: &str, expect: &[String]) {
    let reply: Value = serde_json::from_str(reply).unwrap();
    let object = reply.as_object().unwrap();
    assert_eq!(object.len(), 1, "only msg is replaced: {reply}");
    let msg = object["msg"].as_str().unwrap();
    let (value, ids) = untag(msg);
    assert_eq!(ids, expect);
    assert_eq!(value, serde_json::from_str::<Value>(record).unwrap());
}

fn log_summary(log: &Path) -> Value {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text.lines().rev().find(|l| l.starts_with('{'));
    serde_json::from_str(line.unwrap_or_else(|| panic!("no summary in the log: {text}"))).unwrap()
}

#[test]
fn mmexternal_answers_every_message_at_once_and_keeps_going() {
    let dir = common::temp_dir("mmexternal");
    let log = dir.join("trailtag.log");
    let mut parent = mmexternal(&log, &["--max-record", "1MiB"]);
    let positive = positive();
    // First a blank line and a line that opens like a CloudTrail S3 file: neither may make the
    // child wait for more input or change how the next line is read.
    assert_eq!(parent.ask(""), "{}");
    assert_eq!(
        parent.ask(r#"{"Records":[{"eventName":"CreateGroup"}]}"#),
        "{}"
    );
    assert_tagged(
        &parent.ask(&positive.record),
        &positive.record,
        &positive.expect,
    );
    assert_eq!(parent.ask(&negative()), "{}");
    assert_eq!(
        parent.ask(r#"{"eventName":"CreateGroup","#),
        "{}",
        "invalid JSON"
    );
    assert_eq!(
        parent.ask("Jul 10 12:27:13 host sshd[42]: not CloudTrail"),
        "{}"
    );
    assert_eq!(parent.ask(&format!(r#"{{"note":"{TRAP}"}}"#)), "{}");
    let large = padded(&positive.record, 600 << 10);
    assert_tagged(&parent.ask(&large), &large, &positive.expect);
    assert_eq!(parent.ask(&"x".repeat(3 << 20)), "{}", "over --max-record");
    assert_tagged(
        &parent.ask(&positive.record),
        &positive.record,
        &positive.expect,
    );
    let run = parent.finish();
    assert_eq!(
        run.stderr, "",
        "nothing on stderr: mmexternal reads it as replies"
    );
    assert_eq!(
        run.code, 2,
        "a record the module failed on makes the run partial"
    );
    let summary = log_summary(&log);
    assert_eq!(summary["records_in"], 9, "{summary}");
    assert_eq!(summary["blank"], 1, "{summary}");
    assert_eq!(summary["tagged"], 3, "{summary}");
    assert_eq!(summary["oversized"], 1, "{summary}");
    assert_eq!(summary["guest_faults"], 1, "{summary}");
    assert_eq!(summary["unreadable"], 2, "{summary}");
}

#[test]
fn mmexternal_writes_nothing_on_stderr_even_when_rules_are_skipped() {
    let dir = common::temp_dir("mmexternal-skipped");
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("broken.toml"), "this is not a rule\n").unwrap();
    let log = dir.join("trailtag.log");
    let mut parent = mmexternal(
        &log,
        &["--rules", common::path(&rules), "--skip-invalid-rules"],
    );
    let positive = positive();
    assert_tagged(
        &parent.ask(&positive.record),
        &positive.record,
        &positive.expect,
    );
    let run = parent.finish();
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("skipped"),
        "the load report is in the log: {text}"
    );
}

#[test]
fn mmexternal_without_a_log_is_refused() {
    let run = common::trailtag(&["filter", "--protocol", "mmexternal"], b"");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--log"), "{}", run.stderr);
}

/// What Fluentd's `exec_filter` does with `<format> @type json` and `<parse> @type json`: JSON
/// lines in, JSON lines back, the reader running while records are still being written.
#[test]
fn lines_answers_each_record_before_the_next_is_written() {
    let mut parent = filter(&["--protocol", "lines"]);
    let cases = data::cases();
    let mut tagged = 0;
    for case in cases.iter().take(20) {
        let answer = parent.ask(&case.record);
        let (value, ids) = untag(&answer);
        assert_eq!(ids, case.expect, "{}", case.id);
        assert_eq!(value, serde_json::from_str::<Value>(&case.record).unwrap());
        tagged += usize::from(!ids.is_empty());
    }
    assert!(tagged > 0, "some of the records are tagged");
    assert_eq!(parent.ask("not json"), "not json");
    let run = parent.finish();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.count("records_in"), 21);
    assert_eq!(run.count("unreadable"), 1);
}
