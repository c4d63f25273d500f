//! `trailtag bench`: the generator is deterministic and writes what it says (size, positives,
//! both formats), and `bench run` measures every mode on the same work (same records, same tags).
//! Speed itself is never asserted here (BENCHMARKS.md has the figures).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{lines, path, temp_dir, trailtag};
use trailtag_conformance as data;

const SIZE: &str = "2MiB";
const SIZE_BYTES: usize = 2 << 20;

fn generate(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let corpus = data::cloudtrail_dir().join("corpus");
    let mut args = vec![
        "bench",
        "generate",
        "--corpus",
        path(&corpus),
        "--size",
        SIZE,
        "-o",
        path(&out),
    ];
    args.extend_from_slice(extra);
    let run = trailtag(&args, b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    out
}

#[test]
fn the_generator_is_deterministic_and_writes_the_asked_mix() {
    let dir = temp_dir("bench-generate");
    let first = std::fs::read(generate(&dir, "a.ndjson", &["--positives", "0.05"])).unwrap();
    let again = std::fs::read(generate(&dir, "b.ndjson", &["--positives", "0.05"])).unwrap();
    let other_seed = std::fs::read(generate(
        &dir,
        "c.ndjson",
        &["--positives", "0.05", "--seed", "2"],
    ))
    .unwrap();
    assert!(first == again, "the same seed writes the same bytes");
    assert!(first != other_seed, "another seed writes other records");
    assert!(
        first.len().abs_diff(SIZE_BYTES) < 64 << 10,
        "{} bytes for {SIZE}",
        first.len()
    );

    let records = lines(&first);
    let tagged = trailtag(&["tag", "--summary", "json"], &first);
    assert_eq!(tagged.code, 0, "{}", tagged.stderr);
    assert_eq!(
        tagged.count("unreadable"),
        0,
        "every generated line is a record"
    );
    let fraction = tagged.count("tagged") as f64 / records.len() as f64;
    assert!(
        (0.03..0.08).contains(&fraction),
        "{fraction} of the records match, 0.05 asked"
    );
    // A few records of the corpus (documentation examples) have no eventID; the others get a
    // fresh one each.
    let ids: Vec<&[u8]> = records
        .iter()
        .filter_map(|record| {
            let at = memchr::memmem::find(record, b"\"eventID\":\"")? + 11;
            Some(&record[at..at + 36])
        })
        .collect();
    assert!(
        ids.len() > records.len() * 9 / 10,
        "{} of {}",
        ids.len(),
        records.len()
    );
    let distinct: std::collections::HashSet<&[u8]> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "every eventID is new");
}

#[test]
fn the_s3_format_holds_the_same_records_in_one_document() {
    let dir = temp_dir("bench-s3");
    let ndjson = std::fs::read(generate(&dir, "a.ndjson", &[])).unwrap();
    let s3 = generate(&dir, "a.json", &["--format", "s3"]);
    let document = std::fs::read(&s3).unwrap();
    assert_eq!(lines(&document).len(), 1, "one document on one line");
    assert!(document.starts_with(b"{\"Records\":["));
    let split = trailtag(&["tag", path(&s3)], b"");
    assert_eq!(split.code, 0, "{}", split.stderr);
    assert_eq!(lines(&split.stdout), lines(&ndjson), "the NDJSON records");
}

#[test]
fn bench_run_measures_every_mode_on_the_same_work() {
    let dir = temp_dir("bench-run");
    let file = generate(&dir, "a.ndjson", &["--positives", "0.01"]);
    let run = trailtag(
        &["bench", "run", path(&file), "--repeat", "2", "--json"],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<serde_json::Value> = lines(&run.stdout)
        .iter()
        .map(|line| serde_json::from_slice(line).unwrap())
        .collect();
    assert_eq!(rows.len(), 10, "4 modes and the CLI, for 2 rule sets");
    let records = lines(&std::fs::read(&file).unwrap()).len() as u64;
    for ruleset in ["built-in (5)", "built-in + pack (105)"] {
        let of_set: Vec<_> = rows.iter().filter(|r| r["ruleset"] == ruleset).collect();
        assert_eq!(of_set.len(), 5, "{ruleset}");
        let tagged = &of_set[0]["tagged"];
        for row in &of_set {
            assert_eq!(row["records"], records, "{row}");
            assert_eq!(&row["tagged"], tagged, "every mode tags the same: {row}");
            assert!(row["seconds"].as_f64().unwrap() > 0.0, "{row}");
            assert!(row["vs_native"].as_f64().unwrap() > 0.0, "{row}");
        }
        assert_eq!(of_set[0]["vs_native"], 1.0, "the native engine's own ratio");
    }
    let builtin = rows[0]["tagged"].as_u64().unwrap();
    let pack = rows[5]["tagged"].as_u64().unwrap();
    assert!(builtin > 0 && pack > builtin, "{builtin} and {pack} tagged");
}

/// The sidecar's load test runs end to end, bounded, and reports that nothing was lost (a
/// record lost would make it fail) across the SIGHUP it sends mid-load.
#[test]
fn bench_serve_loses_no_record_and_reports_its_figures() {
    let dir = temp_dir("bench-serve");
    let file = generate(&dir, "load.ndjson", &["--positives", "0.05"]);
    let run = trailtag(
        &[
            "bench",
            "serve",
            path(&file),
            "--records",
            "1500",
            "--clients",
            "6",
            "--request-records",
            "50",
            "--timeout",
            "300",
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["records"], 1500);
    assert_eq!(report["records_lost"], 0);
    assert_eq!(report["reloads_ok"], 1.0);
    assert_eq!(report["records_counted_by_server"], 3000.0);
    assert_eq!(report["server_exit_code"], 0);
    for key in [
        "http_records_per_s",
        "tcp_records_per_s",
        "tag_records_per_s",
    ] {
        assert!(report[key].as_f64().unwrap() > 0.0, "{key}");
    }
    let latency = &report["request_latency_ms"];
    assert!(latency["p50"].as_f64().unwrap() <= latency["p99"].as_f64().unwrap());
    assert!(report["server_peak_rss_mib"].as_f64().unwrap() > 0.0);
}
