//! The cheap scan that decides, without parsing, which rules a record could match.
//!
//! Most CloudTrail records match no rule, so the engine's cost is the cost of saying "no" to
//! them. Each rule is indexed by one necessary condition it pins (see `Expr::pins`), preferably
//! on `eventName`, the most selective CloudTrail field, else on `eventSource`, else on any other
//! top-level key. For every pinned key the scan finds each occurrence of the bytes `"key"` with
//! `memchr::memmem`, reads the string after the colon, and looks it up in that key's value table.
//! Only rules found this way, plus rules that pin nothing, are candidates; a record without
//! candidates is passed through unparsed.
//!
//! The scan is exact in the only direction that matters: it never misses a rule the full
//! evaluation would match (a property test holds it to that, `tests/fast_path.rs`).
//! - Occurrences that are not the top-level key (a nested `additionalEventData.eventName`) only
//!   add candidates; the parse then decides.
//! - A key can be disguised only by a `\uXXXX` escape (pinned keys are restricted to characters
//!   no shorter escape produces), so a record containing the bytes `\u` makes every pinned rule
//!   a candidate.
//! - A value that contains an escape, is not a string, or is not terminated makes every rule
//!   pinned on that key a candidate.

use std::collections::HashMap;

use memchr::memmem::Finder;

use crate::condition::Pin;
use crate::scan::skip_ws;

/// Keys preferred for indexing, most selective first.
const PREFERRED_KEYS: [&str; 2] = ["eventName", "eventSource"];

/// The compiled index over all rules.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    scans: Vec<KeyScan>,
    always: Vec<u32>,
    pinned: Vec<u32>,
    escape: Finder<'static>,
}

#[derive(Debug, Clone)]
struct KeyScan {
    key: String,
    quoted_key: Finder<'static>,
    by_value: HashMap<Box<[u8]>, Vec<u32>>,
    rules: Vec<u32>,
}

impl Prefilter {
    /// Builds the index from each rule's pins (rule index = position in `pins_per_rule`).
    pub fn new(pins_per_rule: &[Vec<Pin>]) -> Self {
        let mut scans: Vec<KeyScan> = Vec::new();
        let mut always = Vec::new();
        let mut pinned = Vec::new();
        for (index, pins) in (0u32..).zip(pins_per_rule) {
            let Some(pin) = choose_pin(pins) else {
                always.push(index);
                continue;
            };
            pinned.push(index);
            let scan = match scans.iter().position(|s| s.key == pin.key) {
                Some(i) => i,
                None => {
                    scans.push(KeyScan::new(&pin.key));
                    scans.len() - 1
                }
            };
            scans[scan].add(index, &pin.values);
        }
        Self {
            scans,
            always,
            pinned,
            escape: Finder::new(b"\\u").into_owned(),
        }
    }

    /// Fills `out` with the indexes of the rules `record` could match, sorted, without repeats.
    pub fn candidates(&self, record: &[u8], out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.always);
        for scan in &self.scans {
            scan.collect(record, out);
        }
        if !self.pinned.is_empty() && self.escape.find(record).is_some() {
            out.extend_from_slice(&self.pinned);
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

/// The pin to index a rule by, or `None` if no pin is usable.
fn choose_pin(pins: &[Pin]) -> Option<&Pin> {
    let usable = || {
        pins.iter()
            .filter(|p| is_scannable_key(&p.key) && !p.values.is_empty())
    };
    PREFERRED_KEYS
        .iter()
        .find_map(|key| usable().find(|p| p.key == *key))
        .or_else(|| usable().min_by_key(|p| p.values.len()))
}

/// Keys made of characters that only a `\u` escape can disguise.
fn is_scannable_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

impl KeyScan {
    fn new(key: &str) -> Self {
        let quoted = format!("\"{key}\"");
        Self {
            key: key.to_owned(),
            quoted_key: Finder::new(quoted.as_bytes()).into_owned(),
            by_value: HashMap::new(),
            rules: Vec::new(),
        }
    }

    fn add(&mut self, rule: u32, values: &[String]) {
        self.rules.push(rule);
        for value in values {
            let rules = self.by_value.entry(value.as_bytes().into()).or_default();
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
    }

    fn collect(&self, record: &[u8], out: &mut Vec<u32>) {
        let needle_len = self.quoted_key.needle().len();
        for found in self.quoted_key.find_iter(record) {
            match string_value_after_key(record, found + needle_len) {
                ValueAfterKey::NotAMember => {}
                ValueAfterKey::Plain(value) => {
                    if let Some(rules) = self.by_value.get(value) {
                        out.extend_from_slice(rules);
                    }
                }
                ValueAfterKey::Unclear => {
                    out.extend_from_slice(&self.rules);
                    return;
                }
            }
        }
    }
}

enum ValueAfterKey<'r> {
    /// The quoted key was not followed by a colon: a string value that happens to equal the key.
    NotAMember,
    /// A string value without escapes: its raw bytes are its decoded text.
    Plain(&'r [u8]),
    /// Anything the cheap scan will not judge (escapes, other types, truncation).
    Unclear,
}

fn string_value_after_key(record: &[u8], after_key: usize) -> ValueAfterKey<'_> {
    let colon = skip_ws(record, after_key);
    if record.get(colon) != Some(&b':') {
        return ValueAfterKey::NotAMember;
    }
    let quote = skip_ws(record, colon + 1);
    if record.get(quote) != Some(&b'"') {
        return ValueAfterKey::Unclear;
    }
    let start = quote + 1;
    match memchr::memchr2(b'"', b'\\', &record[start..]) {
        Some(len) if record[start + len] == b'"' => {
            ValueAfterKey::Plain(&record[start..start + len])
        }
        _ => ValueAfterKey::Unclear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(key: &str, values: &[&str]) -> Pin {
        Pin {
            key: key.into(),
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn filter() -> Prefilter {
        Prefilter::new(&[
            vec![
                pin("eventSource", &["ra"]),
                pin("eventName", &["CreateProfile"]),
            ],
            vec![pin("eventSource", &["ra"])],
            vec![],
            vec![pin("weird key", &["x"])],
        ])
    }

    fn candidates(record: &str) -> Vec<u32> {
        let mut out = Vec::new();
        filter().candidates(record.as_bytes(), &mut out);
        out
    }

    #[test]
    fn rules_without_usable_pins_are_always_candidates() {
        assert_eq!(
            candidates(r#"{"eventSource":"s3","eventName":"GetObject"}"#),
            [2, 3]
        );
    }

    #[test]
    fn pinned_values_select_their_rules() {
        assert_eq!(
            candidates(r#"{"eventSource":"ra","eventName":"CreateProfile"}"#),
            [0, 1, 2, 3]
        );
        assert_eq!(
            candidates(r#"{"eventSource" : "ra","eventName":"ListProfiles"}"#),
            [1, 2, 3]
        );
        assert_eq!(
            candidates(r#"{"x":{"eventName":"CreateProfile"}}"#),
            [0, 2, 3]
        );
    }

    #[test]
    fn anything_unclear_is_a_candidate() {
        assert_eq!(
            candidates(r#"{"event\u004eame":"CreateProfile"}"#),
            [0, 1, 2, 3]
        );
        assert_eq!(candidates(r#"{"eventName":"Create\"Profile"}"#), [0, 2, 3]);
        assert_eq!(candidates(r#"{"eventName":["CreateProfile"]}"#), [0, 2, 3]);
        assert_eq!(candidates(r#"{"eventName":"CreateProf"#), [0, 2, 3]);
        assert_eq!(candidates(r#"{"a":"eventName","b":"x"}"#), [2, 3]);
    }
}
