//! Evaluating an [`Expr`] against a [`Document`]: two-valued, short-circuiting, in the order
//! the optimiser left the children in (cheapest first).

use super::{Case, Expr, Leaf, Quantifier, Test, fold_str, scalar_text};
use crate::document::Document;
use crate::path::FieldPath;

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
            Test::Exists => document.any_value(&self.field, self.quantifier, &mut |_| true),
            Test::FieldRef { field, case } => {
                self.compare_with_field(document, field, &|text, other| match case {
                    Case::Sensitive => text == other,
                    Case::Insensitive => fold_str(text) == fold_str(other),
                })
            }
            Test::FieldContains { field, case } => {
                self.compare_with_field(document, field, &|text, other| match case {
                    Case::Sensitive => text.contains(other),
                    Case::Insensitive => fold_str(text).contains(fold_str(other).as_ref()),
                })
            }
            test => document.any_value(&self.field, self.quantifier, &mut |v| test.holds(v)),
        }
    }
}

impl Leaf {
    /// Whether some value of this leaf's field and some value of `other` (arrays entered),
    /// both as text, satisfy `relation(this, other)`.
    fn compare_with_field<D: Document + ?Sized>(
        &self,
        document: &D,
        other: &FieldPath,
        relation: &dyn Fn(&str, &str) -> bool,
    ) -> bool {
        document.any_value(&self.field, self.quantifier, &mut |value| {
            let Some(text) = scalar_text(value) else {
                return false;
            };
            document.any_value(other, Quantifier::AnyElement, &mut |candidate| {
                scalar_text(candidate).is_some_and(|candidate| relation(&text, &candidate))
            })
        })
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
    fn a_field_reference_compares_two_fields_as_text() {
        let same = leaf(
            "a",
            Quantifier::AnyElement,
            Test::FieldRef {
                field: field("b.c"),
                case: Case::Insensitive,
            },
        );
        assert!(holds(&same, r#"{"a":"X","b":{"c":["y","x"]}}"#));
        assert!(holds(&same, r#"{"a":7,"b":{"c":"7"}}"#));
        assert!(!holds(&same, r#"{"a":"x","b":{"c":"y"}}"#));
        assert!(
            !holds(&same, r#"{"a":"x"}"#),
            "an absent reference matches nothing"
        );
    }

    #[test]
    fn text_views_see_scalars_as_json_writes_them() {
        let text = |drop| {
            leaf(
                "a",
                Quantifier::AnyElement,
                Test::Text(TextTest::new(
                    Test::StringIn(StringSet::new(
                        Case::Insensitive,
                        ["true".into(), "-".into(), "42".into()],
                    )),
                    drop,
                )),
            )
        };
        assert!(holds(&text(false), r#"{"a":true}"#) && holds(&text(false), r#"{"a":42}"#));
        assert!(holds(&text(false), r#"{"a":"-"}"#));
        assert!(
            !holds(&text(true), r#"{"a":"-"}"#),
            "placeholders are no value"
        );
        assert!(!holds(&text(false), r#"{"a":{"b":"true"}}"#));
    }

    #[test]
    fn cidr_tests_parse_addresses() {
        let nets = Test::Cidr(vec![
            IpNetwork::parse("10.0.0.0/8").unwrap(),
            IpNetwork::parse("2001:db8::/32").unwrap(),
        ]);
        let cidr = leaf("ip", Quantifier::Value, nets);
        assert!(holds(&cidr, r#"{"ip":"10.2.3.4"}"#) && holds(&cidr, r#"{"ip":"2001:db8::1"}"#));
        assert!(!holds(&cidr, r#"{"ip":"11.0.0.1"}"#) && !holds(&cidr, r#"{"ip":"not an ip"}"#));
        assert!(IpNetwork::parse("10.0.0.0/33").is_err() && IpNetwork::parse("x/8").is_err());
        assert!(
            IpNetwork::parse("0.0.0.0/0")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
    }

    #[test]
    fn constants() {
        assert!(holds(&Expr::always(), "{}"));
        assert!(!holds(&Expr::never(), "{}"));
    }
}
