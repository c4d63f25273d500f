//! Embeds the repository's `rules/*.toml` as the built-in rule set.
//!
//! The rules stay data (one file per rule, edited as files); this script only lists them so that
//! `builtin.rs` can `include_str!` each one, sorted by file name for a deterministic build.

#![expect(
    clippy::disallowed_methods,
    reason = "build scripts receive their inputs through cargo's environment"
)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let rules_dir = manifest_dir.join("../rules").canonicalize()?;
    println!("cargo::rerun-if-changed={}", rules_dir.display());
    let mut files: Vec<PathBuf> = fs::read_dir(&rules_dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut generated = String::from(
        "/// Built-in rule files: (file name, contents).\npub(crate) const BUILTIN_RULES: &[(&str, &str)] = &[\n",
    );
    for path in &files {
        println!("cargo::rerun-if-changed={}", path.display());
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("rule file name is not UTF-8")?;
        writeln!(
            generated,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        )?;
    }
    generated.push_str("];\n");
    let out = PathBuf::from(env::var("OUT_DIR")?).join("builtin_rules.rs");
    fs::write(out, generated)?;
    Ok(())
}
