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
