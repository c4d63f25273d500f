//! The built-in rules: the repository's `rules/*.toml`, embedded at build time.

use super::RuleSource;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// The built-in rule files, sorted by file name.
pub fn sources() -> Vec<RuleSource> {
    BUILTIN_RULES
        .iter()
        .map(|(name, text)| RuleSource::new(*name, *text))
        .collect()
}
