//! Building the `trailtag` object and splicing it into the original record.
//!
//! A tagged record is the original bytes with one member added before the closing brace:
//!
//! ```text
//! {"eventVersion":"1.08", ... ,"eventCategory":"Management","trailtag":{...}}
//! ```
//!
//! Nothing else in the record changes: keys, order, spacing, number spellings and escapes are
//! the producer's. If the record already carries a top-level `trailtag` member (it went through
//! trailtag before), that member is removed first, so tagging is idempotent. The schema of the
//! object is documented in `docs/tag-schema.md`.

use serde::Serialize;

use crate::context::{ContextField, write_json_string};
use crate::json::Json;
use crate::rule::{Rule, RuleMeta, Severity, Threat};
use crate::scan::{MemberSpan, object_members};

/// The version of the tag's schema; bumped on any incompatible change.
pub const TAG_SCHEMA_VERSION: u32 = 1;

/// The key the tag is stored under.
pub const TAG_KEY: &str = "trailtag";

#[derive(Serialize)]
struct Detection<'m> {
    id: &'m str,
    name: &'m str,
    severity: Severity,
    risk_score: u8,
    threat: &'m [Threat],
    references: &'m [String],
}

/// A rule's entry in `detections`, serialised once when the rule is compiled.
pub(crate) fn detection_json(meta: &RuleMeta) -> Box<str> {
    let detection = Detection {
        id: &meta.id,
        name: &meta.name,
        severity: meta.severity,
        risk_score: meta.risk_score,
        threat: &meta.threat,
        references: &meta.references,
    };
    serde_json::to_string(&detection)
        .unwrap_or_default()
        .into_boxed_str()
}

/// Writes the whole `trailtag` object for a record matched by `matched` (in rule order).
pub(crate) fn write_tag(
    matched: &[&Rule],
    base: &[ContextField],
    record: &Json<'_>,
    out: &mut Vec<u8>,
) {
    let severity = matched
        .iter()
        .map(|r| r.meta.severity)
        .max()
        .unwrap_or(Severity::Informational);
    let risk = matched.iter().map(|r| r.meta.risk_score).max().unwrap_or(0);
    out.extend_from_slice(format!("{{\"version\":{TAG_SCHEMA_VERSION},\"severity\":").as_bytes());
    write_json_string(severity.as_str(), out);
    out.extend_from_slice(format!(",\"risk_score\":{risk},\"detections\":[").as_bytes());
    for (i, rule) in matched.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(rule.detection_json.as_bytes());
    }
    out.extend_from_slice(b"],\"context\":{");
    write_context(matched, base, record, out);
    out.extend_from_slice(b"}}");
}

fn write_context(matched: &[&Rule], base: &[ContextField], record: &Json<'_>, out: &mut Vec<u8>) {
    let mut written: Vec<&str> = Vec::new();
    let rule_fields = matched.iter().flat_map(|r| r.context.iter());
    for field in base.iter().chain(rule_fields) {
        if written.contains(&field.name()) {
            continue;
        }
        if field.write(record, out, written.is_empty()) {
            written.push(field.name());
        }
    }
}

/// Writes `record` with `"trailtag":<tag>` added as its last member; `write_tag` writes the tag
/// object straight into `out`, so no intermediate buffer is needed.
///
/// `record` must be a JSON object that parsed successfully; `has_tag_key` says whether it
/// already has a top-level `trailtag` member, which is then replaced.
pub(crate) fn splice(
    record: &[u8],
    has_tag_key: bool,
    out: &mut Vec<u8>,
    write_tag: impl FnOnce(&mut Vec<u8>),
) {
    if has_tag_key {
        let stripped = without_tag_members(record);
        return splice(&stripped, false, out, write_tag);
    }
    let close = record
        .iter()
        .rposition(|&b| b == b'}')
        .unwrap_or(record.len());
    // Right after the last member's value (or the opening brace), so that whitespace before the
    // closing brace stays where it was and removing the tag restores the record exactly.
    let insert_at = record[..close]
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .map_or(close, |i| i + 1);
    out.extend_from_slice(&record[..insert_at]);
    if record.get(insert_at.wrapping_sub(1)) != Some(&b'{') {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(TAG_KEY.as_bytes());
    out.extend_from_slice(b"\":");
    write_tag(out);
    out.extend_from_slice(&record[insert_at..]);
}

/// The record's bytes with every top-level `trailtag` member removed.
///
/// Kept members keep the separator (comma and spacing) that preceded them in the original.
fn without_tag_members(record: &[u8]) -> Vec<u8> {
    let members = object_members(record);
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        return record.to_vec();
    };
    let mut out = Vec::with_capacity(record.len());
    out.extend_from_slice(&record[..first.start]);
    let mut kept_any = false;
    for (i, member) in members.iter().enumerate() {
        if is_tag_key(record, member) {
            continue;
        }
        if kept_any {
            out.extend_from_slice(&record[members[i - 1].end..member.start]);
        }
        out.extend_from_slice(&record[member.start..member.end]);
        kept_any = true;
    }
    out.extend_from_slice(&record[last.end..]);
    out
}

fn is_tag_key(record: &[u8], member: &MemberSpan) -> bool {
    serde_json::from_slice::<String>(&record[member.start..member.key_end])
        .is_ok_and(|k| k == TAG_KEY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spliced(record: &str, has_tag_key: bool) -> String {
        let mut out = Vec::new();
        splice(record.as_bytes(), has_tag_key, &mut out, |o| {
            o.extend_from_slice(b"{}")
        });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_tag_goes_before_the_closing_brace_and_nothing_else_moves() {
        assert_eq!(spliced(r#"{"a":1}"#, false), r#"{"a":1,"trailtag":{}}"#);
        assert_eq!(
            spliced("{ \"a\" : 1 }\r", false),
            "{ \"a\" : 1,\"trailtag\":{} }\r"
        );
        assert_eq!(spliced("{}", false), r#"{"trailtag":{}}"#);
        assert_eq!(spliced(" { } ", false), r#" {"trailtag":{} } "#);
    }

    #[test]
    fn removing_the_tag_restores_the_record_exactly() {
        for record in ["{\"a\":1 }", "{ }", " {\"a\" : [1]\n}\r", "{\"a\":{}}"] {
            let once = spliced(record, false);
            assert_eq!(spliced(&once, true), once, "{record:?}");
            assert_eq!(
                String::from_utf8(without_tag_members(once.as_bytes())).unwrap(),
                record
            );
        }
    }

    #[test]
    fn an_existing_tag_is_replaced_wherever_it_stands() {
        assert_eq!(
            spliced(r#"{"trailtag":{"old":1},"a":1}"#, true),
            r#"{"a":1,"trailtag":{}}"#
        );
        assert_eq!(
            spliced(r#"{"a":1, "trailtag":[1,2] ,"b":2}"#, true),
            r#"{"a":1 ,"b":2,"trailtag":{}}"#
        );
        assert_eq!(
            spliced(r#"{"a":1,"trailtag":1}"#, true),
            r#"{"a":1,"trailtag":{}}"#
        );
        assert_eq!(spliced(r#"{"trailtag":1}"#, true), r#"{"trailtag":{}}"#);
        assert_eq!(
            spliced(r#"{"trail\u0074ag":1,"trailtag":2,"x":3}"#, true),
            r#"{"x":3,"trailtag":{}}"#
        );
    }
}
