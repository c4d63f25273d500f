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

mod ast;
mod lexer;
mod lower;
mod parser;

pub use ast::{Ast, CompareOp, Literal, Span, StringFunction};
pub use lower::{LowerError, lower};
pub use parser::{MAX_DEPTH, QueryError, parse};
