//! The wrapper Fluent Bit's filter ABI needs for a record it cannot return as it is.
//!
//! Fluent Bit expects one JSON object back for every record, and invalid text can crash it, so
//! a record the engine cannot read is returned wrapped, members in this order:
//! `{"trailtag":{"version":1,"error":"<why>","original":"<the record as a JSON string>"}}`, with
//! `"original_base64"` instead of `"original"` when the record is not UTF-8.

use base64::Engine as _;
use serde::Serialize;

use super::trailtag::TAG_SCHEMA_VERSION;

#[derive(Serialize)]
struct Wrapper<'a> {
    trailtag: WrapperTag<'a>,
}

#[derive(Serialize)]
struct WrapperTag<'a> {
    version: u32,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    original: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_base64: Option<String>,
}

/// Appends the wrapper for `record`, unreadable because of `error`.
pub fn write_wrapped(error: &str, record: &[u8], out: &mut Vec<u8>) {
    let text = std::str::from_utf8(record).ok();
    let tag = WrapperTag {
        version: TAG_SCHEMA_VERSION,
        error,
        original: text,
        original_base64: text
            .is_none()
            .then(|| base64::engine::general_purpose::STANDARD.encode(record)),
    };
    // Serialising plain strings into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &Wrapper { trailtag: tag });
}

/// `record` as Fluent Bit hands it to a filter after its JSON parser read it: members in
/// document order (duplicates kept, as msgpack maps keep them), compact, and every string
/// written as `flb_utils_write_str` writes it: `"`, `\` and the control characters escaped
/// (`\n`, `\r`, `\t`, `\b`, `\f`, else `\u00xx`), DEL as `\u007f`, every non-ASCII character as
/// `\uXXXX` (UTF-16 pairs beyond the BMP) with `escape_unicode` (Fluent Bit's
/// `json.escape_unicode`, on by default) or as UTF-8 without, every printable ASCII character as
/// it is. Numbers are written as JSON numbers of the same value
/// (Fluent Bit's own float formatting is not reproduced). `None` when `record` is not a JSON
/// object, which Fluent Bit's JSON parser would not turn into a record either.
///
/// Hosts that stand in for Fluent Bit (`trailtag tag --abi fluent-bit`, the conformance tests)
/// hand records over this way, because the filter relies on it: `crate::scan::skip`.
pub fn as_fluent_bit_writes_it(record: &[u8], escape_unicode: bool) -> Option<Vec<u8>> {
    let value = crate::json::Json::parse(record).ok()?;
    if !matches!(value, crate::json::Json::Object(_)) {
        return None;
    }
    let mut out = Vec::with_capacity(record.len() + 16);
    value.write_compact(&|s, out| write_string(s, escape_unicode, out), &mut out);
    Some(out)
}

fn write_string(s: &str, escape_unicode: bool, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c as u8),
            c if !c.is_ascii() && !escape_unicode => {
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
            }
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
                }
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_fluent_bit_writes_it() {
        let record = br#"{ "b" : "a\u0062c\/d", "a":[1, -2, 1.5, true, null], "b":"\u00e9\ud83d\ude00\t\u007f" }"#;
        assert_eq!(
            as_fluent_bit_writes_it(record, true).unwrap(),
            br#"{"b":"abc/d","a":[1,-2,1.5,true,null],"b":"\u00e9\ud83d\ude00\t\u007f"}"#
        );
        assert_eq!(
            as_fluent_bit_writes_it(br#"{"a":"\u00e9"}"#, false).unwrap(),
            "{\"a\":\"\u{e9}\"}".as_bytes()
        );
        assert_eq!(as_fluent_bit_writes_it(b"[1]", true), None);
        assert_eq!(as_fluent_bit_writes_it(b"{\"a\":", true), None);
    }
}
