//! Reading rule files from disk for the configuration document.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use trailtag_engine::RuleSource;
use trailtag_plugin::codec::RuleFile;

/// Reads rule files; a directory contributes its `*.toml` files (sorted, not recursive).
pub fn read_rule_files(paths: &[PathBuf]) -> Result<Vec<RuleFile>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(path)
                .with_context(|| format!("reading the rules directory {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            entries.sort();
            for entry in entries {
                files.push(read_rule_file(&entry)?);
            }
        } else {
            files.push(read_rule_file(path)?);
        }
    }
    Ok(files)
}

fn read_rule_file(path: &Path) -> Result<RuleFile> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("reading the rule file {}", path.display()))?;
    Ok(RuleFile {
        name: path.display().to_string(),
        text,
    })
}

/// The same rule files as engine sources (for reading their examples natively).
pub fn as_sources(files: &[RuleFile]) -> Vec<RuleSource> {
    files
        .iter()
        .map(|f| RuleSource::new(f.name.clone(), f.text.clone()))
        .collect()
}
