//! `trailtag tag --jobs N`: batches tagged by several guest instances in parallel give exactly
//! what one instance gives: the same bytes in the same order, the same diagnostics in the same
//! order, the same counts, faults isolated to their records, on an input of many small batches
//! that mixes the real corpus with unreadable lines and records the guest fails on.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::process::Command;

use common::temp_dir;

const FAULTS: &str = r#"{"trap":"FAULT-TRAP"}"#;

/// The corpus with, every 500 records, a line that is not JSON and a record the guest traps on.
fn input() -> Vec<u8> {
    let corpus = trailtag_conformance::corpus_ndjson();
    let mut out = Vec::new();
    for (i, line) in trailtag_engine::lines(&corpus).enumerate() {
        out.extend_from_slice(line);
        out.push(b'\n');
        if i % 500 == 250 {
            out.extend_from_slice(b"{\"eventName\":\"CreateGroup\",\"cut\":\n");
            out.extend_from_slice(b"{\"eventName\":\"CreateGroup\",\"note\":\"FAULT-TRAP\"}\n");
        }
    }
    out
}

/// Runs `trailtag tag --jobs N` over the input in batches of about 16 KiB; exit code, stdout,
/// stderr.
fn run(file: &std::path::Path, jobs: &str) -> (i32, Vec<u8>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_trailtag"))
        .args([
            "tag",
            "--summary",
            "json",
            "--batch-size",
            "16KiB",
            "--jobs",
            jobs,
        ])
        .args(["--fault-injection", FAULTS])
        .arg(file)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn parallel_instances_write_what_one_instance_writes() {
    let dir = temp_dir("jobs");
    let file = dir.join("input.ndjson");
    std::fs::write(&file, input()).unwrap();
    let (code, one, one_err) = run(&file, "1");
    assert_eq!(code, 2, "guest faults make the run partial: {one_err}");
    let input = input();
    assert_eq!(
        trailtag_engine::lines(&one).count(),
        trailtag_engine::lines(&input).count(),
        "no record lost"
    );
    let faults = one_err
        .matches("the record was passed through unevaluated")
        .count();
    assert_eq!(faults, 6, "every trap isolated to its record: {one_err}");
    for jobs in ["2", "3"] {
        let (code, many, many_err) = run(&file, jobs);
        assert_eq!(code, 2, "{many_err}");
        assert!(
            many == one,
            "--jobs {jobs} writes other bytes than --jobs 1"
        );
        assert_eq!(
            many_err, one_err,
            "--jobs {jobs}: the same diagnostics, in the same order, and the same summary"
        );
    }
}
