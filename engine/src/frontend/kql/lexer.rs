//! The scanner: KQL's lexical pieces, read on demand at a byte position.
//!
//! KQL cannot be cut into tokens ahead of parsing: a bare value may hold spaces
//! (`*S3 Browser*`) and ends only before a keyword that stands between spaces, a `)` or the
//! end, so what a space means depends on where the parser is. The parser therefore asks the
//! [`Scanner`] for the piece it expects next (a keyword, a field name, a quoted or bare value,
//! a range operator); the scanner skips no space on its own, so the position after a piece is
//! where that piece ends, which is what spans need.

use super::ast::{Piece, Pieces};
use crate::frontend::query::QueryError;
use crate::ir::Cmp;

/// The three keywords; case does not matter (`and`, `AND`, `And`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    And,
    Or,
    Not,
}

impl Keyword {
    pub const ALL: [Keyword; 3] = [Keyword::And, Keyword::Or, Keyword::Not];

    pub fn word(self) -> &'static str {
        match self {
            Keyword::And => "and",
            Keyword::Or => "or",
            Keyword::Not => "not",
        }
    }
}

/// Characters that end a bare value or field name unless escaped with a backslash.
pub(crate) const SPECIAL: &str = "\\():<>\"*{}";

/// KQL's whitespace.
pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Whether `c` continues a word (an escaped keyword must not: `\nothing` is a newline).
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A position in the query text and the pieces that can be read there.
#[derive(Debug)]
pub(crate) struct Scanner<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Scanner<'t> {
    pub fn new(text: &'t str) -> Self {
        Self { text, pos: 0 }
    }

    /// The byte offset of the next unread character.
    pub fn pos(&self) -> usize {
        self.pos
    }

    fn rest(&self) -> &'t str {
        self.text.get(self.pos..).unwrap_or("")
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self, c: char) {
        self.pos += c.len_utf8();
    }

    /// A parse error at byte `offset`.
    pub fn error<T>(&self, offset: usize, message: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            offset,
            message: message.into(),
        })
    }

    pub fn skip_space(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches(is_space).len();
    }

    pub fn at_end(&self) -> bool {
        self.rest().is_empty()
    }

    pub fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.bump(c);
        }
        found
    }

    /// Whether `keyword` starts here as a word of its own: followed by a space, the end, a
    /// parenthesis or a quote (`not(`, `or"x"`), not by more of a name (`orange`, `not:`).
    pub fn at_keyword(&self, keyword: Keyword) -> bool {
        let word = keyword.word();
        let rest = self.rest();
        rest.get(..word.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(word))
            && rest[word.len()..]
                .chars()
                .next()
                .is_none_or(|c| is_space(c) || matches!(c, '(' | ')' | '"'))
    }

    pub fn eat_keyword(&mut self, keyword: Keyword) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.pos += keyword.word().len();
        }
        found
    }

    /// The keyword that starts here, if any.
    pub fn keyword(&self) -> Option<Keyword> {
        Keyword::ALL.into_iter().find(|k| self.at_keyword(*k))
    }

    /// `<=`, `>=`, `<` or `>`, consumed.
    pub fn range_operator(&mut self) -> Option<Cmp> {
        let rest = self.rest();
        let (op, len) = [
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ]
        .into_iter()
        .find_map(|(text, op)| rest.starts_with(text).then_some((op, text.len())))?;
        self.pos += len;
        Some(op)
    }

    /// A quoted string at `"`: a literal in which `\"`, `\\`, `\t`, `\n` and `\r` are escapes
    /// and any other backslash stands for itself (as in Elastic's grammars).
    pub fn quoted(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.error(start, "unterminated string (a `\"` is missing)");
            };
            self.bump(c);
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.quoted_escape()),
                c => out.push(c),
            }
        }
    }

    fn quoted_escape(&mut self) -> char {
        let escaped = match self.peek() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            _ => return '\\',
        };
        self.pos += 1; // each escaped character is one byte
        escaped
    }

    /// A bare value: text, escapes and wildcards up to (not including) the spaces before a
    /// standalone `and`/`or`, a `)`, or the end; trailing spaces are not part of it. Empty
    /// when nothing value-like is here.
    pub fn bare_value(&mut self) -> Result<Vec<Piece>, QueryError> {
        let mut pieces = Pieces::default();
        while let Some(c) = self.peek() {
            match c {
                '\\' => pieces.text(&self.escape()?),
                '*' => {
                    self.bump(c);
                    pieces.star();
                }
                ')' => break,
                c if is_space(c) => {
                    let run = self.pos;
                    self.skip_space();
                    if self.value_ends_here() {
                        self.pos = run;
                        break;
                    }
                    pieces.text(&self.text[run..self.pos]);
                }
                c if SPECIAL.contains(c) => return self.unescaped(c, "a value"),
                c => {
                    self.bump(c);
                    pieces.text(c.encode_utf8(&mut [0; 4]));
                }
            }
        }
        Ok(pieces.finish())
    }

    fn value_ends_here(&self) -> bool {
        self.at_end()
            || self.peek() == Some(')')
            || self.at_keyword(Keyword::And)
            || self.at_keyword(Keyword::Or)
    }

    /// A field name: quoted, or bare up to a space or a special character (escapes allowed).
    /// Also says whether it holds an unescaped `*`.
    pub fn field_name(&mut self) -> Result<(String, bool), QueryError> {
        if self.peek() == Some('"') {
            return Ok((self.quoted()?, false));
        }
        let mut name = String::new();
        let mut wildcard = false;
        while let Some(c) = self.peek() {
            match c {
                '\\' => name.push_str(&self.escape()?),
                '*' => {
                    self.bump(c);
                    wildcard = true;
                    name.push(c);
                }
                c if is_space(c) || SPECIAL.contains(c) => break,
                c => {
                    self.bump(c);
                    name.push(c);
                }
            }
        }
        Ok((name, wildcard))
    }

    /// A backslash escape outside quotes: a special character, `\t` `\n` `\r`, a whitespace
    /// character, or a keyword spelled literally (`\or`, `\NOT`, as a whole word).
    fn escape(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        self.pos += 1;
        if let Some(keyword) = self.escaped_keyword() {
            return Ok(keyword);
        }
        let Some(c) = self.peek() else {
            return self.error(start, "a `\\` ends the query: escape it as `\\\\`");
        };
        let escaped = match c {
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            c if is_space(c) || SPECIAL.contains(c) => c,
            c => {
                return self.error(
                    start,
                    format!(
                        "unknown escape `\\{c}`: a backslash escapes {SPECIAL}, whitespace, \
                         \\t \\n \\r and the keywords and/or/not"
                    ),
                );
            }
        };
        self.bump(c);
        Ok(escaped.to_string())
    }

    fn escaped_keyword(&mut self) -> Option<String> {
        let rest = self.rest();
        let word = Keyword::ALL.into_iter().map(Keyword::word).find(|word| {
            rest.get(..word.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(word))
                && !rest[word.len()..].chars().next().is_some_and(is_word_char)
        })?;
        self.pos += word.len();
        Some(rest[..word.len()].to_owned())
    }

    fn unescaped<T>(&self, c: char, place: &str) -> Result<T, QueryError> {
        self.error(
            self.pos,
            format!(
                "unexpected `{c}` in {place}: escape it (`\\{c}`) or quote the value \
                 (or is an `and`/`or` missing?)"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare(text: &str) -> (Vec<Piece>, usize) {
        let mut scanner = Scanner::new(text);
        let pieces = scanner.bare_value().unwrap();
        (pieces, scanner.pos())
    }

    fn text(s: &str) -> Piece {
        Piece::Text(s.into())
    }

    #[test]
    fn bare_values_keep_inner_spaces_and_stop_before_keywords() {
        assert_eq!(
            bare("S3 Browser* or x"),
            (vec![text("S3 Browser"), Piece::Star], 11)
        );
        assert_eq!(bare("a  b\n\tAND c"), (vec![text("a  b")], 4));
        assert_eq!(bare("a b   )"), (vec![text("a b")], 3));
        assert_eq!(bare("a b   "), (vec![text("a b")], 3));
        assert_eq!(bare("x not y"), (vec![text("x not y")], 7));
        assert_eq!(bare("x orange"), (vec![text("x orange")], 8));
        assert_eq!(bare("x or(y"), (vec![text("x")], 1));
        assert_eq!(bare(")"), (vec![], 0));
    }

    #[test]
    fn escapes_in_bare_values() {
        assert_eq!(
            bare(r"*\:i-*").0,
            vec![Piece::Star, text(":i-"), Piece::Star]
        );
        assert_eq!(
            bare(r#"\\\(\)\:\<\>\"\*\{\}"#).0,
            vec![text(r#"\():<>"*{}"#)]
        );
        assert_eq!(bare(r"a\tb\nc\rd").0, vec![text("a\tb\nc\rd")]);
        assert_eq!(bare(r"\ a\ ").0, vec![text(" a ")]);
        assert_eq!(bare(r"x \or y \AND z").0, vec![text("x or y AND z")]);
        assert_eq!(bare(r"\not x").0, vec![text("not x")]);
        assert_eq!(bare(r"\nothing").0, vec![text("\nothing")]);
        assert_eq!(bare(r"\not*").0, vec![text("not"), Piece::Star]);
    }

    #[test]
    fn bare_value_errors_point_at_the_character() {
        for (text, offset, message) in [
            ("a:b", 1, "unexpected `:`"),
            ("ab (c", 3, "unexpected `(`"),
            (r"a\x", 1, "unknown escape `\\x`"),
            ("ab\\", 2, "ends the query"),
            ("a\"b\"", 1, "unexpected `\"`"),
        ] {
            let error = Scanner::new(text).bare_value().unwrap_err();
            assert_eq!(error.offset, offset, "{text}: {error:?}");
            assert!(error.message.contains(message), "{text}: {error:?}");
        }
    }

    #[test]
    fn quoted_strings_are_literal() {
        let quoted = |text: &str| {
            let mut scanner = Scanner::new(text);
            scanner.quoted().map(|s| (s, scanner.pos()))
        };
        assert_eq!(quoted(r#""a*b" x"#).unwrap(), ("a*b".into(), 5));
        assert_eq!(
            quoted(r#""\"\\\t\n\r""#).unwrap().0,
            "\"\\\t\n\r".to_owned()
        );
        assert_eq!(quoted(r#""C:\x\""#).unwrap_err().offset, 0);
        assert_eq!(quoted(r#""C:\x""#).unwrap().0, r"C:\x");
        assert_eq!(quoted("\"é\"").unwrap(), ("é".into(), 4));
        assert_eq!(quoted("\"abc").unwrap_err().offset, 0);
    }

    #[test]
    fn keywords_are_case_insensitive_whole_words() {
        let at = |text: &str| Scanner::new(text).keyword();
        assert_eq!(at("AND x"), Some(Keyword::And));
        assert_eq!(at("oR"), Some(Keyword::Or));
        assert_eq!(at("Not(x)"), Some(Keyword::Not));
        assert_eq!(at("not\"x\""), Some(Keyword::Not));
        assert_eq!(at("not: x"), None);
        assert_eq!(at("notes"), None);
        assert_eq!(at("or.x"), None);
    }

    #[test]
    fn field_names_and_operators() {
        let mut scanner = Scanner::new(r"a.b\:c-d*: x");
        assert_eq!(scanner.field_name().unwrap(), ("a.b:c-d*".into(), true));
        assert_eq!(scanner.peek(), Some(':'));
        let mut scanner = Scanner::new(r#""a b": x"#);
        assert_eq!(scanner.field_name().unwrap(), ("a b".into(), false));
        for (text, op) in [
            ("<= 1", Cmp::Le),
            (">=1", Cmp::Ge),
            ("<1", Cmp::Lt),
            (">", Cmp::Gt),
        ] {
            assert_eq!(Scanner::new(text).range_operator(), Some(op), "{text}");
        }
        assert_eq!(Scanner::new("= 1").range_operator(), None);
    }
}
