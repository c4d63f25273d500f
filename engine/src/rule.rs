//! Rules: the file format, its metadata, and the compiled form.
//!
//! A rule file is TOML, one rule per file, shaped after Elastic's detection-rule files so that
//! their metadata reads the same (`name`, `severity`, `risk_score`, `[[rule.threat]]` ...):
//!
//! ```toml
//! [rule]
//! id = "iam_group_created"
//! name = "AWS IAM Group Creation"
//! description = "..."
//! severity = "low"
//! risk_score = 21
//! query = '''
//! eventSource == "iam.amazonaws.com" and eventName == "CreateGroup"
//!   and (errorCode == null or errorCode == "")
//! '''
//!
//! [rule.context]            # extra fields copied into the tag's context
//! group_name = "requestParameters.groupName"
//!
//! [[example]]               # evidence: run by `cargo test` and `trailtag rules test`
//! name = "created from the CLI"
//! matches = true
//! record = '''{"eventSource":"iam.amazonaws.com", ...}'''
//! ```
//!
//! `docs/rules.md` documents every key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::condition::Expr;
use crate::context::ContextField;
use crate::error::{RuleError, RuleErrorKind, line_column};
use crate::path::FieldPath;
use crate::query;

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

/// A rule's descriptive metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleMeta {
    /// Stable identifier, `[a-z0-9_]+`; the key of every count and tag.
    pub id: String,
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

/// A compiled rule, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) meta: RuleMeta,
    pub(crate) condition: Expr,
    pub(crate) context: Vec<ContextField>,
    pub(crate) examples: Vec<Example>,
    /// This rule's entry in a tag's `detections` array, serialised once at load time.
    pub(crate) detection_json: Box<str>,
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

    /// The JSON object this rule contributes to a tag's `detections`.
    pub fn detection_json(&self) -> &str {
        &self.detection_json
    }
}

/// The file's shape, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: RuleSpec,
    #[serde(default)]
    example: Vec<ExampleSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: Spanned<String>,
    name: String,
    description: String,
    severity: Severity,
    risk_score: Spanned<i64>,
    #[serde(default)]
    references: Vec<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    author: Vec<String>,
    #[serde(default)]
    license: Option<String>,
    #[serde(default)]
    false_positives: Vec<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    language: Option<Spanned<String>>,
    query: Spanned<String>,
    #[serde(default)]
    threat: Vec<Spanned<Threat>>,
    #[serde(default)]
    context: BTreeMap<String, Spanned<ContextSpec>>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// A context entry: one path, or several tried in order with an optional default.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ContextSpec {
    Path(String),
    FirstOf {
        from: Vec<String>,
        #[serde(default)]
        default: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleSpec {
    name: String,
    matches: bool,
    record: Spanned<String>,
}

/// The language a native rule's query is written in.
pub const NATIVE_LANGUAGE: &str = "trailtag";

/// Compiles one native rule file. `Ok(None)` means the rule is valid but disabled.
pub(crate) fn compile_rule_file(file: &str, text: &str) -> Result<Option<Rule>, Vec<RuleError>> {
    let spec: RuleFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        vec![problem(
            file,
            text,
            offset,
            None,
            RuleErrorKind::Syntax,
            e.message().to_owned(),
        )]
    })?;
    RuleCompiler {
        file,
        text,
        id: spec.rule.id.get_ref().clone(),
        errors: Vec::new(),
    }
    .compile(spec)
}

struct RuleCompiler<'f> {
    file: &'f str,
    text: &'f str,
    id: String,
    errors: Vec<RuleError>,
}

impl RuleCompiler<'_> {
    fn report(&mut self, offset: usize, kind: RuleErrorKind, message: impl Into<String>) {
        let id = Some(self.id.clone());
        self.errors.push(problem(
            self.file,
            self.text,
            offset,
            id,
            kind,
            message.into(),
        ));
    }

    fn compile(mut self, spec: RuleFile) -> Result<Option<Rule>, Vec<RuleError>> {
        let RuleFile { rule, example } = spec;
        self.check_id(&rule.id);
        let risk_score = self.check_risk_score(&rule.risk_score);
        self.check_language(rule.language.as_ref());
        let threat = self.check_threat(&rule.threat);
        let context = self.compile_context(&rule.context);
        let condition = self.compile_query(&rule.query);
        let examples = example.into_iter().map(|e| self.example(e)).collect();
        let (Some(condition), true) = (condition, self.errors.is_empty()) else {
            return Err(self.errors);
        };
        if !rule.enabled {
            return Ok(None);
        }
        let meta = RuleMeta {
            id: self.id,
            name: rule.name,
            description: rule.description,
            severity: rule.severity,
            risk_score,
            references: rule.references,
            threat,
            tags: rule.tags,
            author: rule.author,
            false_positives: rule.false_positives,
            license: rule.license,
            note: rule.note,
            source: self.file.to_owned(),
        };
        let detection_json = crate::tag::detection_json(&meta);
        Ok(Some(Rule {
            meta,
            condition,
            context,
            examples,
            detection_json,
        }))
    }

    fn check_id(&mut self, id: &Spanned<String>) {
        let valid = !id.get_ref().is_empty()
            && id
                .get_ref()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            self.report(
                id.span().start,
                RuleErrorKind::Metadata,
                "id must be non-empty [a-z0-9_]",
            );
        }
    }

    fn check_risk_score(&mut self, score: &Spanned<i64>) -> u8 {
        match u8::try_from(*score.get_ref()) {
            Ok(s) if s <= 100 => s,
            _ => {
                self.report(
                    score.span().start,
                    RuleErrorKind::Metadata,
                    "risk_score must be 0 to 100",
                );
                0
            }
        }
    }

    fn check_language(&mut self, language: Option<&Spanned<String>>) {
        if let Some(language) = language.filter(|l| l.get_ref() != NATIVE_LANGUAGE) {
            let message = format!(
                "language {:?} is not supported by this build (native rules use {NATIVE_LANGUAGE:?})",
                language.get_ref()
            );
            self.report(language.span().start, RuleErrorKind::Unsupported, message);
        }
    }

    fn check_threat(&mut self, threats: &[Spanned<Threat>]) -> Vec<Threat> {
        for threat in threats {
            if let Err(message) = validate_threat(threat.get_ref()) {
                self.report(threat.span().start, RuleErrorKind::Metadata, message);
            }
        }
        threats.iter().map(|t| t.get_ref().clone()).collect()
    }

    fn compile_context(
        &mut self,
        specs: &BTreeMap<String, Spanned<ContextSpec>>,
    ) -> Vec<ContextField> {
        let mut fields = Vec::new();
        for (name, spec) in specs {
            let (paths, default) = match spec.get_ref() {
                ContextSpec::Path(p) => (vec![p.clone()], None),
                ContextSpec::FirstOf { from, default } => (from.clone(), default.clone()),
            };
            let parsed: Option<Vec<FieldPath>> =
                paths.iter().map(|p| FieldPath::parse_dotted(p)).collect();
            match parsed {
                Some(paths) if !paths.is_empty() => {
                    fields.push(ContextField::new(name, paths, default))
                }
                _ => self.report(
                    spec.span().start,
                    RuleErrorKind::Metadata,
                    format!("context {name:?}: paths must be non-empty dotted field names"),
                ),
            }
        }
        fields
    }

    fn compile_query(&mut self, query: &Spanned<String>) -> Option<Expr> {
        let content_start = string_content_start(self.text, query.span().start);
        let ast = match query::parse(query.get_ref()) {
            Ok(ast) => ast,
            Err(e) => {
                self.report(content_start + e.offset, RuleErrorKind::Query, e.message);
                return None;
            }
        };
        match Expr::compile(&ast) {
            Ok(condition) => Some(condition),
            Err(e) => {
                self.report(content_start, RuleErrorKind::Query, e.message);
                None
            }
        }
    }

    fn example(&mut self, spec: ExampleSpec) -> Example {
        let start = string_content_start(self.text, spec.record.span().start);
        let record = spec.record.into_inner();
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&record) {
            self.report(
                start,
                RuleErrorKind::Metadata,
                format!("example {:?}: the record is not valid JSON: {e}", spec.name),
            );
        }
        Example {
            name: spec.name,
            matches: spec.matches,
            record,
            line: line_column(self.text, start).0,
        }
    }
}

fn problem(
    file: &str,
    text: &str,
    offset: usize,
    rule_id: Option<String>,
    kind: RuleErrorKind,
    message: String,
) -> RuleError {
    let (line, column) = line_column(text, offset);
    RuleError {
        file: file.to_owned(),
        line,
        column,
        rule_id,
        kind,
        message,
    }
}

/// Where a TOML string's content begins, given the offset of its opening delimiter.
///
/// Exact for literal strings (`'...'`, `'''...'''`), which rule files use for queries; for basic
/// strings with escapes, positions after an escape are approximate.
fn string_content_start(text: &str, start: usize) -> usize {
    let rest = text.get(start..).unwrap_or("");
    let delimiter = if rest.starts_with("'''") || rest.starts_with(r#"""""#) {
        3
    } else {
        1
    };
    let after = rest.get(delimiter..).unwrap_or("");
    let newline = if delimiter == 3 {
        if after.starts_with("\r\n") {
            2
        } else {
            usize::from(after.starts_with('\n'))
        }
    } else {
        0
    };
    start + delimiter + newline
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
