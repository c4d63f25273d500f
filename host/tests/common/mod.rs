//! Running the real `trailtag` binary from the integration tests.
#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    /// The JSON summary (`--summary json`): the last JSON line on stderr.
    pub fn summary(&self) -> serde_json::Value {
        let line = self.stderr.lines().rev().find(|l| l.starts_with('{'));
        let line = line.unwrap_or_else(|| panic!("no JSON summary in {}", self.stderr));
        serde_json::from_str(line).expect("summary is JSON")
    }

    /// A count from the JSON summary.
    pub fn count(&self, key: &str) -> u64 {
        self.summary()[key]
            .as_u64()
            .unwrap_or_else(|| panic!("no {key} in the summary: {}", self.stderr))
    }
}

/// Runs `trailtag ARGS` with `stdin` as input.
pub fn trailtag(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trailtag"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trailtag");
    let mut input = child.stdin.take().expect("stdin");
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let output = child.wait_with_output().expect("wait for trailtag");
    writer.join().expect("stdin writer");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The lines of an output.
pub fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    trailtag_engine::lines(bytes).collect()
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("trailtag-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
