//! Pins: the necessary conditions of a rule that the cheap scan can test on raw bytes.
//!
//! A [`Pin`] says "some member named `key` has a JSON string value in this set" (or, a
//! `contains` pin, "... a JSON string value containing one of these"). Every leaf that tests a
//! string set, a substring, a wildcard or a regular expression with a required literal gives
//! one, whatever its path: the value at `a.b.c` is, in the
//! record's bytes, the value of a member `"c"`, so the scan looks for the path's last segment
//! (an occurrence elsewhere only adds a candidate; the parse then decides). An insensitive set
//! gives a pin whose values are folded; the scan folds what it reads (ASCII only; a non-ASCII
//! value is unclear and makes the rule a candidate).
//!
//! A rule's [`Need`] is a conjunction of clauses, each a disjunction of pins: the rule can only
//! match a record for which every clause has a pin that holds. It is derived from the optimised
//! condition:
//! - a leaf gives one clause of one pin (or nothing);
//! - `All` joins its children's clauses;
//! - `Any` keeps, for every key pinned by a one-pin clause in *every* branch (the intersection of
//!   the branches' keys), one clause with the union of those values; and when every branch has
//!   some clause, one more clause that is the disjunction of each branch's best clause (so
//!   `eventName == "A" or eventSource == "s"` is still pinned, by two keys);
//! - `Not` gives nothing;
//! - a derived field (`@ecs.…`, computed by a view, not read from the bytes) gives nothing,
//!   unless every value it has is the unchanged string of a raw member
//!   ([`Computed::copied_from`]): then its leaf gives one clause with a pin per such key
//!   (`user.name: BedrockAPIKey-*` needs a `userName` or a `UserName` containing
//!   `BedrockAPIKey-`);
//! - a condition that is `never` needs one empty clause: no record, and the scan skips it.
//!
//! The prefilter indexes each rule by one clause, the cheapest to test ([`Need::best_clause`]);
//! a rule without clauses is a candidate for every record. Keys whose values are few in
//! CloudTrail ([`FEW_VALUED_KEYS`]: `userIdentity.type` is one of a handful of identity types)
//! are indexed last: a pin on one of them admits a large share of all records (`type` =
//! `IAMUser` admits 94 % of the benchmark's), where almost any other pin is rarer.

use super::{Case, Expr, Test};
use crate::ecs::computed::Computed;

/// Keys preferred for indexing, most selective first.
const PREFERRED_KEYS: [&str; 2] = ["eventName", "eventSource"];

/// Keys with a handful of values in CloudTrail: indexed only when a rule offers nothing else.
/// (`type` is mostly `userIdentity.type`; the others are flags and categories.)
pub const FEW_VALUED_KEYS: [&str; 5] = [
    "type",
    "eventType",
    "eventCategory",
    "readOnly",
    "managementEvent",
];

/// Case-insensitive pins read values into a buffer of this size; longer values are unclear.
pub const MAX_FOLDED_VALUE: usize = 256;

/// "A member named `key` has a JSON string value in `values`" (folded when `case` is
/// insensitive), or, for a `contains` pin, a JSON string value in which one of `values` occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The member's name (the last segment of the field path).
    pub key: String,
    /// The values, as the set holds them.
    pub values: Vec<String>,
    /// Whether the values are folded.
    pub case: Case,
    /// Whether a value need only occur inside the member's string (substring tests, wildcards
    /// and the literal a regular expression requires) rather than be all of it.
    pub contains: bool,
}

/// A conjunction of clauses, each a disjunction of pins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Need {
    /// Every clause must hold.
    pub clauses: Vec<Vec<Pin>>,
}

impl Need {
    /// The necessary conditions of `expr`. A condition that is `never` (an Elastic rule whose
    /// every branch reads a field trailtag cannot compute) needs the impossible: one empty
    /// clause, which no record satisfies.
    pub fn of(expr: &Expr) -> Need {
        if expr.is_never() {
            return Need {
                clauses: vec![Vec::new()],
            };
        }
        Need {
            clauses: clauses(expr),
        }
    }

    /// Whether no record can satisfy the need (it has an empty clause): the scan never makes
    /// its rule a candidate.
    pub fn is_impossible(&self) -> bool {
        self.clauses.iter().any(Vec::is_empty)
    }

    /// The clause the scan should test: the one whose keys are most selective, then the one with
    /// the fewest pins and values.
    pub fn best_clause(&self) -> Option<&[Pin]> {
        self.clauses
            .iter()
            .min_by_key(|clause| clause_cost(clause))
            .map(Vec::as_slice)
    }
}

/// Equality on a preferred key first; a `contains` pin costs a substring search of each value.
fn clause_cost(clause: &[Pin]) -> (usize, usize, usize, usize) {
    let worst_key = clause.iter().map(|p| key_rank(&p.key)).max().unwrap_or(0);
    let contains = clause.iter().filter(|p| p.contains).count();
    let values = clause.iter().map(|p| p.values.len()).sum();
    (worst_key, contains, clause.len(), values)
}

/// The preferred keys in order, then any other key, then the few-valued ones.
fn key_rank(key: &str) -> usize {
    match PREFERRED_KEYS.iter().position(|k| *k == key) {
        Some(rank) => rank,
        None if FEW_VALUED_KEYS.contains(&key) => PREFERRED_KEYS.len() + 1,
        None => PREFERRED_KEYS.len(),
    }
}

fn clauses(expr: &Expr) -> Vec<Vec<Pin>> {
    match expr {
        Expr::Leaf(leaf) => leaf_clause(leaf).map(|c| vec![c]).unwrap_or_default(),
        Expr::All(terms) => terms.iter().flat_map(clauses).collect(),
        Expr::Any(branches) => any_clauses(branches),
        Expr::Not(_) => Vec::new(),
    }
}

/// The clause a leaf gives: one pin on its field's last segment, or, for a computed field that
/// copies raw members, one pin per member it may copy (a value no pin sees is not a value of
/// the field, so a record that satisfies the leaf satisfies one of the pins).
fn leaf_clause(leaf: &super::Leaf) -> Option<Vec<Pin>> {
    if !leaf.field.is_derived() {
        let key = leaf.field.segments().last()?;
        return pin_of(key, &leaf.test).map(|pin| vec![pin]);
    }
    let sources = Computed::from_path(&leaf.field)?.copied_from();
    let pins: Option<Vec<Pin>> = sources.iter().map(|key| pin_of(key, &leaf.test)).collect();
    pins.filter(|pins| !pins.is_empty())
}

fn pin_of(key: &str, test: &Test) -> Option<Pin> {
    let (values, case, contains) = pinned_values(test)?;
    let usable = is_scannable_key(key)
        && !values.is_empty()
        && (!contains || values.iter().all(|v| !v.is_empty()))
        && (case == Case::Sensitive
            || values
                .iter()
                .all(|v| v.is_ascii() && (contains || v.len() <= MAX_FOLDED_VALUE)));
    usable.then(|| Pin {
        key: key.to_owned(),
        values,
        case,
        contains,
    })
}

/// The values a test needs a string member to equal (or, `true`, contain), and their case.
/// A text view needs the same of a string; a number or boolean it reads as text is not a
/// string, and the scan makes every rule on such a member a candidate anyway.
fn pinned_values(test: &Test) -> Option<(Vec<String>, Case, bool)> {
    match test {
        Test::StringIn(set) => Some((set.values().to_vec(), set.case(), false)),
        Test::Substring(substring) => Some((substring.needles().to_vec(), substring.case(), true)),
        Test::Pattern(pattern) => {
            let literal = pattern.required_literal()?;
            Some((vec![literal], pattern.case(), true))
        }
        Test::Text(text) => pinned_values(&text.inner),
        _ => None,
    }
}

/// Keys made of characters that only a `\u` escape of an ASCII character can disguise.
pub fn is_scannable_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

fn any_clauses(branches: &[Expr]) -> Vec<Vec<Pin>> {
    if branches.is_empty() {
        return Vec::new();
    }
    let per_branch: Vec<Vec<Vec<Pin>>> = branches.iter().map(clauses).collect();
    let mut out = shared_key_clauses(&per_branch);
    if out.is_empty()
        && let Some(disjunction) = disjunction_of_best(&per_branch)
    {
        out.push(disjunction);
    }
    out
}

/// For each (key, case) pinned alone in a clause of every branch: one pin with the union.
fn shared_key_clauses(per_branch: &[Vec<Vec<Pin>>]) -> Vec<Vec<Pin>> {
    let unit = |clauses: &[Vec<Pin>], key: &str, case: Case, contains: bool| {
        clauses
            .iter()
            .filter(|c| {
                c.len() == 1 && c[0].key == key && c[0].case == case && c[0].contains == contains
            })
            .map(|c| c[0].values.clone())
            .min_by_key(Vec::len)
    };
    let Some(first) = per_branch.first() else {
        return Vec::new();
    };
    let mut out: Vec<Vec<Pin>> = Vec::new();
    for clause in first.iter().filter(|c| c.len() == 1) {
        let (key, case, contains) = (&clause[0].key, clause[0].case, clause[0].contains);
        if out
            .iter()
            .any(|c| c[0].key == *key && c[0].case == case && c[0].contains == contains)
        {
            continue;
        }
        let values: Option<Vec<Vec<String>>> = per_branch
            .iter()
            .map(|b| unit(b, key, case, contains))
            .collect();
        if let Some(values) = values {
            out.push(vec![union_pin(key, case, contains, values.concat())]);
        }
    }
    out
}

/// One clause per branch (its best), all or-ed together, pins of one key merged.
fn disjunction_of_best(per_branch: &[Vec<Vec<Pin>>]) -> Option<Vec<Pin>> {
    let mut pins: Vec<Pin> = Vec::new();
    for clauses in per_branch {
        let best = clauses.iter().min_by_key(|c| clause_cost(c))?;
        for pin in best {
            match pins
                .iter_mut()
                .find(|p| p.key == pin.key && p.case == pin.case && p.contains == pin.contains)
            {
                Some(p) => p.values.extend(pin.values.iter().cloned()),
                None => pins.push(pin.clone()),
            }
        }
    }
    for pin in &mut pins {
        pin.values.sort();
        pin.values.dedup();
    }
    Some(pins)
}

fn union_pin(key: &str, case: Case, contains: bool, mut values: Vec<String>) -> Pin {
    values.sort();
    values.dedup();
    Pin {
        key: key.to_owned(),
        values,
        case,
        contains,
    }
}

#[cfg(test)]
mod tests {
    use super::super::optimise::optimise;
    use super::super::*;
    use super::*;
    use crate::path::FieldPath;

    fn eq(path: &str, values: &[&str], case: Case) -> Expr {
        Expr::leaf(
            FieldPath::parse_dotted(path).unwrap(),
            Test::StringIn(StringSet::new(case, values.iter().map(|v| (*v).to_owned()))),
        )
    }

    fn keys(need: &Need) -> Vec<Vec<(String, Vec<String>)>> {
        need.clauses
            .iter()
            .map(|c| {
                c.iter()
                    .map(|p| (p.key.clone(), p.values.clone()))
                    .collect()
            })
            .collect()
    }

    fn owned(pairs: &[&[(&str, &[&str])]]) -> Vec<Vec<(String, Vec<String>)>> {
        pairs
            .iter()
            .map(|c| {
                c.iter()
                    .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn conjuncts_and_nested_paths_give_pins() {
        let s = Case::Sensitive;
        let need = Need::of(&Expr::All(vec![
            eq("eventSource", &["iam"], s),
            eq("requestParameters.source.sourceType", &["X"], s),
        ]));
        assert_eq!(
            keys(&need),
            owned(&[&[("eventSource", &["iam"])], &[("sourceType", &["X"])]])
        );
        assert_eq!(need.best_clause().unwrap()[0].key, "eventSource");
    }

    #[test]
    fn or_branches_intersect_their_keys_and_unite_values() {
        let s = Case::Sensitive;
        let expr = Expr::Any(vec![
            Expr::All(vec![eq("eventName", &["A"], s), eq("x", &["1"], s)]),
            Expr::All(vec![eq("eventName", &["B"], s), eq("y", &["2"], s)]),
        ]);
        assert_eq!(
            keys(&Need::of(&expr)),
            owned(&[&[("eventName", &["A", "B"])]])
        );
    }

    #[test]
    fn or_branches_on_different_keys_give_one_disjunctive_clause() {
        let s = Case::Sensitive;
        let expr = Expr::Any(vec![
            eq("eventName", &["A"], s),
            eq("eventSource", &["s"], s),
        ]);
        assert_eq!(
            keys(&Need::of(&expr)),
            owned(&[&[("eventName", &["A"]), ("eventSource", &["s"])]])
        );
        let unpinned = Expr::Any(vec![
            eq("eventName", &["A"], s),
            eq("x", &["1"], s).negate(),
        ]);
        assert!(Need::of(&unpinned).clauses.is_empty());
    }

    #[test]
    fn insensitive_sets_pin_folded_ascii_values_only() {
        let need = Need::of(&eq("eventName", &["CreateUser"], Case::Insensitive));
        assert_eq!(need.clauses[0][0].values, ["CREATEUSER"]);
        assert_eq!(need.clauses[0][0].case, Case::Insensitive);
        assert!(
            Need::of(&eq("eventName", &["Créer"], Case::Insensitive))
                .clauses
                .is_empty()
        );
    }

    #[test]
    fn optimising_first_exposes_pins() {
        let s = Case::Sensitive;
        let expr = Expr::Any(vec![
            Expr::All(vec![eq("x", &["1"], s), eq("eventName", &["A"], s)]),
            Expr::All(vec![eq("x", &["1"], s), eq("eventName", &["B"], s)]),
        ]);
        let pins = Need::of(&optimise(expr));
        assert!(keys(&pins).contains(&owned(&[&[("eventName", &["A", "B"])]])[0]));
    }

    #[test]
    fn a_computed_field_that_copies_members_pins_each_of_them() {
        let s = Case::Sensitive;
        let user_name = Computed::UserName.path();
        let expr = Expr::leaf(
            user_name,
            Test::StringIn(StringSet::new(s, ["BedrockAPIKey-1".to_owned()])),
        );
        assert_eq!(
            keys(&Need::of(&expr)),
            owned(&[&[
                ("userName", &["BedrockAPIKey-1"]),
                ("UserName", &["BedrockAPIKey-1"])
            ]])
        );
        let outcome = Computed::Outcome.path();
        let transformed = Expr::leaf(
            outcome,
            Test::StringIn(StringSet::new(s, ["success".to_owned()])),
        );
        assert!(Need::of(&transformed).clauses.is_empty());
    }

    #[test]
    fn a_few_valued_key_is_indexed_only_when_nothing_else_is_pinned() {
        let s = Case::Sensitive;
        let need = Need::of(&Expr::All(vec![
            eq("userIdentity.type", &["IAMUser"], s),
            eq("userIdentity.userName", &["alice", "bob"], s),
        ]));
        assert_eq!(need.best_clause().unwrap()[0].key, "userName");
        let alone = Need::of(&eq("userIdentity.type", &["IAMUser"], s));
        assert_eq!(alone.best_clause().unwrap()[0].key, "type");
    }
}
