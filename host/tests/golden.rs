//! Exact bytes, blessed: the tagged output of the bundled sample and the tag of every labelled
//! case, through the real binary (and so the embedded module), against files in
//! `host/tests/golden/`. A change of member order, spacing or escaping in every build at once
//! still fails here, where the cross-build tests (which compare builds with each other) would not.
//!
//! The files are rewritten only by an explicit switch, and the diff is then reviewed:
//!
//! ```sh
//! TRAILTAG_BLESS=1 cargo test -p trailtag --test golden
//! ```
//!
//! The labelled cases are shared data (`../shared`), which the repository does not copy: their
//! golden file holds, per case, only what trailtag adds (the tag member) or `null`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::path::{Path, PathBuf};

use common::{lines, trailtag};
use trailtag_conformance as data;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Blessing is an explicit switch of the person running the tests.
fn blessing() -> bool {
    std::env::var_os("TRAILTAG_BLESS").is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file, or rewrites it when blessing.
fn check(name: &str, actual: &[u8]) {
    let path = golden(name);
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the golden file {} ({e}); bless it with TRAILTAG_BLESS=1",
            path.display()
        )
    });
    if actual == expected {
        return;
    }
    let (a, e) = (lines(actual), lines(&expected));
    let first = a.iter().zip(&e).position(|(x, y)| x != y);
    panic!(
        "{name} differs from its golden file ({} vs {} lines; first difference at line {}):\n  golden: {}\n  now:    {}\nIf the change is intended, bless it with TRAILTAG_BLESS=1 and review the diff.",
        a.len(),
        e.len(),
        first.map_or(a.len().min(e.len()) + 1, |i| i + 1),
        first.map_or(String::new(), |i| String::from_utf8_lossy(e[i])
            .into_owned()),
        first.map_or(String::new(), |i| String::from_utf8_lossy(a[i])
            .into_owned()),
    );
}

#[test]
fn the_bundled_sample_tags_exactly_as_blessed() {
    let sample = data::repo_dir().join("samples/cloudtrail-sample.ndjson");
    let run = trailtag(&["tag", sample.to_str().unwrap()], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    check("sample.tagged.ndjson", &run.stdout);
}

/// What trailtag appended to a record: the bytes between the record's last member and its
/// closing brace, which must be the tag member and nothing else.
fn appended<'o>(record: &[u8], output: &'o [u8]) -> &'o [u8] {
    let close = record.iter().rposition(|&b| b == b'}').unwrap();
    let prefix = &record[..close];
    assert!(
        output.starts_with(prefix),
        "the record is a prefix of its tagged form"
    );
    let suffix = &record[close..];
    assert!(output.ends_with(suffix));
    &output[prefix.len()..output.len() - suffix.len()]
}

#[test]
fn every_labelled_case_tags_exactly_as_blessed() {
    let cases = data::cases();
    let input: String = cases.iter().map(|c| format!("{}\n", c.record)).collect();
    let run = trailtag(&["tag"], input.as_bytes());
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut golden = Vec::new();
    for (case, out) in cases.iter().zip(lines(&run.stdout)) {
        let tag = if out == case.record.as_bytes() {
            serde_json::Value::Null
        } else {
            let added = appended(case.record.as_bytes(), out);
            serde_json::Value::String(String::from_utf8(added.to_vec()).unwrap())
        };
        let line = serde_json::json!({ "case": case.id, "appended": tag });
        golden.extend_from_slice(line.to_string().as_bytes());
        golden.push(b'\n');
    }
    check("cases.appended.ndjson", &golden);
}
