//! The architecture, held by a test: inside each crate no two modules import each other, so the
//! flow reads one way (front end → IR → optimiser → pins → scan → document → findings → writer in
//! the engine; runtime → guest, session → runtime, pipeline → session, commands → pipeline in the
//! host). A module is a source file; `a` imports `b` when `a`'s code names `crate::b` (or
//! `super::b` for a sibling), outside its tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use trailtag_conformance as data;

/// Every `.rs` file under `dir`, with its module path (`scan/prefilter` for
/// `scan/prefilter.rs`, `scan` for `scan/mod.rs`).
fn modules(dir: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(dir).unwrap().with_extension("");
            let mut name = relative.to_string_lossy().replace('\\', "/");
            if let Some(parent) = name.strip_suffix("/mod") {
                name = parent.to_owned();
            }
            if name == "lib" || name == "main" {
                continue;
            }
            out.insert(name, path);
        }
    }
    out
}

/// The code of a file before its `#[cfg(test)] mod tests`, comments left out.
fn code_outside_tests(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let code = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    code.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules `module` names, resolved against the known modules (longest match).
fn imports(module: &str, code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let parent = module.rsplit_once('/').map_or("", |(p, _)| p);
    let mut found = BTreeSet::new();
    for (prefix, base) in [("crate::", String::new()), ("super::", parent.to_owned())] {
        for (at, _) in code.match_indices(prefix) {
            let path: String = code[at + prefix.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
            let mut best = None;
            for n in 1..=segments.len() {
                let mut candidate = base.clone();
                for segment in &segments[..n] {
                    if !candidate.is_empty() {
                        candidate.push('/');
                    }
                    candidate.push_str(segment);
                }
                if known.contains(&candidate) {
                    best = Some(candidate);
                }
            }
            if let Some(target) = best.filter(|t| t != module) {
                found.insert(target);
            }
        }
    }
    found
}

fn mutual_imports(crate_src: &Path) -> Vec<(String, String)> {
    let modules = modules(crate_src);
    let known: BTreeSet<String> = modules.keys().cloned().collect();
    let graph: BTreeMap<&String, BTreeSet<String>> = modules
        .iter()
        .map(|(name, path)| (name, imports(name, &code_outside_tests(path), &known)))
        .collect();
    let mut pairs = Vec::new();
    for (a, targets) in &graph {
        for b in targets {
            let back = graph.get(b).is_some_and(|t| t.contains(*a));
            // A parent module declaring its children is not an import of them.
            let parent_child = b.starts_with(&format!("{a}/")) || a.starts_with(&format!("{b}/"));
            if back && a.as_str() < b.as_str() && !parent_child {
                pairs.push(((*a).clone(), b.clone()));
            }
        }
    }
    pairs
}

#[test]
fn no_two_modules_of_a_crate_import_each_other() {
    let repo = data::repo_dir();
    for krate in ["engine", "plugin", "host"] {
        let pairs = mutual_imports(&repo.join(krate).join("src"));
        assert!(
            pairs.is_empty(),
            "{krate}: modules importing each other: {pairs:?}"
        );
    }
}

#[test]
fn the_check_finds_a_cycle_when_there_is_one() {
    let dir = std::env::temp_dir().join(format!("trailtag-architecture-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("a.rs"), "use crate::b::B;\n").unwrap();
    fs::write(dir.join("b.rs"), "use crate::a::A;\n").unwrap();
    fs::write(dir.join("c.rs"), "use crate::a::A;\n").unwrap();
    assert_eq!(mutual_imports(&dir), [("a".to_owned(), "b".to_owned())]);
    let _ = fs::remove_dir_all(&dir);
}
