//! Streams stream: `tail -f trail.ndjson | trailtag tag` writes each record as it arrives, not
//! at the end of input. The test keeps the binary's stdin open (as `tail -f` does), writes one
//! record, and waits for its line on stdout before writing the next; only then does it close the
//! input. The timeout below only keeps a broken build from hanging the suite: the idle flush is
//! 100 ms, so a line arrives long before it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use trailtag_conformance as data;

/// Generous: a hang guard, not a speed requirement.
const HANG_GUARD: Duration = Duration::from_secs(60);

#[test]
fn each_record_comes_out_while_the_input_is_still_open() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailtag"))
        .args(["tag", "--summary", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (lines_tx, lines_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let cases = data::cases();
    let records: Vec<&str> = cases.iter().take(3).map(|c| c.record.as_str()).collect();
    for (i, record) in records.iter().enumerate() {
        writeln!(stdin, "{record}").unwrap();
        stdin.flush().unwrap();
        let line = lines_rx
            .recv_timeout(HANG_GUARD)
            .unwrap_or_else(|_| panic!("record {i} did not come out while the input stayed open"));
        assert!(
            line.starts_with(&record[..record.len() - 1]),
            "record {i} comes out in order"
        );
    }
    drop(stdin);
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success());
    assert!(
        lines_rx.try_recv().is_err(),
        "nothing more than the records"
    );
}
