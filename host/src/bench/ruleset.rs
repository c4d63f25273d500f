//! The rule sets benchmarks run: the built-in rules, the built-in rules plus a 100-rule pack,
//! and users' rules from the shared corpora: the 57 SigmaHQ AWS rules, and every loadable
//! SigmaHQ and Elastic AWS rule at once. The corpora are read at run time from
//! `$TRAILTAG_BENCH_RULES` (default `../shared/rules`, beside the repository), the folder
//! holding `sigma-aws/` and `elastic-aws/`.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
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
    /// The 57 SigmaHQ AWS CloudTrail rules alone.
    Sigma,
    /// Every SigmaHQ and Elastic AWS rule that loads, alone.
    Imported,
}

impl Ruleset {
    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Ruleset::Builtin => "built-in (5)",
            Ruleset::Pack => "built-in + pack (105)",
            Ruleset::Sigma => "SigmaHQ AWS (57)",
            Ruleset::Imported => "SigmaHQ + Elastic AWS (222)",
        }
    }

    /// The name `trailtag bench measure --ruleset` takes.
    pub fn arg(self) -> &'static str {
        match self {
            Ruleset::Builtin => "builtin",
            Ruleset::Pack => "pack",
            Ruleset::Sigma => "sigma",
            Ruleset::Imported => "imported",
        }
    }

    /// Whether the built-in rules run too.
    pub fn with_builtin(self) -> bool {
        matches!(self, Ruleset::Builtin | Ruleset::Pack)
    }

    /// The rule files this set adds (to the built-in rules, when [`Self::with_builtin`]).
    pub fn extra_rules(self) -> Result<Vec<RuleFile>> {
        Ok(match self {
            Ruleset::Builtin => Vec::new(),
            Ruleset::Pack => pack_rules(),
            Ruleset::Sigma => shared_rules("sigma-aws")?,
            Ruleset::Imported => {
                let mut rules = shared_rules("sigma-aws")?;
                rules.extend(shared_rules("elastic-aws")?.into_iter().filter(loads));
                rules
            }
        })
    }

    /// The same files as engine sources.
    pub fn extra_sources(self) -> Result<Vec<RuleSource>> {
        Ok(self
            .extra_rules()?
            .into_iter()
            .map(|f| RuleSource::new(f.name, f.text))
            .collect())
    }
}

/// Whether a rule file compiles (an Elastic file may hold an ES|QL or machine-learning rule).
fn loads(file: &RuleFile) -> bool {
    trailtag_engine::frontend::compile(&RuleSource::new(file.name.clone(), file.text.clone()))
        .is_ok()
}

/// The rule files of one shared corpus, read as `--rules` reads a directory (in name order).
fn shared_rules(corpus: &str) -> Result<Vec<RuleFile>> {
    let root = std::env::var_os("TRAILTAG_BENCH_RULES")
        .map_or_else(|| PathBuf::from("../shared/rules"), PathBuf::from);
    let dir = root.join(corpus);
    let found = crate::rule_files::read_rule_files(std::slice::from_ref(&dir)).with_context(|| {
        format!(
            "reading the rule corpus {} (set TRAILTAG_BENCH_RULES to the folder holding sigma-aws/ and elastic-aws/)",
            dir.display()
        )
    })?;
    Ok(found.files)
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
            .sources(Ruleset::Pack.extra_sources().unwrap())
            .build();
        assert_eq!(detector.map(|d| d.rules().len()).ok(), Some(105));
    }
}
