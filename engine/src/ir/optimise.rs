//! The optimiser: rewrites an [`Expr`] into an equivalent one that is cheaper to evaluate and
//! gives the cheap scan better pins. Modelled on tau-engine's `coalesce`/`shake` passes.
//!
//! Each pass, bottom up:
//! - **flatten**: `All` in `All` and `Any` in `Any` are merged, constants fold away
//!   (`All[]` is true, `Any[]` false), `not not x` is `x`, one-child groups are their child;
//! - **coalesce**: in an `Any`, equality tests of one field (same quantifier and case) become one
//!   set, and substring tests of one field and kind one set of needles (one automaton); in an
//!   `All`, negated tests of that kind merge the same way (`not a and not b` is `not (a or b)`);
//! - **hoist**: conjuncts shared by every branch of an `Any` move out of it
//!   (`(A and B) or (A and C)` is `A and (B or C)`), which also exposes them as pins;
//! - **order**: the children of every group are sorted by estimated cost, cheapest first, so that
//!   evaluation short-circuits before it reaches a regex;
//! - **unwrap text views**: a [`Test::Text`] whose inner set only strings can satisfy (no value
//!   is `true`, `false` or a number as JSON writes it) is its inner set, minus the placeholders
//!   it drops, so that Sigma's and Elastic's text comparisons keep their pins;
//! - duplicates are removed.
//!
//! Passes repeat until nothing changes (at most [`MAX_PASSES`]). Every rewrite is an identity of
//! two-valued logic, so the result decides every document exactly as the input does; the rule
//! tests and a property test (`engine/tests/optimiser.rs`) check both forms against each other.

use super::{Expr, Leaf, Test};

/// What reading a derived field (`@ecs.…`, computed by a view) adds to a leaf's cost: rendering
/// `request_parameters` costs more than any test on a raw field, so those go first.
const DERIVED_FIELD_COST: u32 = 32;

/// Passes before the optimiser stops even if the tree still changes.
pub const MAX_PASSES: usize = 8;

/// The optimised, equivalent form of `expr`.
pub fn optimise(expr: Expr) -> Expr {
    let mut current = expr;
    for _ in 0..MAX_PASSES {
        let next = pass(current.clone());
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// A rough evaluation cost, for ordering siblings.
pub fn cost(expr: &Expr) -> u32 {
    match expr {
        Expr::All(terms) | Expr::Any(terms) => terms.iter().map(cost).fold(0, u32::saturating_add),
        Expr::Not(inner) => cost(inner),
        Expr::Leaf(leaf) => leaf
            .test
            .cost()
            .saturating_add(leaf.field.segments().len() as u32)
            .saturating_add(if leaf.field.is_derived() {
                DERIVED_FIELD_COST
            } else {
                0
            }),
    }
}

fn pass(expr: Expr) -> Expr {
    match expr {
        Expr::All(terms) => all(terms.into_iter().map(pass).collect()),
        Expr::Any(terms) => any(terms.into_iter().map(pass).collect()),
        Expr::Not(inner) => not(pass(*inner)),
        Expr::Leaf(leaf) => Expr::Leaf(unwrap_text_view(leaf)),
    }
}

/// `Text(f in S)` is `f in S` when no number or boolean can have a text in `S`; placeholders
/// the view drops are removed from `S` (no value has them).
fn unwrap_text_view(leaf: Leaf) -> Leaf {
    let Test::Text(text) = &leaf.test else {
        return leaf;
    };
    let Test::StringIn(set) = text.inner.as_ref() else {
        return leaf;
    };
    // Under folding, "NONE" is a value while "none" is a placeholder: keep the view.
    let folded_none = set.case() == super::Case::Insensitive && set.contains("none");
    if folded_none || set.values().iter().any(|v| could_be_scalar_text(v)) {
        return leaf;
    }
    let values = set
        .values()
        .iter()
        .filter(|v| !(text.drop_placeholders && super::is_placeholder(v)))
        .cloned();
    let test = Test::StringIn(super::StringSet::new(set.case(), values));
    Leaf { test, ..leaf }
}

/// Whether a number or a boolean could be seen as the text `value` (compared in any case).
fn could_be_scalar_text(value: &str) -> bool {
    value.eq_ignore_ascii_case("true")
        || value.eq_ignore_ascii_case("false")
        || value.parse::<f64>().is_ok()
}

fn not(inner: Expr) -> Expr {
    match inner {
        Expr::Not(x) => *x,
        x if x.is_always() => Expr::never(),
        x if x.is_never() => Expr::always(),
        x => x.negate(),
    }
}

fn all(terms: Vec<Expr>) -> Expr {
    let mut flat = Vec::with_capacity(terms.len());
    for term in terms {
        match term {
            Expr::All(inner) => flat.extend(inner),
            t if t.is_never() => return Expr::never(),
            t => flat.push(t),
        }
    }
    let merged = merge_negated_sets(flat);
    finish(merged, Expr::All)
}

fn any(terms: Vec<Expr>) -> Expr {
    let mut flat = Vec::with_capacity(terms.len());
    for term in terms {
        match term {
            Expr::Any(inner) => flat.extend(inner),
            t if t.is_always() => return Expr::always(),
            t => flat.push(t),
        }
    }
    let merged = merge_sets(flat);
    if let Some(hoisted) = hoist_shared_conjuncts(&merged) {
        return hoisted;
    }
    finish(merged, Expr::Any)
}

/// Removes duplicates, sorts by cost, and unwraps a group of one.
fn finish(mut terms: Vec<Expr>, group: fn(Vec<Expr>) -> Expr) -> Expr {
    dedup(&mut terms);
    terms.sort_by_key(cost);
    if terms.len() == 1 {
        return terms.remove(0);
    }
    group(terms)
}

fn dedup(terms: &mut Vec<Expr>) {
    let mut kept: Vec<Expr> = Vec::with_capacity(terms.len());
    for term in terms.drain(..) {
        if !kept.contains(&term) {
            kept.push(term);
        }
    }
    *terms = kept;
}

/// Leaves that test one field in a way two of them can be united: equality sets and substring
/// sets of one field, quantifier, case (and, for substrings, kind).
fn mergeable(a: &Leaf, b: &Leaf) -> Option<Test> {
    if a.field != b.field || a.quantifier != b.quantifier {
        return None;
    }
    match (&a.test, &b.test) {
        (Test::StringIn(x), Test::StringIn(y)) if x.case() == y.case() => {
            Some(Test::StringIn(x.union(y)))
        }
        (Test::Substring(x), Test::Substring(y))
            if x.case() == y.case() && x.kind() == y.kind() =>
        {
            Some(Test::Substring(x.union(y)))
        }
        _ => None,
    }
}

/// In an `Any`: `f in A or f in B` is `f in A∪B` (and the same for substring needles).
fn merge_sets(terms: Vec<Expr>) -> Vec<Expr> {
    let mut out: Vec<Expr> = Vec::with_capacity(terms.len());
    for term in terms {
        if let Expr::Leaf(leaf) = &term
            && let Some(slot) = out.iter_mut().find_map(|o| match o {
                Expr::Leaf(other) => mergeable(other, leaf).map(|t| (other, t)),
                _ => None,
            })
        {
            slot.0.test = slot.1;
            continue;
        }
        out.push(term);
    }
    out
}

/// In an `All`: `not f in A and not f in B` is `not f in A∪B`.
fn merge_negated_sets(terms: Vec<Expr>) -> Vec<Expr> {
    let mut out: Vec<Expr> = Vec::with_capacity(terms.len());
    for term in terms {
        if let Expr::Not(inner) = &term
            && let Expr::Leaf(leaf) = inner.as_ref()
            && let Some(slot) = out.iter_mut().find_map(|o| match o {
                Expr::Not(other) => match other.as_mut() {
                    Expr::Leaf(other) => mergeable(other, leaf).map(|t| (other, t)),
                    _ => None,
                },
                _ => None,
            })
        {
            slot.0.test = slot.1;
            continue;
        }
        out.push(term);
    }
    out
}

/// `(A and B) or (A and C)` is `A and (B or C)`; `None` when the branches share nothing.
fn hoist_shared_conjuncts(branches: &[Expr]) -> Option<Expr> {
    if branches.len() < 2 {
        return None;
    }
    let conjuncts = |e: &Expr| -> Vec<Expr> {
        match e {
            Expr::All(terms) => terms.clone(),
            other => vec![other.clone()],
        }
    };
    let lists: Vec<Vec<Expr>> = branches.iter().map(conjuncts).collect();
    let shared: Vec<Expr> = lists[0]
        .iter()
        .filter(|c| lists[1..].iter().all(|l| l.contains(c)))
        .cloned()
        .collect();
    if shared.is_empty() {
        return None;
    }
    let rest: Vec<Expr> = lists
        .into_iter()
        .map(|mut list| {
            list.retain(|c| !shared.contains(c));
            Expr::All(list)
        })
        .collect();
    let mut terms = shared;
    terms.push(Expr::Any(rest));
    Some(pass(Expr::All(terms)))
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::json::Number;
    use crate::path::FieldPath;

    fn eq(path: &str, values: &[&str]) -> Expr {
        Expr::leaf(
            FieldPath::parse_dotted(path).unwrap(),
            Test::StringIn(StringSet::new(
                Case::Sensitive,
                values.iter().map(|v| (*v).to_owned()),
            )),
        )
    }

    fn pattern(path: &str) -> Expr {
        Expr::leaf(
            FieldPath::parse_dotted(path).unwrap(),
            Test::Pattern(Pattern::new("x+", Case::Sensitive).unwrap()),
        )
    }

    #[test]
    fn equality_disjunctions_on_one_field_become_one_set() {
        let expr = Expr::Any(vec![eq("a", &["x"]), eq("b", &["z"]), eq("a", &["y", "x"])]);
        assert_eq!(
            optimise(expr),
            Expr::Any(vec![eq("a", &["x", "y"]), eq("b", &["z"])])
        );
    }

    #[test]
    fn negated_sets_in_a_conjunction_merge() {
        let expr = Expr::All(vec![eq("a", &["x"]).negate(), eq("a", &["y"]).negate()]);
        assert_eq!(optimise(expr), eq("a", &["x", "y"]).negate());
    }

    #[test]
    fn shared_conjuncts_are_hoisted_out_of_a_disjunction() {
        let expr = Expr::Any(vec![
            Expr::All(vec![eq("s", &["iam"]), eq("n", &["A"])]),
            Expr::All(vec![eq("n", &["B"]), eq("s", &["iam"])]),
        ]);
        assert_eq!(
            optimise(expr),
            Expr::All(vec![eq("s", &["iam"]), eq("n", &["A", "B"])])
        );
        let absorbed = Expr::Any(vec![
            eq("s", &["iam"]),
            Expr::All(vec![eq("s", &["iam"]), eq("n", &["A"])]),
        ]);
        assert_eq!(optimise(absorbed), eq("s", &["iam"]));
    }

    #[test]
    fn groups_flatten_constants_fold_and_cheap_tests_go_first() {
        let expr = Expr::All(vec![
            pattern("p"),
            Expr::All(vec![Expr::always(), eq("a", &["x"])]),
            Expr::Not(Box::new(Expr::Not(Box::new(Expr::leaf(
                FieldPath::parse_dotted("n").unwrap(),
                Test::NumberEq(Number::Unsigned(1)),
            ))))),
        ]);
        let Expr::All(terms) = optimise(expr) else {
            panic!("a conjunction")
        };
        assert_eq!(terms.len(), 3);
        assert!(matches!(&terms[0], Expr::Leaf(l) if matches!(l.test, Test::NumberEq(_))));
        assert!(matches!(&terms[2], Expr::Leaf(l) if matches!(l.test, Test::Pattern(_))));
        assert!(optimise(Expr::All(vec![eq("a", &["x"]), Expr::never()])).is_never());
        assert!(optimise(Expr::Any(vec![eq("a", &["x"]), Expr::always()])).is_always());
    }

    fn text(values: &[&str], case: Case, drop: bool) -> Expr {
        Expr::leaf(
            FieldPath::parse_dotted("a").unwrap(),
            Test::Text(TextTest::new(
                Test::StringIn(StringSet::new(case, values.iter().map(|v| (*v).to_owned()))),
                drop,
            )),
        )
    }

    #[test]
    fn text_views_only_strings_can_satisfy_are_plain_sets() {
        let unwrapped = optimise(text(&["x", "-"], Case::Sensitive, true));
        assert_eq!(unwrapped, eq("a", &["x"]), "the placeholder is no value");
        assert_eq!(
            optimise(text(&["x", "-"], Case::Sensitive, false)),
            eq("a", &["-", "x"])
        );
        for kept in [
            text(&["x", "TRUE"], Case::Insensitive, false),
            text(&["x", "1.5"], Case::Sensitive, false),
            text(&["x", "none"], Case::Insensitive, true),
        ] {
            assert_eq!(
                optimise(kept.clone()),
                kept,
                "a number, boolean or NONE could match"
            );
        }
    }
}
