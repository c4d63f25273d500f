//! The native query language: EQL's expression syntax over raw CloudTrail field names.
//!
//! ```text
//! eventSource == "rolesanywhere.amazonaws.com"
//!   and eventName == "CreateTrustAnchor"
//!   and (errorCode == null or errorCode == "")
//!   and not requestParameters.source.sourceType == "AWS_ACM_PCA"
//! ```
//!
//! The grammar is EQL's `where` clause (no event category, no pipes, no sequences), so a
//! detection engineer reads it without a manual and the Elastic EQL front end can share this
//! parser. Text is parsed into an [`Ast`] whose clauses carry spans ([`parse`]), then lowered
//! into the IR ([`lower()`]) with the semantics of `docs/rules.md`: values compare by JSON type,
//! paths follow objects only, and a comparison on an absent field is false, so `not` of it is
//! true, exactly as in EQL.

use crate::frontend::fields::Fields;
use crate::rule::Clause;

mod ast;
mod lexer;
mod lower;
mod parser;

pub use ast::{Argument, Ast, CompareOp, Literal, Span, StringFunction};
pub use lower::{Dialect, LowerError, lower, lower_with};
pub use parser::{MAX_DEPTH, QueryError, parse, parse_with_clauses};

/// Parses and lowers a query into its top-level clauses (the terms of its outermost `and`),
/// each with its text. Every problem is returned as an offset into `text` and a message.
pub fn compile_clauses(
    text: &str,
    fields: &dyn Fields,
    dialect: Dialect,
) -> Result<Vec<Clause>, Vec<QueryError>> {
    let (ast, spans) = parse_with_clauses(text).map_err(|e| vec![e])?;
    let terms: Vec<&Ast> = match &ast {
        Ast::And(terms) if terms.len() == spans.len() => terms.iter().collect(),
        _ => vec![&ast],
    };
    let mut clauses = Vec::new();
    let mut errors = Vec::new();
    for (term, span) in terms.into_iter().zip(&spans) {
        match lower_with(term, fields, dialect) {
            Ok(condition) => clauses.push(Clause {
                text: text[span.start..span.end].to_owned(),
                condition,
            }),
            Err(e) => errors.extend(e.into_iter().map(|e| QueryError {
                offset: e.span.start,
                message: e.message,
            })),
        }
    }
    if errors.is_empty() {
        Ok(clauses)
    } else {
        Err(errors)
    }
}
