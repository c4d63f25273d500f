//! The syntax tree of a query, before compilation.

use crate::json::Number;
use crate::path::FieldPath;

/// A parsed boolean expression.
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
        field: FieldPath,
        op: CompareOp,
        value: Literal,
    },
    /// `field in (a, b)` / `field in~ (a, b)`
    In {
        field: FieldPath,
        values: Vec<Literal>,
        case_insensitive: bool,
    },
    /// `field like "p*"`, `field like~ (..)`, and EQL's `field : "p*"` (insensitive).
    Like {
        field: FieldPath,
        patterns: Vec<String>,
        case_insensitive: bool,
    },
    /// `field regex "re"` / `regex~`: the whole value must match.
    Regex {
        field: FieldPath,
        patterns: Vec<String>,
        case_insensitive: bool,
    },
    /// `stringContains(field, "x")`, `startsWith`, `endsWith`, with `~` variants.
    Function {
        function: StringFunction,
        field: FieldPath,
        argument: String,
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
