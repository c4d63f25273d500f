//! The compiled rule set and the per-record decision.
//!
//! [`Detector`] is built once from rule sources ([`DetectorBuilder`]): each source goes through
//! its front end, each condition through the optimiser, and the pins of the optimised
//! conditions index the cheap scan. Every configuration mistake surfaces there. Afterwards
//! [`Detector::detect`] decides one record: the scan rules most records out without parsing
//! them; candidates are parsed once and only their candidate rules evaluated; the [`Findings`]
//! (which rules matched, the context values, a tag the record arrived with) are left in the
//! caller's [`Scratch`] for a writer. [`Detector::detect_exhaustively`] is the reference: parse
//! everything, evaluate every rule. Both must give the same findings for every input
//! (`tests/fast_path.rs`).

use crate::context::ContextField;
use crate::envelope::Shape;
use crate::error::{Error, RuleError, RuleErrorKind};
use crate::findings::{Detection, Findings, Reason, TAG_KEY, Unreadable, classify};
use crate::frontend::examples::{
    compile_examples_file, examples_stem, is_examples_file, rule_stem,
};
use crate::frontend::sigma::Placeholders;
use crate::frontend::{self, RuleSource, builtin};
use crate::ir::Expr;
use crate::ir::optimise::optimise;
use crate::ir::pins::Need;
use crate::json::Json;
use crate::rule::{Example, Rule};
use crate::scan::prefilter::Prefilter;

/// Per-record processing options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Emit only tagged records (batch transform) / drop the others (Fluent Bit).
    pub only_matches: bool,
    /// Fully validate records the cheap scan rules out, so that malformed JSON among them is
    /// counted as unreadable. Costs a parse of every record; off by default.
    pub validate: bool,
    /// Leave a `trailtag` member that a record arrived with in place when the record matches
    /// nothing (for chained deployments). By default such members are removed, so that a tag
    /// downstream always means that this pass wrote it.
    pub keep_foreign_tags: bool,
    /// Write the records inside an envelope (an EventBridge event's `detail`, the messages of a
    /// CloudWatch Logs payload …) one per line instead of the envelope with the tags inside it.
    pub unwrap: bool,
    /// Read every record as this shape instead of recognising it (`crate::envelope`); what its
    /// slots hold is still recognised. `None`: recognise each record.
    pub input_shape: Option<Shape>,
    /// The record is JSON that Fluent Bit wrote (its filter ABI), which never escapes a
    /// printable ASCII character: the sublinear skip scan may rule records out first
    /// (`crate::scan::skip`). Never set for other hosts.
    pub encoded_by_fluent_bit: bool,
}

impl Options {
    /// The options for what an envelope holds, or for a projection: the same, but never
    /// encoded by Fluent Bit (it wrote the envelope, not the record inside, whose producer may
    /// have escaped anything).
    pub fn inside(&self) -> Options {
        Options {
            encoded_by_fluent_bit: false,
            ..*self
        }
    }
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The cheap scan ruled every rule out; the record was not parsed.
    Skipped,
    /// The record was parsed and evaluated; no rule matched.
    NoMatch,
    /// At least one rule matched; the rules are in [`Scratch::matched`].
    Tagged,
    /// The record is not a JSON object the engine can read; it passes through unchanged.
    Unreadable(Unreadable),
}

/// Reusable per-caller buffers, so that deciding a record allocates nothing in the common case,
/// and the findings of the last record decided.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    candidates: Vec<u32>,
    findings: Findings,
}

impl Scratch {
    /// Indexes (into [`Detector::rules`]) of the rules the last record matched.
    pub fn matched(&self) -> &[u32] {
        self.findings.matched()
    }

    /// Everything found in the last record decided.
    pub fn findings(&self) -> &Findings {
        &self.findings
    }
}

/// A compiled set of rules.
#[derive(Debug, Clone)]
pub struct Detector {
    rules: Vec<Rule>,
    base_context: Vec<ContextField>,
    prefilter: Prefilter,
    skipped: Vec<RuleError>,
    tag_keys: Vec<String>,
}

/// Collects rule sources and compiles them into a [`Detector`].
#[derive(Debug, Clone)]
pub struct DetectorBuilder {
    builtin: bool,
    optimise: bool,
    skip_invalid: bool,
    placeholders: Placeholders,
    sources: Vec<RuleSource>,
    tag_keys: Vec<String>,
}

impl Default for DetectorBuilder {
    fn default() -> Self {
        Self {
            builtin: true,
            optimise: true,
            skip_invalid: false,
            placeholders: Placeholders::default(),
            sources: Vec::new(),
            tag_keys: vec![TAG_KEY.to_owned()],
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

    /// Whether to optimise the rules' conditions (default: yes). Off, rules run as written:
    /// tests compare both forms.
    pub fn optimise(mut self, optimise: bool) -> Self {
        self.optimise = optimise;
        self
    }

    /// Whether a rule file that cannot be loaded is skipped (and listed in
    /// [`Detector::skipped`]) rather than failing the whole load (default: fail).
    pub fn skip_invalid(mut self, skip: bool) -> Self {
        self.skip_invalid = skip;
        self
    }

    /// The values Sigma's `expand` modifier stands for (`%name%` placeholders). A rule that
    /// expands a placeholder not given here does not load.
    pub fn placeholders(mut self, placeholders: Placeholders) -> Self {
        self.placeholders = placeholders;
        self
    }

    /// The top-level members the tag format owns (default: `trailtag`), which the scan looks
    /// for so that a record arriving with one is cleaned; give the writer's
    /// ([`crate::output::TagFormat::owned_keys`]).
    pub fn tag_keys(mut self, keys: &[&str]) -> Self {
        self.tag_keys = keys.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    /// Adds one rule file (or example file, `*.examples.toml`).
    pub fn source(mut self, source: RuleSource) -> Self {
        self.sources.push(source);
        self
    }

    /// Adds rule files.
    pub fn sources(mut self, sources: impl IntoIterator<Item = RuleSource>) -> Self {
        self.sources.extend(sources);
        self
    }

    /// Compiles every source; reports every problem found, not only the first. Example files
    /// attach to the rules compiled from the file of the same stem.
    pub fn build(self) -> Result<Detector, Error> {
        let builtin = if self.builtin {
            builtin::sources()
        } else {
            Vec::new()
        };
        let builtin_names: Vec<String> = builtin.iter().map(|s| s.name.clone()).collect();
        let (example_files, rule_files): (Vec<&RuleSource>, Vec<&RuleSource>) = builtin
            .iter()
            .chain(&self.sources)
            .partition(|s| is_examples_file(&s.name));
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for source in rule_files {
            match frontend::compile_with(source, &self.placeholders) {
                Ok(compiled) => rules.extend(compiled),
                Err(mut e) => errors.append(&mut e),
            }
        }
        for source in example_files {
            if let Err(mut e) = attach_examples(source, &mut rules) {
                errors.append(&mut e);
            }
        }
        errors.extend(remove_duplicate_ids(&mut rules, &builtin_names));
        if !errors.is_empty() && !self.skip_invalid {
            return Err(Error::Rules(errors));
        }
        if self.optimise {
            for rule in &mut rules {
                rule.condition = optimise(std::mem::replace(&mut rule.condition, Expr::always()));
            }
        }
        let mut detector = Detector::from_rules(rules, self.tag_keys);
        detector.skipped = errors;
        Ok(detector)
    }
}

/// Attaches the examples of an example file to the rules of its rule file.
fn attach_examples(source: &RuleSource, rules: &mut [Rule]) -> Result<(), Vec<RuleError>> {
    let examples = compile_examples_file(&source.name, &source.text)?;
    let stem = examples_stem(&source.name);
    let mut owners = rules
        .iter_mut()
        .filter(|r| rule_stem(&r.meta.source) == stem)
        .peekable();
    if owners.peek().is_none() {
        return Err(vec![RuleError {
            file: source.name.clone(),
            line: 1,
            column: 1,
            rule_id: None,
            kind: RuleErrorKind::Metadata,
            message: format!("examples for {stem}.*, but no rule was loaded from such a file"),
        }]);
    }
    for rule in owners {
        rule.examples.extend(examples.iter().cloned());
    }
    Ok(())
}

/// Sorts rules by id, keeps the first of each id (a built-in rule before a user's), and reports
/// every other one.
fn remove_duplicate_ids(rules: &mut Vec<Rule>, builtin: &[String]) -> Vec<RuleError> {
    let is_builtin = |rule: &Rule| builtin.contains(&rule.meta.source);
    rules.sort_by(|a, b| (&a.meta.id, !is_builtin(a)).cmp(&(&b.meta.id, !is_builtin(b))));
    let mut errors = Vec::new();
    let mut kept: Vec<Rule> = Vec::with_capacity(rules.len());
    for rule in rules.drain(..) {
        match kept.last() {
            Some(first) if first.meta.id == rule.meta.id => {
                errors.push(duplicate_error(&rule, first, is_builtin(first)));
            }
            _ => kept.push(rule),
        }
    }
    *rules = kept;
    errors
}

fn duplicate_error(rule: &Rule, first: &Rule, first_is_builtin: bool) -> RuleError {
    let message = if first_is_builtin {
        format!(
            "the id is also used by the built-in rule {} (to replace a built-in rule, load without the built-in rules, --no-builtin-rules, and add a copy of those you keep from the repository's rules/ folder)",
            first.meta.source
        )
    } else {
        format!("the id is also used by {}", first.meta.source)
    };
    RuleError {
        file: rule.meta.source.clone(),
        line: 1,
        column: 1,
        rule_id: Some(rule.meta.id.clone()),
        kind: RuleErrorKind::DuplicateId,
        message,
    }
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

    fn from_rules(rules: Vec<Rule>, tag_keys: Vec<String>) -> Self {
        let needs: Vec<Need> = rules.iter().map(|r| Need::of(&r.condition)).collect();
        let keys: Vec<&str> = tag_keys.iter().map(String::as_str).collect();
        Self {
            rules,
            base_context: ContextField::base(),
            prefilter: Prefilter::new(&needs, &keys),
            skipped: Vec::new(),
            tag_keys,
        }
    }

    /// Whether records Fluent Bit wrote are first ruled out by the sublinear skip scan (every
    /// rule pins values it can look for: `crate::scan::skip`).
    pub fn skips_for_fluent_bit(&self) -> bool {
        self.prefilter.has_skip_scan()
    }

    /// The rules the cheap scan would evaluate on `record` (for explanations).
    pub(crate) fn candidates(&self, record: &[u8]) -> Vec<u32> {
        let mut candidates = Vec::new();
        self.prefilter.candidates(record, &mut candidates);
        candidates
    }

    /// The problems of the rule files that were skipped rather than loaded (empty unless the
    /// builder was told to skip invalid rules).
    pub fn skipped(&self) -> &[RuleError] {
        &self.skipped
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

    /// What the last record decided with `scratch` produced, as writers read it.
    pub fn detection<'a>(&'a self, scratch: &'a Scratch) -> Detection<'a> {
        Detection::new(&self.rules, &scratch.findings)
    }

    /// Decides one record; its findings are left in `scratch`.
    pub fn detect(&self, record: &[u8], options: &Options, scratch: &mut Scratch) -> Verdict {
        scratch.findings.clear();
        if !looks_like_object(record) {
            return Verdict::Unreadable(Unreadable::new(Reason::NotAnObject));
        }
        if options.encoded_by_fluent_bit && !self.prefilter.may_match_as_fluent_bit_wrote_it(record)
        {
            return match options.validate {
                true => validate(record),
                false => Verdict::Skipped,
            };
        }
        let facts = self.prefilter.candidates(record, &mut scratch.candidates);
        let inspect_tags = facts.may_hold_tag_key && !options.keep_foreign_tags;
        if scratch.candidates.is_empty() && !inspect_tags {
            return match options.validate {
                true => validate(record),
                false => Verdict::Skipped,
            };
        }
        let candidates = std::mem::take(&mut scratch.candidates);
        let verdict = self.evaluate(record, &candidates, options, &mut scratch.findings);
        scratch.candidates = candidates;
        verdict
    }

    /// The reference decision: parse the record and evaluate every rule, no scan.
    pub fn detect_exhaustively(
        &self,
        record: &[u8],
        options: &Options,
        scratch: &mut Scratch,
    ) -> Verdict {
        scratch.findings.clear();
        let all: Vec<u32> = (0..self.rules.len() as u32).collect();
        self.evaluate(record, &all, options, &mut scratch.findings)
    }

    fn evaluate(
        &self,
        record: &[u8],
        candidates: &[u32],
        options: &Options,
        findings: &mut Findings,
    ) -> Verdict {
        let parsed = match parse_object(record) {
            Ok(parsed) => parsed,
            Err(unreadable) => return Verdict::Unreadable(unreadable),
        };
        for &index in candidates {
            if self.rules[index as usize].condition.matches(&parsed) {
                findings.matched.push(index);
            }
        }
        let is_match = !findings.matched.is_empty();
        if is_match || !options.keep_foreign_tags {
            findings.foreign_tags = count_members(&parsed, &self.tag_keys);
        }
        if !is_match {
            return Verdict::NoMatch;
        }
        self.collect_context(&parsed, findings);
        Verdict::Tagged
    }

    /// The base context, then each matching rule's own fields; the first value of a name wins.
    fn collect_context(&self, record: &Json<'_>, findings: &mut Findings) {
        for field in &self.base_context {
            findings.push_context(field.name(), |out| field.write_value(record, out));
        }
        for i in 0..findings.matched.len() {
            let rule = &self.rules[findings.matched[i] as usize];
            for field in &rule.context {
                if !findings.has_context(field.name()) {
                    findings.push_context(field.name(), |out| field.write_value(record, out));
                }
            }
        }
    }

    /// Runs every rule's examples through the full detector (fast path included) and returns
    /// the ones that do not give the verdict they claim.
    pub fn check_examples(&self) -> Vec<ExampleFailure> {
        let mut failures = Vec::new();
        let mut scratch = Scratch::default();
        for (index, rule) in self.rules.iter().enumerate() {
            for example in rule.examples() {
                let verdict =
                    self.detect(example.record.as_bytes(), &Options::default(), &mut scratch);
                let matched =
                    verdict == Verdict::Tagged && scratch.matched().contains(&(index as u32));
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
        Err(unreadable) => Verdict::Unreadable(unreadable),
    }
}

/// The record as a JSON object, or why it is unreadable.
fn parse_object(record: &[u8]) -> Result<Json<'_>, Unreadable> {
    match Json::parse(record) {
        Ok(parsed @ Json::Object(_)) => Ok(parsed),
        Ok(_) => Err(Unreadable::new(Reason::NotAnObject)),
        Err(e) => Err(classify(record, &e)),
    }
}

/// How many top-level members are named by one of `keys`.
fn count_members(record: &Json<'_>, keys: &[String]) -> usize {
    match record {
        Json::Object(members) => members
            .iter()
            .filter(|(k, _)| keys.iter().any(|key| key == k))
            .count(),
        _ => 0,
    }
}
