//! Taking a record out of its slot, and writing a tagged record back the same way.
//!
//! A slot's content is decoded once ([`Opened::decode`]): a JSON string unescaped, base64
//! decoded and, when the bytes are a gzip member (CloudWatch Logs payloads), decompressed.
//! Whitespace and a byte-order mark around the document are kept aside, so that writing back
//! ([`Opened::encode`]) restores them: a Docker `log` keeps its trailing newline, a Firehose
//! record its own. A slot whose record is unchanged is never re-encoded: the driver copies the
//! original bytes, so escaping style and compression are the producer's unless a tag is added.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::ops::Range;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::{Encoding, Slot};
use crate::json::write_json_string;

/// A compressed slot may grow to at most this many bytes once decompressed (a gzip bomb is an
/// envelope that cannot be opened, not an allocation without end).
pub const MAX_UNPACKED: usize = 64 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Base64 as AWS writes it, read with or without padding.
const BASE64_READER: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A slot's content, decoded.
#[derive(Debug)]
pub struct Opened<'d> {
    content: Cow<'d, [u8]>,
    document: Range<usize>,
    gzip: bool,
    encoding: Encoding,
}

impl<'d> Opened<'d> {
    /// Decodes the content of `slot` in `doc`, or says why it cannot be opened.
    pub fn decode(doc: &'d [u8], slot: &Slot) -> Result<Self, String> {
        let raw = doc
            .get(slot.span.clone())
            .ok_or_else(|| "a slot past the end of the document".to_owned())?;
        let (content, gzip) = match slot.encoding {
            Encoding::Json => (Cow::Borrowed(raw), false),
            Encoding::JsonString => (Cow::Owned(unescape(raw)?.into_bytes()), false),
            Encoding::Base64 => {
                let decoded = BASE64_READER
                    .decode(unescape(raw)?)
                    .map_err(|e| format!("base64 that cannot be decoded: {e}"))?;
                match decoded.starts_with(&GZIP_MAGIC) {
                    true => (Cow::Owned(gunzip(&decoded)?), true),
                    false => (Cow::Owned(decoded), false),
                }
            }
        };
        let document = trimmed(&content);
        Ok(Self {
            content,
            document,
            gzip,
            encoding: slot.encoding,
        })
    }

    /// The document in the slot, without the whitespace around it.
    pub fn document(&self) -> &[u8] {
        &self.content[self.document.clone()]
    }

    /// Writes the slot's new value to `out`: `document` in place of the old one, encoded as the
    /// slot was.
    pub fn encode(&self, document: &[u8], out: &mut Vec<u8>) {
        if self.encoding == Encoding::Json {
            out.extend_from_slice(document);
            return;
        }
        let mut content = Vec::with_capacity(self.content.len() + document.len());
        content.extend_from_slice(&self.content[..self.document.start]);
        content.extend_from_slice(document);
        content.extend_from_slice(&self.content[self.document.end..]);
        match self.encoding {
            Encoding::JsonString => write_json_string(&String::from_utf8_lossy(&content), out),
            _ => {
                let bytes = if self.gzip { gzip(&content) } else { content };
                out.push(b'"');
                out.extend_from_slice(STANDARD.encode(bytes).as_bytes());
                out.push(b'"');
            }
        }
    }
}

fn unescape(string: &[u8]) -> Result<String, String> {
    serde_json::from_slice(string).map_err(|e| format!("a string that cannot be read: {e}"))
}

fn gunzip(compressed: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let limit = u64::try_from(MAX_UNPACKED).unwrap_or(u64::MAX) + 1;
    MultiGzDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip that cannot be decompressed: {e}"))?;
    if out.len() > MAX_UNPACKED {
        return Err(format!(
            "gzip that decompresses to more than {} MiB",
            MAX_UNPACKED >> 20
        ));
    }
    Ok(out)
}

fn gzip(content: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(content);
    encoder.finish().unwrap_or_default()
}

/// The range of `content` without leading whitespace or byte-order mark, or trailing
/// whitespace.
fn trimmed(content: &[u8]) -> Range<usize> {
    let is_ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut start = 0;
    loop {
        if content[start..].starts_with(UTF8_BOM) {
            start += UTF8_BOM.len();
        } else if content.get(start).is_some_and(is_ws) {
            start += 1;
        } else {
            break;
        }
    }
    let end = content[start..]
        .iter()
        .rposition(|b| !is_ws(b))
        .map_or(start, |i| start + i + 1);
    start..end
}
