//! KQL, the Kibana Query Language of Elastic's `kuery` rules, lowered into the IR.
//!
//! ```text
//! data_stream.dataset: "aws.cloudtrail"
//!     and event.action: (CreateGroup or DeleteGroup)
//!     and not user_agent.original: (*Terraform* or *terraform*)
//!     and source.as.organization.name: (* and not (Amazon* or "Google LLC"))
//! ```
//!
//! ```
//! use trailtag_engine::frontend::{fields::RawFields, kql};
//! use trailtag_engine::ir::Quantifier;
//! use trailtag_engine::json::Json;
//!
//! let fields = RawFields { quantifier: Quantifier::AnyElement };
//! let query = r#"event.action: Create* and not user.id: *\:i-*"#;
//! let expr = kql::compile(query, &fields).map_err(|errors| format!("{errors:?}"))?;
//! let human = Json::parse(br#"{"event":{"action":"CreateUser"},"user":{"id":"AIDA:alice"}}"#)?;
//! let instance = Json::parse(br#"{"event":{"action":"CreateUser"},"user":{"id":"AROA:i-0f"}}"#)?;
//! assert!(expr.matches(&human) && !expr.matches(&instance));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Grammar
//!
//! The grammar of Elastic's own evaluator (`elastic/detection-rules`, `lib/kql/kql/kql.g`),
//! without the parts no rule uses and that a per-record filter cannot honour:
//!
//! ```text
//! query     = or
//! or        = and ("or" and)*
//! and       = not ("and" not)*
//! not       = "not" not | "(" or ")" | clause
//! clause    = field ":" list | field ("<" | "<=" | ">" | ">=") value
//! list      = "not" list | "(" or-list ")" | value
//! or-list   = and-list ("or" and-list)*
//! and-list  = list ("and" list)*
//! value     = quoted | bare
//! field     = quoted | bare without spaces or "*"
//! ```
//!
//! - Keywords are case-insensitive words: `and`, `OR`, `Not`. They bind as usual: `not`
//!   tightest, then `and`, then `or`.
//! - A **quoted** value is a literal: `*` is a star; `\"` `\\` `\t` `\n` `\r` are escapes and any
//!   other backslash stands for itself.
//! - A **bare** value may hold inner spaces (`*S3 Browser*`) and ends before a standalone
//!   `and`/`or` between spaces, a `)`, or the end; its ends are trimmed. An unescaped `*` is a
//!   wildcard (KQL has no `?`). A backslash escapes `\ ( ) : < > " * { }`, whitespace
//!   (`\t` `\n` `\r`, or a space itself), and the keywords (`\or`).
//! - `field: not x` negates one value, as Elastic's grammar allows.
//!
//! Rejected, each with "not supported: …" at its position: free text without a field, a
//! wildcard in a field name, and nested queries `field:{ … }` (none of Elastic's AWS rules
//! uses them; the first two need the index's field list, the last its nested mappings).
//!
//! # Semantics
//!
//! Lowering ([`lower()`]) asks the [`Fields`] resolver what each field holds
//! ([`crate::frontend::fields::FieldKind`]) and reads the value that way: keyword values
//! compare exactly and case-sensitively (wildcards too, which is why rules list `*Terraform*`
//! and `*terraform*`); `true`/`false` on boolean fields; numbers on number fields; addresses and
//! CIDR networks on ip fields. `field: *` means "has a value". Each value means "some value
//! of the field matches", so arrays match when any element does and `field:(A and B)` may be
//! satisfied by two different elements. `not` is two-valued: `not field: x` holds when the
//! field is missing, as in Elasticsearch, where `not` is a `must_not` query.
//!
//! # Design
//!
//! Parsing and lowering are apart: [`parse`] gives a [`KqlAst`] whose clauses and values carry
//! [`Span`]s, and only [`lower()`] knows types, so one tree serves any field resolver (raw
//! CloudTrail names with [`crate::frontend::fields::RawFields`], or Elastic's ECS names). The
//! scanner is context-sensitive (a space inside a bare value is text, between clauses it is
//! not), so the parser asks it for the piece it expects rather than reading a token stream.
//! Parse errors carry a byte offset ([`QueryError`]); lowering collects every error
//! ([`LowerError`]). A tree prints back as KQL that parses into the same tree (`Display`).

mod ast;
mod lexer;
mod lower;
mod parser;
mod print;

pub use super::query::{LowerError, MAX_DEPTH, QueryError, Span};
pub use ast::{Field, KqlAst, Piece, Value, ValueKind, ValueList};
pub use lower::lower;
pub use parser::parse;

use super::fields::Fields;
use crate::ir::Expr;
use crate::rule::Clause;

/// Parses and lowers a query; every error with the byte offset where its text starts.
pub fn compile(text: &str, fields: &dyn Fields) -> Result<Expr, Vec<QueryError>> {
    let ast = parse(text).map_err(|error| vec![error])?;
    lower(&ast, fields).map_err(|errors| {
        errors
            .into_iter()
            .map(|error| QueryError {
                offset: error.span.start,
                message: error.message,
            })
            .collect()
    })
}

/// Parses and lowers a query into its top-level clauses (the terms of its outermost `and`),
/// each written back as KQL; every error with its byte offset.
pub fn compile_clauses(text: &str, fields: &dyn Fields) -> Result<Vec<Clause>, Vec<QueryError>> {
    let ast = parse(text).map_err(|error| vec![error])?;
    let terms: Vec<&KqlAst> = match &ast {
        KqlAst::And(terms) => terms.iter().collect(),
        _ => vec![&ast],
    };
    let mut clauses = Vec::new();
    let mut errors = Vec::new();
    for term in terms {
        match lower(term, fields) {
            Ok(condition) => clauses.push(Clause {
                text: term.to_string(),
                condition,
            }),
            Err(e) => errors.extend(e.into_iter().map(|error| QueryError {
                offset: error.span.start,
                message: error.message,
            })),
        }
    }
    if errors.is_empty() {
        Ok(clauses)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frontend::fields::RawFields;
    use crate::ir::Quantifier;
    use crate::json::Json;

    const RAW: RawFields = RawFields {
        quantifier: Quantifier::AnyElement,
    };

    #[test]
    fn compile_parses_and_lowers() {
        let expr = compile("a: x and not b: (y or z*)", &RAW).unwrap();
        let matches = |text: &str| expr.matches(&Json::parse(text.as_bytes()).unwrap());
        assert!(matches(r#"{"a":"x","b":"w"}"#));
        assert!(!matches(r#"{"a":"x","b":"zz"}"#));
    }

    #[test]
    fn compile_reports_offsets_of_parse_and_lowering_errors() {
        let parse_error = compile("a: x and b", &RAW).unwrap_err();
        assert_eq!(parse_error.len(), 1);
        assert_eq!(parse_error[0].offset, 9);
        struct Ip;
        impl Fields for Ip {
            fn test(
                &self,
                field: &crate::FieldPath,
                test: crate::ir::Test,
            ) -> Result<Expr, String> {
                RAW.test(field, test)
            }
            fn kind(&self, _: &crate::FieldPath) -> crate::frontend::fields::FieldKind {
                crate::frontend::fields::FieldKind::Ip
            }
        }
        let errors = compile("a: 1.2.3.4 or a: (x or 10.0.0.0/8 or y*)", &Ip).unwrap_err();
        let offsets: Vec<usize> = errors.iter().map(|e| e.offset).collect();
        assert_eq!(offsets, [18, 37]);
    }
}
