//! Field paths: the dotted names rules use to reach into a record.
//!
//! A path is a list of object keys. `requestParameters.source.sourceType` has three segments; a key
//! that is not a plain identifier is written in backticks, `` requestParameters.`x-amz-acl` ``.
//! Paths descend through objects only. The native language never fans out over arrays (a rule
//! that wants "any element" says so), because CloudTrail's top-level fields are scalars and an
//! array where a scalar belongs is malformed input, not a match.

use std::fmt;

use crate::json::Json;

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath {
    segments: Vec<String>,
}

impl FieldPath {
    /// Builds a path from its segments.
    pub fn new(segments: Vec<String>) -> Self {
        Self { segments }
    }

    /// Parses `a.b.c` (plain segments only; backticks are the query parser's business).
    pub fn parse_dotted(text: &str) -> Option<Self> {
        let segments: Vec<String> = text.split('.').map(str::to_owned).collect();
        segments
            .iter()
            .all(|s| !s.is_empty())
            .then_some(Self { segments })
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// Whether this names a derived field (first segment starts with `@`): a value a document
    /// view computes, not a member of the record.
    pub fn is_derived(&self) -> bool {
        self.segments.first().is_some_and(|s| s.starts_with('@'))
    }

    /// The single key of a top-level path, if this is one.
    pub fn top_level_key(&self) -> Option<&str> {
        match self.segments.as_slice() {
            [key] => Some(key),
            _ => None,
        }
    }

    /// The value at this path, following objects only.
    pub fn resolve<'r, 'a>(&self, record: &'r Json<'a>) -> Option<&'r Json<'a>> {
        record.lookup(self.segments.iter().map(String::as_str))
    }
}

fn is_plain_segment(segment: &str) -> bool {
    let mut chars = segment.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '@')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '-'))
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            if is_plain_segment(segment) {
                f.write_str(segment)?;
            } else {
                write!(f, "`{}`", segment.replace('`', "``"))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_segments_that_are_not_identifiers() {
        let path = FieldPath::new(vec![
            "requestParameters".into(),
            "a.b".into(),
            "x-amz".into(),
        ]);
        assert_eq!(path.to_string(), "requestParameters.`a.b`.x-amz");
    }

    #[test]
    fn resolve_follows_objects() {
        let doc = Json::parse(br#"{"a":{"b":"c"}}"#).unwrap();
        let path = FieldPath::parse_dotted("a.b").unwrap();
        assert_eq!(path.resolve(&doc).and_then(Json::as_str), Some("c"));
        assert!(FieldPath::parse_dotted("a..b").is_none());
    }
}
