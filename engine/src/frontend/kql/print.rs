//! Printing a syntax tree back as KQL, such that parsing the text gives the same tree.
//!
//! Groups inside groups are always parenthesised (parentheses are how the parser keeps
//! `a or (b or c)` apart from `a or b or c`), and a bare value is escaped only where its
//! text would otherwise read differently: special characters, the spaces trimming would
//! drop, and the words `and`/`or`/`not` where they would be keywords.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::{Field, KqlAst, Piece, Value, ValueKind, ValueList};
use super::lexer::{Keyword, SPECIAL, is_space, is_word_char};

/// Trees whose printed form needs parentheses inside another group.
trait Grouped: Display {
    fn is_group(&self) -> bool;
}

impl Grouped for KqlAst {
    fn is_group(&self) -> bool {
        matches!(self, KqlAst::Or(_) | KqlAst::And(_))
    }
}

impl Grouped for ValueList {
    fn is_group(&self) -> bool {
        matches!(self, ValueList::Or(_) | ValueList::And(_))
    }
}

fn operand(f: &mut Formatter<'_>, term: &impl Grouped) -> fmt::Result {
    if term.is_group() {
        write!(f, "({term})")
    } else {
        write!(f, "{term}")
    }
}

fn join(f: &mut Formatter<'_>, terms: &[impl Grouped], keyword: Keyword) -> fmt::Result {
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            write!(f, " {} ", keyword.word())?;
        }
        operand(f, term)?;
    }
    Ok(())
}

impl Display for KqlAst {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            KqlAst::Or(terms) => join(f, terms, Keyword::Or),
            KqlAst::And(terms) => join(f, terms, Keyword::And),
            KqlAst::Not(inner) => {
                f.write_str("not ")?;
                operand(f, inner.as_ref())
            }
            KqlAst::Match { field, values, .. } => {
                write!(f, "{field}: ")?;
                operand(f, values)
            }
            KqlAst::Range {
                field, op, value, ..
            } => write!(f, "{field} {} {value}", op.symbol()),
        }
    }
}

impl Display for ValueList {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ValueList::Or(items) => join(f, items, Keyword::Or),
            ValueList::And(items) => join(f, items, Keyword::And),
            ValueList::Not(inner) => {
                f.write_str("not ")?;
                operand(f, inner.as_ref())
            }
            ValueList::Value(value) => write!(f, "{value}"),
        }
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.path.segments().iter().enumerate() {
            let mut segment = segment.as_str();
            if i > 0 {
                f.write_char('.')?;
            } else if let Some(word) = keyword_at(segment) {
                // `not < 1` would start with the keyword: `\not < 1` is the field.
                write!(f, "\\{word}")?;
                segment = &segment[word.len()..];
            }
            for c in segment.chars() {
                if is_space(c) || SPECIAL.contains(c) {
                    f.write_char('\\')?;
                }
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ValueKind::Quoted(text) => write_quoted(f, text),
            ValueKind::Bare(pieces) => {
                let last = pieces.len().saturating_sub(1);
                for (i, piece) in pieces.iter().enumerate() {
                    match piece {
                        Piece::Star => f.write_char('*')?,
                        Piece::Text(text) => write_bare_text(f, text, i == 0, i == last)?,
                    }
                }
                Ok(())
            }
        }
    }
}

fn write_quoted(f: &mut Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\t' => f.write_str("\\t")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// One text piece of a bare value; `first`/`last` say whether it starts or ends the value.
fn write_bare_text(f: &mut Formatter<'_>, text: &str, first: bool, last: bool) -> fmt::Result {
    let mut after_space = first;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let rest = &text[i..];
        if let Some(word) = after_space.then(|| keyword_at(rest)).flatten() {
            write!(f, "\\{word}")?;
            chars.nth(word.len() - 2);
            after_space = false;
            continue;
        }
        let at_edge = (first && i == 0) || (last && chars.peek().is_none());
        write_bare_char(f, c, &rest[c.len_utf8()..], at_edge)?;
        after_space = is_space(c);
    }
    Ok(())
}

/// A keyword standing as a word at the start of `rest`, as written.
fn keyword_at(rest: &str) -> Option<&str> {
    Keyword::ALL.into_iter().find_map(|keyword| {
        let len = keyword.word().len();
        let head = rest.get(..len)?;
        (head.eq_ignore_ascii_case(keyword.word())
            && !rest[len..].chars().next().is_some_and(is_word_char))
        .then_some(head)
    })
}

fn write_bare_char(f: &mut Formatter<'_>, c: char, after: &str, at_edge: bool) -> fmt::Result {
    match c {
        // `\n` before `ot` would read as the escaped keyword `\not`: escape the character itself.
        '\n' if keyword_at(&format!("n{after}")).is_some() => f.write_str("\\\n"),
        '\t' => f.write_str("\\t"),
        '\n' => f.write_str("\\n"),
        '\r' => f.write_str("\\r"),
        ' ' if at_edge => f.write_str("\\ "),
        c if SPECIAL.contains(c) => write!(f, "\\{c}"),
        c => f.write_char(c),
    }
}

#[cfg(test)]
mod tests {
    use super::super::ast::{Piece, Value, ValueKind};
    use super::super::parse;
    use crate::frontend::query::Span;

    fn reprinted(query: &str) -> String {
        parse(query).unwrap().to_string()
    }

    #[test]
    fn groups_inside_groups_are_parenthesised() {
        assert_eq!(
            reprinted("a:x or (b:y or c:z) and not (d:w or e:v)"),
            "a: x or ((b: y or c: z) and not (d: w or e: v))"
        );
        assert_eq!(
            reprinted("a:(x or (y and not z)) and b >= 2"),
            "a: (x or (y and not z)) and b >= 2"
        );
        assert_eq!(reprinted("a: not not x"), "a: not not x");
    }

    #[test]
    fn values_are_escaped_only_where_needed() {
        assert_eq!(reprinted(r"a: *\:i-*"), r"a: *\:i-*");
        assert_eq!(reprinted(r#"a: "x\"*\\\t""#), r#"a: "x\"*\\\t""#);
        assert_eq!(reprinted(r"a: \ x y\ "), r"a: \ x y\ ");
        assert_eq!(
            reprinted(r"a: \not x \or y \AND*"),
            r"a: \not x \or y \AND*"
        );
        assert_eq!(reprinted(r"a: x\nothing"), r"a: x\nothing");
        assert_eq!(reprinted(r"a\ b\:c.d: x"), r"a\ b\:c.d: x");
        assert_eq!(reprinted(r"\not < 1 or not.x: y"), r"\not < 1 or \not.x: y");
    }

    #[test]
    fn a_newline_before_ot_is_not_printed_as_the_keyword_escape() {
        let value = Value {
            span: Span::default(),
            kind: ValueKind::Bare(vec![Piece::Text("x\nOT".into())]),
        };
        assert_eq!(value.to_string(), "x\\\nOT");
        let reparsed = parse(&format!("a: {value}")).unwrap().to_string();
        assert_eq!(reparsed, "a: x\\\nOT");
        assert_eq!(
            parse(r"a: x\nOT").unwrap().to_string(),
            "a: xnOT",
            "written `\\nOT` is the escaped word"
        );
    }
}
