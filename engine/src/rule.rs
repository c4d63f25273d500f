//! Rules: their metadata and their compiled form, shared by every front end.
//!
//! A [`Rule`] is what a front end produces from a file in its language (`crate::frontend`): the
//! metadata an analyst reads ([`RuleMeta`], shaped after Elastic's rule files, so that imported
//! rules read the same), the condition in the IR ([`crate::ir::Expr`]), the context fields its
//! tag carries, and the examples that prove it. Rules hold no rendered output: writers
//! (`crate::output`) render findings in whatever format the destination needs.

use serde::{Deserialize, Serialize};

use crate::context::ContextField;
use crate::ir::Expr;

/// How bad a detection is, from informational to critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Context for other detections; not an alert on its own.
    Informational,
    /// Worth a look.
    Low,
    /// Investigate.
    Medium,
    /// Investigate now.
    High,
    /// Respond now.
    Critical,
}

impl Severity {
    /// The lower-case name used in files and tags.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One MITRE ATT&CK mapping, in the shape Elastic's rule files use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threat {
    /// Always "MITRE ATT&CK" for now.
    pub framework: String,
    /// The tactic (TAxxxx).
    pub tactic: ThreatEntry,
    /// Techniques under that tactic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub technique: Vec<Technique>,
}

/// An ATT&CK technique and its sub-techniques.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Technique {
    /// Txxxx
    pub id: String,
    /// The technique's name.
    pub name: String,
    /// Its ATT&CK page.
    pub reference: String,
    /// Sub-techniques (Txxxx.yyy).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subtechnique: Vec<ThreatEntry>,
}

/// An ATT&CK tactic or sub-technique: id, name and reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatEntry {
    /// TAxxxx or Txxxx.yyy
    pub id: String,
    /// The name.
    pub name: String,
    /// The ATT&CK page.
    pub reference: String,
}

/// The language a rule was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleFormat {
    /// trailtag's TOML rule files (`crate::frontend::native`).
    Native,
    /// Sigma YAML (`crate::frontend::sigma`).
    Sigma,
    /// Elastic detection-rule TOML, KQL or EQL over the ECS view (`crate::frontend::elastic`).
    Elastic,
}

impl RuleFormat {
    /// The lower-case name used in listings and tags.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleFormat::Native => "native",
            RuleFormat::Sigma => "sigma",
            RuleFormat::Elastic => "elastic",
        }
    }
}

/// A rule's descriptive metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMeta {
    /// Stable identifier: `[a-z0-9_]+` for native rules; imported rules keep their own
    /// (Sigma's and Elastic's UUIDs, `[a-z0-9_-]+`). The key of every count and tag.
    pub id: String,
    /// The language the rule was written in.
    pub format: RuleFormat,
    /// The status its source gives it (Sigma's `status`, Elastic's `maturity`), if any.
    pub status: Option<String>,
    /// Set when the rule runs only part of what its source detects, saying what is left out
    /// (an Elastic new_terms rule's history, a field trailtag cannot compute). Its findings say
    /// so too.
    pub partial: Option<String>,
    /// Human title.
    pub name: String,
    /// What the rule detects and why it matters.
    pub description: String,
    /// Severity.
    pub severity: Severity,
    /// Risk score, 0 to 100.
    pub risk_score: u8,
    /// Further reading.
    pub references: Vec<String>,
    /// ATT&CK mappings.
    pub threat: Vec<Threat>,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// Authors.
    pub author: Vec<String>,
    /// Known benign causes.
    pub false_positives: Vec<String>,
    /// The rule text's license, when it is not the project's.
    pub license: Option<String>,
    /// The investigation guide (Markdown).
    pub note: Option<String>,
    /// The file it came from.
    pub source: String,
}

/// A record a rule carries as evidence, with the verdict it must produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// What the example shows.
    pub name: String,
    /// Whether the rule must match it.
    pub matches: bool,
    /// The record, as JSON text.
    pub record: String,
    /// 1-based line in the rule file where the record starts.
    pub line: usize,
}

/// One top-level clause of a rule as its author wrote it: the text, and its part of the
/// condition. A rule's condition is the conjunction of its clauses; explanations say which held.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    /// The clause's text in the rule's own language.
    pub text: String,
    /// Its condition, as compiled (not optimised).
    pub condition: Expr,
}

/// A compiled rule: what every front end produces, whatever the language it was written in.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) meta: RuleMeta,
    pub(crate) condition: Expr,
    pub(crate) clauses: Vec<Clause>,
    pub(crate) context: Vec<ContextField>,
    pub(crate) examples: Vec<Example>,
}

impl Rule {
    /// The rule's metadata.
    pub fn meta(&self) -> &RuleMeta {
        &self.meta
    }

    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// The evidence the rule carries.
    pub fn examples(&self) -> &[Example] {
        &self.examples
    }

    /// The condition the detector runs (optimised unless the detector was built without).
    pub fn condition(&self) -> &Expr {
        &self.condition
    }

    /// The clauses the rule's condition is the conjunction of.
    pub fn clauses(&self) -> &[Clause] {
        &self.clauses
    }

    /// A rule from its parts (front ends build rules this way); the whole condition is its one
    /// clause, shown as `condition_text`.
    pub fn new(
        meta: RuleMeta,
        condition: Expr,
        context: Vec<ContextField>,
        examples: Vec<Example>,
    ) -> Self {
        let clauses = vec![Clause {
            text: "the condition".to_owned(),
            condition: condition.clone(),
        }];
        Self {
            meta,
            condition,
            clauses,
            context,
            examples,
        }
    }

    /// The conjunction of `clauses`.
    pub fn from_clauses_condition(clauses: &[Clause]) -> Expr {
        match clauses {
            [one] => one.condition.clone(),
            _ => Expr::All(clauses.iter().map(|c| c.condition.clone()).collect()),
        }
    }

    /// A rule whose condition is the conjunction of `clauses`.
    pub fn from_clauses(
        meta: RuleMeta,
        clauses: Vec<Clause>,
        context: Vec<ContextField>,
        examples: Vec<Example>,
    ) -> Self {
        let condition = Self::from_clauses_condition(&clauses);
        Self {
            meta,
            condition,
            clauses,
            context,
            examples,
        }
    }
}

impl Threat {
    /// Checks the mapping's framework and the shape of its ids (`TA0000`, `T0000`,
    /// `T0000.000` under its technique).
    pub fn validate(&self) -> Result<(), String> {
        validate_threat(self)
    }
}

fn validate_threat(threat: &Threat) -> Result<(), String> {
    let shaped = |id: &str, prefix: &str, digits: usize| {
        id.strip_prefix(prefix)
            .is_some_and(|d| d.len() == digits && d.bytes().all(|b| b.is_ascii_digit()))
    };
    if threat.framework != "MITRE ATT&CK" {
        return Err(format!(
            "threat framework must be \"MITRE ATT&CK\", not {:?}",
            threat.framework
        ));
    }
    if !shaped(&threat.tactic.id, "TA", 4) {
        return Err(format!(
            "tactic id {:?} is not of the form TA0000",
            threat.tactic.id
        ));
    }
    for technique in &threat.technique {
        if !shaped(&technique.id, "T", 4) {
            return Err(format!(
                "technique id {:?} is not of the form T0000",
                technique.id
            ));
        }
        for sub in &technique.subtechnique {
            let suffix = sub
                .id
                .strip_prefix(technique.id.as_str())
                .and_then(|s| s.strip_prefix('.'));
            if !suffix.is_some_and(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit())) {
                return Err(format!(
                    "sub-technique id {:?} is not of the form {}.000",
                    sub.id, technique.id
                ));
            }
        }
    }
    Ok(())
}
