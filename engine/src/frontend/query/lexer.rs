//! Tokens of the query language (EQL's expression syntax).

use crate::json::Number;

/// A token with the byte offsets where it starts and ends in the query text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub offset: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// A bare identifier or keyword (`eventName`, `and`, `stringContains`).
    Ident(String),
    /// A backquoted field segment: `` `x-amz-acl` ``.
    Quoted(String),
    /// A string literal, escapes resolved.
    Str(String),
    Number(Number),
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Colon,
    Tilde,
    LParen,
    RParen,
    Comma,
    Dot,
    End,
}

/// A lexing failure at a byte offset.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub offset: usize,
    pub message: String,
}

pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    let mut lexer = Lexer { text, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token()?;
        let end = token.kind == TokenKind::End;
        tokens.push(token);
        if end {
            return Ok(tokens);
        }
    }
}

struct Lexer<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Lexer<'t> {
    fn rest(&self) -> &'t str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn error<T>(&self, offset: usize, message: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            offset,
            message: message.into(),
        })
    }

    /// Skips whitespace, `// line` and `/* block */` comments (EQL has both).
    fn skip_space_and_comments(&mut self) -> Result<(), LexError> {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                self.pos += trimmed.find('\n').unwrap_or(trimmed.len());
            } else if trimmed.starts_with("/*") {
                let Some(end) = trimmed.find("*/") else {
                    return self.error(self.pos, "a `/*` comment is never closed with `*/`");
                };
                self.pos += end + 2;
            } else {
                return Ok(());
            }
        }
    }

    fn next_token(&mut self) -> Result<Token, LexError> {
        self.skip_space_and_comments()?;
        let offset = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token {
                kind: TokenKind::End,
                offset,
                end: offset,
            });
        };
        let kind = match c {
            '"' => TokenKind::Str(self.string()?),
            '`' => TokenKind::Quoted(self.backquoted()?),
            '\'' => return self.error(offset, "strings use double quotes, as in EQL"),
            c if c.is_ascii_digit() || (c == '-' && self.next_is_digit()) => self.number()?,
            c if c.is_ascii_alphabetic() || c == '_' || c == '@' => TokenKind::Ident(self.ident()),
            _ => self.operator(offset)?,
        };
        Ok(Token {
            kind,
            offset,
            end: self.pos,
        })
    }

    fn next_is_digit(&self) -> bool {
        self.rest()
            .chars()
            .nth(1)
            .is_some_and(|c| c.is_ascii_digit())
    }

    fn operator(&mut self, offset: usize) -> Result<TokenKind, LexError> {
        const OPERATORS: [(&str, TokenKind); 12] = [
            ("==", TokenKind::EqEq),
            ("!=", TokenKind::NotEq),
            ("<=", TokenKind::Le),
            (">=", TokenKind::Ge),
            ("<", TokenKind::Lt),
            (">", TokenKind::Gt),
            (":", TokenKind::Colon),
            ("~", TokenKind::Tilde),
            ("(", TokenKind::LParen),
            (")", TokenKind::RParen),
            (",", TokenKind::Comma),
            (".", TokenKind::Dot),
        ];
        let rest = self.rest();
        if rest.starts_with('=') && !rest.starts_with("==") {
            return self.error(offset, "use `==` to compare");
        }
        for (text, kind) in OPERATORS {
            if rest.starts_with(text) {
                self.pos += text.len();
                return Ok(kind);
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        self.error(offset, format!("unexpected character {c:?}"))
    }

    fn ident(&mut self) -> String {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '-')))
            .unwrap_or(rest.len());
        self.pos += len;
        rest[..len].to_owned()
    }

    fn backquoted(&mut self) -> Result<String, LexError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.error(start, "unterminated backquoted field name");
            };
            self.pos += c.len_utf8();
            if c == '`' {
                if self.peek() == Some('`') {
                    self.pos += 1;
                    out.push('`');
                } else if out.is_empty() {
                    return self.error(start, "empty backquoted field name");
                } else {
                    return Ok(out);
                }
            } else {
                out.push(c);
            }
        }
    }

    fn number(&mut self) -> Result<TokenKind, LexError> {
        let start = self.pos;
        let rest = self.rest();
        let len = rest
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_digit()
                    || matches!(c, '.' | 'e' | 'E')
                    || (matches!(c, '+' | '-')
                        && (i == 0 || matches!(rest.as_bytes()[i - 1], b'e' | b'E'))))
            })
            .map_or(rest.len(), |(i, _)| i);
        let text = &rest[..len];
        self.pos += len;
        match serde_json::from_str::<serde_json::Number>(text) {
            Ok(n) => Ok(TokenKind::Number(to_number(&n))),
            Err(_) => self.error(start, format!("invalid number {text:?}")),
        }
    }

    fn string(&mut self) -> Result<String, LexError> {
        if self.rest().starts_with(r#"""""#) {
            return self.raw_string();
        }
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.error(start, "unterminated string");
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => out.push(self.escape()?),
                '\n' => {
                    return self.error(
                        start,
                        "newline in a string (use \\n or a \"\"\"raw\"\"\" string)",
                    );
                }
                c => out.push(c),
            }
        }
    }

    fn raw_string(&mut self) -> Result<String, LexError> {
        let start = self.pos;
        self.pos += 3;
        match self.rest().find(r#"""""#) {
            Some(len) => {
                let out = self.rest()[..len].to_owned();
                self.pos += len + 3;
                Ok(out)
            }
            None => self.error(start, "unterminated \"\"\"raw\"\"\" string"),
        }
    }

    fn escape(&mut self) -> Result<char, LexError> {
        let offset = self.pos - 1;
        let Some(c) = self.peek() else {
            return self.error(offset, "unterminated escape");
        };
        self.pos += c.len_utf8();
        Ok(match c {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'u' => return self.unicode_escape(offset),
            other => return self.error(offset, format!("unknown escape \\{other}")),
        })
    }

    fn unicode_escape(&mut self, offset: usize) -> Result<char, LexError> {
        let hex = self.rest().get(..4).unwrap_or("");
        let code = u32::from_str_radix(hex, 16).ok().filter(|_| hex.len() == 4);
        match code.and_then(char::from_u32) {
            Some(c) => {
                self.pos += 4;
                Ok(c)
            }
            None => self.error(offset, "\\u needs four hex digits naming a scalar value"),
        }
    }
}

fn to_number(n: &serde_json::Number) -> Number {
    if let Some(u) = n.as_u64() {
        Number::Unsigned(u)
    } else if let Some(i) = n.as_i64() {
        Number::Signed(i)
    } else {
        Number::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_comments_are_skipped_and_must_close() {
        let tokens = tokenize("a /* x\n y */ == /**/ 1 // end").unwrap();
        assert_eq!(tokens.len(), 4, "{tokens:?}");
        assert_eq!(tokenize("a == 1 /* open").unwrap_err().offset, 7);
    }

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    #[test]
    fn tokens_of_a_typical_clause() {
        assert_eq!(
            kinds(r#"eventName == "Create\u0047roup" and x != -3"#),
            vec![
                TokenKind::Ident("eventName".into()),
                TokenKind::EqEq,
                TokenKind::Str("CreateGroup".into()),
                TokenKind::Ident("and".into()),
                TokenKind::Ident("x".into()),
                TokenKind::NotEq,
                TokenKind::Number(Number::Signed(-3)),
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn raw_strings_backquotes_and_comments() {
        assert_eq!(
            kinds("`a``b` : \"\"\"C:\\x\"\"\" // trailing comment"),
            vec![
                TokenKind::Quoted("a`b".into()),
                TokenKind::Colon,
                TokenKind::Str("C:\\x".into()),
                TokenKind::End,
            ]
        );
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(tokenize("a == 'x'").unwrap_err().offset, 5);
        assert_eq!(tokenize("a = 1").unwrap_err().offset, 2);
        assert_eq!(tokenize("a == \"x").unwrap_err().offset, 5);
        assert!(tokenize("a == \"\\ud800\"").is_err());
        assert!(tokenize("a # b").is_err());
    }
}
