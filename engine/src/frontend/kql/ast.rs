//! The syntax tree of a KQL query, before it is lowered into the IR.
//!
//! The tree keeps what the text said and nothing the field's type decides: `21` and `"21"` are
//! both values, read as a number, a string or an address only when lowering asks the field
//! what it holds. A bare value keeps its wildcards apart from its text ([`Piece`]), because an
//! escaped `\*` is a literal star and an unescaped one is a wildcard.
//!
//! Every clause carries the [`Span`] of its text and every value its own, so that a mistake found
//! while lowering (`maybe` on a boolean field) is reported where it was written. `Display` prints
//! a tree back as KQL that parses into the same tree (`print.rs`).

use crate::frontend::query::Span;
use crate::ir::Cmp;
use crate::path::FieldPath;

/// A parsed query: boolean structure over field clauses.
#[derive(Debug, Clone, PartialEq)]
pub enum KqlAst {
    /// At least one must hold (`a or b`); always two terms or more.
    Or(Vec<KqlAst>),
    /// All must hold (`a and b`); always two terms or more.
    And(Vec<KqlAst>),
    /// `not a`.
    Not(Box<KqlAst>),
    /// `field: values`.
    Match {
        /// The whole clause, field to last value.
        span: Span,
        /// The field before the colon.
        field: Field,
        /// What its values must satisfy.
        values: ValueList,
    },
    /// `field >= value` (and `<`, `<=`, `>`).
    Range {
        /// The whole clause.
        span: Span,
        /// The field before the operator.
        field: Field,
        /// The operator.
        op: Cmp,
        /// The literal compared with (never a wildcard).
        value: Value,
    },
}

/// A field name, split at its dots into a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The name's text in the query.
    pub span: Span,
    /// `event.action` is `["event", "action"]`.
    pub path: FieldPath,
}

/// The values after `field:`: one value, or a parenthesised list with its own `and`/`or`/`not`.
/// Each value means "some value of the field matches it".
#[derive(Debug, Clone, PartialEq)]
pub enum ValueList {
    /// At least one holds; always two items or more.
    Or(Vec<ValueList>),
    /// All hold (possibly through different values of the field); two items or more.
    And(Vec<ValueList>),
    /// No value of the field matches.
    Not(Box<ValueList>),
    /// One value.
    Value(Value),
}

/// One value as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The value's text (quotes included; a bare value trimmed).
    pub span: Span,
    /// Quoted or bare.
    pub kind: ValueKind,
}

/// How a value was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueKind {
    /// `"…"`: a literal, escapes resolved; `*` is a star.
    Quoted(String),
    /// Unquoted: text and wildcards, escapes resolved. Never empty; adjacent texts are merged
    /// and no text is empty.
    Bare(Vec<Piece>),
}

/// A piece of a bare value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Characters that must appear as they are.
    Text(String),
    /// An unescaped `*`: any run of characters, the empty one included.
    Star,
}

impl Value {
    /// The value as one literal string, or `None` when it holds a wildcard.
    pub fn literal(&self) -> Option<String> {
        match &self.kind {
            ValueKind::Quoted(text) => Some(text.clone()),
            ValueKind::Bare(pieces) => pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Text(text) => Some(text.as_str()),
                    Piece::Star => None,
                })
                .collect(),
        }
    }

    /// Whether this is a bare value made of wildcards only (`*`): "the field has a value".
    pub fn is_exists(&self) -> bool {
        matches!(&self.kind, ValueKind::Bare(pieces) if pieces.iter().all(|p| *p == Piece::Star))
    }
}

/// Builds a bare value's pieces in their normal form: adjacent texts merged, no empty text.
#[derive(Debug, Default)]
pub(crate) struct Pieces {
    pieces: Vec<Piece>,
}

impl Pieces {
    /// Appends text.
    pub fn text(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.pieces.last_mut() {
            Some(Piece::Text(last)) => last.push_str(text),
            _ => self.pieces.push(Piece::Text(text.to_owned())),
        }
    }

    /// Appends a wildcard.
    pub fn star(&mut self) {
        self.pieces.push(Piece::Star);
    }

    /// The pieces.
    pub fn finish(self) -> Vec<Piece> {
        self.pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare(pieces: Vec<Piece>) -> Value {
        Value {
            span: Span::default(),
            kind: ValueKind::Bare(pieces),
        }
    }

    #[test]
    fn pieces_merge_text_and_drop_empty_text() {
        let mut pieces = Pieces::default();
        pieces.text("a");
        pieces.text("");
        pieces.text("b");
        pieces.star();
        pieces.star();
        pieces.text("c");
        assert_eq!(
            pieces.finish(),
            [
                Piece::Text("ab".into()),
                Piece::Star,
                Piece::Star,
                Piece::Text("c".into())
            ]
        );
    }

    #[test]
    fn literal_text_and_exists() {
        let star = bare(vec![Piece::Star, Piece::Star]);
        assert!(star.is_exists() && star.literal().is_none());
        let text = bare(vec![Piece::Text("x".into())]);
        assert!(!text.is_exists());
        assert_eq!(text.literal().as_deref(), Some("x"));
        let quoted_star = Value {
            span: Span::default(),
            kind: ValueKind::Quoted("*".into()),
        };
        assert!(!quoted_star.is_exists());
        assert_eq!(quoted_star.literal().as_deref(), Some("*"));
    }
}
