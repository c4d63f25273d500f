//! Guest faults are isolated: a record that makes the module trap, run past its deadline or
//! exhaust its memory is passed through unchanged and reported; the instance is replaced from
//! the compiled module and every other record is still tagged, in order.
//!
//! The faults come from the real module's test hooks (`docs/abi.md`, section 8).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::process::Command;

use trailtag_conformance as data;

const FAULTS: &str = r#"{"trap":"FAULT-TRAP","spin":"FAULT-SPIN","grow":"FAULT-GROW"}"#;

fn positive() -> String {
    data::cases()
        .into_iter()
        .find(|c| c.id == "real-invictus-ra-CreateProfile")
        .unwrap()
        .record
}

fn input() -> String {
    let good = positive();
    [
        good.clone(),
        r#"{"eventName":"CreateGroup","note":"FAULT-TRAP"}"#.to_owned(),
        good.clone(),
        r#"{"note":"FAULT-SPIN"}"#.to_owned(),
        r#"{"note":"FAULT-GROW"}"#.to_owned(),
        good,
    ]
    .join("\n")
}

fn run(abi: &str) -> (i32, Vec<u8>, String) {
    run_with(abi, &[])
}

fn run_with(abi: &str, extra: &[&str]) -> (i32, Vec<u8>, String) {
    let dir = common::temp_dir(&format!("faults-{abi}"));
    let file = dir.join("input.ndjson");
    std::fs::write(&file, input()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trailtag"))
        .args([
            "tag",
            "--abi",
            abi,
            "--summary",
            "json",
            "--guest-timeout",
            "1s",
            "--guest-memory",
            "64MiB",
        ])
        .args(["--fault-injection", FAULTS])
        .args(extra)
        .arg(&file)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        output.stdout,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn check(abi: &str) {
    let (code, stdout, stderr) = run(abi);
    assert_eq!(code, 2, "guest faults make the run partial: {stderr}");
    let input = input();
    let input: Vec<&[u8]> = trailtag_engine::lines(input.as_bytes()).collect();
    let output: Vec<&[u8]> = trailtag_engine::lines(&stdout).collect();
    assert_eq!(output.len(), input.len(), "no record lost: {stderr}");
    for i in [0, 2, 5] {
        assert_eq!(
            data::detection_ids(output[i]),
            ["roles_anywhere_activity", "roles_anywhere_profile_created"],
            "line {i}"
        );
    }
    for i in [1, 3, 4] {
        assert_eq!(
            output[i], input[i],
            "the faulting record {i} passes through unchanged"
        );
    }
    assert!(
        stderr.contains("line 2: the module stopped with an internal error (it panicked)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 4: the module took longer than 1 s (--guest-timeout)"),
        "{stderr}"
    );
    // How much more it needed depends on the module's size; the limit and the words do not.
    let memory_line = stderr
        .lines()
        .find(|l| l.contains("line 5:"))
        .unwrap_or_default();
    assert!(
        memory_line.contains("line 5: the module needed at least 64.")
            && memory_line
                .contains(" MiB of memory, more than the 64 MiB it may use (--guest-memory)"),
        "{stderr}"
    );
    assert!(!stderr.contains("wasm"), "no runtime jargon: {stderr}");
    let summary: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!(
        (
            summary["guest_faults"].as_u64(),
            summary["tagged"].as_u64(),
            summary["records_out"].as_u64()
        ),
        (Some(3), Some(3), Some(6))
    );
}

#[test]
fn faults_in_the_batch_abi_are_isolated_to_their_records() {
    check("raw");
}

#[test]
fn faults_in_the_fluent_bit_abi_are_isolated_to_their_records() {
    check("fluent-bit");
}

#[test]
fn with_only_matches_records_that_were_not_evaluated_are_still_written() {
    let (code, stdout, stderr) = run_with("raw", &["--only-matches"]);
    assert_eq!(code, 2, "{stderr}");
    let input = input();
    let input: Vec<&[u8]> = trailtag_engine::lines(input.as_bytes()).collect();
    let output: Vec<&[u8]> = trailtag_engine::lines(&stdout).collect();
    assert_eq!(
        output.len(),
        6,
        "3 tagged records and 3 that could not be evaluated: {stderr}"
    );
    assert_eq!(
        [output[1], output[3], output[4]],
        [input[1], input[3], input[4]]
    );
}

#[test]
fn without_the_hooks_the_markers_are_only_data() {
    let dir = common::temp_dir("nofaults");
    let file = dir.join("input.ndjson");
    std::fs::write(&file, input()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_trailtag"))
        .args(["tag", "--summary", "none"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(trailtag_engine::lines(&output.stdout).count(), 6);
}

/// Fluent Bit does not replace an instance that trapped: it calls the same one with the next
/// record. The module must recover by itself (plugin/src/state.rs, "Surviving a trap").
#[test]
fn the_same_instance_keeps_working_after_a_trap_as_fluent_bit_uses_it() {
    use trailtag::guest::GuestFault;
    use trailtag::runtime::{ModuleVariant, Runtime, RuntimeOptions};

    let runtime = Runtime::embedded(ModuleVariant::Portable, &RuntimeOptions::default()).unwrap();
    let mut guest = runtime.instantiate().unwrap();
    guest
        .configure(format!(r#"{{"fault_injection":{FAULTS}}}"#).as_bytes())
        .unwrap();
    let good = positive();
    for round in 0..3 {
        let trapped = guest.fluent_bit_filter(
            b"cloudtrail",
            br#"{"eventName":"CreateGroup","x":"FAULT-TRAP"}"#,
            false,
        );
        assert!(
            matches!(trapped, Err(GuestFault::Trap(_))),
            "round {round}: {trapped:?}"
        );
        let answer = guest
            .fluent_bit_filter(b"cloudtrail", good.as_bytes(), false)
            .unwrap();
        assert_eq!(
            data::detection_ids(&answer),
            ["roles_anywhere_activity", "roles_anywhere_profile_created"],
            "round {round}"
        );
        let batch = guest.transform(format!("{good}\n").as_bytes()).unwrap();
        assert_eq!(
            batch.report.counts.tagged, 1,
            "round {round}: the raw ABI recovers too"
        );
    }
}
