//! Recursive-descent parser: query text to [`KqlAst`].
//!
//! Precedence, loosest first: `or`, `and`, `not`, then a parenthesised query or a clause; the
//! value list after `field:` has the same three levels of its own. Nesting of both is bounded
//! by one counter ([`MAX_DEPTH`]), so that no query can exhaust the stack. Every parse function
//! skips the spaces *before* its piece and none after, so the scanner's position after a piece
//! is where its span ends.

use super::ast::{Field, KqlAst, Value, ValueKind, ValueList};
use super::lexer::{Keyword, Scanner};
use crate::frontend::query::{MAX_DEPTH, QueryError, Span};
use crate::ir::Cmp;
use crate::path::FieldPath;

/// Parses a KQL query into its syntax tree; the error names the first mistake's byte offset.
pub fn parse(text: &str) -> Result<KqlAst, QueryError> {
    let mut parser = Parser {
        scanner: Scanner::new(text),
        depth: 0,
    };
    if text.trim_matches(super::lexer::is_space).is_empty() {
        return parser.fail("the query is empty");
    }
    let ast = parser.or()?;
    parser.scanner.skip_space();
    if !parser.scanner.at_end() {
        return parser.fail("expected `and`, `or` or the end of the query");
    }
    Ok(ast)
}

struct Parser<'t> {
    scanner: Scanner<'t>,
    depth: usize,
}

/// How `and`/`or` combine terms: in queries or in value lists.
trait Group: Sized {
    fn any(terms: Vec<Self>) -> Self;
    fn all(terms: Vec<Self>) -> Self;
}

impl Group for KqlAst {
    fn any(terms: Vec<Self>) -> Self {
        KqlAst::Or(terms)
    }

    fn all(terms: Vec<Self>) -> Self {
        KqlAst::And(terms)
    }
}

impl Group for ValueList {
    fn any(terms: Vec<Self>) -> Self {
        ValueList::Or(terms)
    }

    fn all(terms: Vec<Self>) -> Self {
        ValueList::And(terms)
    }
}

type Parsed<T> = Result<T, QueryError>;

/// What joins a field to its values.
enum Operator {
    /// `field: values`
    Colon,
    /// `field >= value`
    Range(Cmp),
}

impl Parser<'_> {
    fn fail<T>(&self, message: impl Into<String>) -> Parsed<T> {
        self.scanner.error(self.scanner.pos(), message)
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Parsed<T>) -> Parsed<T> {
        if self.depth >= MAX_DEPTH {
            return self.fail(format!("the query nests deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Terms joined by `keyword` (`and` or `or`); one term is itself.
    fn joined<T: Group>(
        &mut self,
        keyword: Keyword,
        term: fn(&mut Self) -> Parsed<T>,
    ) -> Parsed<T> {
        let mut terms = vec![term(self)?];
        loop {
            self.scanner.skip_space();
            if !self.scanner.eat_keyword(keyword) {
                break;
            }
            terms.push(term(self)?);
        }
        Ok(match (terms.len(), keyword) {
            (1, _) => terms.remove(0),
            (_, Keyword::Or) => T::any(terms),
            _ => T::all(terms),
        })
    }

    /// `( inner )`, the opening parenthesis already consumed.
    fn parenthesised<T>(&mut self, inner: fn(&mut Self) -> Parsed<T>) -> Parsed<T> {
        let parsed = self.nested(inner)?;
        self.scanner.skip_space();
        if !self.scanner.eat(')') {
            return self.fail("expected `)`");
        }
        Ok(parsed)
    }

    fn or(&mut self) -> Parsed<KqlAst> {
        self.joined(Keyword::Or, Self::and)
    }

    fn and(&mut self) -> Parsed<KqlAst> {
        self.joined(Keyword::And, Self::not)
    }

    fn not(&mut self) -> Parsed<KqlAst> {
        self.scanner.skip_space();
        if self.scanner.eat_keyword(Keyword::Not) {
            return self.nested(|p| Ok(KqlAst::Not(Box::new(p.not()?))));
        }
        if self.scanner.eat('(') {
            return self.parenthesised(Self::or);
        }
        self.clause()
    }

    fn clause(&mut self) -> Parsed<KqlAst> {
        let start = self.scanner.pos();
        if let Some(keyword) = self.scanner.keyword() {
            return self.fail(format!("expected a clause, found `{}`", keyword.word()));
        }
        let (name, wildcard) = self.scanner.field_name()?;
        let name_span = self.span_from(start);
        if name.is_empty() {
            return self.fail(match self.scanner.peek() {
                Some(c) => format!("expected a field name, found `{c}`"),
                None => "expected a clause".to_owned(),
            });
        }
        self.scanner.skip_space();
        let operator = self.operator(start, &name)?;
        if wildcard {
            return self.scanner.error(
                start,
                "not supported: a wildcard in a field name (name each field)",
            );
        }
        let field = field(name_span, &name).or_else(|m| self.scanner.error(start, m))?;
        match operator {
            Operator::Colon => self.match_clause(start, field),
            Operator::Range(op) => self.range_clause(start, field, op),
        }
    }

    /// The operator after a field name; without one the clause is free text, which is
    /// reported before the name itself is judged.
    fn operator(&mut self, start: usize, name: &str) -> Parsed<Operator> {
        if self.scanner.eat(':') {
            return Ok(Operator::Colon);
        }
        if let Some(op) = self.scanner.range_operator() {
            return Ok(Operator::Range(op));
        }
        self.scanner.error(
            start,
            format!(
                "not supported: free text (a value without a field); expected `:` or a range \
                 operator after `{name}`"
            ),
        )
    }

    fn match_clause(&mut self, start: usize, field: Field) -> Parsed<KqlAst> {
        self.scanner.skip_space();
        if self.scanner.peek() == Some('{') {
            return self.fail("not supported: nested queries (`field:{ … }`)");
        }
        let values = self.value_list()?;
        Ok(KqlAst::Match {
            span: self.span_from(start),
            field,
            values,
        })
    }

    fn range_clause(&mut self, start: usize, field: Field, op: Cmp) -> Parsed<KqlAst> {
        let value = self.value()?;
        if value.literal().is_none() {
            return self.scanner.error(
                value.span.start,
                "a range compares with one literal: `*` is not a wildcard here (quote it or \
                 escape it as `\\*`)",
            );
        }
        Ok(KqlAst::Range {
            span: self.span_from(start),
            field,
            op,
            value,
        })
    }

    /// `not list`, `( or-values )` or one value.
    fn value_list(&mut self) -> Parsed<ValueList> {
        self.scanner.skip_space();
        if self.scanner.eat_keyword(Keyword::Not) {
            return self.nested(|p| Ok(ValueList::Not(Box::new(p.value_list()?))));
        }
        if self.scanner.eat('(') {
            return self.parenthesised(Self::or_values);
        }
        self.value().map(ValueList::Value)
    }

    fn or_values(&mut self) -> Parsed<ValueList> {
        self.joined(Keyword::Or, Self::and_values)
    }

    fn and_values(&mut self) -> Parsed<ValueList> {
        self.joined(Keyword::And, Self::value_list)
    }

    fn value(&mut self) -> Parsed<Value> {
        self.scanner.skip_space();
        let start = self.scanner.pos();
        if let Some(keyword) = self.scanner.keyword() {
            return self.fail(format!(
                "expected a value, found `{}` (write `\\{}` or quote it for the word)",
                keyword.word(),
                keyword.word()
            ));
        }
        let kind = if self.scanner.peek() == Some('"') {
            ValueKind::Quoted(self.scanner.quoted()?)
        } else {
            let pieces = self.scanner.bare_value()?;
            if pieces.is_empty() {
                return self.fail("expected a value");
            }
            ValueKind::Bare(pieces)
        };
        Ok(Value {
            span: self.span_from(start),
            kind,
        })
    }

    fn span_from(&self, start: usize) -> Span {
        Span {
            start,
            end: self.scanner.pos(),
        }
    }
}

/// A field name split at its dots.
fn field(span: Span, name: &str) -> Result<Field, String> {
    let path = FieldPath::parse_dotted(name)
        .ok_or_else(|| format!("`{name}` is not a field name (a segment between dots is empty)"))?;
    Ok(Field { span, path })
}

#[cfg(test)]
mod tests {
    use super::super::ast::Piece;
    use super::*;

    fn span(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    fn field_at(path: &str, start: usize) -> Field {
        Field {
            span: span(start, start + path.len()),
            path: FieldPath::parse_dotted(path).unwrap(),
        }
    }

    /// The clause texts of a query, in order.
    fn clause_texts<'q>(query: &'q str, ast: &KqlAst, out: &mut Vec<&'q str>) {
        match ast {
            KqlAst::Or(terms) | KqlAst::And(terms) => {
                terms.iter().for_each(|t| clause_texts(query, t, out));
            }
            KqlAst::Not(inner) => clause_texts(query, inner, out),
            KqlAst::Match { span, .. } | KqlAst::Range { span, .. } => {
                out.push(&query[span.start..span.end]);
            }
        }
    }

    fn clauses(query: &str) -> Vec<&str> {
        let mut out = Vec::new();
        clause_texts(query, &parse(query).unwrap(), &mut out);
        out
    }

    fn values(query: &str) -> ValueList {
        match parse(query).unwrap() {
            KqlAst::Match { values, .. } => values,
            other => panic!("a clause expected, got {other:?}"),
        }
    }

    fn bare(pieces: &[Piece]) -> ValueKind {
        ValueKind::Bare(pieces.to_vec())
    }

    fn kinds(list: &ValueList) -> Vec<ValueKind> {
        match list {
            ValueList::Or(items) | ValueList::And(items) => items.iter().flat_map(kinds).collect(),
            ValueList::Not(inner) => kinds(inner),
            ValueList::Value(v) => vec![v.kind.clone()],
        }
    }

    #[test]
    fn a_clause_with_a_quoted_value() {
        let ast = parse(r#"event.provider: "iam.amazonaws.com""#).unwrap();
        assert_eq!(
            ast,
            KqlAst::Match {
                span: span(0, 35),
                field: field_at("event.provider", 0),
                values: ValueList::Value(Value {
                    span: span(16, 35),
                    kind: ValueKind::Quoted("iam.amazonaws.com".into()),
                }),
            }
        );
    }

    #[test]
    fn precedence_is_or_then_and_then_not() {
        let ast = parse("a: 1 or not b: 2 AND c: 3").unwrap();
        let KqlAst::Or(terms) = ast else {
            panic!("or expected")
        };
        assert!(matches!(&terms[0], KqlAst::Match { .. }));
        let KqlAst::And(conjuncts) = &terms[1] else {
            panic!("and expected")
        };
        assert!(
            matches!(&conjuncts[0], KqlAst::Not(inner) if matches!(**inner, KqlAst::Match { .. }))
        );
        assert!(matches!(&conjuncts[1], KqlAst::Match { .. }));
        assert!(matches!(
            parse("not a: 1 and b: 2").unwrap(),
            KqlAst::And(_)
        ));
        assert!(matches!(
            parse("not (a: 1 and b: 2)").unwrap(),
            KqlAst::Not(_)
        ));
    }

    #[test]
    fn parentheses_keep_their_structure() {
        let ast = parse("(a: 1 or (b: 2 or c: 3)) and d: 4").unwrap();
        let KqlAst::And(terms) = ast else {
            panic!("and expected")
        };
        let KqlAst::Or(alternatives) = &terms[0] else {
            panic!("or expected")
        };
        assert!(matches!(&alternatives[1], KqlAst::Or(inner) if inner.len() == 2));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        for query in ["a: 1 OR b: 2", "a: 1 Or b: 2", "a: 1 or b: 2"] {
            assert!(matches!(parse(query).unwrap(), KqlAst::Or(_)), "{query}");
        }
        assert!(matches!(parse("NOT a: 1").unwrap(), KqlAst::Not(_)));
        assert!(matches!(parse("a: 1 aNd b: 2").unwrap(), KqlAst::And(_)));
        assert!(matches!(values("a: (x AND y)"), ValueList::And(_)));
        assert!(matches!(values("a: NoT x"), ValueList::Not(_)));
    }

    #[test]
    fn bare_values_with_spaces_end_before_keywords() {
        assert_eq!(
            clauses("user_agent.original: (*S3 Browser* or *Cyberduck*) and x: y z  "),
            [
                "user_agent.original: (*S3 Browser* or *Cyberduck*)",
                "x: y z"
            ]
        );
        let ValueList::Or(items) = values("ua: ( *S3 Browser*   or  Cyber duck )") else {
            panic!("or expected")
        };
        let ValueList::Value(first) = &items[0] else {
            panic!("value expected")
        };
        assert_eq!(
            first.kind,
            bare(&[Piece::Star, Piece::Text("S3 Browser".into()), Piece::Star])
        );
        assert_eq!(first.span, span(6, 18));
        assert_eq!(
            kinds(&items[1]),
            [bare(&[Piece::Text("Cyber duck".into())])]
        );
    }

    #[test]
    fn value_lists_nest_with_and_or_not() {
        let list = values(
            r#"source.as.organization.name: (* and not ("Amazon.com, Inc." or AMAZ* or "Google LLC"))"#,
        );
        let ValueList::And(items) = list else {
            panic!("and expected")
        };
        assert!(matches!(&items[0], ValueList::Value(v) if v.is_exists()));
        let ValueList::Not(inner) = &items[1] else {
            panic!("not expected")
        };
        assert!(matches!(&**inner, ValueList::Or(alternatives) if alternatives.len() == 3));
        let list = values("a: (x or y and not z or (not w))");
        let ValueList::Or(items) = list else {
            panic!("or expected")
        };
        assert_eq!(items.len(), 3);
        assert!(matches!(&items[1], ValueList::And(pair) if matches!(pair[1], ValueList::Not(_))));
        assert!(matches!(&items[2], ValueList::Not(_)));
    }

    #[test]
    fn exists_wildcards_and_escapes() {
        assert!(matches!(values("source.ip: *"), ValueList::Value(v) if v.is_exists()));
        assert!(matches!(values(r#"a: "*""#), ValueList::Value(v) if !v.is_exists()));
        assert_eq!(
            kinds(&values(r"related.entity: arn\:aws\:iam\:\:aws\:policy*")),
            [bare(&[
                Piece::Text("arn:aws:iam::aws:policy".into()),
                Piece::Star
            ])]
        );
        assert_eq!(
            kinds(&values(r"a: x \and y")),
            [bare(&[Piece::Text("x and y".into())])]
        );
        assert_eq!(
            kinds(&values(r"a: \not")),
            [bare(&[Piece::Text("not".into())])]
        );
    }

    #[test]
    fn numbers_booleans_and_ranges_are_text_until_lowering() {
        assert_eq!(
            kinds(&values("fromPort: (21 or 22)")),
            [
                bare(&[Piece::Text("21".into())]),
                bare(&[Piece::Text("22".into())])
            ]
        );
        let ast = parse("bytes >= 10 and s<\"b\"").unwrap();
        let KqlAst::And(terms) = ast else {
            panic!("and expected")
        };
        assert!(matches!(
            &terms[0],
            KqlAst::Range { op: Cmp::Ge, value, span, .. }
                if value.literal().as_deref() == Some("10") && *span == Span { start: 0, end: 11 }
        ));
        assert!(matches!(
            &terms[1],
            KqlAst::Range { op: Cmp::Lt, value, .. } if value.literal().as_deref() == Some("b")
        ));
    }

    #[test]
    fn quoted_field_names_and_spans() {
        assert_eq!(
            clauses("\"a.b\": x and\n  not c :(y)"),
            ["\"a.b\": x", "c :(y)"]
        );
        let KqlAst::Match { field, .. } = parse("\"a.b\": x").unwrap() else {
            panic!("clause expected")
        };
        assert_eq!(field.path.segments(), ["a", "b"]);
    }

    #[test]
    fn errors_point_at_the_mistake() {
        let cases = [
            ("", 0, "empty"),
            ("a: ", 3, "expected a value"),
            ("a: x b: y", 6, "unexpected `:`"),
            ("a: (x or y", 10, "expected `)`"),
            ("a: (x or or y)", 9, "found `or`"),
            ("foo", 0, "not supported: free text"),
            ("\"foo\" and a: b", 0, "not supported: free text"),
            ("a.*: x", 0, "not supported: a wildcard in a field name"),
            ("a:{ b: c }", 2, "not supported: nested queries"),
            ("a >= *", 5, "a range compares with one literal"),
            ("a: x)", 4, "expected `and`, `or` or the end"),
            ("a..b: x", 0, "segment between dots is empty"),
            ("and x: y", 0, "expected a clause, found `and`"),
            (") a: b", 0, "expected a field name, found `)`"),
            ("a: x and", 8, "expected a clause"),
            (r"a: \q", 3, "unknown escape"),
            ("a: \"x", 3, "unterminated string"),
        ];
        for (query, offset, message) in cases {
            let error = parse(query).unwrap_err();
            assert_eq!(error.offset, offset, "{query}: {error:?}");
            assert!(error.message.contains(message), "{query}: {error:?}");
        }
    }

    #[test]
    fn field_names_may_look_like_keywords() {
        assert_eq!(clauses("not: x or or: y"), ["not: x", "or: y"]);
        assert_eq!(
            clauses("notes: x and android: y"),
            ["notes: x", "android: y"]
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("{}a: 1{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&deep(MAX_DEPTH - 1)).is_ok());
        assert!(
            parse(&deep(MAX_DEPTH + 1))
                .unwrap_err()
                .message
                .contains("nests deeper")
        );
        let values = format!(
            "a: {}x{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&values).unwrap_err().message.contains("nests deeper"));
        assert!(parse(&format!("{}a: 1", "not ".repeat(10_000))).is_err());
        assert!(parse(&format!("a: {}x", "not ".repeat(10_000))).is_err());
    }
}
