//! Why a record matched a rule, or did not: for each rule, each of its clauses as its author
//! wrote it (`crate::rule::Clause`), whether it held, and, for a clause that did not, the first
//! test inside it that failed, written as the IR reads (`eventName == "CreateGroup"`).
//!
//! The verdict itself comes from the detector as it runs (optimised conditions, the cheap scan),
//! so an explanation never disagrees with a tag; the clauses are evaluated as compiled. A test
//! holds them to each other.

use crate::detector::{Detector, Options, Scratch, Verdict};
use crate::findings::Unreadable;
use crate::ir::Expr;
use crate::ir::optimise::optimise;
use crate::ir::pins::Need;
use crate::json::Json;

/// What one record did with every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// One entry per rule, in rule order.
    pub rules: Vec<RuleExplanation>,
}

/// What one record did with one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleExplanation {
    /// The rule's index (into [`Detector::rules`]).
    pub rule: u32,
    /// Whether the rule matched (the detector's verdict).
    pub matched: bool,
    /// Whether the cheap scan let the record through to this rule's evaluation.
    pub candidate: bool,
    /// Each clause, in order.
    pub clauses: Vec<ClauseOutcome>,
}

/// One clause's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClauseOutcome {
    /// The clause as written.
    pub text: String,
    /// Whether it held.
    pub held: bool,
    /// When it did not: the first test inside it that failed.
    pub failed_test: Option<String>,
    /// Whether the clause looks for values (it gives the cheap scan pins), as `eventName ==
    /// "CreateGroup"` does and `errorCode == null` or `not filter` do not.
    pub looks_for_values: bool,
}

impl RuleExplanation {
    /// How many clauses held.
    pub fn clauses_held(&self) -> usize {
        self.clauses.iter().filter(|c| c.held).count()
    }

    /// A rule that did not match because of exactly one of its clauses (of two or more), while
    /// a clause that looks for values held: "the right service, the wrong event", "it would have
    /// matched but for the filter". A clause that holds for almost every record (`errorCode ==
    /// null`, `not filter`) does not make a near miss on its own; looser definitions list every
    /// rule for every record.
    pub fn is_near_miss(&self) -> bool {
        !self.matched
            && self.clauses.len() >= 2
            && self.clauses_held() + 1 == self.clauses.len()
            && self.clauses.iter().any(|c| c.held && c.looks_for_values)
    }
}

impl Detector {
    /// Explains what `record` does with every rule.
    pub fn explain(&self, record: &[u8]) -> Result<Explanation, Unreadable> {
        let mut scratch = Scratch::default();
        let verdict = self.detect(record, &Options::default(), &mut scratch);
        if let Verdict::Unreadable(unreadable) = verdict {
            return Err(unreadable);
        }
        let candidates = self.candidates(record);
        let parsed = Json::parse(record).map_err(|e| crate::findings::classify(record, &e))?;
        let rules = self
            .rules()
            .iter()
            .zip(0u32..)
            .map(|(rule, index)| RuleExplanation {
                rule: index,
                matched: scratch.matched().contains(&index),
                candidate: candidates.contains(&index),
                clauses: rule
                    .clauses()
                    .iter()
                    .map(|clause| outcome(&clause.text, &clause.condition, &parsed))
                    .collect(),
            })
            .collect();
        Ok(Explanation { rules })
    }
}

fn outcome(text: &str, condition: &Expr, record: &Json<'_>) -> ClauseOutcome {
    let held = condition.matches(record);
    ClauseOutcome {
        text: text.to_owned(),
        held,
        failed_test: (!held).then(|| first_failure(condition, record)),
        // Optimised first: the optimiser unwraps text views, which is where a front end's pins
        // show (the detector's own conditions are optimised; clauses are kept as compiled).
        looks_for_values: Need::of(&optimise(condition.clone()))
            .best_clause()
            .is_some(),
    }
}

/// The first test that makes `expr` fail on `record` (which it does).
fn first_failure(expr: &Expr, record: &Json<'_>) -> String {
    match expr {
        Expr::All(terms) => terms
            .iter()
            .find(|t| !t.matches(record))
            .map_or_else(|| expr.to_string(), |t| first_failure(t, record)),
        Expr::Any(terms) if terms.len() > 1 => format!("none of: {expr}"),
        Expr::Any(terms) => terms
            .first()
            .map_or_else(|| "false".to_owned(), |t| first_failure(t, record)),
        Expr::Not(inner) => format!("not ({inner}): it holds"),
        Expr::Leaf(leaf) => leaf.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Detector, RuleSource};

    const RULE: &str = r#"[rule]
id = "r"
name = "n"
description = "d"
severity = "low"
risk_score = 1
query = '''eventSource == "iam.amazonaws.com" and eventName in ("CreateGroup", "DeleteGroup") and not errorCode == "X"'''
"#;

    #[test]
    fn clauses_say_which_held_and_what_failed() {
        let detector = Detector::builder()
            .builtin(false)
            .source(RuleSource::new("r.toml", RULE))
            .build()
            .unwrap();
        let ruled_out = detector
            .explain(br#"{"eventSource":"iam.amazonaws.com","eventName":"CreateUser"}"#)
            .unwrap();
        let rule = &ruled_out.rules[0];
        assert!(
            !rule.candidate,
            "the scan rules CreateUser out by the eventName pin"
        );
        assert!(rule.is_near_miss(), "the right service, the wrong event");
        let near = detector
            .explain(
                br#"{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","errorCode":"X"}"#,
            )
            .unwrap();
        let rule = &near.rules[0];
        assert!(!rule.matched && rule.candidate && rule.is_near_miss());
        assert!(rule.clauses[0].held && rule.clauses[1].held && !rule.clauses[2].held);
        assert_eq!(
            rule.clauses[0].text,
            r#"eventSource == "iam.amazonaws.com""#
        );
        assert_eq!(
            ruled_out.rules[0].clauses[1].failed_test.as_deref(),
            Some(r#"eventName in ("CreateGroup", "DeleteGroup")"#)
        );
        let hit = detector
            .explain(br#"{"eventSource":"iam.amazonaws.com","eventName":"DeleteGroup"}"#)
            .unwrap();
        assert!(hit.rules[0].matched && hit.rules[0].candidate);
        assert!(hit.rules[0].clauses.iter().all(|c| c.held));
        let far = detector
            .explain(br#"{"eventSource":"s3.amazonaws.com","eventName":"CreateUser"}"#)
            .unwrap();
        assert!(!far.rules[0].is_near_miss(), "two clauses failed: not near");
        assert!(detector.explain(b"[1]").is_err());
    }
}
