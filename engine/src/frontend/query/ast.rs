//! The syntax tree of a query, before it is lowered into the IR.
//!
//! Every clause carries the [`Span`] of its text, so that a mistake found while lowering it (a
//! bad regex, an ordering against `null`) is reported at that clause's line and column.

use crate::json::Number;
use crate::path::FieldPath;

/// Byte offsets of a piece of the query text: `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset just past the last byte.
    pub end: usize,
}

/// A parsed boolean expression. Each clause's `span` is the text of the whole clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    /// All must hold.
    And(Vec<Ast>),
    /// At least one must hold.
    Or(Vec<Ast>),
    /// Boolean negation.
    Not(Box<Ast>),
    /// `field <op> literal`
    Compare {
        span: Span,
        field: FieldPath,
        op: CompareOp,
        value: Literal,
    },
    /// `field in (a, b)` / `field in~ (a, b)`
    In {
        span: Span,
        field: FieldPath,
        values: Vec<Literal>,
        case_insensitive: bool,
    },
    /// `field like "p*"`, `field like~ (..)`, and EQL's `field : "p*"` (insensitive).
    Like {
        span: Span,
        field: FieldPath,
        patterns: Vec<String>,
        case_insensitive: bool,
    },
    /// `field regex "re"` / `regex~`: the whole value must match.
    Regex {
        span: Span,
        field: FieldPath,
        patterns: Vec<String>,
        case_insensitive: bool,
    },
    /// `stringContains(field, "x")`, `startsWith`, `endsWith`, with `~` variants; the second
    /// argument may be another field (`stringContains(a, b)`).
    Function {
        span: Span,
        function: StringFunction,
        field: FieldPath,
        argument: Argument,
        case_insensitive: bool,
    },
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// The string functions of the language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringFunction {
    /// `stringContains(field, "needle")`
    Contains,
    /// `startsWith(field, "prefix")`
    StartsWith,
    /// `endsWith(field, "suffix")`
    EndsWith,
}

/// The second argument of a string function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argument {
    /// A string literal.
    String(String),
    /// Another field, whose value is the needle.
    Field(FieldPath),
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null`: absent or JSON null.
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
}
