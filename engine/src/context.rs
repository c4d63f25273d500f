//! The context of a finding: the fields an analyst looks at first, copied out of the record.
//!
//! Every finding carries the base fields of [`BASE_CONTEXT`] (who, from where, with what). Each
//! rule may add its own (`[rule.context]` in a native rule file), such as the role ARNs of a new
//! Roles Anywhere profile. A field takes the first of its paths whose value is present, not null
//! and not the empty string, copied as JSON; a field with no such value is left out unless the
//! rule gives a default (the trust-anchor rule says `"unknown"` when no source type is recorded).
//! Values are read through the [`Document`] interface, like the rules' own tests.

use crate::document::{Document, first_value_json};
use crate::json::{Json, write_json_string};
use crate::path::FieldPath;

/// The base context, in output order: name, then the CloudTrail paths tried in order.
pub const BASE_CONTEXT: &[(&str, &[&str])] = &[
    ("actor_arn", &["userIdentity.arn"]),
    ("actor_type", &["userIdentity.type"]),
    (
        "user_name",
        &[
            "userIdentity.userName",
            "userIdentity.sessionContext.sessionIssuer.userName",
        ],
    ),
    ("access_key_id", &["userIdentity.accessKeyId"]),
    (
        "account_id",
        &["userIdentity.accountId", "recipientAccountId"],
    ),
    ("source_ip", &["sourceIPAddress"]),
    ("user_agent", &["userAgent"]),
    ("region", &["awsRegion"]),
];

/// One named context field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextField {
    name: String,
    paths: Vec<FieldPath>,
    default: Option<String>,
}

impl ContextField {
    /// A field named `name`, taken from the first of `paths` with a value, else `default`.
    pub fn new(name: &str, paths: Vec<FieldPath>, default: Option<String>) -> Self {
        Self {
            name: name.to_owned(),
            paths,
            default,
        }
    }

    /// The field's name in the finding.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The base fields, in order.
    pub fn base() -> Vec<ContextField> {
        BASE_CONTEXT
            .iter()
            .map(|(name, paths)| {
                let paths = paths
                    .iter()
                    .filter_map(|p| FieldPath::parse_dotted(p))
                    .collect();
                ContextField::new(name, paths, None)
            })
            .collect()
    }

    /// Appends the field's value as JSON text to `out`; returns whether there was one.
    pub fn write_value(&self, document: &dyn Document, out: &mut Vec<u8>) -> bool {
        let found = self
            .paths
            .iter()
            .any(|path| first_value_json(document, path, is_informative, out));
        if found {
            return true;
        }
        match &self.default {
            Some(default) => {
                write_json_string(default, out);
                true
            }
            None => false,
        }
    }
}

fn is_informative(value: &Json<'_>) -> bool {
    !matches!(value, Json::Null) && value.as_str() != Some("")
}
