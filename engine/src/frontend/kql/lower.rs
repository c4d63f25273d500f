//! Lowering a KQL syntax tree into the IR, with Elastic's semantics (`docs/kql.md`).
//!
//! - `and`/`or`/`not`, between clauses or inside a value list, become `All`/`Any`/`Not`. Each
//!   value is its own leaf, "some value of the field matches", so `field:(A and B)` holds when
//!   one value matches `A` and one (perhaps the same) matches `B`.
//! - A value is read the way the field's [`FieldKind`] says ([`value_test`]): keyword text
//!   exactly and case-sensitively, a bare value with `*` as a wildcard (the cheapest equivalent
//!   test, [`wildcard_test`]); an address or CIDR on an ip field; `true`/`false` on a boolean
//!   field; a number on a number field. A value the field cannot hold is an error at the value.
//! - `field: *` is [`Test::Exists`]; what counts as a value there (Elastic indexes neither
//!   `null` nor its placeholders) is the [`Fields`] resolver's to say.
//! - `not P` is `Not(P)`, which holds when the field is missing: KQL's negation is two-valued,
//!   exactly the IR's default.
//!
//! Every leaf goes through [`Fields::test`], so a renamed or derived field keeps the pins of
//! what it resolves to; an error from the resolver is reported at the clause. All errors are
//! collected, not only the first.

use super::ast::{Field, KqlAst, Piece, Value, ValueKind, ValueList};
use crate::frontend::fields::{FieldKind, Fields};
use crate::frontend::query::{LowerError, Span};
use crate::ir::wildcard::{GlobPart, wildcard_test};
use crate::ir::{Case, Cmp, Expr, IpNetwork, StringSet, Test};
use crate::json::Number;

/// Lowers a parsed query against `fields`; reports every clause or value that cannot be lowered.
pub fn lower(ast: &KqlAst, fields: &dyn Fields) -> Result<Expr, Vec<LowerError>> {
    let mut lowering = Lowering {
        fields,
        errors: Vec::new(),
    };
    let expr = lowering.query(ast);
    if lowering.errors.is_empty() {
        Ok(expr)
    } else {
        Err(lowering.errors)
    }
}

struct Lowering<'f> {
    fields: &'f dyn Fields,
    errors: Vec<LowerError>,
}

impl Lowering<'_> {
    fn query(&mut self, ast: &KqlAst) -> Expr {
        match ast {
            KqlAst::Or(terms) => Expr::Any(terms.iter().map(|t| self.query(t)).collect()),
            KqlAst::And(terms) => Expr::All(terms.iter().map(|t| self.query(t)).collect()),
            KqlAst::Not(inner) => self.query(inner).negate(),
            KqlAst::Match {
                span,
                field,
                values,
            } => {
                let kind = self.fields.kind(&field.path);
                self.values(*span, field, kind, values)
            }
            KqlAst::Range {
                span,
                field,
                op,
                value,
            } => {
                let test = range_test(field, self.fields.kind(&field.path), *op, value);
                self.leaf(*span, field, test)
            }
        }
    }

    fn values(&mut self, clause: Span, field: &Field, kind: FieldKind, list: &ValueList) -> Expr {
        match list {
            ValueList::Or(items) => Expr::Any(self.each(clause, field, kind, items)),
            ValueList::And(items) => Expr::All(self.each(clause, field, kind, items)),
            ValueList::Not(inner) => self.values(clause, field, kind, inner).negate(),
            ValueList::Value(value) => {
                let test = value_test(field, kind, value);
                self.leaf(clause, field, test)
            }
        }
    }

    fn each(
        &mut self,
        clause: Span,
        field: &Field,
        kind: FieldKind,
        items: &[ValueList],
    ) -> Vec<Expr> {
        items
            .iter()
            .map(|item| self.values(clause, field, kind, item))
            .collect()
    }

    /// The resolver's expression for one test, or a placeholder with the error recorded.
    fn leaf(&mut self, clause: Span, field: &Field, test: Result<Test, LowerError>) -> Expr {
        let resolved = test.and_then(|test| {
            self.fields
                .test(&field.path, test)
                .map_err(|message| LowerError {
                    span: clause,
                    message,
                })
        });
        resolved.unwrap_or_else(|error| {
            if !self.errors.contains(&error) {
                self.errors.push(error);
            }
            Expr::never()
        })
    }
}

/// The test one value of `field: value` stands for, read as the field's kind says.
fn value_test(field: &Field, kind: FieldKind, value: &Value) -> Result<Test, LowerError> {
    if value.is_exists() {
        return Ok(Test::Exists);
    }
    let at_value = |message: String| LowerError {
        span: value.span,
        message,
    };
    if kind == FieldKind::Keyword {
        return keyword_test(value).map_err(at_value);
    }
    let text = value.literal().ok_or_else(|| {
        at_value(format!(
            "`{}` is {} field: a wildcard matches only keyword fields",
            field.path,
            kind_name(kind)
        ))
    })?;
    typed_test(field, kind, &text).map_err(at_value)
}

/// A keyword value: a quoted or star-free value is an exact string, a bare one with `*` a
/// case-sensitive wildcard.
fn keyword_test(value: &Value) -> Result<Test, String> {
    match &value.kind {
        ValueKind::Quoted(text) => Ok(exact(text)),
        ValueKind::Bare(pieces) => {
            let parts: Vec<GlobPart> = pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Text(text) => GlobPart::Literal(text.clone()),
                    Piece::Star => GlobPart::AnyRun,
                })
                .collect();
            wildcard_test(&parts, Case::Sensitive)
        }
    }
}

fn exact(text: &str) -> Test {
    Test::StringIn(StringSet::new(Case::Sensitive, [text.to_owned()]))
}

/// A literal on an ip, boolean or number field.
fn typed_test(field: &Field, kind: FieldKind, text: &str) -> Result<Test, String> {
    match kind {
        FieldKind::Keyword => Ok(exact(text)),
        FieldKind::Ip => IpNetwork::parse(text)
            .map(|network| Test::Cidr(vec![network]))
            .map_err(|e| format!("`{}` is an ip field: {e}", field.path)),
        FieldKind::Boolean => boolean(text).map(exact).ok_or_else(|| {
            format!(
                "`{}` is a boolean field: the value must be true or false, not {text:?}",
                field.path
            )
        }),
        FieldKind::Number => number(text).map(Test::NumberEq).ok_or_else(|| {
            format!(
                "`{}` is a number field: {text:?} is not a number",
                field.path
            )
        }),
    }
}

/// `field < value` and the like: strings compare bytewise on keyword fields, numbers by value.
fn range_test(field: &Field, kind: FieldKind, op: Cmp, value: &Value) -> Result<Test, LowerError> {
    let at_value = |message: String| LowerError {
        span: value.span,
        message,
    };
    let text = value
        .literal()
        .ok_or_else(|| at_value("a range compares with a literal, not a wildcard".into()))?;
    match kind {
        FieldKind::Keyword => Ok(Test::StringCmp(op, text)),
        FieldKind::Number => match number(&text) {
            Some(n) => Ok(Test::NumberCmp(op, n.as_f64())),
            None => Err(at_value(format!(
                "`{}` is a number field: {text:?} is not a number",
                field.path
            ))),
        },
        FieldKind::Ip | FieldKind::Boolean => Err(at_value(format!(
            "not supported: `{}` on {} field (`{}` ranges work on keyword and number fields)",
            op.symbol(),
            kind_name(kind),
            field.path
        ))),
    }
}

/// `true` / `false` in any case, as the text a boolean is indexed as.
fn boolean(text: &str) -> Option<&'static str> {
    ["true", "false"]
        .into_iter()
        .find(|b| text.eq_ignore_ascii_case(b))
}

/// A numeric literal: an integer exactly when it fits, otherwise a finite decimal.
fn number(text: &str) -> Option<Number> {
    if let Ok(n) = text.parse::<u64>() {
        return Some(Number::Unsigned(n));
    }
    if let Ok(n) = text.parse::<i64>() {
        return Some(Number::Signed(n));
    }
    let numeric = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    text.parse::<f64>()
        .ok()
        .filter(|f| numeric && f.is_finite())
        .map(Number::Float)
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Keyword => "a keyword",
        FieldKind::Ip => "an ip",
        FieldKind::Boolean => "a boolean",
        FieldKind::Number => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use crate::frontend::fields::RawFields;
    use crate::ir::{Quantifier, SubstringKind};
    use crate::json::Json;
    use crate::path::FieldPath;

    const RAW: RawFields = RawFields {
        quantifier: Quantifier::AnyElement,
    };

    /// Raw fields, except a few typed ones, and one the resolver refuses.
    struct Typed;

    impl Fields for Typed {
        fn test(&self, field: &FieldPath, test: Test) -> Result<Expr, String> {
            if field.to_string() == "secret" {
                return Err("`secret` cannot be read".into());
            }
            RAW.test(field, test)
        }

        fn kind(&self, field: &FieldPath) -> FieldKind {
            match field.to_string().as_str() {
                "source.ip" => FieldKind::Ip,
                "mfa_used" => FieldKind::Boolean,
                "bytes" => FieldKind::Number,
                _ => FieldKind::Keyword,
            }
        }
    }

    fn lowered(query: &str, fields: &dyn Fields) -> Expr {
        lower(&parse(query).unwrap(), fields).unwrap()
    }

    fn check_with(fields: &dyn Fields, query: &str, record: &str) -> bool {
        lowered(query, fields).matches(&Json::parse(record.as_bytes()).unwrap())
    }

    fn check(query: &str, record: &str) -> bool {
        check_with(&RAW, query, record)
    }

    fn errors(query: &str) -> Vec<(String, String)> {
        let errors = lower(&parse(query).unwrap(), &Typed).unwrap_err();
        errors
            .into_iter()
            .map(|e| (query[e.span.start..e.span.end].to_owned(), e.message))
            .collect()
    }

    #[test]
    fn keyword_values_are_exact_and_case_sensitive() {
        let record = r#"{"event":{"action":"CreateGroup"}}"#;
        assert!(check("event.action: CreateGroup", record));
        assert!(check(r#"event.action: "CreateGroup""#, record));
        assert!(!check("event.action: creategroup", record));
        assert!(!check("event.action: CreateGroups", record));
        assert!(!check("event.action: Create", record));
        assert!(check("event.action: Create*", record));
        assert!(!check("event.action: create*", record));
        assert!(check(
            r"user.id: *\:i-*",
            r#"{"user":{"id":"AROAEXAMPLE:i-0abc"}}"#
        ));
        assert!(!check(
            r"user.id: *\:i-*",
            r#"{"user":{"id":"AROAEXAMPLE:alice"}}"#
        ));
    }

    #[test]
    fn quoted_stars_are_literal_and_bare_stars_are_wildcards() {
        assert!(!check(r#"a: "x*""#, r#"{"a":"xyz"}"#));
        assert!(check(r#"a: "x*""#, r#"{"a":"x*"}"#));
        assert!(check(r"a: x\*", r#"{"a":"x*"}"#));
        assert!(!check(r"a: x\*", r#"{"a":"xyz"}"#));
        let glob = r#"a: *logging*enabled=false*"#;
        assert!(check(glob, r#"{"a":"{logging={enabled=false}}"}"#));
        assert!(!check(glob, r#"{"a":"{enabled=false, logging=x}"}"#));
        assert!(check(
            "a: arn*/terraform",
            r#"{"a":"arn:aws:iam::1:role/terraform"}"#
        ));
        assert!(!check(
            "a: arn*/terraform",
            r#"{"a":"arn:aws:iam::1:role/terraform2"}"#
        ));
        assert!(check("a: (*S3 Browser*)", r#"{"a":"S3 Browser 10.1"}"#));
        assert!(!check("a: (*S3 Browser*)", r#"{"a":"S3  Browser"}"#));
    }

    #[test]
    fn wildcards_lower_to_the_cheapest_test() {
        let leaf_test = |query: &str| match lowered(query, &RAW) {
            Expr::Leaf(leaf) => leaf.test,
            other => panic!("a leaf expected, got {other:?}"),
        };
        assert!(
            matches!(leaf_test("a: AKIA*"), Test::Substring(s) if s.kind() == SubstringKind::StartsWith)
        );
        assert!(
            matches!(leaf_test("a: *.pem"), Test::Substring(s) if s.kind() == SubstringKind::EndsWith)
        );
        assert!(
            matches!(leaf_test("a: *CloudShell*"), Test::Substring(s) if s.kind() == SubstringKind::Contains)
        );
        assert!(matches!(leaf_test("a: x*y"), Test::Pattern(_)));
        assert_eq!(leaf_test("a: x"), exact("x"));
        assert_eq!(leaf_test("a: 21"), exact("21"));
        assert_eq!(leaf_test("a: true"), exact("true"));
        assert_eq!(leaf_test("a: *"), Test::Exists);
        assert_eq!(leaf_test("a: **"), Test::Exists);
    }

    #[test]
    fn arrays_match_when_any_element_does() {
        let record = r#"{"a":["x","y"],"o":[{"b":"p"},{"b":"q"}]}"#;
        assert!(check("a: y", record));
        assert!(check("o.b: q", record));
        assert!(!check("a: z", record));
        assert!(
            check("a: (x and y)", record),
            "each value may match another element"
        );
        assert!(!check("a: (x and z)", record));
        assert!(!check("not a: x", record), "not: no element matches");
        assert!(check("a: (* and not z)", record));
        assert!(!check("a: (* and not (x or z))", record));
    }

    #[test]
    fn missing_fields_make_negations_hold() {
        assert!(!check("a: x", "{}"));
        assert!(check("not a: x", "{}"));
        assert!(check("a: (not x)", "{}"));
        assert!(!check("a: *", "{}"));
        assert!(check("not a: *", "{}"));
        assert!(!check("a: *", r#"{"a":[]}"#));
        assert!(check("a: *", r#"{"a":""}"#), "the empty string is a value");
        assert!(!check("a: (* and not x)", "{}"));
    }

    #[test]
    fn value_lists_combine_tests_of_one_field() {
        let query = "event.action: (A or B) and not ua: (*terraform* or *pulumi*)";
        assert!(check(query, r#"{"event":{"action":"B"},"ua":"aws-cli"}"#));
        assert!(!check(
            query,
            r#"{"event":{"action":"B"},"ua":"x terraform"}"#
        ));
        assert!(!check(query, r#"{"event":{"action":"C"}}"#));
        let nested = r#"org: (* and not ("Amazon.com, Inc." or AMAZ* or Google*))"#;
        assert!(check(nested, r#"{"org":"Evil Corp"}"#));
        assert!(!check(nested, r#"{"org":"AMAZON-02"}"#));
        assert!(!check(nested, r#"{"org":"Amazon.com, Inc."}"#));
        assert!(
            check(nested, r#"{"org":"amazon.com, inc."}"#),
            "case-sensitive"
        );
        assert!(!check(nested, "{}"));
    }

    #[test]
    fn numbers_and_booleans_are_text_on_keyword_fields() {
        assert!(check("port: 21", r#"{"port":"21"}"#));
        assert!(
            !check("port: 21", r#"{"port":21}"#),
            "raw fields have no text view"
        );
        assert!(check("flag: true", r#"{"flag":"true"}"#));
        assert!(!check("flag: TRUE", r#"{"flag":"true"}"#));
    }

    #[test]
    fn typed_fields_read_values_their_way() {
        let typed = |query: &str, record: &str| check_with(&Typed, query, record);
        assert!(typed(
            "source.ip: 10.0.0.0/8",
            r#"{"source":{"ip":"10.1.2.3"}}"#
        ));
        assert!(!typed(
            "source.ip: 10.0.0.0/8",
            r#"{"source":{"ip":"11.1.2.3"}}"#
        ));
        assert!(typed(
            r#"source.ip: "10.1.2.3""#,
            r#"{"source":{"ip":"10.1.2.3"}}"#
        ));
        assert!(typed("source.ip: \"::1\"", r#"{"source":{"ip":"0:0::1"}}"#));
        assert!(typed("source.ip: *", r#"{"source":{"ip":"::1"}}"#));
        assert!(typed("mfa_used: TRUE", r#"{"mfa_used":"true"}"#));
        assert!(typed("mfa_used: (False)", r#"{"mfa_used":"false"}"#));
        assert!(!typed("mfa_used: false", r#"{"mfa_used":"true"}"#));
        assert!(typed("bytes: 900", r#"{"bytes":900}"#));
        assert!(typed("bytes: 900.0", r#"{"bytes":900}"#));
        assert!(typed("bytes: -2", r#"{"bytes":-2}"#));
        assert!(!typed("bytes: 900", r#"{"bytes":"900"}"#));
    }

    #[test]
    fn ranges_compare_numbers_on_number_fields_and_strings_elsewhere() {
        let typed = |query: &str, record: &str| check_with(&Typed, query, record);
        assert!(typed("bytes >= 10", r#"{"bytes":10}"#));
        assert!(!typed("bytes > 10", r#"{"bytes":10}"#));
        assert!(typed("bytes < 1e3", r#"{"bytes":999.5}"#));
        assert!(typed("bytes <= \"2\"", r#"{"bytes":[5, 2]}"#));
        assert!(check("s > b", r#"{"s":"c"}"#));
        assert!(check("s > 10", r#"{"s":"9"}"#), "strings compare bytewise");
        assert!(!check("s < b", r#"{"s":"c"}"#));
    }

    #[test]
    fn values_a_field_cannot_hold_are_errors_at_the_value() {
        assert_eq!(
            errors("mfa_used: maybe and source.ip: (10.* or 1.2.3.4/40) and bytes: (x or 1)"),
            [
                (
                    "maybe".to_owned(),
                    "`mfa_used` is a boolean field: the value must be true or false, not \"maybe\""
                        .to_owned()
                ),
                (
                    "10.*".to_owned(),
                    "`source.ip` is an ip field: a wildcard matches only keyword fields".to_owned()
                ),
                (
                    "1.2.3.4/40".to_owned(),
                    "`source.ip` is an ip field: \"1.2.3.4/40\": the prefix length must be 0 to 32"
                        .to_owned()
                ),
                (
                    "x".to_owned(),
                    "`bytes` is a number field: \"x\" is not a number".to_owned()
                ),
            ]
        );
        let ranges = errors("source.ip >= 10.0.0.1 or mfa_used < true or bytes > nan");
        let texts: Vec<&str> = ranges.iter().map(|(text, _)| text.as_str()).collect();
        assert_eq!(texts, ["10.0.0.1", "true", "nan"]);
        assert!(
            ranges[0]
                .1
                .starts_with("not supported: `>=` on an ip field")
        );
    }

    #[test]
    fn resolver_errors_are_reported_once_per_clause() {
        assert_eq!(
            errors("a: x and secret: (x or y) and not secret >= 2"),
            [
                (
                    "secret: (x or y)".to_owned(),
                    "`secret` cannot be read".to_owned()
                ),
                (
                    "secret >= 2".to_owned(),
                    "`secret` cannot be read".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn numbers_parse_like_literals() {
        assert_eq!(number("21"), Some(Number::Unsigned(21)));
        assert_eq!(number("-3"), Some(Number::Signed(-3)));
        assert_eq!(number("1.5e2"), Some(Number::Float(150.0)));
        assert_eq!(number("inf"), None);
        assert_eq!(number("NaN"), None);
        assert_eq!(number("1e999"), None);
        assert_eq!(number(""), None);
        assert_eq!(number("0x10"), None);
    }
}
