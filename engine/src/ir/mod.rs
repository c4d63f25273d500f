//! The compiled rule IR: what every front end lowers into, and the only thing the engine runs.
//!
//! A rule's condition is an [`Expr`]: boolean structure ([`Expr::All`], [`Expr::Any`],
//! [`Expr::Not`]) over [`Leaf`] tests, each a field path, a [`Quantifier`] and a typed [`Test`].
//! Front ends (the native TOML rules today; Sigma and Elastic later) translate their own
//! semantics into these, so that everything after them (the optimiser, the pins the cheap scan
//! uses, evaluation, explanation) is written once.
//!
//! # Semantics a front end lowers into
//!
//! - **Two-valued, absence explicit.** Every test is false when its field is absent, except
//!   [`Test::Missing`], which holds exactly then (absent or JSON `null`). So `Not(test)` holds on
//!   an absent field. A language in which a negated clause must not fire on an absent field
//!   (three-valued semantics) lowers `not f == x` to `All[Not(Missing f), Not(f == x)]`: the
//!   IR has no hidden third value, so the choice is visible in the lowered rule.
//! - **Typed comparisons.** A string test holds only for a JSON string, a number test only for
//!   a JSON number, [`Test::Bool`] only for a JSON boolean. A language that compares `"200"` with
//!   `200` lowers to an `Any` of both tests.
//! - **Arrays are quantified explicitly.** With [`Quantifier::Value`] a path follows objects
//!   only and the test sees the value itself (an array is an array, so a string test fails on
//!   it). With [`Quantifier::AnyElement`] arrays are entered at every step of the path and an
//!   array value is tested element by element: the leaf holds if some element satisfies it, as
//!   Elasticsearch and Sigma engines treat multi-valued fields. (`Missing` then holds when no
//!   element is non-null.)
//! - **Case folding is a property of a test** ([`Case`]): insensitive tests compare under
//!   Unicode simple case folding, the folding the `regex` crate's case-insensitive mode uses,
//!   so a wildcard, a regex and an equality agree on what "insensitive" means.
//! - **Strings compare decoded** (escapes resolved) and **numbers by value** (integers exactly
//!   while they fit in 64 bits, otherwise as the nearest `f64`).
//! - **Text views are explicit.** A language that compares values as text (Sigma, whose `'true'`
//!   matches JSON `true`; Elasticsearch's keyword fields, which index numbers and booleans as
//!   strings and drop `""`, `"-"` and `"none"`) wraps its string test in [`Test::Text`], which
//!   says how scalars become text.
//! - **Derived fields** are paths whose first segment starts with `@`
//!   (`@ecs.request_parameters`): values a document view computes from the record, never read
//!   from its bytes, so they give no pins.
//!
//! The optimiser ([`optimise`]) rewrites an `Expr` into an equivalent one that is cheaper to
//! evaluate and gives better pins; [`pins`] derives the necessary conditions the cheap scan
//! tests on raw bytes; [`eval`] evaluates an `Expr` against any [`crate::document::Document`].

mod display;
pub mod eval;
pub mod optimise;
pub mod pins;

pub mod wildcard;

mod fold;
mod test;

pub use fold::{fold_char, fold_str};
pub use test::{
    Cmp, IpNetwork, Pattern, StringSet, Substring, SubstringKind, Test, TextTest, is_placeholder,
    scalar_text,
};

use crate::path::FieldPath;

/// A compiled boolean condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Every child holds (an empty `All` is true).
    All(Vec<Expr>),
    /// At least one child holds (an empty `Any` is false).
    Any(Vec<Expr>),
    /// The child does not hold.
    Not(Box<Expr>),
    /// One test of one field.
    Leaf(Leaf),
}

/// One test of one field.
#[derive(Debug, Clone, PartialEq)]
pub struct Leaf {
    /// Where the value is.
    pub field: FieldPath,
    /// How arrays along the path and at its end are treated.
    pub quantifier: Quantifier,
    /// What must hold of the value.
    pub test: Test,
}

/// How a leaf treats arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Quantifier {
    /// Objects only: the value at the path, whatever its type.
    Value,
    /// Arrays entered at every step, and each element of an array value tested: some value must
    /// satisfy the test.
    AnyElement,
    /// As `AnyElement`, and an object at the end of the path is entered too: some scalar leaf
    /// anywhere under the value must satisfy the test (Sigma's string modifiers on an object).
    AnyLeaf,
}

/// Whether a string test distinguishes letter case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Case {
    /// Bytes compare exactly.
    Sensitive,
    /// Characters compare under Unicode simple case folding.
    Insensitive,
}

impl Expr {
    /// The condition that always holds.
    pub fn always() -> Expr {
        Expr::All(Vec::new())
    }

    /// The condition that never holds.
    pub fn never() -> Expr {
        Expr::Any(Vec::new())
    }

    /// A leaf with [`Quantifier::Value`].
    pub fn leaf(field: FieldPath, test: Test) -> Expr {
        Expr::Leaf(Leaf {
            field,
            quantifier: Quantifier::Value,
            test,
        })
    }

    /// `not self`.
    pub fn negate(self) -> Expr {
        Expr::Not(Box::new(self))
    }

    /// Whether this is the constant true (`All` of nothing).
    pub fn is_always(&self) -> bool {
        matches!(self, Expr::All(terms) if terms.is_empty())
    }

    /// Whether this is the constant false (`Any` of nothing).
    pub fn is_never(&self) -> bool {
        matches!(self, Expr::Any(terms) if terms.is_empty())
    }

    /// Every leaf, depth first.
    pub fn leaves(&self) -> Vec<&Leaf> {
        let mut out = Vec::new();
        self.collect_leaves(&mut out);
        out
    }

    fn collect_leaves<'e>(&'e self, out: &mut Vec<&'e Leaf>) {
        match self {
            Expr::All(terms) | Expr::Any(terms) => {
                terms.iter().for_each(|t| t.collect_leaves(out));
            }
            Expr::Not(inner) => inner.collect_leaves(out),
            Expr::Leaf(leaf) => out.push(leaf),
        }
    }

    /// Nodes in the tree (for limits and statistics).
    pub fn size(&self) -> usize {
        match self {
            Expr::All(terms) | Expr::Any(terms) => 1 + terms.iter().map(Expr::size).sum::<usize>(),
            Expr::Not(inner) => 1 + inner.size(),
            Expr::Leaf(_) => 1,
        }
    }
}
