//! A borrowed JSON tree for candidate records.
//!
//! Only records that survive the prefilter are parsed, so this tree is built for the slow path:
//! strings borrow from the input whenever they contain no escapes, objects keep their members in
//! document order (duplicates included) so that later front ends can reproduce order-sensitive
//! renderings, and lookups follow JSON's usual "last duplicate wins" rule, the same choice
//! `serde_json::Value` and JavaScript make.
//!
//! Parsing goes through `serde_json`, which enforces its recursion limit (128 levels): a record
//! nested deeper is reported as unparseable instead of exhausting the stack.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// One JSON value, borrowing from the record's bytes where it can.
#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// Any number; see [`Number`].
    Number(Number),
    /// A string, decoded (escapes resolved).
    String(Cow<'a, str>),
    /// An array, in order.
    Array(Vec<Json<'a>>),
    /// An object: members in document order, duplicates kept.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// A JSON number as `serde_json` reports it: integers exactly when they fit in 64 bits, and
/// everything else (fractions, exponents, integers beyond 64 bits) as the nearest `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A non-negative integer that fits in `u64`.
    Unsigned(u64),
    /// A negative integer that fits in `i64`.
    Signed(i64),
    /// Anything else, rounded to the nearest `f64`.
    Float(f64),
}

impl Number {
    /// The value as an `f64`, for numeric comparison across representations.
    #[expect(
        clippy::cast_precision_loss,
        reason = "comparison across integer and float forms"
    )]
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Unsigned(n) => n as f64,
            Number::Signed(n) => n as f64,
            Number::Float(f) => f,
        }
    }

    /// Exact equality where both sides are integers, numeric equality otherwise.
    pub fn equals(self, other: Number) -> bool {
        match (self, other) {
            (Number::Unsigned(a), Number::Unsigned(b)) => a == b,
            (Number::Signed(a), Number::Signed(b)) => a == b,
            (Number::Unsigned(_), Number::Signed(_)) | (Number::Signed(_), Number::Unsigned(_)) => {
                false
            }
            (a, b) => a.as_f64() == b.as_f64(),
        }
    }
}

impl<'a> Json<'a> {
    /// Parses one complete JSON document (trailing whitespace allowed, nothing else).
    ///
    /// Text that is valid UTF-8 (nearly every record) is validated once, in one pass over the
    /// whole record, and then parsed as `str`, so that `serde_json` does not validate each string
    /// again; anything else is parsed as bytes, which gives `serde_json`'s own error, at its
    /// position, exactly as before.
    pub fn parse(bytes: &'a [u8]) -> Result<Json<'a>, serde_json::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse_from(serde_json::Deserializer::from_str(text)),
            Err(_) => Self::parse_from(serde_json::Deserializer::from_slice(bytes)),
        }
    }

    fn parse_from<R: serde_json::de::Read<'a>>(
        mut de: serde_json::Deserializer<R>,
    ) -> Result<Json<'a>, serde_json::Error> {
        let value = Json::deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }

    /// The member `key` of an object (the last one if the key is duplicated).
    ///
    /// Keys are told apart by length and first byte before they are compared whole: in the
    /// module `memcmp` is a byte loop, and a record's keys of one length rarely share their
    /// first byte.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        let Json::Object(members) = self else {
            return None;
        };
        let (len, first) = (key.len(), key.as_bytes().first());
        members
            .iter()
            .rev()
            .find(|(k, _)| k.len() == len && k.as_bytes().first() == first && k == key)
            .map(|(_, v)| v)
    }

    /// Follows `segments` through nested objects only: arrays are not traversed.
    pub fn lookup<'p>(&self, segments: impl IntoIterator<Item = &'p str>) -> Option<&Json<'a>> {
        segments
            .into_iter()
            .try_fold(self, |node, key| node.get(key))
    }

    /// The decoded string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// True for `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    /// Compact JSON text of this value (object members in document order).
    ///
    /// The same bytes as `serde_json` writes for the value; strings and keys go through
    /// [`write_json_string`], the rest through `serde_json`.
    pub fn to_json_bytes(&self, out: &mut Vec<u8>) {
        self.write_compact(&write_json_string, out);
    }

    /// Compact JSON text of this value, every string and key written by `write_string` (a
    /// writer other than `serde_json`'s: Fluent Bit's encoder, `crate::output::fluent_bit`),
    /// numbers, booleans and `null` by `serde_json`.
    pub fn write_compact(&self, write_string: &impl Fn(&str, &mut Vec<u8>), out: &mut Vec<u8>) {
        match self {
            Json::String(s) => write_string(s, out),
            Json::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.write_compact(write_string, out);
                }
                out.push(b']');
            }
            Json::Object(members) => {
                out.push(b'{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(key, out);
                    out.push(b':');
                    value.write_compact(write_string, out);
                }
                out.push(b'}');
            }
            // Writing a scalar into a Vec cannot fail.
            scalar => {
                let _ = serde_json::to_writer(out, scalar);
            }
        }
    }
}

/// Writes `s` as a JSON string, byte for byte as `serde_json` does.
///
/// `serde_json` escapes exactly the control characters, `"` and `\`, and tests each byte
/// against a table as it copies; in the module that is a byte loop, and it was 5 % of the
/// module's time with the 222 users' rules, writing the context values of tagged records (a
/// CloudTrail user agent runs to hundreds of bytes). Almost no value has a byte to escape, so
/// one pass that can be vectorised (no early exit) decides, and such a string is copied whole
/// between quotes; any other goes to `serde_json`.
pub fn write_json_string(s: &str, out: &mut Vec<u8>) {
    let needs_escape = s.as_bytes().iter().fold(false, |any, &b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        // Serialising a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(out, s);
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Json::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Json::Bool(b))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Json::Number(Number::Unsigned(n)))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Json::Number(if n >= 0 {
            Number::Unsigned(n.unsigned_abs())
        } else {
            Number::Signed(n)
        }))
    }

    fn visit_f64<E>(self, f: f64) -> Result<Self::Value, E> {
        Ok(Json::Number(Number::Float(f)))
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Borrowed(s)))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(Json::String(Cow::Owned(s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Json::Object(members))
    }
}

/// An object key that borrows when the input allows it (`Cow<str>` alone always allocates).
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Json::Null => serializer.serialize_unit(),
            Json::Bool(b) => serializer.serialize_bool(*b),
            Json::Number(Number::Unsigned(n)) => serializer.serialize_u64(*n),
            Json::Number(Number::Signed(n)) => serializer.serialize_i64(*n),
            Json::Number(Number::Float(f)) => serializer.serialize_f64(*f),
            Json::String(s) => serializer.serialize_str(s),
            Json::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Json::Object(members) => {
                let mut map = serializer.serialize_map(Some(members.len()))?;
                for (key, value) in members {
                    map.serialize_entry(key.as_ref(), value)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_without_escapes_borrow_from_the_input() {
        let doc = Json::parse(br#"{"eventName":"CreateGroup","x":"a\"b"}"#).unwrap();
        assert!(matches!(
            doc.get("eventName"),
            Some(Json::String(Cow::Borrowed("CreateGroup")))
        ));
        assert!(matches!(doc.get("x"), Some(Json::String(Cow::Owned(s))) if s == "a\"b"));
    }

    #[test]
    fn escaped_keys_and_values_are_decoded() {
        let doc = Json::parse(br#"{"event\u004eame":"Create\u0047roup"}"#).unwrap();
        assert_eq!(
            doc.get("eventName").and_then(Json::as_str),
            Some("CreateGroup")
        );
    }

    #[test]
    fn the_last_duplicate_key_wins_and_all_are_kept() {
        let doc = Json::parse(br#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(doc.get("a"), Some(&Json::Number(Number::Unsigned(2))));
        let Json::Object(members) = &doc else {
            panic!("object expected")
        };
        assert_eq!(members.len(), 2);
    }

    #[test]
    fn lookup_descends_objects_but_not_arrays() {
        let doc = Json::parse(br#"{"a":{"b":[{"c":1}]}}"#).unwrap();
        assert!(doc.lookup(["a", "b"]).is_some());
        assert!(doc.lookup(["a", "b", "c"]).is_none());
    }

    #[test]
    fn numbers_keep_integer_exactness_and_big_ones_become_floats() {
        let doc = Json::parse(
            b"[18446744073709551615,-9223372036854775808,1e400,123456789012345678901234567890]",
        );
        // 1e400 overflows f64: serde_json rejects it rather than producing infinity.
        assert!(doc.is_err());
        let doc =
            Json::parse(b"[18446744073709551615,-3,1.5,123456789012345678901234567890]").unwrap();
        let Json::Array(items) = doc else {
            panic!("array expected")
        };
        assert_eq!(items[0], Json::Number(Number::Unsigned(u64::MAX)));
        assert_eq!(items[1], Json::Number(Number::Signed(-3)));
        assert_eq!(items[2], Json::Number(Number::Float(1.5)));
        assert!(matches!(items[3], Json::Number(Number::Float(_))));
    }

    #[test]
    fn invalid_utf8_gives_serde_jsons_own_error_at_its_position() {
        let bytes = b"{\"a\":\"ok\",\"b\":\"\xff\"}";
        let ours = Json::parse(bytes).unwrap_err().to_string();
        let theirs = serde_json::from_slice::<serde_json::Value>(bytes)
            .unwrap_err()
            .to_string();
        assert_eq!(ours, theirs);
        // Valid text goes the `str` way and gives the same tree as the byte parser would.
        let text = br#"{"k":"caf\u00e9","n":[1,-2,0.5],"e":"\"q\""}"#;
        let mut via_str = Vec::new();
        Json::parse(text).unwrap().to_json_bytes(&mut via_str);
        let via_serde = serde_json::from_slice::<serde_json::Value>(text).unwrap();
        let reread: serde_json::Value = serde_json::from_slice(&via_str).unwrap();
        assert_eq!(reread, via_serde);
    }

    #[test]
    fn trailing_garbage_and_deep_nesting_are_errors() {
        assert!(Json::parse(b"{} x").is_err());
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(Json::parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn serialisation_round_trips_in_document_order() {
        let text = r#"{"b":1,"a":[true,null,"x\ny"],"b":-2,"f":0.25}"#;
        let mut out = Vec::new();
        Json::parse(text.as_bytes())
            .unwrap()
            .to_json_bytes(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }

    /// The quick string writer gives `serde_json`'s bytes for any string: one of every byte
    /// that needs an escape, non-ASCII text, and arbitrary strings.
    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let mut cases: Vec<String> = (0u8..0x80).map(|b| format!("ab{}cd", b as char)).collect();
        cases.extend(["", "é€😀", "\u{7f}", "plain text"].map(String::from));
        for case in cases {
            let mut out = Vec::new();
            write_json_string(&case, &mut out);
            assert_eq!(out, serde_json::to_vec(&case).unwrap(), "{case:?}");
        }
    }

    proptest::proptest! {
            #[test]
            fn any_string_is_written_as_serde_json_writes_it(s in "\\PC*|[\\x00-\\x7f]*") {
                let mut out = Vec::new();
                write_json_string(&s, &mut out);
                proptest::prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
            }

            /// A parsed value is written as `serde_json` writes it (the parse itself may round a
        /// float's last digit, as it always did: that is the parse's, not the writer's).
        #[test]
        fn any_value_is_written_as_serde_json_writes_it(value in json_value()) {
            let text = serde_json::to_string(&value).unwrap();
            let parsed = Json::parse(text.as_bytes()).unwrap();
            let mut out = Vec::new();
            parsed.to_json_bytes(&mut out);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&parsed).unwrap());
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<u64>().prop_map(|n| serde_json::json!(n)),
            (-1e300f64..1e300).prop_map(|f| serde_json::json!(f)),
            "\\PC*|[\\x00-\\x7f]*".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::vec(("\\PC*|[\\x00-\\x7f]*", inner), 0..6)
                    .prop_map(|members| serde_json::Value::Object(members.into_iter().collect())),
            ]
        })
    }
}
