//! The native rule format: one TOML file per rule, its query in EQL's expression syntax.
//!
//! A rule file is shaped after Elastic's detection-rule files so that their metadata reads the
//! same (`name`, `severity`, `risk_score`, `[[rule.threat]]` ...):
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
//! [rule.context]            # extra fields copied into the finding's context
//! group_name = "requestParameters.groupName"
//!
//! [[example]]               # evidence: run by `cargo test` and `trailtag rules test`
//! name = "created from the CLI"
//! matches = true
//! record = '''{"eventSource":"iam.amazonaws.com", ...}'''
//! ```
//!
//! The query is parsed and lowered by [`super::query`]; `docs/rules.md` documents every key.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::fields::RawFields;
use super::query::{self, Dialect};
use crate::context::ContextField;
use crate::error::{RuleError, RuleErrorKind, line_column};
use crate::path::FieldPath;
use crate::rule::{Clause, Example, Rule, RuleFormat, RuleMeta, Severity, Threat};

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
    context: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
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

/// Compiles one native rule file, already parsed as `document` (see [`TomlDocument`]).
/// `Ok(None)` means the rule is valid but disabled.
pub(crate) fn compile_rule_file(
    file: &str,
    text: &str,
    document: TomlDocument<'_>,
) -> Result<Option<Rule>, Vec<RuleError>> {
    let spec: RuleFile = deserialize_toml(file, text, document)?;
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
        let clauses = self.compile_query(&rule.query);
        let examples = example.into_iter().map(|e| self.example(e)).collect();
        let (Some(clauses), true) = (clauses, self.errors.is_empty()) else {
            return Err(self.errors);
        };
        if !rule.enabled {
            return Ok(None);
        }
        let meta = RuleMeta {
            id: self.id,
            format: RuleFormat::Native,
            status: None,
            partial: None,
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
        Ok(Some(Rule::from_clauses(meta, clauses, context, examples)))
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
            if let Err(message) = threat.get_ref().validate() {
                self.report(threat.span().start, RuleErrorKind::Metadata, message);
            }
        }
        threats.iter().map(|t| t.get_ref().clone()).collect()
    }

    fn compile_context(
        &mut self,
        specs: &BTreeMap<String, Spanned<toml::Value>>,
    ) -> Vec<ContextField> {
        let mut fields = Vec::new();
        for (name, spec) in specs {
            match context_field(name, spec.get_ref()) {
                Ok(field) => fields.push(field),
                Err(message) => {
                    self.report(spec.span().start, RuleErrorKind::Metadata, message);
                }
            }
        }
        fields
    }

    fn compile_query(&mut self, query: &Spanned<String>) -> Option<Vec<Clause>> {
        let content_start = string_content_start(self.text, query.span().start);
        match query::compile_clauses(query.get_ref(), &RawFields::OBJECTS_ONLY, Dialect::NATIVE) {
            Ok(clauses) => Some(clauses),
            Err(errors) => {
                for e in errors {
                    self.report(content_start + e.offset, RuleErrorKind::Query, e.message);
                }
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

/// A TOML file parsed once, before its shape is known: the loader reads it to tell an Elastic
/// rule file from a native one, then the front end deserializes the same tree (parsing the file
/// twice was 148 M of the 354 M instructions it took to compile the 222 SigmaHQ and Elastic
/// rules). Values keep their spans, so errors still point at a line and column.
pub(crate) type TomlDocument<'a> = Spanned<toml::de::DeTable<'a>>;

/// Parses a TOML file; a syntax error is reported at its line and column.
pub(crate) fn parse_toml_document<'a>(
    file: &str,
    text: &'a str,
) -> Result<TomlDocument<'a>, Vec<RuleError>> {
    toml::de::DeTable::parse(text).map_err(|e| toml_problem(file, text, &e))
}

/// Reads a parsed TOML file into `T`; a shape error is reported at its line and column.
pub(crate) fn deserialize_toml<'a, T: Deserialize<'a>>(
    file: &str,
    text: &str,
    document: TomlDocument<'a>,
) -> Result<T, Vec<RuleError>> {
    T::deserialize(toml::de::Deserializer::from(document)).map_err(|e| toml_problem(file, text, &e))
}

/// Reads a TOML file into `T`; a syntax or shape error is reported at its line and column.
pub(crate) fn parse_toml<T: serde::de::DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<T, Vec<RuleError>> {
    deserialize_toml(file, text, parse_toml_document(file, text)?)
}

fn toml_problem(file: &str, text: &str, error: &toml::de::Error) -> Vec<RuleError> {
    let offset = error.span().map_or(0, |s| s.start);
    vec![problem(
        file,
        text,
        offset,
        None,
        RuleErrorKind::Syntax,
        error.message().to_owned(),
    )]
}

pub(crate) fn problem(
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

/// A `[rule.context]` entry: a path, or `{ from = [paths...], default = "..." }`. Read by hand
/// rather than by serde, so that a mistake is named in the rule author's words.
fn context_field(name: &str, spec: &toml::Value) -> Result<ContextField, String> {
    let (paths, default) = match spec {
        toml::Value::String(path) => (vec![path.clone()], None),
        toml::Value::Table(table) => {
            if let Some(key) = table
                .keys()
                .find(|k| !matches!(k.as_str(), "from" | "default"))
            {
                return Err(format!(
                    "context {name:?}: unknown key `{key}` (a context entry is a path, or a table with `from` = [paths] and an optional `default`)"
                ));
            }
            let from = table
                .get("from")
                .ok_or_else(|| format!("context {name:?}: the table needs `from` = [paths]"))?;
            let paths = from
                .as_array()
                .and_then(|a| a.iter().map(|p| p.as_str().map(str::to_owned)).collect())
                .ok_or_else(|| format!("context {name:?}: `from` must be a list of paths"))?;
            let default = match table.get("default") {
                None => None,
                Some(toml::Value::String(d)) => Some(d.clone()),
                Some(_) => return Err(format!("context {name:?}: `default` must be a string")),
            };
            (paths, default)
        }
        _ => {
            return Err(format!(
                "context {name:?}: expected a path, or a table with `from` = [paths]"
            ));
        }
    };
    let parsed: Option<Vec<FieldPath>> = paths.iter().map(|p| FieldPath::parse_dotted(p)).collect();
    match parsed {
        Some(paths) if !paths.is_empty() => Ok(ContextField::new(name, paths, default)),
        _ => Err(format!(
            "context {name:?}: paths must be non-empty dotted field names"
        )),
    }
}

/// Where a TOML string's content begins, given the offset of its opening delimiter.
///
/// Exact for literal strings (`'...'`, `'''...'''`), which rule files use for queries; for basic
/// strings with escapes, positions after an escape are approximate.
pub(crate) fn string_content_start(text: &str, start: usize) -> usize {
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
