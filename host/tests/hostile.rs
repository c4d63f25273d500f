//! Hostile input through the real binary: every case has a decided outcome (docs/decisions.md,
//! RELIABILITY.md), and in every case every line that went in comes out, in order.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{Run, lines, temp_dir, trailtag};
use flate2::Compression;
use flate2::write::GzEncoder;
use trailtag_conformance as data;

/// An input file in its own scratch directory, removed when the test is done with it.
struct Input {
    _dir: common::Scratch,
    path: PathBuf,
}

impl std::ops::Deref for Input {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

fn file(name: &str, bytes: &[u8]) -> Input {
    let dir = temp_dir(&format!("hostile-{name}"));
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    Input { _dir: dir, path }
}

fn tag(args: &[&str], path: &Path) -> Run {
    let mut all = vec!["tag"];
    all.extend_from_slice(args);
    all.extend(["--summary", "json", common::path(path)]);
    trailtag(&all, b"")
}

fn count(run: &Run, key: &str) -> u64 {
    run.count(key)
}

fn create_group(extra: &str) -> String {
    format!(
        r#"{{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","requestParameters":{{"groupName":"g"}}{extra}}}"#
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn invalid_json_invalid_utf8_nul_bytes_and_non_objects_pass_through_counted() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"eventName\":\"CreateGroup\",\"eventSource\":\"iam.amazonaws.com\",\"x\":\"\xff\xfe\"}\n");
    input.extend_from_slice(
        b"{\"eventName\":\"CreateGroup\",\"eventSource\":\"iam.amazonaws.com\",\"x\":\"a\0b\"}\n",
    );
    input.extend_from_slice(b"{\"note\":\"\xff\"}\n");
    input.extend_from_slice(b"\0\0\0\n");
    input.extend_from_slice(
        b"[\"eventName\",\"CreateGroup\"]\n\"CreateGroup\"\n12345678901234567890123\n",
    );
    input.extend_from_slice(create_group("").as_bytes());
    let path = file("bad.ndjson", &input);
    let run = tag(&[], &path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (inp, out) = (lines(&input), lines(&run.stdout));
    assert_eq!(out.len(), inp.len());
    assert_eq!(&out[..7], &inp[..7], "every bad line is byte-identical");
    assert_eq!(data::detection_ids(out[7]), ["iam_group_created"]);
    assert_eq!(
        count(&run, "unreadable"),
        6,
        "the non-candidate with invalid UTF-8 is not parsed without --validate"
    );
    let validated = tag(&["--validate"], &path);
    assert_eq!(count(&validated, "unreadable"), 7);
    assert_eq!(validated.stdout, run.stdout);
}

#[test]
fn a_byte_order_mark_and_crlf_line_ends() {
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend_from_slice(
        format!(
            "{}\r\n{}\r\n\u{feff}{}\r\n",
            create_group(""),
            r#"{"a":1}"#,
            create_group("")
        )
        .as_bytes(),
    );
    let run = tag(&[], &file("bom.ndjson", &input));
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 3);
    assert_eq!(
        data::detection_ids(out[0]),
        ["iam_group_created"],
        "the file's BOM is stripped, its first record read"
    );
    assert!(
        out[0].ends_with(b"}}\r"),
        "the carriage return stays at the end of a tagged line"
    );
    assert_eq!(out[1], b"{\"a\":1}\r");
    assert!(
        out[2].starts_with(b"\xEF\xBB\xBF"),
        "a BOM inside the stream is data: that line is not a JSON object"
    );
    assert_eq!(count(&run, "unreadable"), 1);
}

#[test]
fn a_50_megabyte_record_is_evaluated_and_above_the_limit_streamed_through() {
    let huge_agent = "a".repeat(50 << 20);
    let candidate = create_group(&format!(r#","userAgent":"{huge_agent}""#));
    let bystander = format!(r#"{{"eventName":"GetObject","blob":"{huge_agent}"}}"#);
    let input = format!("{candidate}\n{bystander}\n{}\n", create_group(""));
    let path = file("huge.ndjson", input.as_bytes());
    let run = tag(&[], &path);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 3);
    assert_eq!(data::detection_ids(out[0]), ["iam_group_created"]);
    assert_eq!(out[1], bystander.as_bytes());
    let limited = tag(&["--max-record", "16MiB"], &path);
    let out = lines(&limited.stdout);
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0],
        candidate.as_bytes(),
        "over the limit: passed through unevaluated"
    );
    assert_eq!(count(&limited, "oversized"), 2);
    assert_eq!(data::detection_ids(out[2]), ["iam_group_created"]);
    assert!(
        limited
            .stderr
            .contains("line 1: record larger than --max-record"),
        "{}",
        limited.stderr
    );
}

#[test]
fn nesting_100000_levels_deep_neither_crashes_nor_loses_the_record() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let candidate = create_group(&format!(r#","deep":{deep}"#));
    let bystander = format!(r#"{{"deep":{deep}}}"#);
    let input = format!("{candidate}\n{bystander}\n");
    let run = tag(&[], &file("deep.ndjson", input.as_bytes()));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = lines(&run.stdout);
    assert_eq!(out, [candidate.as_bytes(), bystander.as_bytes()]);
    assert_eq!(count(&run, "unreadable"), 1);
    assert!(run.stderr.contains("recursion limit"), "{}", run.stderr);
    let records = format!("{{\"Records\":[{candidate},{}]}}", create_group(""));
    let run = tag(&[], &file("deep-records.json", records.as_bytes()));
    let out = lines(&run.stdout);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0], candidate.as_bytes());
    assert_eq!(data::detection_ids(out[1]), ["iam_group_created"]);
}

#[test]
fn duplicate_keys_and_numbers_beyond_64_bits() {
    let last_wins =
        r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","eventName":"GetGroup"}"#;
    let last_creates =
        r#"{"eventSource":"iam.amazonaws.com","eventName":"GetGroup","eventName":"CreateGroup"}"#;
    let big = r#"{"eventSource":"rolesanywhere.amazonaws.com","eventName":"CreateProfile","requestParameters":{"durationSeconds":123456789012345678901234567890,"name":"p"}}"#;
    let input = format!("{last_wins}\n{last_creates}\n{big}\n");
    let run = tag(&[], &file("dupes.ndjson", input.as_bytes()));
    let out = lines(&run.stdout);
    assert_eq!(out[0], last_wins.as_bytes());
    assert_eq!(data::detection_ids(out[1]), ["iam_group_created"]);
    let tagged: serde_json::Value = serde_json::from_slice(out[2]).unwrap();
    assert_eq!(
        tagged["trailtag"]["context"]["duration_seconds"].as_f64(),
        Some(1.2345678901234568e29)
    );
    assert!(
        out[2].starts_with(&big.as_bytes()[..big.len() - 1]),
        "the record's own digits are untouched"
    );
}

#[test]
fn truncated_and_corrupt_gzip_keep_what_was_read() {
    let records: String = (0..2000)
        .map(|i| format!("{}\n", create_group(&format!(r#","i":{i}"#))))
        .collect();
    let compressed = gzip(records.as_bytes());
    let truncated = tag(
        &[],
        &file("cut.ndjson.gz", &compressed[..compressed.len() / 2]),
    );
    assert_eq!(truncated.code, 2);
    let out = lines(&truncated.stdout);
    assert!(!out.is_empty() && out.len() < 2000);
    let (last, complete) = out.split_last().unwrap();
    assert!(
        complete
            .iter()
            .all(|l| data::detection_ids(l) == ["iam_group_created"]),
        "every complete line before the cut is tagged"
    );
    let partial = data::detection_ids(last).is_empty();
    assert!(
        records.contains(std::str::from_utf8(last).unwrap()) || !partial,
        "a partial last line is written as it was read"
    );
    assert_eq!(
        count(&truncated, "unreadable"),
        u64::from(partial),
        "a partial line is not a JSON object"
    );
    assert!(
        truncated.stderr.contains("cut.ndjson.gz: read error"),
        "{}",
        truncated.stderr
    );
    let mut corrupt = compressed.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle..middle + 64].fill(0x55);
    let corrupted = tag(&[], &file("corrupt.ndjson.gz", &corrupt));
    assert_eq!(corrupted.code, 2, "{}", corrupted.stderr);
    assert_eq!(count(&corrupted, "input_errors"), 1);
}

#[test]
fn an_empty_file_a_digest_file_and_a_last_line_without_newline() {
    let empty = tag(&[], &file("empty.json", b""));
    assert_eq!(
        (empty.code, empty.stdout.len(), count(&empty, "records_in")),
        (0, 0, 0)
    );
    let digest = tag(
        &[],
        &data::envelopes_dir().join("s3_cloudtrail_digest.json"),
    );
    assert_eq!(
        (
            digest.code,
            lines(&digest.stdout).len(),
            count(&digest, "tagged")
        ),
        (0, 1, 0)
    );
    let no_newline = tag(&[], &file("tail.ndjson", create_group("").as_bytes()));
    assert!(no_newline.stdout.ends_with(b"}}\n"));
    assert_eq!(count(&no_newline, "tagged"), 1);
}

#[test]
fn an_s3_file_that_is_one_huge_document_streams_record_by_record() {
    let record = data::corpus_records().into_iter().next().unwrap();
    let mut document = b"{\"Records\":[".to_vec();
    for i in 0..40_000 {
        if i > 0 {
            document.push(b',');
        }
        document.extend_from_slice(
            if i % 1000 == 7 {
                create_group("").into_bytes()
            } else {
                record.clone()
            }
            .as_slice(),
        );
    }
    document.extend_from_slice(b"]}");
    let run = tag(&[], &file("huge-s3.json.gz", &gzip(&document)));
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        (count(&run, "records_in"), count(&run, "tagged")),
        (40_000, 40)
    );
    assert_eq!(lines(&run.stdout).len(), 40_000);
}

/// A small S3 delivery file cut short, as an interrupted download leaves it: every record that
/// was complete before the cut is written (and tagged), the cut is reported, exit status 2.
/// (Before, the error came while sniffing the framing and the file wrote nothing at all.)
#[test]
fn a_truncated_small_s3_file_writes_every_complete_record_before_the_cut() {
    let records: Vec<String> = (0..40)
        .map(|i| create_group(&format!(r#","i":{i}"#)))
        .collect();
    let document = format!("{{\"Records\":[{}]}}", records.join(","));
    assert!(
        document.len() < 16 << 10,
        "small: read whole while sniffing"
    );
    let compressed = gzip(document.as_bytes());
    let cut = &compressed[..compressed.len() * 3 / 4];
    let run = tag(&[], &file("cut-s3.json.gz", cut));
    assert_eq!(run.code, 2, "{}", run.stderr);
    let out = lines(&run.stdout);
    let complete = out
        .iter()
        .filter(|l| data::detection_ids(l) == ["iam_group_created"])
        .count();
    assert!(
        complete >= 10,
        "{complete} complete records written: {}",
        run.stderr
    );
    for (line, record) in out.iter().zip(&records).take(complete) {
        assert!(line.starts_with(&record.as_bytes()[..record.len() - 1]));
    }
    assert!(run.stderr.contains("cut-s3.json.gz"), "{}", run.stderr);
    assert_eq!(count(&run, "input_errors"), 1);
}
