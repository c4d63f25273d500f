//! The tag's `context`: the fields an analyst looks at first, copied out of the record.
//!
//! Every tag carries the base fields of [`BASE_CONTEXT`] (who, from where, with what). Each rule
//! may add its own (`[rule.context]` in its file), such as the role ARNs of a new Roles Anywhere
//! profile. A field takes the first of its paths whose value is present, not null and not the
//! empty string, copied as JSON; a field with no such value is left out unless the rule gives a
//! default (the trust-anchor rule says `"unknown"` when no source type is recorded).

use crate::json::Json;
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
#[derive(Debug, Clone)]
pub(crate) struct ContextField {
    name: String,
    paths: Vec<FieldPath>,
    default: Option<String>,
}

impl ContextField {
    pub fn new(name: &str, paths: Vec<FieldPath>, default: Option<String>) -> Self {
        Self {
            name: name.to_owned(),
            paths,
            default,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

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

    /// Appends `"name":value` (with a leading comma unless `first`); returns whether it wrote.
    pub fn write(&self, record: &Json<'_>, out: &mut Vec<u8>, first: bool) -> bool {
        let value = self
            .paths
            .iter()
            .find_map(|p| p.resolve(record).filter(|v| is_informative(v)));
        if value.is_none() && self.default.is_none() {
            return false;
        }
        if !first {
            out.push(b',');
        }
        write_json_string(&self.name, out);
        out.push(b':');
        match (value, &self.default) {
            (Some(v), _) => v.to_json_bytes(out),
            (None, Some(default)) => write_json_string(default, out),
            (None, None) => {}
        }
        true
    }
}

fn is_informative(value: &Json<'_>) -> bool {
    !matches!(value, Json::Null) && value.as_str() != Some("")
}

/// Writes `s` as a JSON string.
pub(crate) fn write_json_string(s: &str, out: &mut Vec<u8>) {
    // Serialising a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(out, s);
}
