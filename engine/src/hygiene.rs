//! `trailtag rules check`: what a loaded rule set does that a detection engineer would want to
//! know before shipping it. None of these stop a load; each is a finding about cost or trust.
//!
//! - **no rules** loaded at all: a filter that tags nothing looks healthy;
//! - a rule **without examples**: nothing shows it fires, or that it stays quiet;
//! - a rule that **pins no field**: the cheap scan cannot rule records out for it, so every
//!   record is parsed (the rule still works; it costs a parse per record);
//! - a **field that no CloudTrail record has** (`eventname` for `eventName`), with the
//!   spelling it probably meant: a rule on a field that never exists never fires;
//! - a **partial** rule: what it leaves out.
//!
//! Field names are checked against the CloudTrail record structure (AWS's "CloudTrail record
//! contents", and the digest files that share their buckets): every top-level key, and the keys
//! of `userIdentity`, `tlsDetails`, `resources`, `addendum` and `logFiles`; a test holds the
//! catalogue to every key of the real corpus. Below the payload objects (`requestParameters` …), whose keys depend on the
//! API called, any name is accepted.

use crate::catalogue::{OPEN_BELOW, RECORD};
use crate::detector::Detector;
use crate::ir::pins::Need;
use crate::path::FieldPath;
use crate::rule::Rule;

/// One finding about the rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// Nothing is loaded.
    NoRules,
    /// The rule carries no examples.
    NoExamples { rule: String },
    /// The cheap scan has no pin for the rule.
    NoPins { rule: String },
    /// The rule's condition is false for every record (it needs values trailtag cannot see, or
    /// contradicts itself).
    NeverMatches { rule: String },
    /// The rule reads a field no CloudTrail record has.
    UnknownField {
        rule: String,
        field: String,
        suggestion: Option<String>,
    },
    /// The rule runs only part of its source.
    Partial { rule: String, why: String },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::NoRules => f.write_str("no rules are loaded: nothing will ever be tagged"),
            Warning::NoExamples { rule } => write!(
                f,
                "{rule}: no examples (add matching and non-matching records; for Sigma and Elastic rules in a FILE.examples.toml beside the rule)"
            ),
            Warning::NeverMatches { rule } => write!(
                f,
                "{rule}: can never match: its condition is false for every record (a field it needs has no value here, or its clauses contradict each other); it costs nothing"
            ),
            Warning::NoPins { rule } => write!(
                f,
                "{rule}: pins no field, so the cheap scan cannot rule records out: every record is parsed for it (test eventName or eventSource for equality to keep the fast path)"
            ),
            Warning::UnknownField {
                rule,
                field,
                suggestion,
            } => {
                write!(f, "{rule}: `{field}` is not a field of CloudTrail records")?;
                match suggestion {
                    Some(s) => write!(f, " (did you mean `{s}`?)"),
                    None => f.write_str(", so it never has a value"),
                }
            }
            Warning::Partial { rule, why } => write!(f, "{rule}: partial: {why}"),
        }
    }
}

/// Every finding for `detector`'s rules, rule by rule.
pub fn check(detector: &Detector) -> Vec<Warning> {
    if detector.rules().is_empty() {
        return vec![Warning::NoRules];
    }
    detector.rules().iter().flat_map(check_rule).collect()
}

fn check_rule(rule: &Rule) -> Vec<Warning> {
    let id = || rule.id().to_owned();
    let mut warnings = Vec::new();
    if rule.examples().is_empty() {
        warnings.push(Warning::NoExamples { rule: id() });
    }
    if rule.condition().is_never() {
        warnings.push(Warning::NeverMatches { rule: id() });
    } else if Need::of(rule.condition()).best_clause().is_none() {
        warnings.push(Warning::NoPins { rule: id() });
    }
    let mut seen: Vec<String> = Vec::new();
    for leaf in rule.condition().leaves() {
        if let Err(suggestion) = known_field(&leaf.field) {
            let field = leaf.field.segments().join(".");
            if !seen.contains(&field) {
                seen.push(field.clone());
                warnings.push(Warning::UnknownField {
                    rule: id(),
                    field,
                    suggestion,
                });
            }
        }
    }
    if let Some(why) = &rule.meta().partial {
        warnings.push(Warning::Partial {
            rule: id(),
            why: why.clone(),
        });
    }
    warnings
}

/// Whether CloudTrail records can have `field`; if not, the spelling it probably meant.
pub fn known_field(field: &FieldPath) -> Result<(), Option<String>> {
    let segments = field.segments();
    if field.is_derived() || segments.is_empty() {
        return Ok(());
    }
    let top = &segments[0];
    let Some((_, members)) = RECORD.iter().find(|(key, _)| key == top) else {
        return Err(suggest(top, RECORD.iter().map(|(k, _)| *k)).map(|s| respell(segments, 0, s)));
    };
    let (Some(members), Some(second)) = (members, segments.get(1)) else {
        return Ok(());
    };
    if members.contains(&second.as_str())
        || OPEN_BELOW.contains(&second.as_str()) && segments.len() > 2
    {
        return Ok(());
    }
    Err(suggest(second, members.iter().copied()).map(|s| respell(segments, 1, s)))
}

/// The candidate spelled like `name` but for letter case.
fn suggest<'k>(name: &str, candidates: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    candidates
        .into_iter()
        .find(|c| c.eq_ignore_ascii_case(name))
}

fn respell(segments: &[String], index: usize, replacement: &str) -> String {
    let mut fixed: Vec<&str> = segments.iter().map(String::as_str).collect();
    fixed[index] = replacement;
    fixed.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(path: &str) -> Result<(), Option<String>> {
        known_field(&FieldPath::parse_dotted(path).unwrap())
    }

    #[test]
    fn field_names_are_checked_against_the_record_structure() {
        assert_eq!(field("eventName"), Ok(()));
        assert_eq!(field("eventname"), Err(Some("eventName".into())));
        assert_eq!(
            field("userIdentity.sessionContext.sessionIssuer.type"),
            Ok(())
        );
        assert_eq!(
            field("userIdentity.arN"),
            Err(Some("userIdentity.arn".into()))
        );
        assert_eq!(field("requestParameters.anything.at.all"), Ok(()));
        assert_eq!(field("status"), Err(None));
        assert_eq!(
            field("tlsDetails.tlsversion"),
            Err(Some("tlsDetails.tlsVersion".into()))
        );
    }
}
