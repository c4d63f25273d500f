//! Elastic's detection-rule files (`elastic/detection-rules`, TOML): KQL and EQL rules over the
//! ECS view of the raw record, compiled into the same IR as every other rule.
//!
//! ```toml
//! [metadata]
//! maturity = "production"
//!
//! [rule]
//! rule_id = "1d4ca9c0-ff1e-11ee-91cc-f661ea17fbce"
//! name = "AWS IAM Roles Anywhere Profile Creation"
//! type = "query"            # query | eql | new_terms | threshold (esql, machine_learning: rejected)
//! language = "kuery"        # kuery | eql
//! query = '''data_stream.dataset: aws.cloudtrail and event.action: CreateProfile …'''
//! severity = "high"
//! risk_score = 73
//! [[rule.threat]] …          # the same shape as native rules
//! ```
//!
//! - **Fields** are ECS names, resolved by [`fields::EcsFields`] (`crate::ecs` says where each
//!   comes from); a renamed field keeps the raw field's pins, so `event.action: CreateProfile`
//!   costs what a native rule costs.
//! - **Types**: `query` (KQL) and `eql` run as written. `new_terms` and `threshold` rules compile
//!   their filter and are marked **partial**: each record the filter matches is tagged, and the
//!   tag says what Elastic would also require (a first-seen combination of terms, a count),
//!   which needs state across records. EQL sequences, ES|QL and machine-learning rules are
//!   rejected with that reason.
//! - A rule that reads a field trailtag cannot compute (GeoIP, the user-agent parser) loads,
//!   marked partial: the field has no value (`fields`).
//! - **Metadata** maps one to one (`rule_id` is the id; Elastic's authors and licence go into
//!   the tag); `investigation_fields` that read the payload strings or raw fields outside the
//!   base context join the finding's context under their ECS names.

pub mod eql;
pub mod fields;

use serde::Deserialize;
use toml::Spanned;

use self::fields::EcsFields;
use super::native::{TomlDocument, deserialize_toml, problem, string_content_start};
use crate::context::{BASE_CONTEXT, ContextField};
use crate::ecs::{self, Source};
use crate::error::{RuleError, RuleErrorKind};
use crate::path::FieldPath;
use crate::rule::{Clause, Rule, RuleFormat, RuleMeta, Severity, Threat};

/// Whether a parsed TOML rule file is an Elastic one (it has `[metadata]` or a `rule_id`),
/// rather than a native one.
pub(crate) fn is_elastic_rule_file(document: &TomlDocument<'_>) -> bool {
    let table = document.get_ref();
    table.contains_key("metadata")
        || table
            .get("rule")
            .and_then(|rule| rule.get_ref().as_table())
            .is_some_and(|rule| rule.contains_key("rule_id"))
}

#[derive(Debug, Deserialize)]
struct ElasticFile {
    #[serde(default)]
    metadata: Option<Metadata>,
    rule: ElasticRule,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    #[serde(default)]
    maturity: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ElasticRule {
    rule_id: Spanned<String>,
    name: String,
    #[serde(default)]
    description: String,
    severity: Severity,
    risk_score: Spanned<i64>,
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    language: Option<Spanned<String>>,
    #[serde(default)]
    query: Option<Spanned<String>>,
    #[serde(default)]
    author: Vec<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    threat: Vec<Spanned<Threat>>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    false_positives: Vec<String>,
    #[serde(default)]
    event_category_override: Option<String>,
    #[serde(default)]
    new_terms: Option<NewTerms>,
    #[serde(default)]
    threshold: Option<Threshold>,
    #[serde(default)]
    investigation_fields: Option<InvestigationFields>,
}

#[derive(Debug, Deserialize)]
struct NewTerms {
    #[serde(default)]
    value: Vec<String>,
    #[serde(default)]
    history_window_start: Vec<NamedValue>,
}

#[derive(Debug, Deserialize)]
struct NamedValue {
    #[serde(default)]
    value: String,
}

#[derive(Debug, Deserialize)]
struct Threshold {
    #[serde(default)]
    field: Vec<String>,
    #[serde(default)]
    value: i64,
}

#[derive(Debug, Deserialize)]
struct InvestigationFields {
    #[serde(default)]
    field_names: Vec<String>,
}

/// Compiles one Elastic rule file, already parsed as `document`.
pub(crate) fn compile_elastic_file(
    file: &str,
    text: &str,
    document: TomlDocument<'_>,
) -> Result<Vec<Rule>, Vec<RuleError>> {
    let spec: ElasticFile = deserialize_toml(file, text, document)?;
    let id = spec.rule.rule_id.get_ref().to_ascii_lowercase();
    let compiler = Compiler {
        file,
        text,
        id,
        fields: EcsFields::default(),
    };
    compiler.compile(spec).map(|rule| vec![rule])
}

struct Compiler<'f> {
    file: &'f str,
    text: &'f str,
    id: String,
    fields: EcsFields,
}

impl Compiler<'_> {
    fn error(&self, offset: usize, kind: RuleErrorKind, message: impl Into<String>) -> RuleError {
        problem(
            self.file,
            self.text,
            offset,
            Some(self.id.clone()),
            kind,
            message.into(),
        )
    }

    fn compile(self, spec: ElasticFile) -> Result<Rule, Vec<RuleError>> {
        let rule = spec.rule;
        let mut errors = Vec::new();
        if !valid_id(&self.id) {
            errors.push(self.error(
                rule.rule_id.span().start,
                RuleErrorKind::Metadata,
                "rule_id must be non-empty [a-z0-9_-]",
            ));
        }
        let risk_score = u8::try_from(*rule.risk_score.get_ref())
            .ok()
            .filter(|s| *s <= 100);
        if risk_score.is_none() {
            errors.push(self.error(
                rule.risk_score.span().start,
                RuleErrorKind::Metadata,
                "risk_score must be 0 to 100",
            ));
        }
        for threat in &rule.threat {
            if let Err(message) = threat.get_ref().validate() {
                errors.push(self.error(threat.span().start, RuleErrorKind::Metadata, message));
            }
        }
        let condition = match self.condition(&rule) {
            Ok(condition) => Some(condition),
            Err(mut e) => {
                errors.append(&mut e);
                None
            }
        };
        let (Some(condition), Some(risk_score), true) = (condition, risk_score, errors.is_empty())
        else {
            return Err(errors);
        };
        let mut partial: Vec<String> = stateful_part(&rule).into_iter().collect();
        partial.extend(self.fields.notes());
        let context = investigation_context(rule.investigation_fields.as_ref());
        let meta = RuleMeta {
            id: self.id,
            format: RuleFormat::Elastic,
            status: spec.metadata.and_then(|m| m.maturity),
            partial: (!partial.is_empty()).then(|| partial.join("; ")),
            name: rule.name,
            description: rule.description.trim().to_owned(),
            severity: rule.severity,
            risk_score,
            references: rule.references,
            threat: rule.threat.into_iter().map(Spanned::into_inner).collect(),
            tags: rule.tags,
            author: rule.author,
            false_positives: rule
                .false_positives
                .iter()
                .map(|f| f.trim().to_owned())
                .collect(),
            license: rule.license,
            note: rule.note,
            source: self.file.to_owned(),
        };
        Ok(Rule::from_clauses(meta, condition, context, Vec::new()))
    }

    /// The rule's clauses, from its type, language and query.
    fn condition(&self, rule: &ElasticRule) -> Result<Vec<Clause>, Vec<RuleError>> {
        let kind = rule.kind.get_ref().as_str();
        let kind_at = rule.kind.span().start;
        let unsupported = |why: &str| {
            vec![self.error(
                kind_at,
                RuleErrorKind::Unsupported,
                format!("type = {kind:?}: {why}"),
            )]
        };
        match kind {
            "query" | "new_terms" | "threshold" | "eql" => {}
            "esql" => {
                return Err(unsupported(
                    "ES|QL is a piped language over result sets (most of these rules aggregate with STATS); trailtag runs KQL and EQL",
                ));
            }
            "machine_learning" => {
                return Err(unsupported(
                    "it raises anomalies found by an Elastic ML job; there is no query to run",
                ));
            }
            other => {
                return Err(unsupported(&format!(
                    "type {other:?} is not a rule type trailtag knows (query, eql, new_terms, threshold)"
                )));
            }
        }
        let language = rule.language.as_ref().map(|l| l.get_ref().as_str());
        let Some(query) = &rule.query else {
            return Err(vec![self.error(
                kind_at,
                RuleErrorKind::Syntax,
                "the rule has no query",
            )]);
        };
        let start = string_content_start(self.text, query.span().start);
        match (kind, language) {
            ("eql", Some("eql") | None) => self.eql(query.get_ref(), start, rule),
            ("eql", Some(other)) | (_, Some(other)) if other != "kuery" => {
                let at = rule.language.as_ref().map_or(kind_at, |l| l.span().start);
                Err(vec![self.error(
                    at,
                    RuleErrorKind::Unsupported,
                    format!("language {other:?}: trailtag runs kuery and eql"),
                )])
            }
            _ => self.kuery(query.get_ref(), start),
        }
    }

    fn eql(
        &self,
        query: &str,
        start: usize,
        rule: &ElasticRule,
    ) -> Result<Vec<Clause>, Vec<RuleError>> {
        eql::compile(query, rule.event_category_override.as_deref(), &self.fields).map_err(
            |errors| {
                errors
                    .into_iter()
                    .map(|e| {
                        let kind = if e.unsupported {
                            RuleErrorKind::Unsupported
                        } else {
                            RuleErrorKind::Query
                        };
                        self.error(start + e.offset, kind, e.message)
                    })
                    .collect()
            },
        )
    }

    fn kuery(&self, query: &str, start: usize) -> Result<Vec<Clause>, Vec<RuleError>> {
        super::kql::compile_clauses(query, &self.fields).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| self.error(start + e.offset, RuleErrorKind::Query, e.message))
                .collect()
        })
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// What a new_terms or threshold rule leaves out: the part that needs state across records.
fn stateful_part(rule: &ElasticRule) -> Option<String> {
    if let Some(terms) = &rule.new_terms {
        let window = terms
            .history_window_start
            .first()
            .map_or("the history window", |w| w.value.as_str());
        return Some(format!(
            "new_terms: every record the filter matches is tagged; Elastic alerts only on a combination of {} not seen since {window}, which needs state across records",
            terms.value.join(", ")
        ));
    }
    rule.threshold.as_ref().map(|threshold| {
        format!(
            "threshold: every record the filter matches is tagged; Elastic alerts only when {} or more match per {} within the rule's window, which needs state across records",
            threshold.value,
            if threshold.field.is_empty() { "rule".to_owned() } else { threshold.field.join(", ") }
        )
    })
}

/// The investigation fields worth carrying beside the base context: the payload strings and raw
/// fields the base context does not already hold, under their ECS names.
fn investigation_context(fields: Option<&InvestigationFields>) -> Vec<ContextField> {
    let base_paths: Vec<&str> = BASE_CONTEXT
        .iter()
        .flat_map(|(_, paths)| paths.iter().copied())
        .collect();
    let skip = ["eventTime", "eventName", "eventSource"];
    fields
        .map(|f| f.field_names.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|name| {
            let path = match ecs::source(name)? {
                Source::Raw(raw) if !base_paths.contains(&raw) && !skip.contains(&raw) => {
                    FieldPath::parse_dotted(raw)?
                }
                Source::Computed(computed @ ecs::Computed::PayloadString(_)) => computed.path(),
                _ => return None,
            };
            Some(ContextField::new(name, vec![path], None))
        })
        .collect()
}
