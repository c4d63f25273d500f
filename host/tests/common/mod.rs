//! Running the real `trailtag` binary from the integration tests.
#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

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
    let mut child = spawn(args);
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

/// Starts `trailtag ARGS` with its stdin, stdout and stderr piped.
fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_trailtag"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run trailtag")
}

/// The lines of an output.
pub fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    trailtag_engine::lines(bytes).collect()
}

/// A path as a command-line argument.
pub fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A fresh, empty directory for one test, removed with everything in it when dropped: the
/// suite runs hundreds of times on a shared machine and must not leave its inputs behind.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty directory for one test (see [`Scratch`]).
pub fn temp_dir(name: &str) -> Scratch {
    // Numbered: two tests of one binary asking for the same name (they run in parallel) must
    // not remove each other's files.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "trailtag-test-{}-{call}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    Scratch(dir)
}

/// A hang guard, not a speed requirement: an answer comes in milliseconds.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// A running `trailtag ARGS` asked one line at a time, as a parent process (a shipper) does.
pub struct LineByLine {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
}

impl LineByLine {
    /// Starts `trailtag ARGS`.
    pub fn start(args: &[&str]) -> Self {
        let mut child = spawn(args);
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self {
            child,
            stdin,
            answers,
        }
    }

    /// Writes one line and waits for the next line of output: nothing more is written before it
    /// has arrived.
    pub fn ask(&mut self, line: &str) -> String {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(line.as_bytes()).expect("write a line");
        stdin.write_all(b"\n").expect("write a line");
        stdin.flush().expect("flush a line");
        self.answers.recv_timeout(HANG_GUARD).unwrap_or_else(|_| {
            panic!(
                "no answer to a {}-byte line while the input stayed open",
                line.len()
            )
        })
    }

    /// Closes stdin; returns the exit code and what was written on stderr. Nothing may have been
    /// written beyond the answers asked for.
    pub fn finish(mut self) -> Run {
        drop(self.stdin.take());
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("read stderr");
        }
        let code = self.child.wait().expect("wait for trailtag").code();
        assert!(
            self.answers.recv().is_err(),
            "an answer that was not asked for"
        );
        Run {
            code: code.unwrap_or(-1),
            stdout: Vec::new(),
            stderr,
        }
    }
}
