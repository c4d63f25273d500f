//! Evaluating an [`Expr`] against a [`Document`]: two-valued, short-circuiting, in the order
//! the optimiser left the children in (cheapest first).

use super::{Expr, Leaf, Test};
use crate::document::Document;

impl Expr {
    /// Whether the condition holds for `document`.
    pub fn matches<D: Document + ?Sized>(&self, document: &D) -> bool {
        match self {
            Expr::All(terms) => terms.iter().all(|t| t.matches(document)),
            Expr::Any(terms) => terms.iter().any(|t| t.matches(document)),
            Expr::Not(inner) => !inner.matches(document),
            Expr::Leaf(leaf) => leaf.matches(document),
        }
    }
}

impl Leaf {
    /// Whether this test holds for `document` (absent fields: see the module docs of `ir`).
    pub fn matches<D: Document + ?Sized>(&self, document: &D) -> bool {
        match &self.test {
            Test::Missing => {
                !document.any_value(&self.field, self.quantifier, &mut |v| !v.is_null())
            }
            test => document.any_value(&self.field, self.quantifier, &mut |v| test.holds(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use crate::json::{Json, Number};
    use crate::path::FieldPath;

    fn field(path: &str) -> FieldPath {
        FieldPath::parse_dotted(path).unwrap()
    }

    fn leaf(path: &str, quantifier: Quantifier, test: Test) -> Expr {
        Expr::Leaf(Leaf {
            field: field(path),
            quantifier,
            test,
        })
    }

    fn holds(expr: &Expr, doc: &str) -> bool {
        expr.matches(&Json::parse(doc.as_bytes()).unwrap())
    }

    #[test]
    fn absent_fields_fail_every_test_but_missing() {
        let eq = leaf(
            "a",
            Quantifier::Value,
            Test::StringIn(StringSet::new(Case::Sensitive, ["x".into()])),
        );
        assert!(!holds(&eq, "{}"));
        assert!(holds(&eq.clone().negate(), "{}"));
        let missing = leaf("a", Quantifier::Value, Test::Missing);
        assert!(holds(&missing, "{}") && holds(&missing, r#"{"a":null}"#));
        assert!(!holds(&missing, r#"{"a":""}"#));
    }

    #[test]
    fn quantifiers_decide_how_arrays_are_read() {
        let test = Test::NumberEq(Number::Unsigned(2));
        let value = leaf("a.b", Quantifier::Value, test.clone());
        let any = leaf("a.b", Quantifier::AnyElement, test);
        assert!(!holds(&value, r#"{"a":{"b":[1,2]}}"#));
        assert!(holds(&any, r#"{"a":{"b":[1,2]}}"#));
        assert!(holds(&any, r#"{"a":[{"b":1},{"b":2}]}"#));
        let missing = leaf("a", Quantifier::AnyElement, Test::Missing);
        assert!(holds(&missing, r#"{"a":[null]}"#) && holds(&missing, r#"{"a":[]}"#));
        assert!(!holds(&missing, r#"{"a":[null,1]}"#));
    }

    #[test]
    fn constants() {
        assert!(holds(&Expr::always(), "{}"));
        assert!(!holds(&Expr::never(), "{}"));
    }
}
