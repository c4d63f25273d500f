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

use serde::Serialize;

use crate::json::write_json_string;
use crate::scan::bytes::{MemberSpan, object_members};

/// Writes members after a record's last one, each preceded by the comma it needs.
#[derive(Debug)]
pub struct Members<'o> {
    out: &'o mut Vec<u8>,
    comma: bool,
}

impl<'o> Members<'o> {
    /// Members written into `out`, the first preceded by a comma when `comma`.
    pub(crate) fn new(out: &'o mut Vec<u8>, comma: bool) -> Self {
        Self { out, comma }
    }

    /// Writes `"key":` and whatever `write_value` appends as the value.
    pub fn member(&mut self, key: &str, write_value: impl FnOnce(&mut Vec<u8>)) {
        if self.comma {
            self.out.push(b',');
        }
        self.comma = true;
        write_json_string(key, self.out);
        self.out.push(b':');
        write_value(self.out);
    }

    /// Writes a whole member (`"key":value`) as given.
    pub(crate) fn raw(&mut self, member: &[u8]) {
        if self.comma {
            self.out.push(b',');
        }
        self.comma = true;
        self.out.extend_from_slice(member);
    }

    /// Writes `"key":` and `value` serialised.
    pub fn serialized(&mut self, key: &str, value: &impl Serialize) {
        // Serialising plain data into a Vec cannot fail.
        self.member(key, |out| {
            let _ = serde_json::to_writer(out, value);
        });
    }
}

/// Writes `record` with the members `write` adds after its last one.
pub fn insert_members(record: &[u8], out: &mut Vec<u8>, write: impl FnOnce(&mut Members<'_>)) {
    let close = record
        .iter()
        .rposition(|&b| b == b'}')
        .unwrap_or(record.len());
    // Right after the last member's value (or the opening brace), so that whitespace before the
    // closing brace stays where it was and removing the members restores the record exactly.
    let insert_at = record[..close]
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .map_or(close, |i| i + 1);
    out.extend_from_slice(&record[..insert_at]);
    let comma = record.get(insert_at.wrapping_sub(1)) != Some(&b'{');
    write(&mut Members { out, comma });
    out.extend_from_slice(&record[insert_at..]);
}

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
        let stripped = without_members(record, &[key]);
        return insert_member(&stripped, key, false, out, write_value);
    }
    insert_members(record, out, |members| members.member(key, write_value));
}

/// The record's bytes with every top-level member named by one of `keys` (after decoding)
/// removed.
///
/// Kept members keep the separator (comma and spacing) that preceded them in the original.
pub fn without_members(record: &[u8], keys: &[&str]) -> Vec<u8> {
    let members = object_members(record);
    let (Some(first), Some(last)) = (members.first(), members.last()) else {
        return record.to_vec();
    };
    let mut out = Vec::with_capacity(record.len());
    out.extend_from_slice(&record[..first.start]);
    let mut kept_any = false;
    for (i, member) in members.iter().enumerate() {
        if is_named(record, member, keys) {
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

/// The decoded key of a member.
pub(crate) fn member_key(record: &[u8], member: &MemberSpan) -> Option<String> {
    serde_json::from_slice::<String>(&record[member.start..member.key_end]).ok()
}

fn is_named(record: &[u8], member: &MemberSpan, keys: &[&str]) -> bool {
    member_key(record, member).is_some_and(|k| keys.contains(&k.as_str()))
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
                String::from_utf8(without_members(once.as_bytes(), &["trailtag"])).unwrap(),
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
