//! Sigma rules (`.yml`, `.yaml`): SigmaHQ's detection format, lowered into the IR.
//!
//! A file holds one rule, or several complete rules as YAML documents (`---`); each is compiled
//! on its own, and every problem found is reported with file, line, column and rule id. The
//! semantics follow the Sigma rules specification v2.1 and its modifiers appendix; where they
//! leave a choice to the implementation, trailtag's choice is written here and in `docs/sigma.md`.
//!
//! # The pieces
//!
//! - [`yaml`]: the file as a tree of nodes that know their positions, duplicate keys rejected;
//! - [`meta`]: `title`, `id`, `level`, `tags` ... into [`RuleMeta`] (ATT&CK tags into threat
//!   entries, the author kept for DRL attribution);
//! - [`modifiers`]: a key, `field|modifier|...`, into the field and what its modifiers ask for;
//! - [`values`]: a value string's wildcards and escapes, and the transformations (`contains`,
//!   `windash`, `base64offset`, placeholders ...) that turn one value into the strings it means;
//! - [`detection`]: selections (maps, lists, keywords) into IR;
//! - [`condition`]: the `condition` grammar, lowered over the compiled selections.
//!
//! # How a rule lowers
//!
//! - **Fields** are the raw CloudTrail names; a dotted name is a path into the record
//!   (`userIdentity.sessionContext.sessionIssuer.type`). Every value test reads the field with
//!   [`Quantifier::AnyLeaf`](crate::ir::Quantifier::AnyLeaf): arrays along the path are entered,
//!   and an object or array at its end is searched for a scalar that matches
//!   (`requestParameters|contains: 'Suspended'` looks at every value under
//!   `requestParameters`). For a scalar field that is plain any-element matching.
//! - **Values compare as text**, case-insensitively: the value's test sits in a
//!   [`TextTest`](crate::ir::TextTest) view, so `'true'` matches JSON `true` and `'42'` matches
//!   `42`. `cased` makes the comparison exact. A number or boolean in the rule is its text
//!   (`42`, `true`). The optimiser unwraps the view where only strings can match, so
//!   `eventName: 'CreateUser'` is an ordinary pinned equality.
//! - **A plain value matches the whole field value**; `*` and `?` are wildcards, with the
//!   specification's backslash escapes ([`values`]). A value without wildcards is an equality,
//!   `x*` a prefix, `*x*` a substring, anything else an anchored regex
//!   ([`crate::ir::wildcard`]).
//! - **Structure**: a map is an AND, a list of values an OR (AND with `all`), a list of maps an
//!   OR, plain values as a selection a keyword search (every scalar of the record, contains).
//! - **`null`** is "absent or null" ([`Test::Missing`](crate::ir::Test::Missing)); **`exists`**
//!   asks whether the field is there at all, whatever its value.
//! - **`not`** is two-valued: `selection and not filter` holds when the filter's field is
//!   absent, as Sigma's backends (Splunk's `NOT`, Elasticsearch's `must_not`) read it.
//! - **Type modifiers**: `re` is the `regex` crate's syntax (a superset of the PCRE subset the
//!   specification allows), searched anywhere in the text, case-sensitive unless `re|i`; `m`
//!   and `s` are inline flags. `cidr` tests IPv4 and IPv6 networks; `fieldref` compares with
//!   another field's value, as text; `lt`, `lte`, `gt`, `gte` compare numbers, a string that is
//!   a number included; `neq` holds when the field equals none of the values (and so when it
//!   is absent).
//! - **Placeholders** (`expand`) take the values configured in [`Placeholders`]; a placeholder
//!   with none configured is an error naming it, as the specification asks of a tool that
//!   cannot resolve one.
//!
//! # What is rejected
//!
//! Everything is checked at load time. Rules for another log source than
//! `product: aws, service: cloudtrail`, aggregations (`| count()`), `near`, `timeframe`,
//! correlation rules, Sigma filters, rule collections (`action: global`), and the time
//! modifiers are [`RuleErrorKind::Unsupported`], each with its reason; unknown modifiers,
//! modifier combinations that mean nothing, undefined selections, empty selections, and
//! malformed metadata are errors at the node that holds them.
//!
//! # The YAML crate
//!
//! `saphyr-parser`, the event parser of the saphyr project (the maintained successor of
//! `yaml-rust`/`yaml-rust2`, by the same maintainers; `serde_yaml` is unmaintained), and only
//! it: its events carry spans, from which [`yaml`] builds a tree that keeps the position of every
//! node and key, rejects duplicate keys (a generic map would keep the last value and lose a
//! selection silently) and types scalars by the YAML 1.2 core schema and their quoting. It is
//! pure Rust, builds for `wasm32-unknown-unknown`, and brings one small dependency
//! (`arraydeque`); the `saphyr` crate above it would add a map type and float wrappers the
//! engine does not need.

mod condition;
mod detection;
mod meta;
mod modifiers;
mod values;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use yaml::{Node, Pos, Value};

use crate::error::{RuleError, RuleErrorKind};
use crate::ir::Expr;
use crate::rule::{Clause, Rule, RuleFormat, RuleMeta};

/// The values of Sigma placeholders (`%Administrators%` under the `expand` modifier): each name,
/// without its percent signs, with the values it stands for. Each value is read with Sigma's
/// wildcard rules (`adm*` is a pattern). The default configures none, so that a rule using a
/// placeholder is rejected with its name rather than matched against nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    values: BTreeMap<String, Vec<String>>,
}

impl Placeholders {
    /// No placeholder configured.
    pub fn new() -> Self {
        Self::default()
    }

    /// These placeholders and `name` standing for `values`.
    pub fn with<V: Into<String>>(
        mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.insert(name, values);
        self
    }

    /// Sets the values `name` stands for (replacing any given before).
    pub fn insert<V: Into<String>>(
        &mut self,
        name: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) {
        self.values
            .insert(name.into(), values.into_iter().map(Into::into).collect());
    }

    /// The values of `name`, if configured.
    pub fn get(&self, name: &str) -> Option<&[String]> {
        self.values.get(name).map(Vec::as_slice)
    }

    /// Whether no placeholder is configured.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// A problem found in a rule, at a node.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    pos: Pos,
    kind: RuleErrorKind,
    message: String,
}

impl Problem {
    fn new(pos: Pos, kind: RuleErrorKind, message: impl Into<String>) -> Self {
        Self {
            pos,
            kind,
            message: message.into(),
        }
    }

    fn query(pos: Pos, message: impl Into<String>) -> Self {
        Self::new(pos, RuleErrorKind::Query, message)
    }

    fn metadata(pos: Pos, message: impl Into<String>) -> Self {
        Self::new(pos, RuleErrorKind::Metadata, message)
    }
}

/// Compiles a Sigma file: every rule in it, or every problem found.
pub(crate) fn compile_sigma_file(
    file: &str,
    text: &str,
    placeholders: &Placeholders,
) -> Result<Vec<Rule>, Vec<RuleError>> {
    let to_errors = |problems: Vec<Problem>, id: Option<&str>| -> Vec<RuleError> {
        problems
            .into_iter()
            .map(|p| rule_error(file, id, p))
            .collect()
    };
    let documents = yaml::load(text).map_err(|e| {
        to_errors(
            vec![Problem::new(e.pos, RuleErrorKind::Syntax, e.message)],
            None,
        )
    })?;
    let documents: Vec<&Node> = documents
        .iter()
        .filter(|d| d.value != Value::Null)
        .collect();
    check_file(&documents).map_err(|p| to_errors(vec![p], None))?;
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    for document in documents {
        let mut compiler = Compiler {
            file,
            placeholders,
            id: None,
            problems: Vec::new(),
        };
        match compiler.rule(document) {
            Some(rule) if compiler.problems.is_empty() => rules.push(rule),
            _ => errors.extend(to_errors(compiler.problems, compiler.id.as_deref())),
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// A file must hold rules, and not a rule collection (whose documents are not rules on their
/// own).
fn check_file(documents: &[&Node]) -> Result<(), Problem> {
    if documents.is_empty() {
        return Err(Problem::new(
            Pos { line: 1, column: 1 },
            RuleErrorKind::Syntax,
            "the file holds no Sigma rule",
        ));
    }
    match documents.iter().find_map(|d| d.get("action")) {
        Some(action) => Err(Problem::new(
            action.key_node.pos,
            RuleErrorKind::Unsupported,
            "rule collections (`action: global`, `reset`, `repeat`) are not supported: write each rule as a complete document",
        )),
        None => Ok(()),
    }
}

fn rule_error(file: &str, id: Option<&str>, problem: Problem) -> RuleError {
    RuleError {
        file: file.to_owned(),
        line: problem.pos.line,
        column: problem.pos.column,
        rule_id: id.map(str::to_owned),
        kind: problem.kind,
        message: problem.message,
    }
}

/// Compiles one document, collecting every problem.
struct Compiler<'f> {
    file: &'f str,
    placeholders: &'f Placeholders,
    id: Option<String>,
    problems: Vec<Problem>,
}

impl Compiler<'_> {
    fn report(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// `Ok` of the value, or the problem reported and `None`.
    fn check<T>(&mut self, result: Result<T, Problem>) -> Option<T> {
        result.map_err(|p| self.report(p)).ok()
    }

    fn rule(&mut self, document: &Node) -> Option<Rule> {
        if !matches!(document.value, Value::Map(_)) {
            self.report(Problem::new(
                document.pos,
                RuleErrorKind::Syntax,
                "a Sigma rule is a map of keys such as `title`, `id`, `logsource` and `detection`",
            ));
            return None;
        }
        self.reject_other_kinds(document)?;
        self.id = self.required(document, "id").and_then(|n| {
            let id = meta::id(n);
            self.check(id)
        });
        let title = self
            .required(document, "title")
            .map(|n| meta::string(n, "title"));
        let title = title.and_then(|t| self.check(t));
        if let Some(logsource) = self.required(document, "logsource") {
            self.logsource(logsource);
        }
        let clauses = self
            .required(document, "detection")
            .and_then(|d| self.detection(d));
        let meta = self.meta(document, title.unwrap_or_default());
        Some(Rule::from_clauses(meta, clauses?, Vec::new(), Vec::new()))
    }

    /// Correlation rules and filters are Sigma documents, but not detection rules.
    fn reject_other_kinds(&mut self, document: &Node) -> Option<()> {
        let reasons = [
            (
                "correlation",
                "correlation rules relate several records; trailtag decides each record on its own",
            ),
            (
                "filter",
                "Sigma filters (documents with `filter:`) are not supported: put the exclusion in the rule's own detection",
            ),
        ];
        for (key, reason) in reasons {
            if let Some(entry) = document.get(key) {
                self.report(Problem::new(
                    entry.key_node.pos,
                    RuleErrorKind::Unsupported,
                    reason,
                ));
                return None;
            }
        }
        Some(())
    }

    fn required<'n>(&mut self, document: &'n Node, key: &str) -> Option<&'n Node> {
        let entry = document.get(key);
        if entry.is_none() {
            let what = match key {
                "id" => "an `id` (trailtag keys every count and tag by it; Sigma rules use a UUID)",
                "title" => "a `title`",
                "logsource" => "a `logsource` (`product: aws`, `service: cloudtrail`)",
                _ => "a `detection` (its selections and `condition`)",
            };
            self.report(Problem::new(
                document.pos,
                RuleErrorKind::Syntax,
                format!("the rule has no `{key}`: a Sigma rule needs {what}"),
            ));
        }
        entry.map(|e| &e.value)
    }

    fn logsource(&mut self, node: &Node) {
        let field = |key: &str| node.get(key).and_then(|e| e.value.scalar_text());
        let lower = |key: &str| field(key).map(|v| v.to_ascii_lowercase());
        let cloudtrail = lower("product").as_deref() == Some("aws")
            && lower("service").as_deref() == Some("cloudtrail")
            && field("category").is_none();
        if cloudtrail {
            return;
        }
        let named: Vec<String> = ["category", "product", "service"]
            .iter()
            .filter_map(|key| field(key).map(|v| format!("{key}: {v}")))
            .collect();
        let named = match named.is_empty() {
            true => "names no product or service".to_owned(),
            false => named.join(", "),
        };
        self.report(Problem::new(
            node.pos,
            RuleErrorKind::Unsupported,
            format!(
                "logsource {named}: trailtag reads CloudTrail records (logsource product: aws, service: cloudtrail)"
            ),
        ));
    }

    fn detection(&mut self, node: &Node) -> Option<Vec<Clause>> {
        let Value::Map(entries) = &node.value else {
            self.report(Problem::new(
                node.pos,
                RuleErrorKind::Syntax,
                "`detection` must be a map of selections and a `condition`",
            ));
            return None;
        };
        if let Some(timeframe) = node.get("timeframe") {
            self.report(Problem::new(
                timeframe.key_node.pos,
                RuleErrorKind::Unsupported,
                "`timeframe` belongs to aggregations over time; trailtag decides each record on its own",
            ));
        }
        let selections: Vec<(String, Option<Expr>)> = entries
            .iter()
            .filter(|e| !matches!(e.key.as_str(), "condition" | "timeframe"))
            .map(|e| {
                let compiled = detection::selection(e, self.placeholders);
                let expr = compiled.map_err(|p| self.problems.extend(p)).ok();
                (e.key.clone(), expr)
            })
            .collect();
        let Some(condition) = node.get("condition") else {
            self.report(Problem::new(
                node.pos,
                RuleErrorKind::Syntax,
                "`detection` has no `condition`: name the selections that must match (`condition: selection`)",
            ));
            return None;
        };
        if selections.is_empty() {
            self.report(Problem::query(node.pos, "`detection` defines no selection"));
            return None;
        }
        self.conditions(&condition.value, &selections)
    }

    /// The condition, or the OR of a list of them, as clauses: one condition's top-level `and`
    /// terms (so that an explanation can say which held), or a list's OR as one clause.
    fn conditions(
        &mut self,
        node: &Node,
        selections: &[(String, Option<Expr>)],
    ) -> Option<Vec<Clause>> {
        let items: Vec<&Node> = match &node.value {
            Value::List(items) if !items.is_empty() => items.iter().collect(),
            _ => vec![node],
        };
        let mut lowered: Vec<Vec<Clause>> = Vec::new();
        for item in items {
            let Value::String(text) = &item.value else {
                self.report(Problem::query(
                    item.pos,
                    format!(
                        "a condition is text such as `selection and not filter`, not {}",
                        item.describe()
                    ),
                ));
                continue;
            };
            let at =
                |e: condition::ConditionError| Problem::new(item.at(e.offset), e.kind, e.message);
            match condition::parse(text) {
                Err(e) => self.report(at(e)),
                Ok(cond) => {
                    let mut clauses = Vec::new();
                    for term in cond.conjuncts() {
                        match condition::lower(term, selections) {
                            Ok(expr) => clauses.push(Clause {
                                text: term.to_string(),
                                condition: expr,
                            }),
                            Err(errors) => self.problems.extend(errors.into_iter().map(at)),
                        }
                    }
                    lowered.push(clauses);
                }
            }
        }
        match lowered.len() {
            1 => lowered.pop(),
            _ => Some(vec![Clause {
                text: "any of the conditions".to_owned(),
                condition: Expr::Any(
                    lowered
                        .into_iter()
                        .map(|clauses| Rule::from_clauses_condition(&clauses))
                        .collect(),
                ),
            }]),
        }
    }

    fn meta(&mut self, document: &Node, name: String) -> RuleMeta {
        let get = |key: &str| document.get(key).map(|e| &e.value);
        let (severity, risk_score) = self
            .check(meta::level(get("level")))
            .unwrap_or((crate::rule::Severity::Medium, 47));
        let mut text_list = |key: &str| {
            get(key)
                .map(|n| meta::strings(n, key))
                .map(|r| self.check(r).unwrap_or_default())
                .unwrap_or_default()
        };
        let references = text_list("references");
        let author = text_list("author");
        let false_positives = text_list("falsepositives");
        let tags = text_list("tags");
        let mut text = |key: &str| {
            get(key)
                .map(|n| meta::string(n, key))
                .and_then(|r| self.check(r))
        };
        let description = text("description")
            .unwrap_or_default()
            .trim_end()
            .to_owned();
        let license = text("license").unwrap_or_else(|| meta::DEFAULT_LICENSE.to_owned());
        let status = get("status").and_then(|n| {
            let status = meta::status(n);
            self.check(status)
        });
        let (threat, tags) = meta::tags(&tags);
        RuleMeta {
            id: self.id.clone().unwrap_or_default(),
            format: RuleFormat::Sigma,
            status,
            partial: None,
            name,
            description,
            severity,
            risk_score,
            references,
            threat,
            tags,
            author,
            false_positives,
            license: Some(license),
            note: None,
            source: self.file.to_owned(),
        }
    }
}
