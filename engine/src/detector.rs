//! The compiled rule set and the per-record decision.
//!
//! [`Detector`] is built once from rule sources ([`DetectorBuilder`]); every configuration
//! mistake surfaces there. Afterwards [`Detector::tag_record`] decides one record: the cheap
//! scan ([`crate::prefilter`]) rules most records out without parsing them; candidates are parsed
//! once and only their candidate rules evaluated; a match is spliced into the original bytes.
//! [`Detector::tag_record_exhaustively`] is the reference: parse everything, evaluate every rule.
//! Both must give the same output for every input (see `tests/fast_path.rs`).

use crate::builtin;
use crate::condition::Pin;
use crate::context::ContextField;
use crate::error::{Error, RuleError, RuleErrorKind};
use crate::json::Json;
use crate::prefilter::Prefilter;
use crate::rule::{Example, Rule, compile_rule_file};
use crate::tag::{TAG_KEY, splice, write_tag};

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

/// Per-record processing options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Emit only tagged records (batch transform) / drop the others (Fluent Bit).
    pub only_matches: bool,
    /// Fully validate records the cheap scan rules out, so that malformed JSON among them is
    /// counted as unreadable. Costs a parse of every record; off by default.
    pub validate: bool,
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The cheap scan ruled every rule out; the record was not parsed.
    Skipped,
    /// The record was parsed and evaluated; no rule matched.
    NoMatch,
    /// The record matched; the tagged bytes were written, the rules are in [`Scratch::matched`].
    Tagged,
    /// The record is not a JSON object the engine can read; it passes through unchanged.
    Unreadable(String),
}

/// Reusable per-caller buffers, so that deciding a record allocates nothing in the common case.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    candidates: Vec<u32>,
    matched: Vec<u32>,
}

impl Scratch {
    /// Indexes (into [`Detector::rules`]) of the rules the last tagged record matched.
    pub fn matched(&self) -> &[u32] {
        &self.matched
    }
}

/// The reason given for a line that is not a JSON object.
pub const NOT_AN_OBJECT: &str = "not a JSON object";

/// A compiled set of rules.
#[derive(Debug, Clone)]
pub struct Detector {
    rules: Vec<Rule>,
    base_context: Vec<ContextField>,
    prefilter: Prefilter,
}

/// Collects rule sources and compiles them into a [`Detector`].
#[derive(Debug, Clone)]
pub struct DetectorBuilder {
    builtin: bool,
    sources: Vec<RuleSource>,
}

impl Default for DetectorBuilder {
    fn default() -> Self {
        Self {
            builtin: true,
            sources: Vec::new(),
        }
    }
}

impl DetectorBuilder {
    /// A builder that includes the built-in rules.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to include the built-in rules (default: yes).
    pub fn builtin(mut self, include: bool) -> Self {
        self.builtin = include;
        self
    }

    /// Adds one rule file.
    pub fn source(mut self, source: RuleSource) -> Self {
        self.sources.push(source);
        self
    }

    /// Adds rule files.
    pub fn sources(mut self, sources: impl IntoIterator<Item = RuleSource>) -> Self {
        self.sources.extend(sources);
        self
    }

    /// Compiles every source; reports every problem found, not only the first.
    pub fn build(self) -> Result<Detector, Error> {
        let builtin = if self.builtin {
            builtin::sources()
        } else {
            Vec::new()
        };
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for source in builtin.iter().chain(&self.sources) {
            match compile_source(source) {
                Ok(Some(rule)) => rules.push(rule),
                Ok(None) => {}
                Err(mut e) => errors.append(&mut e),
            }
        }
        errors.extend(duplicate_ids(&mut rules));
        if !errors.is_empty() {
            return Err(Error::Rules(errors));
        }
        Ok(Detector::from_rules(rules))
    }
}

fn compile_source(source: &RuleSource) -> Result<Option<Rule>, Vec<RuleError>> {
    let extension = source
        .name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match extension.as_deref() {
        Some("toml") => compile_rule_file(&source.name, &source.text),
        _ => Err(vec![RuleError {
            file: source.name.clone(),
            line: 1,
            column: 1,
            rule_id: None,
            kind: RuleErrorKind::Unsupported,
            message: "not a rule file this build reads (native rules are .toml files)".into(),
        }]),
    }
}

/// Sorts rules by id and reports every id used more than once.
fn duplicate_ids(rules: &mut [Rule]) -> Vec<RuleError> {
    rules.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    rules
        .windows(2)
        .filter(|w| w[0].meta.id == w[1].meta.id)
        .map(|w| RuleError {
            file: w[1].meta.source.clone(),
            line: 1,
            column: 1,
            rule_id: Some(w[1].meta.id.clone()),
            kind: RuleErrorKind::DuplicateId,
            message: format!("the id is also used by {}", w[0].meta.source),
        })
        .collect()
}

impl Detector {
    /// The built-in rules only.
    pub fn builtin() -> Result<Self, Error> {
        DetectorBuilder::new().build()
    }

    /// A builder (built-in rules included unless switched off).
    pub fn builder() -> DetectorBuilder {
        DetectorBuilder::new()
    }

    fn from_rules(rules: Vec<Rule>) -> Self {
        let pins: Vec<Vec<Pin>> = rules.iter().map(|r| r.condition.pins()).collect();
        Self {
            rules,
            base_context: ContextField::base(),
            prefilter: Prefilter::new(&pins),
        }
    }

    /// The cheap scan's index (for tests of the scanners).
    #[cfg(test)]
    pub(crate) fn prefilter(&self) -> &Prefilter {
        &self.prefilter
    }

    /// The rules, sorted by id; indexes into this slice are the rule numbers used everywhere.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Decides one record; on [`Verdict::Tagged`] the tagged record has been appended to `out`.
    /// On any other verdict `out` is untouched and the record passes through as it is.
    pub fn tag_record(
        &self,
        record: &[u8],
        options: &Options,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Verdict {
        if !looks_like_object(record) {
            return Verdict::Unreadable(NOT_AN_OBJECT.to_owned());
        }
        self.prefilter.candidates(record, &mut scratch.candidates);
        if scratch.candidates.is_empty() {
            return match options.validate {
                true => validate(record),
                false => Verdict::Skipped,
            };
        }
        let candidates = std::mem::take(&mut scratch.candidates);
        let verdict = self.evaluate(record, candidates.iter().map(|&i| i as usize), scratch, out);
        scratch.candidates = candidates;
        verdict
    }

    /// The reference decision: parse the record and evaluate every rule, no prefilter.
    pub fn tag_record_exhaustively(
        &self,
        record: &[u8],
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Verdict {
        self.evaluate(record, 0..self.rules.len(), scratch, out)
    }

    fn evaluate(
        &self,
        record: &[u8],
        candidates: impl Iterator<Item = usize>,
        scratch: &mut Scratch,
        out: &mut Vec<u8>,
    ) -> Verdict {
        let parsed = match parse_object(record) {
            Ok(parsed) => parsed,
            Err(unreadable) => return unreadable,
        };
        scratch.matched.clear();
        for index in candidates {
            if self.rules[index].condition.matches(&parsed) {
                scratch.matched.push(index as u32);
            }
        }
        if scratch.matched.is_empty() {
            return Verdict::NoMatch;
        }
        let matched: Vec<&Rule> = scratch
            .matched
            .iter()
            .map(|&i| &self.rules[i as usize])
            .collect();
        let has_tag_key = parsed.get(TAG_KEY).is_some();
        splice(record, has_tag_key, out, |o| {
            write_tag(&matched, &self.base_context, &parsed, o)
        });
        Verdict::Tagged
    }

    /// Runs every rule's examples through the full detector (fast path included) and returns
    /// the ones that do not give the verdict they claim.
    pub fn check_examples(&self) -> Vec<ExampleFailure> {
        let mut failures = Vec::new();
        let mut scratch = Scratch::default();
        for (index, rule) in self.rules.iter().enumerate() {
            for example in rule.examples() {
                let mut out = Vec::new();
                let verdict = self.tag_record(
                    example.record.as_bytes(),
                    &Options::default(),
                    &mut scratch,
                    &mut out,
                );
                let matched =
                    verdict == Verdict::Tagged && scratch.matched.contains(&(index as u32));
                if matched != example.matches {
                    failures.push(ExampleFailure {
                        rule: rule.id().to_owned(),
                        file: rule.meta.source.clone(),
                        example: example.clone(),
                        verdict,
                    });
                }
            }
        }
        failures
    }
}

/// An example whose verdict disagrees with the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExampleFailure {
    /// The rule's id.
    pub rule: String,
    /// The rule's file.
    pub file: String,
    /// The example.
    pub example: Example,
    /// What the detector decided.
    pub verdict: Verdict,
}

/// First and last non-whitespace bytes are braces: cheap, and enough to route a line.
fn looks_like_object(record: &[u8]) -> bool {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    record.iter().find(|b| !is_ws(b)) == Some(&b'{')
        && record.iter().rfind(|b| !is_ws(b)) == Some(&b'}')
}

/// Full validation: the same parse as evaluation, so that `validate` and the exhaustive path
/// agree on every record. (A lighter parse, `serde_json`'s `IgnoredAny`, accepted what this one
/// rejects: numbers beyond `f64`, such as `{"":7e770}`, and nesting past the recursion limit;
/// found by the `fast_path` fuzz target.)
fn validate(record: &[u8]) -> Verdict {
    match parse_object(record) {
        Ok(_) => Verdict::Skipped,
        Err(unreadable) => unreadable,
    }
}

/// The record as a JSON object, or the verdict saying why it is unreadable.
fn parse_object(record: &[u8]) -> Result<Json<'_>, Verdict> {
    match Json::parse(record) {
        Ok(parsed @ Json::Object(_)) => Ok(parsed),
        Ok(_) => Err(Verdict::Unreadable(NOT_AN_OBJECT.to_owned())),
        Err(e) => Err(Verdict::Unreadable(format!("invalid JSON: {e}"))),
    }
}
