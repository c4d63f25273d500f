//! Byte-level helpers for JSON text that is already known to be valid.
//!
//! The tagger only rewrites records it has parsed successfully, so these helpers can be simple:
//! they find spans, they never judge validity. Nesting is tracked with a counter, not recursion.

/// Index of the first non-whitespace byte at or after `i` (JSON whitespace only).
pub fn skip_ws(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// `i` is at an opening quote; returns the index just past the closing quote.
pub fn skip_string(bytes: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while let Some(offset) = memchr::memchr2(b'"', b'\\', &bytes[j.min(bytes.len())..]) {
        j += offset;
        if bytes[j] == b'\\' {
            j += 2;
        } else {
            return j + 1;
        }
    }
    bytes.len()
}

/// `i` is at the start of a value; returns the index just past its end.
pub fn skip_value(bytes: &[u8], i: usize) -> usize {
    match bytes.get(i) {
        Some(b'"') => skip_string(bytes, i),
        Some(b'{' | b'[') => skip_container(bytes, i),
        _ => {
            let mut j = i;
            while j < bytes.len()
                && !matches!(bytes[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
    }
}

fn skip_container(bytes: &[u8], i: usize) -> usize {
    let mut depth = 0usize;
    let mut j = i;
    while j < bytes.len() {
        match bytes[j] {
            b'"' => {
                j = skip_string(bytes, j);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                // A stray closer where a value was expected ends that value (garbage in).
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    bytes.len()
}

/// A top-level member of an object: where its key starts and where its value ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberSpan {
    /// Index of the key's opening quote.
    pub start: usize,
    /// Index just past the key's closing quote.
    pub key_end: usize,
    /// Index just past the value.
    pub end: usize,
}

/// The members of the object that starts at the first non-whitespace byte of `bytes`.
pub fn object_members(bytes: &[u8]) -> Vec<MemberSpan> {
    let mut members = Vec::new();
    let mut i = skip_ws(bytes, 0) + 1; // past `{`
    loop {
        i = skip_ws(bytes, i);
        if bytes.get(i) != Some(&b'"') {
            return members;
        }
        let start = i;
        let key_end = skip_string(bytes, i);
        let colon = skip_ws(bytes, key_end);
        let value_start = skip_ws(bytes, colon + 1);
        let end = skip_value(bytes, value_start);
        members.push(MemberSpan {
            start,
            key_end,
            end,
        });
        i = skip_ws(bytes, end);
        if bytes.get(i) != Some(&b',') {
            return members;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_of_an_object_with_nesting_and_escapes() {
        let text = br#" { "a" : {"x":[1,"]}"]} , "b\"c":"v\\", "d":true } "#;
        let spans = object_members(text);
        let keys: Vec<&[u8]> = spans.iter().map(|m| &text[m.start..m.key_end]).collect();
        assert_eq!(keys, [&br#""a""#[..], br#""b\"c""#, br#""d""#]);
        let values: Vec<&[u8]> = spans.iter().map(|m| &text[m.key_end..m.end]).collect();
        assert_eq!(
            values,
            [&br#" : {"x":[1,"]}"]}"#[..], br#":"v\\""#, br#":true"#]
        );
    }

    #[test]
    fn empty_object_has_no_members() {
        assert!(object_members(b"{ }").is_empty());
    }
}
