//! The engine's one error type.
//!
//! Every configuration mistake is found when rules are loaded and reported with the file, the
//! line and column (of the clause, for a query: a bad regex is reported where it is written), and
//! the rule id when it is known. Detection itself cannot fail: a record the engine cannot read is
//! an outcome ([`crate::Verdict::Unreadable`]), not an error.

use std::fmt;

/// What went wrong while loading rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleErrorKind {
    /// The file is not valid TOML, or not of the rule file's shape.
    Syntax,
    /// The query does not parse or compile.
    Query,
    /// A metadata value is out of range or malformed.
    Metadata,
    /// Two rules share an id.
    DuplicateId,
    /// The file is in a format or language this build cannot run.
    Unsupported,
}

/// One problem in one rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line of the problem (1 when it concerns the whole file).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The rule's id, once it is known.
    pub rule_id: Option<String>,
    /// The category of problem.
    pub kind: RuleErrorKind,
    /// What is wrong, for people.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(id) = &self.rule_id {
            write!(f, "rule {id}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// The engine's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// One or more rule files could not be loaded; all problems found are listed.
    #[error("{} rule problem(s):\n{}", .0.len(), list(.0))]
    Rules(Vec<RuleError>),
    /// A configuration document (options, rule bundle) is malformed.
    #[error("invalid configuration: {0}")]
    Config(String),
}

fn list(errors: &[RuleError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Converts a byte offset in `text` to a 1-based (line, column) pair, counting characters.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab\ncd", 99), (2, 3));
        assert_eq!(line_column("é\nx", 2), (1, 2));
    }
}
