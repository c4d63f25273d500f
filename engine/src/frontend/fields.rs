//! How a rule language's field names reach the record: the seam between a front end's
//! lowering and the document a rule reads.
//!
//! A front end parses `field <op> value` and builds the [`Test`] its language means; it does not
//! decide what the field *is*. A [`Fields`] implementation does: for raw CloudTrail names
//! ([`RawFields`]) the field is a path into the record; for Elastic's ECS names
//! (`crate::frontend::elastic::ecs`) it may be a renamed raw path seen as keyword text, a
//! constant decided at load time, a table keyed by `eventName`, or a value computed from the
//! record (a derived `@ecs.…` field). Because the resolver returns IR, a renamed field keeps the
//! pins of the raw one: `event.action: CreateGroup` is pinned on `eventName`.

use crate::ir::{Expr, Leaf, Quantifier, Test};
use crate::path::FieldPath;

/// What a field holds, so that a language can read a literal the way the field's type would
/// (KQL reads `10.0.0.0/8` as a network on an `ip` field, a plain string elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Strings compared exactly (and numbers or booleans as their text, where the resolver
    /// says so).
    Keyword,
    /// An IP address: equality compares addresses, and a CIDR literal is a network.
    Ip,
    /// `true` / `false`.
    Boolean,
    /// A number.
    Number,
}

/// Resolves a language's field names to IR over the record.
pub trait Fields {
    /// "Some value of `field` satisfies `test`", as the language sees the field.
    /// [`Test::Missing`] means "the field has no value" and [`Test::Exists`] "it has one".
    /// An error names why the field cannot be read (it is reported at the clause).
    fn test(&self, field: &FieldPath, test: Test) -> Result<Expr, String>;

    /// What the field holds.
    fn kind(&self, field: &FieldPath) -> FieldKind;
}

/// Raw CloudTrail names: every field is a path into the record, read with one quantifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawFields {
    /// How arrays along the path are read.
    pub quantifier: Quantifier,
}

impl RawFields {
    /// Paths that follow objects only (the native language).
    pub const OBJECTS_ONLY: RawFields = RawFields {
        quantifier: Quantifier::Value,
    };
}

impl Fields for RawFields {
    fn test(&self, field: &FieldPath, test: Test) -> Result<Expr, String> {
        Ok(Expr::Leaf(Leaf {
            field: field.clone(),
            quantifier: self.quantifier,
            test,
        }))
    }

    fn kind(&self, _field: &FieldPath) -> FieldKind {
        FieldKind::Keyword
    }
}
