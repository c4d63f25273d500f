//! The IR written for people: what `trailtag explain` shows of a test that failed, and what
//! `trailtag rules` prints of a compiled condition.
//!
//! ```text
//! eventName == "CreateGroup"
//! eventSource in ("iam.amazonaws.com", "sts.amazonaws.com") (any case)
//! not (errorCode exists)
//! @ecs.event.outcome == "success" (as text)
//! ```

use std::fmt;

use super::{Case, Expr, Leaf, Quantifier, SubstringKind, Test};

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All(terms) if terms.is_empty() => f.write_str("true"),
            Expr::Any(terms) if terms.is_empty() => f.write_str("false"),
            Expr::All(terms) => join(f, terms, " and "),
            Expr::Any(terms) => join(f, terms, " or "),
            Expr::Not(inner) => write!(f, "not ({inner})"),
            Expr::Leaf(leaf) => leaf.fmt(f),
        }
    }
}

fn join(f: &mut fmt::Formatter<'_>, terms: &[Expr], separator: &str) -> fmt::Result {
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        match term {
            Expr::All(inner) | Expr::Any(inner) if inner.len() > 1 => write!(f, "({term})")?,
            _ => write!(f, "{term}")?,
        }
    }
    Ok(())
}

impl fmt::Display for Leaf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = self.field.segments().join(".");
        let field = if field.is_empty() {
            "any field"
        } else {
            field.as_str()
        };
        let arrays = match self.quantifier {
            Quantifier::Value => "",
            Quantifier::AnyElement => "",
            Quantifier::AnyLeaf => " (any value under it)",
        };
        write!(f, "{field}{arrays} {}", self.test)
    }
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Test::Missing => f.write_str("is absent or null"),
            Test::Exists => f.write_str("exists"),
            Test::Bool(b) => write!(f, "== {b}"),
            Test::NumberEq(n) => write!(f, "== {}", n.as_f64()),
            Test::NumberCmp(cmp, n) => write!(f, "{} {n}", cmp.symbol()),
            Test::StringCmp(cmp, s) => write!(f, "{} {s:?}", cmp.symbol()),
            Test::StringIn(set) => {
                match set.values() {
                    [one] => write!(f, "== {one:?}")?,
                    values => write!(f, "in ({})", quoted(values))?,
                }
                any_case(f, set.case())
            }
            Test::Substring(s) => {
                let verb = match s.kind() {
                    SubstringKind::Contains => "contains",
                    SubstringKind::StartsWith => "starts with",
                    SubstringKind::EndsWith => "ends with",
                };
                match s.needles() {
                    [one] => write!(f, "{verb} {one:?}")?,
                    needles => write!(f, "{verb} one of ({})", quoted(needles))?,
                }
                any_case(f, s.case())
            }
            Test::Pattern(p) => {
                write!(f, "matches /{}/", p.source())?;
                any_case(f, p.case())
            }
            Test::Cidr(networks) => {
                let list: Vec<String> = networks.iter().map(ToString::to_string).collect();
                write!(f, "is an address in {}", list.join(", "))
            }
            Test::Text(text) => write!(f, "{} (as text)", text.inner),
            Test::FieldRef { field, case } => {
                write!(f, "== the value of {field}")?;
                any_case(f, *case)
            }
            Test::FieldContains { field, case } => {
                write!(f, "contains the value of {field}")?;
                any_case(f, *case)
            }
        }
    }
}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn any_case(f: &mut fmt::Formatter<'_>, case: Case) -> fmt::Result {
    match case {
        Case::Sensitive => Ok(()),
        Case::Insensitive => f.write_str(" (any case)"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::StringSet;
    use super::*;
    use crate::path::FieldPath;

    #[test]
    fn conditions_read_like_queries() {
        let leaf = |path: &str, values: &[&str], case| {
            Expr::leaf(
                FieldPath::parse_dotted(path).unwrap(),
                Test::StringIn(StringSet::new(case, values.iter().map(|v| (*v).to_owned()))),
            )
        };
        let expr = Expr::All(vec![
            leaf("eventName", &["CreateGroup"], Case::Sensitive),
            Expr::Any(vec![
                leaf("a", &["x", "y"], Case::Insensitive),
                leaf("b", &["z"], Case::Sensitive).negate(),
            ]),
        ]);
        assert_eq!(
            expr.to_string(),
            r#"eventName == "CreateGroup" and (a in ("X", "Y") (any case) or not (b == "z"))"#
        );
    }
}
