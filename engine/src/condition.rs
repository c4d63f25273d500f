//! Compiled conditions and their evaluation.
//!
//! A query's syntax tree compiles to an [`Expr`]: boolean structure over [`Leaf`] tests, each a
//! field path plus a typed test. Evaluation is two-valued and follows EQL: a test on an absent
//! field is false (`null` tests excepted), so `not` of it is true. This is the documented
//! semantics of the language our rules are written in (`docs/rules.md`); the founding
//! trust-anchor rule relies on it to fire when no source type is recorded.
//!
//! Values compare by JSON type: a string literal equals only a JSON string, a number only a JSON
//! number, `true` only JSON `true`. Case-insensitive and wildcard tests compile to one anchored
//! [`regex::Regex`] each, so their cost is linear in the input whatever the pattern.

use std::cmp::Ordering;

use regex::{Regex, RegexBuilder};

use crate::json::{Json, Number};
use crate::path::FieldPath;
use crate::query::{Ast, CompareOp, Literal, StringFunction};

/// The largest compiled program one pattern may produce (bytes); bounds a hostile rule's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A compiled boolean condition.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    All(Vec<Expr>),
    Any(Vec<Expr>),
    Not(Box<Expr>),
    Leaf(Leaf),
}

/// One test of one field.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub path: FieldPath,
    pub test: Test,
}

/// What a leaf checks about the value at its path.
#[derive(Debug, Clone)]
pub(crate) enum Test {
    /// Absent or JSON null.
    Missing,
    /// A JSON string equal to one of these (case-sensitive).
    StrIn(Vec<String>),
    /// A JSON number equal to this one.
    NumEq(Number),
    /// A JSON number ordered against this one.
    NumOrder(CompareOp, f64),
    /// A JSON string ordered (bytewise) against this one.
    StrOrder(CompareOp, String),
    /// JSON `true` / `false`.
    BoolEq(bool),
    /// A JSON string containing this (case-sensitive).
    Contains(String),
    /// A JSON string starting with this (case-sensitive).
    StartsWith(String),
    /// A JSON string ending with this (case-sensitive).
    EndsWith(String),
    /// A JSON string the whole of which this anchored pattern matches.
    Pattern(Regex),
}

/// A compilation failure, with the query offset it concerns when one is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CompileError {
    pub message: String,
}

impl Expr {
    /// Compiles a syntax tree.
    pub fn compile(ast: &Ast) -> Result<Expr, CompileError> {
        Ok(match ast {
            Ast::And(terms) => {
                Expr::All(terms.iter().map(Expr::compile).collect::<Result<_, _>>()?)
            }
            Ast::Or(terms) => Expr::Any(terms.iter().map(Expr::compile).collect::<Result<_, _>>()?),
            Ast::Not(inner) => Expr::Not(Box::new(Expr::compile(inner)?)),
            Ast::Compare { field, op, value } => compile_compare(field, *op, value)?,
            Ast::In {
                field,
                values,
                case_insensitive,
            } => compile_in(field, values, *case_insensitive)?,
            Ast::Like {
                field,
                patterns,
                case_insensitive,
            } => {
                let alternatives: Vec<String> = patterns.iter().map(|p| glob_to_regex(p)).collect();
                leaf(
                    field,
                    Test::Pattern(anchored(&alternatives, *case_insensitive)?),
                )
            }
            Ast::Regex {
                field,
                patterns,
                case_insensitive,
            } => {
                let alternatives: Vec<String> =
                    patterns.iter().map(|p| format!("(?:{p})")).collect();
                leaf(
                    field,
                    Test::Pattern(anchored(&alternatives, *case_insensitive)?),
                )
            }
            Ast::Function {
                function,
                field,
                argument,
                case_insensitive,
            } => compile_function(*function, field, argument, *case_insensitive)?,
        })
    }

    /// Evaluates the condition against a parsed record.
    pub fn matches(&self, record: &Json<'_>) -> bool {
        match self {
            Expr::All(terms) => terms.iter().all(|t| t.matches(record)),
            Expr::Any(terms) => terms.iter().any(|t| t.matches(record)),
            Expr::Not(inner) => !inner.matches(record),
            Expr::Leaf(leaf) => leaf.test.holds_for(leaf.path.resolve(record)),
        }
    }

    /// Necessary conditions of the form "top-level key K is a JSON string in S".
    ///
    /// Every pin returned must hold for the condition to be true; the prefilter relies on that.
    /// Pins come from leaves that are conjuncts of the whole condition, and from `or` groups whose
    /// every branch pins the same key (the values are then united).
    pub fn pins(&self) -> Vec<Pin> {
        match self {
            Expr::Leaf(leaf) => leaf.pin().into_iter().collect(),
            Expr::All(terms) => terms.iter().flat_map(Expr::pins).collect(),
            Expr::Any(terms) => union_of_branch_pins(terms).into_iter().collect(),
            Expr::Not(_) => Vec::new(),
        }
    }
}

/// A necessary condition: the top-level `key` is a JSON string equal to one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    pub key: String,
    pub values: Vec<String>,
}

fn union_of_branch_pins(branches: &[Expr]) -> Option<Pin> {
    let mut union: Option<Pin> = None;
    for branch in branches {
        let pin = branch.pins().into_iter().next()?;
        match &mut union {
            None => union = Some(pin),
            Some(u) if u.key == pin.key => u.values.extend(pin.values),
            Some(_) => return None,
        }
    }
    union
}

impl Leaf {
    fn pin(&self) -> Option<Pin> {
        let key = self.path.top_level_key()?;
        match &self.test {
            Test::StrIn(values) => Some(Pin {
                key: key.to_owned(),
                values: values.clone(),
            }),
            _ => None,
        }
    }
}

impl Test {
    fn holds_for(&self, value: Option<&Json<'_>>) -> bool {
        match (self, value) {
            (Test::Missing, None | Some(Json::Null)) => true,
            (Test::NumEq(n), Some(Json::Number(v))) => v.equals(*n),
            (Test::NumOrder(op, n), Some(Json::Number(v))) => v
                .as_f64()
                .partial_cmp(n)
                .is_some_and(|o| ordering_holds(*op, o)),
            (Test::BoolEq(b), Some(Json::Bool(v))) => v == b,
            (_, Some(Json::String(s))) => self.holds_for_str(s),
            _ => false,
        }
    }

    fn holds_for_str(&self, s: &str) -> bool {
        match self {
            Test::StrIn(values) => values.iter().any(|v| v == s),
            Test::StrOrder(op, v) => ordering_holds(*op, s.cmp(v.as_str())),
            Test::Contains(needle) => s.contains(needle.as_str()),
            Test::StartsWith(prefix) => s.starts_with(prefix.as_str()),
            Test::EndsWith(suffix) => s.ends_with(suffix.as_str()),
            Test::Pattern(re) => re.is_match(s),
            Test::Missing | Test::NumEq(_) | Test::NumOrder(..) | Test::BoolEq(_) => false,
        }
    }
}

fn ordering_holds(op: CompareOp, ordering: Ordering) -> bool {
    match op {
        CompareOp::Eq => ordering.is_eq(),
        CompareOp::Ne => ordering.is_ne(),
        CompareOp::Lt => ordering.is_lt(),
        CompareOp::Le => ordering.is_le(),
        CompareOp::Gt => ordering.is_gt(),
        CompareOp::Ge => ordering.is_ge(),
    }
}

fn leaf(path: &FieldPath, test: Test) -> Expr {
    Expr::Leaf(Leaf {
        path: path.clone(),
        test,
    })
}

fn error<T>(message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError {
        message: message.into(),
    })
}

fn compile_compare(
    field: &FieldPath,
    op: CompareOp,
    value: &Literal,
) -> Result<Expr, CompileError> {
    let equality = match value {
        Literal::Null => Test::Missing,
        Literal::Bool(b) => Test::BoolEq(*b),
        Literal::Number(n) => Test::NumEq(*n),
        Literal::String(s) => Test::StrIn(vec![s.clone()]),
    };
    Ok(match (op, value) {
        (CompareOp::Eq, _) => leaf(field, equality),
        (CompareOp::Ne, _) => Expr::Not(Box::new(leaf(field, equality))),
        (_, Literal::Number(n)) => leaf(field, Test::NumOrder(op, n.as_f64())),
        (_, Literal::String(s)) => leaf(field, Test::StrOrder(op, s.clone())),
        (_, Literal::Null | Literal::Bool(_)) => {
            return error(format!(
                "`{field}` can only be ordered against a number or a string"
            ));
        }
    })
}

fn compile_in(
    field: &FieldPath,
    values: &[Literal],
    case_insensitive: bool,
) -> Result<Expr, CompileError> {
    let strings: Vec<String> = values
        .iter()
        .filter_map(|v| match v {
            Literal::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut alternatives = Vec::new();
    if !strings.is_empty() {
        alternatives.push(if case_insensitive {
            let escaped: Vec<String> = strings.iter().map(|s| regex::escape(s)).collect();
            leaf(field, Test::Pattern(anchored(&escaped, true)?))
        } else {
            leaf(field, Test::StrIn(strings))
        });
    }
    for value in values.iter().filter(|v| !matches!(v, Literal::String(_))) {
        alternatives.push(compile_compare(field, CompareOp::Eq, value)?);
    }
    Ok(if alternatives.len() == 1 {
        alternatives.remove(0)
    } else {
        Expr::Any(alternatives)
    })
}

fn compile_function(
    function: StringFunction,
    field: &FieldPath,
    argument: &str,
    case_insensitive: bool,
) -> Result<Expr, CompileError> {
    if case_insensitive {
        let escaped = regex::escape(argument);
        let pattern = match function {
            StringFunction::Contains => format!(".*{escaped}.*"),
            StringFunction::StartsWith => format!("{escaped}.*"),
            StringFunction::EndsWith => format!(".*{escaped}"),
        };
        return Ok(leaf(field, Test::Pattern(anchored(&[pattern], true)?)));
    }
    let argument = argument.to_owned();
    Ok(leaf(
        field,
        match function {
            StringFunction::Contains => Test::Contains(argument),
            StringFunction::StartsWith => Test::StartsWith(argument),
            StringFunction::EndsWith => Test::EndsWith(argument),
        },
    ))
}

/// `*` matches any run of characters, `?` exactly one; everything else is literal.
fn glob_to_regex(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len() + 8);
    let mut literal = String::new();
    for c in glob.chars() {
        if c == '*' || c == '?' {
            out.push_str(&regex::escape(&literal));
            literal.clear();
            out.push_str(if c == '*' { ".*" } else { "." });
        } else {
            literal.push(c);
        }
    }
    out.push_str(&regex::escape(&literal));
    out
}

fn anchored(alternatives: &[String], case_insensitive: bool) -> Result<Regex, CompileError> {
    let pattern = format!("^(?:{})$", alternatives.join("|"));
    RegexBuilder::new(&pattern)
        .case_insensitive(case_insensitive)
        .dot_matches_new_line(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .or_else(|e| error(format!("invalid pattern: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    fn check(query: &str, record: &str) -> bool {
        let expr = Expr::compile(&parse(query).unwrap()).unwrap();
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
    fn bad_patterns_and_orderings_fail_to_compile() {
        assert!(Expr::compile(&parse(r#"a regex "(""#).unwrap()).is_err());
        assert!(Expr::compile(&parse("a < null").unwrap()).is_err());
        let huge = format!(r#"a regex "{}""#, "(a{1000}){1000}");
        assert!(Expr::compile(&parse(&huge).unwrap()).is_err());
    }

    #[test]
    fn pins_come_from_conjuncts_and_uniform_or_groups() {
        let pins = |q: &str| Expr::compile(&parse(q).unwrap()).unwrap().pins();
        let p = pins(r#"eventSource == "iam" and eventName in ("A", "B") and x.y == "z""#);
        assert_eq!(p.len(), 2);
        assert_eq!(
            p[1],
            Pin {
                key: "eventName".into(),
                values: vec!["A".into(), "B".into()]
            }
        );
        let p = pins(r#"(eventName == "A" and b == 1) or eventName == "B""#);
        assert_eq!(
            p,
            vec![Pin {
                key: "eventName".into(),
                values: vec!["A".into(), "B".into()]
            }]
        );
        assert!(pins(r#"eventName == "A" or eventSource == "B""#).is_empty());
        assert!(pins(r#"not eventName == "A""#).is_empty());
        assert!(pins(r#"eventName in~ ("A")"#).is_empty());
    }
}
