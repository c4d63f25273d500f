//! How Elastic's ingest pipeline writes a payload object as one string: Java's
//! `AbstractMap.toString()` over the `java.util.HashMap`s its JSON processor builds
//! (`../shared/spec/ecs-mapping.md` §5).
//!
//! ```text
//! {"enabled":false,"name":"t","source":{"sourceData":{…},"sourceType":"AWS_ACM_PCA"}}
//!   becomes  {name=t, source={sourceType=AWS_ACM_PCA, sourceData={…}}, enabled=false}
//! ```
//!
//! - **Key order** is a `HashMap`'s iteration order: buckets `0..capacity` in turn, entries of a
//!   bucket in insertion order. A key's bucket is `spread(hashCode) & (capacity - 1)`, with
//!   Java's `String.hashCode` over UTF-16 units. The capacity starts at 16 and doubles whenever
//!   the map holds more than three quarters of it, or when a bucket would hold a ninth entry
//!   while the table is smaller than 64 (Java's treeify threshold). Every resize keeps the
//!   relative order of the entries that share a bucket, so the order is that of the final
//!   capacity, computed from every key of the raw object (keys the clean-up removes still
//!   counted when the map was built). A bucket of nine or more in a table of 64 or more becomes
//!   a tree in Java, whose order we do not model: no CloudTrail payload we know comes near it.
//! - **Clean-up** comes first: `null`, `""`, `"-"`, `"none"`, and maps or lists left empty are
//!   removed, bottom up (the pipeline's first clean-up pass).
//! - **Values**: strings verbatim (nothing escaped), booleans `true`/`false`, integers in
//!   decimal, other numbers as Java's `Double.toString` ([`java_double`]). An integer beyond 64
//!   bits reaches us as the nearest `f64` (the JSON reader does not keep its digits) and is
//!   written as a double: the one place this rendering can differ from Elastic's.

use crate::json::{Json, Number};

/// Java's `HashMap` default capacity.
const INITIAL_CAPACITY: usize = 16;
/// Below this capacity a crowded bucket doubles the table instead of becoming a tree.
const MIN_TREEIFY_CAPACITY: usize = 64;
/// Entries in one bucket that make Java treeify it (or resize, below 64).
const TREEIFY_ENTRIES: usize = 9;

/// Java's `String.hashCode()`: `h = 31 * h + unit` over UTF-16 code units, wrapping.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `HashMap.hash()`: the hash with its high half folded into the low half.
fn spread(hash: i32) -> usize {
    let h = hash as u32;
    (h ^ (h >> 16)) as usize
}

/// The capacity a `HashMap` has after `hashes` were put in, in order (distinct keys).
fn final_capacity(hashes: &[usize]) -> usize {
    let mut capacity = INITIAL_CAPACITY;
    let mut bucket_sizes = vec![0usize; capacity];
    for (size, hash) in (1..).zip(hashes) {
        let bucket = hash & (capacity - 1);
        bucket_sizes[bucket] += 1;
        let crowded = bucket_sizes[bucket] >= TREEIFY_ENTRIES && capacity < MIN_TREEIFY_CAPACITY;
        if crowded {
            capacity *= 2;
        }
        if size * 4 > capacity * 3 {
            capacity *= 2;
        }
        if bucket_sizes.len() != capacity {
            bucket_sizes = vec![0; capacity];
            for h in &hashes[..size] {
                bucket_sizes[h & (capacity - 1)] += 1;
            }
        }
    }
    capacity
}

/// The iteration order of a `HashMap` filled with `keys` in order: indexes into `keys` of the
/// distinct keys (a repeated key keeps its first place).
pub fn hashmap_order(keys: &[&str]) -> Vec<usize> {
    let mut distinct: Vec<usize> = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        if !distinct.iter().any(|&j| keys[j] == *key) {
            distinct.push(i);
        }
    }
    let hashes: Vec<usize> = distinct
        .iter()
        .map(|&i| spread(string_hash(keys[i])))
        .collect();
    let mask = final_capacity(&hashes) - 1;
    let mut order: Vec<(usize, usize)> = hashes
        .iter()
        .zip(&distinct)
        .map(|(h, &i)| (h & mask, i))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

/// Whether the pipeline's first clean-up pass removes this scalar.
pub fn is_removed_scalar(value: &Json<'_>) -> bool {
    match value {
        Json::Null => true,
        Json::String(s) => matches!(s.as_ref(), "" | "-" | "none"),
        _ => false,
    }
}

/// The string Elastic's pipeline makes of a payload value, or `None` when the clean-up removes
/// it (nothing is left).
pub fn render(value: &Json<'_>) -> Option<String> {
    let mut out = String::new();
    render_into(value, &mut out).then_some(out)
}

/// Appends the rendering of `value`; returns false (having appended nothing) when the clean-up
/// removes it.
fn render_into(value: &Json<'_>, out: &mut String) -> bool {
    if is_removed_scalar(value) {
        return false;
    }
    match value {
        Json::Object(members) => render_map(members, out),
        Json::Array(items) => render_list(items, out),
        Json::String(s) => {
            out.push_str(s);
            true
        }
        Json::Bool(b) => {
            out.push_str(if *b { "true" } else { "false" });
            true
        }
        Json::Number(n) => {
            out.push_str(&java_number(*n));
            true
        }
        Json::Null => false,
    }
}

fn render_map(members: &[(std::borrow::Cow<'_, str>, Json<'_>)], out: &mut String) -> bool {
    let keys: Vec<&str> = members.iter().map(|(k, _)| k.as_ref()).collect();
    let start = out.len();
    out.push('{');
    let mut written = 0;
    for index in hashmap_order(&keys) {
        let key = keys[index];
        // A repeated key keeps its first place and its last value (`put` replaces the value).
        let Some((_, value)) = members.iter().rev().find(|(k, _)| k == key) else {
            continue;
        };
        let mark = out.len();
        if written > 0 {
            out.push_str(", ");
        }
        out.push_str(key);
        out.push('=');
        if render_into(value, out) {
            written += 1;
        } else {
            out.truncate(mark);
        }
    }
    finish_group(out, start, written, '}')
}

fn render_list(items: &[Json<'_>], out: &mut String) -> bool {
    let start = out.len();
    out.push('[');
    let mut written = 0;
    for item in items {
        let mark = out.len();
        if written > 0 {
            out.push_str(", ");
        }
        if render_into(item, out) {
            written += 1;
        } else {
            out.truncate(mark);
        }
    }
    finish_group(out, start, written, ']')
}

/// Closes a map or list, or removes it when the clean-up left it empty.
fn finish_group(out: &mut String, start: usize, written: usize, close: char) -> bool {
    if written == 0 {
        out.truncate(start);
        return false;
    }
    out.push(close);
    true
}

/// A JSON number as Java prints the value Jackson made of it: integers in decimal, anything
/// else as a `double`.
pub fn java_number(n: Number) -> String {
    match n {
        Number::Unsigned(n) => n.to_string(),
        Number::Signed(n) => n.to_string(),
        Number::Float(f) => java_double(f),
    }
}

/// Java's `Double.toString` (JDK 19 and later, which Elasticsearch ships): the shortest digits
/// that round-trip, plain between 10⁻³ and 10⁷ (`45.0`, `0.001`), otherwise `d.dddE±n`
/// (`1.0E7`, `1.5E-4`); always a digit after the point.
pub fn java_double(value: f64) -> String {
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0"
        } else {
            "0.0"
        }
        .to_owned();
    }
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN"
        } else if value > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_owned();
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let (digits, exponent) = shortest_digits(value.abs());
    let magnitude = value.abs();
    let body = if (1e-3..1e7).contains(&magnitude) {
        plain_decimal(&digits, exponent)
    } else {
        let rest = if digits.len() > 1 { &digits[1..] } else { "0" };
        format!("{}.{rest}E{exponent}", &digits[..1])
    };
    format!("{sign}{body}")
}

/// The shortest round-trip digits of a positive finite `value` and its decimal exponent
/// (`value = d.ddd × 10^exponent`), from Rust's shortest `{:e}` formatting.
fn shortest_digits(value: f64) -> (String, i32) {
    let formatted = format!("{value:e}");
    let (mantissa, exponent) = formatted.split_once('e').unwrap_or((&formatted, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// `d.ddd × 10^exponent` written without an exponent, with at least one fraction digit.
fn plain_decimal(digits: &str, exponent: i32) -> String {
    if exponent < 0 {
        let zeros = "0".repeat(usize::try_from(-exponent - 1).unwrap_or(0));
        return format!("0.{zeros}{digits}");
    }
    let integer_digits = usize::try_from(exponent).unwrap_or(0) + 1;
    if digits.len() <= integer_digits {
        let zeros = "0".repeat(integer_digits - digits.len());
        return format!("{digits}{zeros}.0");
    }
    format!(
        "{}.{}",
        &digits[..integer_digits],
        &digits[integer_digits..]
    )
}

/// A string's length as Java counts it (UTF-16 units), which `ignore_above` limits compare.
pub fn java_length(s: &str) -> usize {
    s.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(json: &str) -> Option<String> {
        render(&Json::parse(json.as_bytes()).unwrap())
    }

    #[test]
    fn the_trust_anchor_request_renders_as_the_pipeline_test_expects() {
        let raw = r#"{"enabled":false,"name":"cloudtrail-test","source":{"sourceData":{"acmPcaArn":"arn:aws:acm-pca:us-east-1:000000000:certificate-authority/83dcb5a2-4214-4732-bbfb-64d769bfceb4"},"sourceType":"AWS_ACM_PCA"}}"#;
        assert_eq!(
            rendered(raw).unwrap(),
            "{name=cloudtrail-test, source={sourceType=AWS_ACM_PCA, sourceData={acmPcaArn=arn:aws:acm-pca:us-east-1:000000000:certificate-authority/83dcb5a2-4214-4732-bbfb-64d769bfceb4}}, enabled=false}"
        );
    }

    #[test]
    fn the_create_group_response_renders_in_hash_order() {
        let raw = r#"{"group":{"createDate":"Jan 9, 2020 1:48:44 AM","path":"/","arn":"arn:aws:iam::0123456789012:group/TEST-GROUP","groupName":"TEST-GROUP","groupId":"EXAMPLE_ID"}}"#;
        assert_eq!(
            rendered(raw).unwrap(),
            "{group={path=/, groupName=TEST-GROUP, groupId=EXAMPLE_ID, arn=arn:aws:iam::0123456789012:group/TEST-GROUP, createDate=Jan 9, 2020 1:48:44 AM}}"
        );
    }

    #[test]
    fn the_db_instance_request_renders_in_hash_order() {
        let raw = r#"{"allocatedStorage":20,"dBInstanceClass":"db.t3.micro","dBInstanceIdentifier":"test-cloudtrail-event-instance-14340","engine":"mysql","masterUserPassword":"HIDDEN_DUE_TO_SECURITY_REASONS","masterUsername":"admin"}"#;
        assert_eq!(
            rendered(raw).unwrap(),
            "{dBInstanceIdentifier=test-cloudtrail-event-instance-14340, masterUsername=admin, allocatedStorage=20, engine=mysql, dBInstanceClass=db.t3.micro, masterUserPassword=HIDDEN_DUE_TO_SECURITY_REASONS}"
        );
    }

    #[test]
    fn the_clean_up_removes_placeholders_and_what_they_leave_empty() {
        assert_eq!(
            rendered(r#"{"a":null,"b":"","c":"-","d":"none","e":[],"f":{}}"#),
            None
        );
        assert_eq!(
            rendered(r#"{"a":[null,"x",{"b":"none"}],"c":"None"}"#).unwrap(),
            "{a=[x], c=None}"
        );
        assert_eq!(rendered(r#""text""#).unwrap(), "text");
    }

    #[test]
    fn a_repeated_key_keeps_its_place_and_its_last_value() {
        assert_eq!(rendered(r#"{"b":1,"a":2,"b":3}"#).unwrap(), "{a=2, b=3}");
    }

    #[test]
    fn capacity_follows_every_raw_key_and_crowded_buckets() {
        // 13 keys exceed 0.75 × 16: the map has 32 buckets.
        let keys: Vec<String> = (0..13).map(|i| format!("k{i}")).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let hashes: Vec<usize> = refs.iter().map(|k| spread(string_hash(k))).collect();
        assert_eq!(final_capacity(&hashes[..12]), 16);
        assert_eq!(final_capacity(&hashes), 32);
        // Nine keys in one bucket of a 16-bucket table double it.
        let crowded: Vec<usize> = (0..9).map(|i| i * 16).collect();
        assert_eq!(final_capacity(&crowded), 32);
    }

    #[test]
    fn java_hash_codes() {
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("groupName"), -1_483_174_486);
        assert_eq!(string_hash("\u{1F600}"), 1_772_899); // two UTF-16 units
    }

    #[test]
    fn doubles_print_as_java_prints_them() {
        let cases = [
            (45.0, "45.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (1.0e7, "1.0E7"),
            (1.5e-4, "1.5E-4"),
            (123_456.789, "123456.789"),
            (9_999_999.0, "9999999.0"),
            (-2.5, "-2.5"),
            (0.0, "0.0"),
            (1.0e-300, "1.0E-300"),
            (1.234_5e20, "1.2345E20"),
            (0.1, "0.1"),
        ];
        for (value, java) in cases {
            assert_eq!(java_double(value), java, "{value}");
        }
    }
}
