//! Reading rule files from disk for the configuration document.
//!
//! `--rules PATH` names a file or a directory. A directory is read recursively, sorted, hidden
//! entries (`.git`) skipped, and every file in it is either sent to the module or reported:
//! - `*.toml` (trailtag or Elastic rules; the module tells them apart), `*.yml` and `*.yaml`
//!   (Sigma rules), and `*.examples.toml` (examples for the rule file of the same stem) are sent;
//! - anything else (a README, a licence) is listed as ignored, so that a directory of rules in a
//!   format trailtag does not read cannot load as nothing in silence.
//!
//! A file named explicitly is always sent: the module reports one it cannot read.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use trailtag_engine::RuleSource;
use trailtag_plugin::codec::RuleFile;

/// Rule files read from `--rules` paths, and the files of those directories that are not rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleFiles {
    /// What the module is sent.
    pub files: Vec<RuleFile>,
    /// Files inside the directories that are not rule or example files.
    pub ignored: Vec<PathBuf>,
}

/// Whether a file in a rules directory is a rule (or example) file.
fn is_rule_file(path: &Path) -> bool {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    matches!(extension.as_deref(), Some("toml" | "yml" | "yaml"))
}

/// Reads the rule files `paths` name.
pub fn read_rule_files(paths: &[PathBuf]) -> Result<RuleFiles> {
    let mut found = RuleFiles::default();
    for path in paths {
        if path.is_dir() {
            read_directory(path, &mut found)?;
        } else {
            found.files.push(read_rule_file(path)?);
        }
    }
    Ok(found)
}

fn read_directory(dir: &Path, found: &mut RuleFiles) -> Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading the rules directory {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            read_directory(&entry, found)?;
        } else if is_rule_file(&entry) {
            found.files.push(read_rule_file(&entry)?);
        } else {
            found.ignored.push(entry);
        }
    }
    Ok(())
}

fn read_rule_file(path: &Path) -> Result<RuleFile> {
    let bytes =
        fs::read(path).with_context(|| format!("reading the rule file {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", path.display()))?;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    #[test]
    fn directories_are_read_recursively_and_other_files_reported() {
        let dir = std::env::temp_dir().join(format!("trailtag-rules-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("sub/.git")).unwrap();
        for name in [
            "a.toml",
            "sub/b.YML",
            "sub/b.examples.toml",
            "README.md",
            "sub/.git/c.yml",
        ] {
            fs::write(dir.join(name), "x").unwrap();
        }
        let found = read_rule_files(std::slice::from_ref(&dir)).unwrap();
        let names: Vec<String> = found
            .files
            .iter()
            .map(|f| {
                f.name
                    .trim_start_matches(&dir.display().to_string())
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["/a.toml", "/sub/b.YML", "/sub/b.examples.toml"]);
        assert_eq!(found.ignored, [dir.join("README.md")]);
        fs::write(dir.join("bad.toml"), [0xff, 0xfe]).unwrap();
        let error = read_rule_files(&[dir.join("bad.toml")]).unwrap_err();
        assert!(error.to_string().contains("not UTF-8"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
