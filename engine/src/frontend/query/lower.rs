//! Lowering a query's syntax tree into the IR, with EQL's semantics (`docs/rules.md`).
//!
//! - `and`/`or`/`not` become `All`/`Any`/`Not`; `!=` is `not ==`.
//! - `== null` is [`Test::Missing`]; other literals give typed tests.
//! - `in`/`in~` give a string set (sensitive or folded) plus typed tests for other literals.
//! - `like`, `like~` and `:` are wildcard patterns, lowered to the cheapest equivalent test
//!   ([`crate::ir::wildcard`]): `eventName : "CreateUser"` is a folded equality, which the scan
//!   pins.
//! - `regex` matches the whole value; the string functions are substring tests.
//!
//! Paths follow objects only ([`Quantifier::Value`]): the native language never fans out over
//! arrays. A mistake found here is reported at the clause's [`Span`].

use super::ast::{Ast, CompareOp, Literal, Span, StringFunction};
use crate::ir::wildcard::{parse_plain, wildcard_test};
use crate::ir::{Case, Cmp, Expr, Pattern, StringSet, Substring, SubstringKind, Test};
use crate::path::FieldPath;

/// A clause that cannot be lowered: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerError {
    /// The clause's text in the query.
    pub span: Span,
    /// What is wrong, for people.
    pub message: String,
}

/// Lowers a parsed query into the IR; reports every clause that cannot be lowered.
pub fn lower(ast: &Ast) -> Result<Expr, Vec<LowerError>> {
    let mut errors = Vec::new();
    let expr = lower_into(ast, &mut errors);
    match expr {
        Some(expr) if errors.is_empty() => Ok(expr),
        _ => Err(errors),
    }
}

fn lower_into(ast: &Ast, errors: &mut Vec<LowerError>) -> Option<Expr> {
    let lowered = match ast {
        Ast::And(terms) => return lower_all(terms, errors).map(Expr::All),
        Ast::Or(terms) => return lower_all(terms, errors).map(Expr::Any),
        Ast::Not(inner) => return lower_into(inner, errors).map(Expr::negate),
        clause => lower_clause(clause),
    };
    lowered.map_err(|e| errors.push(e)).ok()
}

fn lower_clause(ast: &Ast) -> Result<Expr, LowerError> {
    Ok(match ast {
        Ast::And(_) | Ast::Or(_) | Ast::Not(_) => {
            return Err(LowerError {
                span: Span::default(),
                message: "internal: a group is not a clause".into(),
            });
        }
        Ast::Compare {
            span,
            field,
            op,
            value,
        } => compare(*span, field, *op, value)?,
        Ast::In {
            span,
            field,
            values,
            case_insensitive,
        } => membership(*span, field, values, case(*case_insensitive))?,
        Ast::Like {
            span,
            field,
            patterns,
            case_insensitive,
        } => wildcards(*span, field, patterns, case(*case_insensitive))?,
        Ast::Regex {
            span,
            field,
            patterns,
            case_insensitive,
        } => {
            let pattern =
                Pattern::whole_value(patterns, case(*case_insensitive)).map_err(|message| {
                    LowerError {
                        span: *span,
                        message,
                    }
                })?;
            Expr::leaf(field.clone(), Test::Pattern(pattern))
        }
        Ast::Function {
            function,
            field,
            argument,
            case_insensitive,
            ..
        } => Expr::leaf(
            field.clone(),
            Test::Substring(Substring::new(
                substring_kind(*function),
                case(*case_insensitive),
                [argument.clone()],
            )),
        ),
    })
}

/// Every term lowered, or `None` when any failed (its errors recorded).
fn lower_all(terms: &[Ast], errors: &mut Vec<LowerError>) -> Option<Vec<Expr>> {
    let lowered: Vec<Option<Expr>> = terms.iter().map(|t| lower_into(t, errors)).collect();
    lowered.into_iter().collect()
}

fn case(insensitive: bool) -> Case {
    if insensitive {
        Case::Insensitive
    } else {
        Case::Sensitive
    }
}

fn substring_kind(function: StringFunction) -> SubstringKind {
    match function {
        StringFunction::Contains => SubstringKind::Contains,
        StringFunction::StartsWith => SubstringKind::StartsWith,
        StringFunction::EndsWith => SubstringKind::EndsWith,
    }
}

fn equality(value: &Literal, case: Case) -> Test {
    match value {
        Literal::Null => Test::Missing,
        Literal::Bool(b) => Test::Bool(*b),
        Literal::Number(n) => Test::NumberEq(*n),
        Literal::String(s) => Test::StringIn(StringSet::new(case, [s.clone()])),
    }
}

fn compare(
    span: Span,
    field: &FieldPath,
    op: CompareOp,
    value: &Literal,
) -> Result<Expr, LowerError> {
    let ordering = |cmp: Cmp| match value {
        Literal::Number(n) => Ok(Test::NumberCmp(cmp, n.as_f64())),
        Literal::String(s) => Ok(Test::StringCmp(cmp, s.clone())),
        Literal::Null | Literal::Bool(_) => Err(LowerError {
            span,
            message: format!("`{field}` can only be ordered against a number or a string"),
        }),
    };
    let test = match op {
        CompareOp::Eq => equality(value, Case::Sensitive),
        CompareOp::Ne => {
            return Ok(Expr::leaf(field.clone(), equality(value, Case::Sensitive)).negate());
        }
        CompareOp::Lt => ordering(Cmp::Lt)?,
        CompareOp::Le => ordering(Cmp::Le)?,
        CompareOp::Gt => ordering(Cmp::Gt)?,
        CompareOp::Ge => ordering(Cmp::Ge)?,
    };
    Ok(Expr::leaf(field.clone(), test))
}

fn membership(
    span: Span,
    field: &FieldPath,
    values: &[Literal],
    case: Case,
) -> Result<Expr, LowerError> {
    let strings: Vec<String> = values
        .iter()
        .filter_map(|v| match v {
            Literal::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut alternatives = Vec::new();
    if !strings.is_empty() {
        alternatives.push(Expr::leaf(
            field.clone(),
            Test::StringIn(StringSet::new(case, strings)),
        ));
    }
    for value in values.iter().filter(|v| !matches!(v, Literal::String(_))) {
        alternatives.push(compare(span, field, CompareOp::Eq, value)?);
    }
    Ok(one_or_any(alternatives))
}

fn wildcards(
    span: Span,
    field: &FieldPath,
    patterns: &[String],
    case: Case,
) -> Result<Expr, LowerError> {
    let alternatives = patterns
        .iter()
        .map(|p| {
            wildcard_test(&parse_plain(p), case)
                .map(|test| Expr::leaf(field.clone(), test))
                .map_err(|message| LowerError { span, message })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(one_or_any(alternatives))
}

fn one_or_any(mut alternatives: Vec<Expr>) -> Expr {
    if alternatives.len() == 1 {
        alternatives.remove(0)
    } else {
        Expr::Any(alternatives)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use crate::json::Json;

    fn check(query: &str, record: &str) -> bool {
        let expr = lower(&parse(query).unwrap()).unwrap();
        expr.matches(&Json::parse(record.as_bytes()).unwrap())
    }

    #[test]
    fn equality_is_exact_and_typed() {
        assert!(check(r#"a == "x""#, r#"{"a":"x"}"#));
        assert!(!check(r#"a == "x""#, r#"{"a":"X"}"#));
        assert!(!check(r#"a == "x""#, r#"{"a":["x"]}"#));
        assert!(!check(r#"a == "1""#, r#"{"a":1}"#));
        assert!(check("a == 1", r#"{"a":1}"#));
        assert!(check("a == 1.0", r#"{"a":1.0}"#));
        assert!(!check("a == 1", r#"{"a":"1"}"#));
        assert!(check("a == true", r#"{"a":true}"#));
        assert!(!check("a == true", r#"{"a":"true"}"#));
    }

    #[test]
    fn absent_fields_fail_comparisons_so_negations_hold() {
        assert!(!check(r#"a == "x""#, "{}"));
        assert!(check(r#"not a == "x""#, "{}"));
        assert!(check(r#"a != "x""#, "{}"));
        assert!(check("a == null", "{}"));
        assert!(check("a == null", r#"{"a":null}"#));
        assert!(!check("a == null", r#"{"a":""}"#));
        assert!(check("a != null", r#"{"a":""}"#));
    }

    #[test]
    fn lists_patterns_and_functions() {
        assert!(check(r#"a in ("x", "y", 3, null)"#, r#"{"a":"y"}"#));
        assert!(check(r#"a in ("x", "y", 3, null)"#, r#"{"a":3}"#));
        assert!(check(r#"a in ("x", "y", 3, null)"#, r#"{}"#));
        assert!(check(r#"a in~ ("AB")"#, r#"{"a":"ab"}"#));
        assert!(check(r#"a : "*Boto3*""#, r#"{"a":"x boto3/1.2"}"#));
        assert!(!check(r#"a like "*Boto3*""#, r#"{"a":"x boto3/1.2"}"#));
        assert!(check(r#"a like "a?c*""#, r#"{"a":"abc.d(e)"}"#));
        assert!(!check(r#"a like "a.c""#, r#"{"a":"abc"}"#));
        assert!(check(r#"a regex "[0-9]+""#, r#"{"a":"123"}"#));
        assert!(!check(r#"a regex "[0-9]+""#, r#"{"a":"123x"}"#));
        assert!(check(r#"stringContains(a, "b.c")"#, r#"{"a":"ab.cd"}"#));
        assert!(check(r#"startsWith~(a, "AWS-")"#, r#"{"a":"aws-cli"}"#));
        assert!(check(r#"endsWith(a, "/admin")"#, r#"{"a":"role/admin"}"#));
        assert!(check("n >= 900 and n < 43200.5", r#"{"n":900}"#));
        assert!(check(r#"s > "b""#, r#"{"s":"c"}"#));
    }

    #[test]
    fn errors_point_at_the_clause() {
        let query = "a == 1 and\n  b regex \"(\" or c < null";
        let errors = lower(&parse(query).unwrap()).unwrap_err();
        let texts: Vec<&str> = errors
            .iter()
            .map(|e| &query[e.span.start..e.span.end])
            .collect();
        assert_eq!(texts, [r#"b regex "(""#, "c < null"]);
        assert!(errors[0].message.contains("invalid pattern"), "{errors:?}");
        assert!(errors[1].message.contains("ordered"), "{errors:?}");
        let huge = format!(r#"a regex "{}""#, "(a{1000}){1000}");
        assert!(lower(&parse(&huge).unwrap()).is_err());
    }
}
