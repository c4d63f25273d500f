//! Lowering a query's syntax tree into the IR, with EQL's semantics (`docs/rules.md`).
//!
//! - `and`/`or`/`not` become `All`/`Any`/`Not`; `!=` is `not ==`.
//! - `== null` is [`Test::Missing`]; other literals give typed tests.
//! - `in`/`in~` give a string set (sensitive or folded) plus typed tests for other literals.
//! - `like`, `like~` and `:` are wildcard patterns, lowered to the cheapest equivalent test
//!   ([`crate::ir::wildcard`]): `eventName : "CreateUser"` is a folded equality, which the scan
//!   pins.
//! - `regex` matches the whole value; the string functions are substring tests, or, with a
//!   field as the second argument, a comparison of two fields.
//!
//! What a field *is* belongs to the [`Fields`] the caller passes: the native language reads raw
//! paths that follow objects only ([`RawFields::OBJECTS_ONLY`]); Elastic's EQL reads the ECS view.
//! The [`Dialect`] holds the one place the two languages differ in meaning. A mistake found here
//! is reported at the clause's [`Span`].

use super::ast::{Argument, Ast, CompareOp, Literal, Span, StringFunction};
use crate::frontend::fields::{Fields, RawFields};
use crate::ir::wildcard::{GlobPart, parse_plain, wildcard_test};
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

/// Where two languages sharing this syntax mean different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    /// Elasticsearch runs `stringContains(f, "lit")` as the Lucene wildcard query `*lit*`
    /// without escaping the literal, so `*` and `?` in it are wildcards and `\` escapes them
    /// (`../shared/spec/rules-and-fields.md` §4); the rules rely on it. Natively a needle is text.
    pub string_contains_is_wildcard: bool,
    /// Elasticsearch runs a comparison of a field with a field (`stringContains(a, b)`) as a
    /// script, whose value is null when either field is missing, and `not null` matches no
    /// document: `not stringContains(a, b)` needs both fields. Natively, absence is false and its
    /// negation true, as everywhere else.
    pub field_comparisons_need_both_fields: bool,
}

impl Dialect {
    /// trailtag's own rules.
    pub const NATIVE: Dialect = Dialect {
        string_contains_is_wildcard: false,
        field_comparisons_need_both_fields: false,
    };
    /// Elasticsearch EQL.
    pub const ELASTICSEARCH: Dialect = Dialect {
        string_contains_is_wildcard: true,
        field_comparisons_need_both_fields: true,
    };
}

/// Lowers a parsed native query into the IR; reports every clause that cannot be lowered.
pub fn lower(ast: &Ast) -> Result<Expr, Vec<LowerError>> {
    lower_with(ast, &RawFields::OBJECTS_ONLY, Dialect::NATIVE)
}

/// Lowers a parsed query against `fields` in `dialect`; reports every clause that cannot be
/// lowered.
pub fn lower_with(
    ast: &Ast,
    fields: &dyn Fields,
    dialect: Dialect,
) -> Result<Expr, Vec<LowerError>> {
    let lowering = Lowering { fields, dialect };
    let mut errors = Vec::new();
    let expr = lowering.lower_into(ast, &mut errors);
    match expr {
        Some(expr) if errors.is_empty() => Ok(expr),
        _ => Err(errors),
    }
}

struct Lowering<'f> {
    fields: &'f dyn Fields,
    dialect: Dialect,
}

impl Lowering<'_> {
    fn lower_into(&self, ast: &Ast, errors: &mut Vec<LowerError>) -> Option<Expr> {
        let lowered = match ast {
            Ast::And(terms) => return self.lower_all(terms, errors).map(Expr::All),
            Ast::Or(terms) => return self.lower_all(terms, errors).map(Expr::Any),
            Ast::Not(inner) => return self.lower_not(inner, errors),
            clause => self.lower_clause(clause),
        };
        lowered.map_err(|e| errors.push(e)).ok()
    }

    /// `not inner`; in Elasticsearch's dialect the negation of a field-with-field comparison
    /// also needs both fields (see [`Dialect`]).
    fn lower_not(&self, inner: &Ast, errors: &mut Vec<LowerError>) -> Option<Expr> {
        let negated = self.lower_into(inner, errors)?.negate();
        let Ast::Function {
            span,
            field,
            argument: Argument::Field(other),
            ..
        } = inner
        else {
            return Some(negated);
        };
        if !self.dialect.field_comparisons_need_both_fields {
            return Some(negated);
        }
        let mut exists = |path: &FieldPath| {
            self.fields
                .test(path, Test::Exists)
                .map_err(|message| {
                    errors.push(LowerError {
                        span: *span,
                        message,
                    })
                })
                .ok()
        };
        let (field_exists, other_exists) = (exists(field)?, exists(other)?);
        Some(Expr::All(vec![field_exists, other_exists, negated]))
    }

    /// Every term lowered, or `None` when any failed (its errors recorded).
    fn lower_all(&self, terms: &[Ast], errors: &mut Vec<LowerError>) -> Option<Vec<Expr>> {
        let lowered: Vec<Option<Expr>> = terms.iter().map(|t| self.lower_into(t, errors)).collect();
        lowered.into_iter().collect()
    }

    fn lower_clause(&self, ast: &Ast) -> Result<Expr, LowerError> {
        match ast {
            Ast::And(_) | Ast::Or(_) | Ast::Not(_) => Err(LowerError {
                span: Span::default(),
                message: "internal: a group is not a clause".into(),
            }),
            Ast::Compare {
                span,
                field,
                op,
                value,
            } => self.compare(*span, field, *op, value),
            Ast::In {
                span,
                field,
                values,
                case_insensitive,
            } => self.membership(*span, field, values, case(*case_insensitive)),
            Ast::Like {
                span,
                field,
                patterns,
                case_insensitive,
            } => {
                let parts: Vec<Vec<GlobPart>> = patterns.iter().map(|p| parse_plain(p)).collect();
                self.wildcards(*span, field, &parts, case(*case_insensitive))
            }
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
                self.leaf(*span, field, Test::Pattern(pattern))
            }
            Ast::Function {
                span,
                function,
                field,
                argument,
                case_insensitive,
            } => self.function(*span, *function, field, argument, case(*case_insensitive)),
        }
    }

    /// `field` tested by `test`, as the fields resolver reads it.
    fn leaf(&self, span: Span, field: &FieldPath, test: Test) -> Result<Expr, LowerError> {
        self.fields
            .test(field, test)
            .map_err(|message| LowerError { span, message })
    }

    fn function(
        &self,
        span: Span,
        function: StringFunction,
        field: &FieldPath,
        argument: &Argument,
        case: Case,
    ) -> Result<Expr, LowerError> {
        let needle = match argument {
            Argument::Field(other) => {
                return match function {
                    StringFunction::Contains => {
                        let test = Test::FieldContains {
                            field: self.resolved_path(span, other)?,
                            case,
                        };
                        self.leaf(span, field, test)
                    }
                    _ => Err(LowerError {
                        span,
                        message: "only stringContains takes a field as its second argument".into(),
                    }),
                };
            }
            Argument::String(needle) => needle,
        };
        if function == StringFunction::Contains && self.dialect.string_contains_is_wildcard {
            let mut parts = vec![GlobPart::AnyRun];
            parts.extend(parse_lucene_wildcard(needle));
            parts.push(GlobPart::AnyRun);
            return self.wildcards(span, field, &[parts], case);
        }
        let test = Test::Substring(Substring::new(
            substring_kind(function),
            case,
            [needle.clone()],
        ));
        self.leaf(span, field, test)
    }

    /// The raw path a field reference reads: a comparison with another field needs a path the
    /// document can answer directly.
    fn resolved_path(&self, span: Span, field: &FieldPath) -> Result<FieldPath, LowerError> {
        match self.fields.test(field, Test::Exists) {
            Ok(Expr::Leaf(leaf)) => Ok(leaf.field),
            Ok(_) | Err(_) => Err(LowerError {
                span,
                message: format!("`{field}` cannot be compared with another field"),
            }),
        }
    }

    fn compare(
        &self,
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
                return Ok(self
                    .leaf(span, field, equality(value, Case::Sensitive))?
                    .negate());
            }
            CompareOp::Lt => ordering(Cmp::Lt)?,
            CompareOp::Le => ordering(Cmp::Le)?,
            CompareOp::Gt => ordering(Cmp::Gt)?,
            CompareOp::Ge => ordering(Cmp::Ge)?,
        };
        self.leaf(span, field, test)
    }

    fn membership(
        &self,
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
            let set = Test::StringIn(StringSet::new(case, strings));
            alternatives.push(self.leaf(span, field, set)?);
        }
        for value in values.iter().filter(|v| !matches!(v, Literal::String(_))) {
            alternatives.push(self.compare(span, field, CompareOp::Eq, value)?);
        }
        Ok(one_or_any(alternatives))
    }

    fn wildcards(
        &self,
        span: Span,
        field: &FieldPath,
        patterns: &[Vec<GlobPart>],
        case: Case,
    ) -> Result<Expr, LowerError> {
        let alternatives = patterns
            .iter()
            .map(|parts| {
                let test =
                    wildcard_test(parts, case).map_err(|message| LowerError { span, message })?;
                self.leaf(span, field, test)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(one_or_any(alternatives))
    }
}

/// A Lucene wildcard literal: `*` and `?` are wildcards, `\` makes the next character literal.
fn parse_lucene_wildcard(pattern: &str) -> Vec<GlobPart> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        let wildcard = match c {
            '*' => GlobPart::AnyRun,
            '?' => GlobPart::AnyChar,
            '\\' => {
                literal.extend(chars.next());
                continue;
            }
            c => {
                literal.push(c);
                continue;
            }
        };
        if !literal.is_empty() {
            parts.push(GlobPart::Literal(std::mem::take(&mut literal)));
        }
        parts.push(wildcard);
    }
    if !literal.is_empty() {
        parts.push(GlobPart::Literal(literal));
    }
    parts
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

    fn check_elastic(query: &str, record: &str) -> bool {
        let fields = RawFields {
            quantifier: crate::ir::Quantifier::AnyElement,
        };
        let expr = lower_with(&parse(query).unwrap(), &fields, Dialect::ELASTICSEARCH).unwrap();
        expr.matches(&Json::parse(record.as_bytes()).unwrap())
    }

    #[test]
    fn elasticsearch_reads_string_contains_as_a_lucene_wildcard() {
        let principal = r#"stringContains(p, "Principal=\\*")"#;
        assert!(check_elastic(principal, r#"{"p":"{Principal=*, x=1}"}"#));
        assert!(!check_elastic(principal, r#"{"p":"{Principal=arn, x=1}"}"#));
        let values = r#"stringContains(p, "valuesToAdd=[*]")"#;
        assert!(check_elastic(values, r#"{"p":"{valuesToAdd=[all], a=b}"}"#));
        assert!(!check_elastic(values, r#"{"p":"{valuesToAdd=all}"}"#));
        assert!(check(
            r#"stringContains(p, "a=[*]")"#,
            r#"{"p":"x a=[*] y"}"#
        ));
        assert!(!check(
            r#"stringContains(p, "a=[*]")"#,
            r#"{"p":"x a=[all] y"}"#
        ));
        assert!(check_elastic(
            r#"stringContains(p, "X")"#,
            r#"{"p":["a","aXb"]}"#
        ));
    }

    #[test]
    fn a_field_as_the_needle_compares_two_fields() {
        let query = "stringContains(request, account)";
        assert!(check(query, r#"{"request":"{id=1234}","account":"1234"}"#));
        assert!(!check(query, r#"{"request":"{id=1234}","account":"99"}"#));
        assert!(lower(&parse("startsWith(a, b)").unwrap()).is_err());
    }
}
