//! Front ends: rule files, in the languages users write them in, lowered into compiled
//! [`Rule`]s whose conditions are the IR (`crate::ir`).
//!
//! - [`native`]: trailtag's TOML rule files, with queries in EQL's expression syntax
//!   ([`query`]);
//! - [`kql`]: the Kibana Query Language of Elastic's `kuery` rules, lowered against a
//!   [`fields::Fields`] resolver;
//! - [`elastic`]: Elastic's detection-rule TOML files (KQL and EQL over the ECS view);
//! - [`sigma`]: SigmaHQ's YAML rules (`.yml`, `.yaml`), over raw CloudTrail fields;
//! - [`builtin`]: the repository's `rules/*.toml`, embedded at build time.
//!
//! A front end checks everything it can at load time and reports each problem with file, line,
//! column and rule id; after it, nothing about a rule can fail. Every front end produces the same
//! [`Rule`], so the optimiser, the scan and the writers never know which language a rule came
//! from.

pub mod builtin;
pub mod elastic;
pub mod examples;
pub mod fields;
pub mod kql;
pub mod native;
pub mod query;
pub mod sigma;

use crate::error::{RuleError, RuleErrorKind};
use crate::rule::Rule;

/// A rule file handed to the loader: a name for messages (usually the file name) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    /// Shown in error messages; its extension selects the format.
    pub name: String,
    /// The file's contents.
    pub text: String,
}

impl RuleSource {
    /// A source from a name and text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// Compiles one rule file with the front end its format needs, with no Sigma placeholder
/// configured. A file may hold no rule (a disabled one) or, in formats that allow it, several.
pub fn compile(source: &RuleSource) -> Result<Vec<Rule>, Vec<RuleError>> {
    compile_with(source, &sigma::Placeholders::default())
}

/// A `.toml` file, Elastic or native: parsed once, told apart by its keys.
fn compile_toml(source: &RuleSource) -> Result<Vec<Rule>, Vec<RuleError>> {
    let document = native::parse_toml_document(&source.name, &source.text)?;
    if elastic::is_elastic_rule_file(&document) {
        return elastic::compile_elastic_file(&source.name, &source.text, document);
    }
    native::compile_rule_file(&source.name, &source.text, document)
        .map(|rule| rule.into_iter().collect())
}

/// Compiles one rule file; `placeholders` are the values Sigma's `expand` modifier stands for.
pub fn compile_with(
    source: &RuleSource,
    placeholders: &sigma::Placeholders,
) -> Result<Vec<Rule>, Vec<RuleError>> {
    let extension = source
        .name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("toml") => compile_toml(source),
        Some("yml" | "yaml") => {
            sigma::compile_sigma_file(&source.name, &source.text, placeholders)
        }
        _ => Err(vec![RuleError {
            file: source.name.clone(),
            line: 1,
            column: 1,
            rule_id: None,
            kind: RuleErrorKind::Unsupported,
            message:
                "not a rule file this build reads (native and Elastic rules are .toml files, Sigma rules .yml or .yaml)"
                    .into(),
        }]),
    }
}
