//! Splicing a member into a record's original bytes, and removing members from them.
//!
//! A tagged record is the original bytes with one member added after the last one:
//!
//! ```text
//! {"eventVersion":"1.08", ... ,"eventCategory":"Management","trailtag":{...}}
//! ```
//!
//! Nothing else in the record changes: keys, order, spacing, number spellings and escapes are
//! the producer's. Members named by the writer's key that the record already had are removed
//! first, so tagging twice gives the bytes of tagging once. Both functions work on records the
//! detector parsed successfully, so they only find spans; they never judge validity.

use crate::scan::bytes::{MemberSpan, object_members};

/// Writes `record` with `"key":<value>` added as its last member; `write_value` writes the
/// value straight into `out`. With `replace`, members named `key` are removed first.
pub fn insert_member(
    record: &[u8],
    key: &str,
    replace: bool,
    out: &mut Vec<u8>,
    write_value: impl FnOnce(&mut Vec<u8>),
) {
    if replace {
        let stripped = without_members(record, key);
        return insert_member(&stripped, key, false, out, write_value);
    }
    let close = record
        .iter()
        .rposition(|&b| b == b'}')
        .unwrap_or(record.len());
    // Right after the last member's value (or the opening brace), so that whitespace before the
    // closing brace stays where it was and removing the member restores the record exactly.
    let insert_at = record[..close]
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .map_or(close, |i| i + 1);
    out.extend_from_slice(&record[..insert_at]);
    if record.get(insert_at.wrapping_sub(1)) != Some(&b'{') {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    write_value(out);
    out.extend_from_slice(&record[insert_at..]);
}

/// The record's bytes with every top-level member named `key` (after decoding) removed.
///
/// Kept members keep the separator (comma and spacing) that preceded them in the original.
pub fn without_members(record: &[u8], key: &str) -> Vec<u8> {
    let members = object_members(record);
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        return record.to_vec();
    };
    let mut out = Vec::with_capacity(record.len());
    out.extend_from_slice(&record[..first.start]);
    let mut kept_any = false;
    for (i, member) in members.iter().enumerate() {
        if is_named(record, member, key) {
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

fn is_named(record: &[u8], member: &MemberSpan, key: &str) -> bool {
    serde_json::from_slice::<String>(&record[member.start..member.key_end]).is_ok_and(|k| k == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spliced(record: &str, replace: bool) -> String {
        let mut out = Vec::new();
        insert_member(record.as_bytes(), "trailtag", replace, &mut out, |o| {
            o.extend_from_slice(b"{}")
        });
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_member_goes_before_the_closing_brace_and_nothing_else_moves() {
        assert_eq!(spliced(r#"{"a":1}"#, false), r#"{"a":1,"trailtag":{}}"#);
        assert_eq!(
            spliced("{ \"a\" : 1 }\r", false),
            "{ \"a\" : 1,\"trailtag\":{} }\r"
        );
        assert_eq!(spliced("{}", false), r#"{"trailtag":{}}"#);
        assert_eq!(spliced(" { } ", false), r#" {"trailtag":{} } "#);
    }

    #[test]
    fn removing_the_member_restores_the_record_exactly() {
        for record in ["{\"a\":1 }", "{ }", " {\"a\" : [1]\n}\r", "{\"a\":{}}"] {
            let once = spliced(record, false);
            assert_eq!(spliced(&once, true), once, "{record:?}");
            assert_eq!(
                String::from_utf8(without_members(once.as_bytes(), "trailtag")).unwrap(),
                record
            );
        }
    }

    #[test]
    fn an_existing_member_is_replaced_wherever_it_stands() {
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
