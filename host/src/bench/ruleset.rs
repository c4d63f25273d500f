//! The rule sets benchmarks run: the built-in rules, and the built-in rules plus a 100-rule pack.

use std::fmt::Write as _;

use clap::ValueEnum;
use trailtag_engine::RuleSource;

use trailtag_plugin::codec::RuleFile;

/// `bench/rule-pack-event-names.tsv`: 100 (eventSource, eventName) pairs that Elastic's AWS rules
/// pin, the stand-in for a real rule pack.
const PACK_PAIRS: &str = include_str!("../../../bench/rule-pack-event-names.tsv");

/// Which rules a benchmark runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ruleset {
    /// The 5 built-in rules.
    Builtin,
    /// The built-in rules and 100 generated rules on distinct event names.
    Pack,
}

impl Ruleset {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Ruleset::Builtin => "built-in (5)",
            Ruleset::Pack => "built-in + pack (105)",
        }
    }

    /// The extra rule files this set adds to the built-in rules.
    pub fn extra_rules(self) -> Vec<RuleFile> {
        match self {
            Ruleset::Builtin => Vec::new(),
            Ruleset::Pack => pack_rules(),
        }
    }

    /// The same files as engine sources.
    pub fn extra_sources(self) -> Vec<RuleSource> {
        self.extra_rules()
            .into_iter()
            .map(|f| RuleSource::new(f.name, f.text))
            .collect()
    }
}

/// One rule per pair: `eventSource == S and eventName == N and success`.
pub fn pack_rules() -> Vec<RuleFile> {
    PACK_PAIRS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .enumerate()
        .map(|(i, (source, name))| {
            let mut text = String::new();
            let _ = write!(
                text,
                "[rule]\nid = \"pack_{i:03}\"\nname = \"Pack rule {i}: {name}\"\ndescription = \"Benchmark stand-in for a rule pack.\"\n\
                 severity = \"low\"\nrisk_score = 21\nquery = '''\neventSource == \"{source}\" and eventName == \"{name}\"\n  and (errorCode == null or errorCode == \"\")\n'''\n"
            );
            RuleFile { name: format!("pack_{i:03}.toml"), text }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pack_has_100_distinct_rules_that_load() {
        let rules = pack_rules();
        assert_eq!(rules.len(), 100);
        let detector = trailtag_engine::Detector::builder()
            .sources(Ruleset::Pack.extra_sources())
            .build();
        assert_eq!(detector.map(|d| d.rules().len()).ok(), Some(105));
    }
}
