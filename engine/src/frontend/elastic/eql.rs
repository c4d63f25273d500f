//! Elastic's EQL queries: `<category> where <condition>`, the condition in the expression syntax
//! the native language shares (`crate::frontend::query`), lowered against the ECS view in
//! Elasticsearch's dialect (`stringContains` is a Lucene wildcard).
//!
//! The event category is a filter on `event.category` (`iam where …`), or on the rule's
//! `event_category_override` field (`info where …` with `event.type`); `any` filters nothing.
//! Sequences and pipes need state across events and are rejected with that reason.

use super::fields::EcsFields;
use crate::frontend::fields::Fields;
use crate::frontend::query::{self, Dialect};
use crate::ir::{Case, Expr, StringSet, Test};
use crate::path::FieldPath;
use crate::rule::Clause;

/// An EQL query that cannot be compiled: the byte offset in the query and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EqlError {
    /// Byte offset into the query.
    pub offset: usize,
    /// What is wrong, for people.
    pub message: String,
    /// Whether the query is valid EQL that trailtag cannot run (rather than a mistake).
    pub unsupported: bool,
}

/// Compiles an EQL query against `fields` into its clauses (the event category's filter first);
/// `category_field` is the rule's `event_category_override` (default `event.category`).
pub fn compile(
    text: &str,
    category_field: Option<&str>,
    fields: &EcsFields,
) -> Result<Vec<Clause>, Vec<EqlError>> {
    let (category, offset) = split_category(text)?;
    let condition_text = &text[offset..];
    let mut clauses = query::compile_clauses(condition_text, fields, Dialect::ELASTICSEARCH)
        .map_err(|errors| {
            errors
                .into_iter()
                .map(|e| EqlError {
                    offset: offset + e.offset,
                    message: e.message,
                    unsupported: false,
                })
                .collect::<Vec<_>>()
        })?;
    let filter = category_filter(
        &category,
        category_field.unwrap_or("event.category"),
        fields,
    )
    .map_err(|message| {
        vec![EqlError {
            offset: 0,
            message,
            unsupported: false,
        }]
    })?;
    if let Some(condition) = filter {
        let text = format!("{category} where");
        clauses.insert(0, Clause { text, condition });
    }
    Ok(clauses)
}

/// The event category and the offset where the condition starts.
fn split_category(text: &str) -> Result<(String, usize), Vec<EqlError>> {
    let leading = text.len() - text.trim_start().len();
    let rest = &text[leading..];
    let word_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let word = &rest[..word_end];
    if word.eq_ignore_ascii_case("sequence") || word.eq_ignore_ascii_case("sample") {
        return Err(vec![EqlError {
            offset: leading,
            message: format!(
                "an EQL {word} correlates several events (by a key, within a time span): it needs state across records, which trailtag does not keep yet"
            ),
            unsupported: true,
        }]);
    }
    let after_word = &rest[word_end..];
    let spaces = after_word.len() - after_word.trim_start().len();
    let where_start = word_end + spaces;
    let has_where = rest[where_start..]
        .get(..5)
        .is_some_and(|w| w.eq_ignore_ascii_case("where"))
        && rest[where_start + 5..].starts_with(|c: char| c.is_whitespace() || c == '(');
    if word.is_empty() || !has_where {
        return Err(vec![EqlError {
            offset: leading,
            message: "an EQL query starts with an event category and `where` (`any where …`)"
                .into(),
            unsupported: false,
        }]);
    }
    if let Some(pipe) = pipe_outside_strings(rest) {
        return Err(vec![EqlError {
            offset: leading + pipe,
            message: "EQL pipes (`| head`, `| unique` …) work on a result set, not on one record; trailtag cannot run them".into(),
            unsupported: true,
        }]);
    }
    Ok((word.to_ascii_lowercase(), leading + where_start + 5))
}

/// The offset of a `|` outside string literals, if any.
fn pipe_outside_strings(text: &str) -> Option<usize> {
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (in_string, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => in_string = !in_string,
            (false, _, '|') => return Some(i),
            _ => {}
        }
    }
    None
}

/// `<category> where`: the test on the category field, or nothing for `any`.
fn category_filter(
    category: &str,
    field: &str,
    fields: &EcsFields,
) -> Result<Option<Expr>, String> {
    if category == "any" {
        return Ok(None);
    }
    let path = FieldPath::parse_dotted(field)
        .ok_or_else(|| format!("event_category_override {field:?} is not a field name"))?;
    let test = Test::StringIn(StringSet::new(Case::Sensitive, [category.to_owned()]));
    fields.test(&path, test).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;

    fn holds(query: &str, category_field: Option<&str>, record: &str) -> bool {
        let clauses = compile(query, category_field, &EcsFields::default()).unwrap();
        let record = Json::parse(record.as_bytes()).unwrap();
        clauses.iter().all(|c| c.condition.matches(&record))
    }

    const TRUST_ANCHOR: &str = r#"info where data_stream.dataset == "aws.cloudtrail"
  and event.provider == "rolesanywhere.amazonaws.com"
  and event.action == "CreateTrustAnchor"
  and event.outcome == "success"
  and not stringContains(aws.cloudtrail.request_parameters, "sourceType=AWS_ACM_PCA")"#;

    #[test]
    fn the_founding_trust_anchor_query_reads_the_ecs_view() {
        let external = r#"{"eventSource":"rolesanywhere.amazonaws.com","eventName":"CreateTrustAnchor","requestParameters":{"name":"x","source":{"sourceType":"CERTIFICATE_BUNDLE"}}}"#;
        let pca = r#"{"eventSource":"rolesanywhere.amazonaws.com","eventName":"CreateTrustAnchor","requestParameters":{"name":"x","source":{"sourceType":"AWS_ACM_PCA"}}}"#;
        let failed = r#"{"eventSource":"rolesanywhere.amazonaws.com","eventName":"CreateTrustAnchor","errorCode":"AccessDenied","requestParameters":{"source":{"sourceType":"CERTIFICATE_BUNDLE"}}}"#;
        assert!(holds(TRUST_ANCHOR, Some("event.type"), external));
        assert!(!holds(TRUST_ANCHOR, Some("event.type"), pca));
        assert!(!holds(TRUST_ANCHOR, Some("event.type"), failed));
    }

    #[test]
    fn categories_filter_on_the_category_field() {
        let query = r#"iam where event.action == "CreateGroup""#;
        assert!(holds(query, None, r#"{"eventName":"CreateGroup"}"#));
        let info = r#"info where event.action == "CreateGroup""#;
        assert!(!holds(
            info,
            Some("event.type"),
            r#"{"eventName":"CreateGroup"}"#
        ));
        assert!(holds(
            "any where event.action : \"creategroup\"",
            None,
            r#"{"eventName":"CreateGroup"}"#
        ));
    }

    #[test]
    fn sequences_and_pipes_are_unsupported_and_mistakes_are_located() {
        let sequence = compile(
            "sequence by a with maxspan=1m [any where true]",
            None,
            &EcsFields::default(),
        );
        assert!(sequence.unwrap_err()[0].unsupported);
        let pipe = compile(
            r#"any where event.action == "a|b" | head 1"#,
            None,
            &EcsFields::default(),
        );
        let error = &pipe.unwrap_err()[0];
        assert!(error.unsupported && error.offset == 32, "{error:?}");
        let wrong = compile("any where event.action ==", None, &EcsFields::default()).unwrap_err();
        assert_eq!(wrong[0].offset, 25);
        assert!(compile("event.action == \"x\"", None, &EcsFields::default()).is_err());
    }
}
