//! Recursive-descent parser: tokens to [`Ast`].
//!
//! Precedence, loosest first: `or`, `and`, `not`, then a clause or a parenthesised expression.
//! Nesting is bounded ([`MAX_DEPTH`]) so that no query, however hostile, can exhaust the stack.

use super::ast::{Argument, Ast, CompareOp, Literal, Span, StringFunction};
use super::lexer::{LexError, Token, TokenKind, tokenize};
use crate::path::FieldPath;

/// How deeply `not` and parentheses may nest.
pub const MAX_DEPTH: usize = 64;

/// A parse failure: where (byte offset into the query) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// Byte offset into the query text.
    pub offset: usize,
    /// What went wrong, for people.
    pub message: String,
}

impl From<LexError> for QueryError {
    fn from(e: LexError) -> Self {
        QueryError {
            offset: e.offset,
            message: e.message,
        }
    }
}

/// Parses a query into its syntax tree.
pub fn parse(text: &str) -> Result<Ast, QueryError> {
    parse_with_clauses(text).map(|(ast, _)| ast)
}

/// Parses a query, and returns with it the spans of its top-level clauses: the terms of its
/// outermost `and` (or the whole query when it is not a conjunction), for explanations.
pub fn parse_with_clauses(text: &str) -> Result<(Ast, Vec<Span>), QueryError> {
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
        top_level_terms: Vec::new(),
    };
    let start = parser.offset();
    let ast = parser.or()?;
    match parser.peek() {
        TokenKind::End => {}
        _ => return parser.fail("expected `and`, `or` or the end of the query"),
    }
    let whole = parser.span_from(start);
    let clauses = match &ast {
        Ast::And(_) => std::mem::take(&mut parser.top_level_terms),
        _ => vec![whole],
    };
    Ok((ast, clauses))
}

const KEYWORDS: [&str; 9] = [
    "and", "or", "not", "in", "like", "regex", "true", "false", "null",
];

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Spans of the terms of the last `and` parsed outside any parentheses.
    top_level_terms: Vec<Span>,
}

impl Parser {
    fn peek(&self) -> &TokenKind {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].kind
    }

    fn peek_at(&self, ahead: usize) -> &TokenKind {
        &self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].kind
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos.min(self.tokens.len() - 1)].offset
    }

    /// Where the last consumed token ends.
    fn previous_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.tokens.get(i))
            .map_or(0, |t| t.end)
    }

    fn span_from(&self, start: usize) -> Span {
        Span {
            start,
            end: self.previous_end().max(start),
        }
    }

    fn advance(&mut self) -> TokenKind {
        let kind = self.peek().clone();
        if kind != TokenKind::End {
            self.pos += 1;
        }
        kind
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            offset: self.offset(),
            message: message.into(),
        })
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), TokenKind::Ident(word) if word.eq_ignore_ascii_case(keyword))
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.pos += 1;
        }
        found
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        let found = self.peek() == kind;
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, kind: &TokenKind, what: &str) -> Result<(), QueryError> {
        if self.eat(kind) {
            Ok(())
        } else {
            self.fail(format!("expected {what}"))
        }
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, QueryError>,
    ) -> Result<T, QueryError> {
        if self.depth >= MAX_DEPTH {
            return self.fail(format!("the query nests deeper than {MAX_DEPTH} levels"));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn or(&mut self) -> Result<Ast, QueryError> {
        let mut terms = vec![self.and()?];
        while self.eat_keyword("or") {
            terms.push(self.and()?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Ast::Or(terms)
        })
    }

    fn and(&mut self) -> Result<Ast, QueryError> {
        let top_level = self.depth == 0;
        let mut spans = Vec::new();
        let start = self.offset();
        let mut terms = vec![self.not()?];
        spans.push(self.span_from(start));
        while self.eat_keyword("and") {
            let start = self.offset();
            terms.push(self.not()?);
            spans.push(self.span_from(start));
        }
        if top_level {
            self.top_level_terms = spans;
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            Ast::And(terms)
        })
    }

    fn not(&mut self) -> Result<Ast, QueryError> {
        if self.eat_keyword("not") {
            return self.nested(|p| Ok(Ast::Not(Box::new(p.not()?))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Ast, QueryError> {
        if self.eat(&TokenKind::LParen) {
            let inner = self.nested(Self::or)?;
            self.expect(&TokenKind::RParen, "`)`")?;
            return Ok(inner);
        }
        if self.at_function_call() {
            return self.function_call();
        }
        self.clause()
    }

    fn at_function_call(&self) -> bool {
        matches!(self.peek(), TokenKind::Ident(_))
            && (self.peek_at(1) == &TokenKind::LParen
                || (self.peek_at(1) == &TokenKind::Tilde && self.peek_at(2) == &TokenKind::LParen))
    }

    fn function_call(&mut self) -> Result<Ast, QueryError> {
        let start = self.offset();
        let TokenKind::Ident(name) = self.advance() else {
            return self.fail("expected a function name");
        };
        let function = match name.to_ascii_lowercase().as_str() {
            "stringcontains" => StringFunction::Contains,
            "startswith" => StringFunction::StartsWith,
            "endswith" => StringFunction::EndsWith,
            _ => {
                return Err(QueryError {
                    offset: start,
                    message: format!(
                        "unknown function `{name}` (known: stringContains, startsWith, endsWith)"
                    ),
                });
            }
        };
        let case_insensitive = self.eat(&TokenKind::Tilde);
        self.expect(&TokenKind::LParen, "`(`")?;
        let field = self.field()?;
        self.expect(&TokenKind::Comma, "`,` between the field and the string")?;
        let argument = match self.peek() {
            TokenKind::Str(_) => Argument::String(self.string_literal()?),
            _ => Argument::Field(self.field()?),
        };
        self.expect(&TokenKind::RParen, "`)`")?;
        Ok(Ast::Function {
            span: self.span_from(start),
            function,
            field,
            argument,
            case_insensitive,
        })
    }

    fn clause(&mut self) -> Result<Ast, QueryError> {
        let start = self.offset();
        let field = self.field()?;
        if let Some(op) = self.comparison_operator() {
            let value = self.literal()?;
            return Ok(Ast::Compare {
                span: self.span_from(start),
                field,
                op,
                value,
            });
        }
        if self.eat(&TokenKind::Colon) {
            let patterns = self.one_or_list(Self::string_literal)?;
            return Ok(Ast::Like {
                span: self.span_from(start),
                field,
                patterns,
                case_insensitive: true,
            });
        }
        if self.eat_keyword("not") {
            if !self.at_keyword("in") {
                return self.fail("expected `in` after `not`");
            }
            return Ok(Ast::Not(Box::new(self.in_list(start, field)?)));
        }
        if self.at_keyword("in") {
            return self.in_list(start, field);
        }
        if self.eat_keyword("like") {
            let case_insensitive = self.eat(&TokenKind::Tilde);
            let patterns = self.one_or_list(Self::string_literal)?;
            return Ok(Ast::Like {
                span: self.span_from(start),
                field,
                patterns,
                case_insensitive,
            });
        }
        if self.eat_keyword("regex") {
            let case_insensitive = self.eat(&TokenKind::Tilde);
            let patterns = self.one_or_list(Self::string_literal)?;
            return Ok(Ast::Regex {
                span: self.span_from(start),
                field,
                patterns,
                case_insensitive,
            });
        }
        self.fail(format!(
            "expected an operator after `{field}` (==, !=, <, <=, >, >=, :, in, like, regex)"
        ))
    }

    fn in_list(&mut self, start: usize, field: FieldPath) -> Result<Ast, QueryError> {
        self.pos += 1; // `in`
        let case_insensitive = self.eat(&TokenKind::Tilde);
        if self.peek() != &TokenKind::LParen {
            return self.fail("expected `(` after `in`");
        }
        let values = self.one_or_list(Self::literal)?;
        Ok(Ast::In {
            span: self.span_from(start),
            field,
            values,
            case_insensitive,
        })
    }

    fn comparison_operator(&mut self) -> Option<CompareOp> {
        let op = match self.peek() {
            TokenKind::EqEq => CompareOp::Eq,
            TokenKind::NotEq => CompareOp::Ne,
            TokenKind::Lt => CompareOp::Lt,
            TokenKind::Le => CompareOp::Le,
            TokenKind::Gt => CompareOp::Gt,
            TokenKind::Ge => CompareOp::Ge,
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    /// One item, or a parenthesised, comma-separated, non-empty list of items.
    fn one_or_list<T>(
        &mut self,
        item: fn(&mut Self) -> Result<T, QueryError>,
    ) -> Result<Vec<T>, QueryError> {
        if !self.eat(&TokenKind::LParen) {
            return Ok(vec![item(self)?]);
        }
        let mut items = vec![item(self)?];
        while self.eat(&TokenKind::Comma) {
            items.push(item(self)?);
        }
        self.expect(&TokenKind::RParen, "`,` or `)`")?;
        Ok(items)
    }

    fn field(&mut self) -> Result<FieldPath, QueryError> {
        let mut segments = vec![self.segment()?];
        while self.eat(&TokenKind::Dot) {
            segments.push(self.segment()?);
        }
        Ok(FieldPath::new(segments))
    }

    fn segment(&mut self) -> Result<String, QueryError> {
        match self.peek().clone() {
            TokenKind::Ident(word) if KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k)) => {
                self.fail(format!("expected a field name, found the keyword `{word}`"))
            }
            TokenKind::Ident(word) | TokenKind::Quoted(word) => {
                self.pos += 1;
                Ok(word)
            }
            _ => self.fail("expected a field name"),
        }
    }

    fn string_literal(&mut self) -> Result<String, QueryError> {
        match self.peek().clone() {
            TokenKind::Str(s) => {
                self.pos += 1;
                Ok(s)
            }
            _ => self.fail("expected a string"),
        }
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        let literal = match self.peek().clone() {
            TokenKind::Str(s) => Literal::String(s),
            TokenKind::Number(n) => Literal::Number(n),
            TokenKind::Ident(w) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            TokenKind::Ident(w) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            TokenKind::Ident(w) if w.eq_ignore_ascii_case("null") => Literal::Null,
            _ => return self.fail("expected a value (a string, number, true, false or null)"),
        };
        self.pos += 1;
        Ok(literal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Number;

    fn field(path: &str) -> FieldPath {
        FieldPath::parse_dotted(path).unwrap()
    }

    #[test]
    fn precedence_is_or_then_and_then_not() {
        let ast = parse(r#"a == "1" or not b == "2" and c != null"#).unwrap();
        let expected = Ast::Or(vec![
            Ast::Compare {
                span: Span { start: 0, end: 8 },
                field: field("a"),
                op: CompareOp::Eq,
                value: Literal::String("1".into()),
            },
            Ast::And(vec![
                Ast::Not(Box::new(Ast::Compare {
                    span: Span { start: 16, end: 24 },
                    field: field("b"),
                    op: CompareOp::Eq,
                    value: Literal::String("2".into()),
                })),
                Ast::Compare {
                    span: Span { start: 29, end: 38 },
                    field: field("c"),
                    op: CompareOp::Ne,
                    value: Literal::Null,
                },
            ]),
        ]);
        assert_eq!(ast, expected);
    }

    #[test]
    fn clauses_carry_the_span_of_their_text() {
        let query = r#"startsWith~(a, "x") and b not in ("y") or c regex "[" "#;
        let Ast::Or(terms) = parse(query).unwrap() else {
            panic!("or expected")
        };
        let Ast::And(first) = &terms[0] else {
            panic!("and expected")
        };
        let text = |ast: &Ast| match ast {
            Ast::Function { span, .. } | Ast::Regex { span, .. } | Ast::In { span, .. } => {
                &query[span.start..span.end]
            }
            Ast::Not(inner) => match inner.as_ref() {
                Ast::In { span, .. } => &query[span.start..span.end],
                _ => "",
            },
            _ => "",
        };
        assert_eq!(text(&first[0]), r#"startsWith~(a, "x")"#);
        assert_eq!(text(&first[1]), r#"b not in ("y")"#);
        assert_eq!(text(&terms[1]), r#"c regex "[""#);
    }

    #[test]
    fn lists_functions_and_operators() {
        let ast = parse(
            r#"eventName in ("CreateGroup", "DeleteGroup") and x not in~ ("a")
               and startsWith~(userAgent, "aws-cli/") and ua : ("*boto*", "*cli*")
               and arn like "arn:*" and arn regex~ ".*/admin" and n >= 900"#,
        )
        .unwrap();
        let Ast::And(terms) = ast else {
            panic!("and expected")
        };
        assert_eq!(terms.len(), 7);
        assert!(
            matches!(&terms[1], Ast::Not(inner) if matches!(**inner, Ast::In { case_insensitive: true, .. }))
        );
        assert!(matches!(
            &terms[2],
            Ast::Function {
                function: StringFunction::StartsWith,
                case_insensitive: true,
                ..
            }
        ));
        assert!(
            matches!(&terms[3], Ast::Like { case_insensitive: true, patterns, .. } if patterns.len() == 2)
        );
        assert!(matches!(
            &terms[6],
            Ast::Compare {
                op: CompareOp::Ge,
                value: Literal::Number(Number::Unsigned(900)),
                ..
            }
        ));
    }

    #[test]
    fn backquoted_segments_join_the_path() {
        let ast = parse(r#"requestParameters.`x-amz.acl` == "public-read""#).unwrap();
        let Ast::Compare { field, .. } = ast else {
            panic!("compare expected")
        };
        assert_eq!(field.segments(), ["requestParameters", "x-amz.acl"]);
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let cases = [
            ("a ==", 4, "expected a value"),
            ("a == \"x\" b", 9, "expected `and`"),
            ("and == \"x\"", 0, "keyword"),
            ("a", 1, "expected an operator"),
            ("frob(a, \"x\")", 0, "unknown function"),
            ("(a == 1", 7, "`)`"),
            ("a in \"x\"", 5, "expected `(`"),
        ];
        for (query, offset, message) in cases {
            let error = parse(query).unwrap_err();
            assert_eq!(error.offset, offset, "{query}: {error:?}");
            assert!(error.message.contains(message), "{query}: {error:?}");
        }
    }

    #[test]
    fn top_level_clauses_are_the_terms_of_the_outer_and() {
        let query = r#"a == 1 and (b == 2 or c == 3) and not d == 4"#;
        let (_, spans) = parse_with_clauses(query).unwrap();
        let texts: Vec<&str> = spans.iter().map(|s| &query[s.start..s.end]).collect();
        assert_eq!(texts, ["a == 1", "(b == 2 or c == 3)", "not d == 4"]);
        let (_, whole) = parse_with_clauses("a == 1 or b == 2 and c == 3").unwrap();
        assert_eq!(whole, [Span { start: 0, end: 27 }]);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "{}a == 1{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert!(parse(&deep).unwrap_err().message.contains("nests deeper"));
        let nots = format!("{}a == 1", "not ".repeat(10_000));
        assert!(parse(&nots).is_err());
        let ok = format!(
            "{}a == 1{}",
            "(".repeat(MAX_DEPTH - 1),
            ")".repeat(MAX_DEPTH - 1)
        );
        assert!(parse(&ok).is_ok());
    }
}
