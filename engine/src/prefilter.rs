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
//! - A key can be disguised only by a `\uXXXX` escape of an ASCII character, `\u0000` to
//!   `\u007F` (pinned keys are restricted to ASCII characters no shorter escape produces), so a
//!   record containing `\u00` followed by `0`-`7` makes every pinned rule a candidate. Escapes of
//!   other characters cannot disguise a key; Fluent Bit writes every non-ASCII character that
//!   way, and such records would otherwise all be parsed.
//! - A value that contains an escape, is not a string, or is not terminated makes every rule
//!   pinned on that key a candidate.
//!
//! Two scanners find the occurrences, and a property test holds them to the same answer
//! (this module's tests). Where SIMD is available (native code, WebAssembly with `simd128`)
//! `memchr::memmem` makes one pass for the prefix the pinned keys share (`"event`; one pass per
//! key when they share none), one `memchr` for a backslash and, only if there is one, a pass for
//! `\u00`; each pass runs at several GB/s.
//! Without SIMD (the portable module Fluent Bit's interpreter runs) those passes crawl, so
//! [`scan_words`] makes a single pass eight bytes at a time, marking every `"` followed by the
//! first byte of a pinned key, and every backslash; only records with a backslash get the extra
//! `\u00` pass. It is hand-written because no library finds several needles and a byte class in
//! one pass without SIMD.

use std::collections::HashMap;

use memchr::memmem::Finder;

use crate::condition::Pin;
use crate::scan::skip_ws;

/// The word scanner handles up to this many distinct first bytes of pinned keys.
const MAX_WORD_SCAN_FIRST_BYTES: usize = 3;

/// Keys preferred for indexing, most selective first.
const PREFERRED_KEYS: [&str; 2] = ["eventName", "eventSource"];

/// The compiled index over all rules.
#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    scans: Vec<KeyScan>,
    always: Vec<u32>,
    pinned: Vec<u32>,
    escape: Finder<'static>,
    /// Distinct first bytes of the pinned keys, broadcast to every byte of a word.
    first_bytes: Vec<u64>,
    /// `"` and the prefix every pinned key shares (`"event` for `eventName` and `eventSource`),
    /// when there are several keys and the prefix is long enough to be rare: one pass finds them all.
    shared_prefix: Option<Finder<'static>>,
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
        let mut first_bytes: Vec<u64> = scans
            .iter()
            .filter_map(|s| s.key.bytes().next())
            .map(broadcast)
            .collect();
        first_bytes.sort_unstable();
        first_bytes.dedup();
        let shared_prefix = shared_prefix(&scans);
        Self {
            scans,
            always,
            pinned,
            escape: Finder::new(b"\\u00").into_owned(),
            first_bytes,
            shared_prefix,
        }
    }

    /// Fills `out` with the indexes of the rules `record` could match, sorted, without repeats.
    pub fn candidates(&self, record: &[u8], out: &mut Vec<u32>) {
        if cfg!(all(target_family = "wasm", not(target_feature = "simd128"))) {
            self.candidates_by_words(record, out);
        } else {
            self.candidates_by_memmem(record, out);
        }
    }

    /// `memchr::memmem`: one pass for the keys' shared prefix (or one per key), one `memchr`
    /// for a backslash, and the `\u00` pass only when there is one.
    pub fn candidates_by_memmem(&self, record: &[u8], out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(&self.always);
        match &self.shared_prefix {
            Some(prefix) if self.scans.len() <= 64 => {
                let mut unclear = 0u64;
                for quote in prefix.find_iter(record) {
                    self.collect_key_at(record, quote, &mut unclear, out);
                }
            }
            _ => self.scans.iter().for_each(|scan| scan.collect(record, out)),
        }
        if !self.pinned.is_empty()
            && memchr::memchr(b'\\', record).is_some()
            && self.has_ascii_escape(record)
        {
            out.extend_from_slice(&self.pinned);
        }
        sort_unique(out);
    }

    /// Whether `record` holds an escape of an ASCII character, `\u0000`..`\u007F`.
    fn has_ascii_escape(&self, record: &[u8]) -> bool {
        self.escape
            .find_iter(record)
            .any(|at| matches!(record.get(at + 4), Some(b'0'..=b'7')))
    }

    /// One pass of [`scan_words`]; the `\u00` pass only if the record holds a backslash.
    pub fn candidates_by_words(&self, record: &[u8], out: &mut Vec<u32>) {
        if self.first_bytes.len() > MAX_WORD_SCAN_FIRST_BYTES || self.scans.len() > 64 {
            return self.candidates_by_memmem(record, out);
        }
        out.clear();
        out.extend_from_slice(&self.always);
        let mut unclear = 0u64;
        let saw_backslash = scan_words(record, &self.first_bytes, |quote| {
            self.collect_key_at(record, quote, &mut unclear, out)
        });
        if saw_backslash && !self.pinned.is_empty() && self.has_ascii_escape(record) {
            out.extend_from_slice(&self.pinned);
        }
        sort_unique(out);
    }

    /// If a pinned key starts at the `"` at `quote`, adds the rules its value selects. `unclear`
    /// has a bit per key whose rules were all added already (at most 64 keys).
    fn collect_key_at(&self, record: &[u8], quote: usize, unclear: &mut u64, out: &mut Vec<u32>) {
        for (i, scan) in self.scans.iter().enumerate() {
            let needle = scan.quoted_key.needle();
            if *unclear & (1 << i) == 0 && record[quote..].starts_with(needle) {
                *unclear |= u64::from(!scan.collect_at(record, quote + needle.len(), out)) << i;
            }
        }
    }
}

/// The finder for `"` + the prefix all keys share, when there are several keys and the prefix
/// has at least three bytes.
fn shared_prefix(scans: &[KeyScan]) -> Option<Finder<'static>> {
    let (first, rest) = scans.split_first()?;
    if rest.is_empty() {
        return None;
    }
    let shared = rest.iter().fold(first.key.len(), |len, scan| {
        first
            .key
            .bytes()
            .zip(scan.key.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count()
    });
    (shared >= 3)
        .then(|| Finder::new(format!("\"{}", &first.key[..shared]).as_bytes()).into_owned())
}

fn sort_unique(out: &mut Vec<u32>) {
    if out.len() > 1 {
        out.sort_unstable();
        out.dedup();
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

fn broadcast(byte: u8) -> u64 {
    LOW_BITS * u64::from(byte)
}

/// Marks (high bit) every zero byte of `y`; may also mark a byte just above a zero byte, never
/// misses one. Callers verify every mark, so the cheaper, inexact form is enough.
#[inline(always)]
fn zero_bytes(y: u64) -> u64 {
    y.wrapping_sub(LOW_BITS) & !y & HIGH_BITS
}

/// The first and the last eight bytes of a nine-byte window: a word and the word one byte on.
#[inline(always)]
fn words_of(window: &[u8]) -> (u64, u64) {
    match (window.first_chunk::<8>(), window.last_chunk::<8>()) {
        (Some(word), Some(next)) => (u64::from_le_bytes(*word), u64::from_le_bytes(*next)),
        _ => (0, 0),
    }
}

/// Marks the bytes of `word` that are a quote followed (in `next`) by one of `firsts`.
#[inline(always)]
fn quote_pairs<const N: usize>(word: u64, next: u64, firsts: &[u64; N]) -> u64 {
    let quotes = word ^ broadcast(b'"');
    firsts.iter().fold(0, |marks, &first| {
        marks | zero_bytes(quotes | (next ^ first))
    })
}

/// Calls `hit` with the index of every marked byte of the word at `base`.
#[inline(never)]
fn report(mut marks: u64, base: usize, hit: &mut impl FnMut(usize)) {
    while marks != 0 {
        hit(base + (marks.trailing_zeros() / 8) as usize);
        marks &= marks - 1;
    }
}

/// One pass over `record`, eight bytes at a time: calls `quote_followed_by` with the index of
/// every `"` whose next byte is one of `first_bytes` (broadcast words), in order (and possibly
/// with a few other indexes, which the caller's verification discards), and returns whether the
/// record may contain a backslash (it surely does not when this returns false).
///
/// Each step loads the word at `i` and the word at `i + 1`: a byte of `(word ^ "") | (next ^ f)`
/// is zero exactly where a quote is followed by `f`, so one zero test finds the pairs. The loop
/// is straight-line code (in WebAssembly a call per word, or a local array, costs more than the
/// scan itself); only the rare words with a mark leave it.
pub fn scan_words(
    record: &[u8],
    first_bytes: &[u64],
    quote_followed_by: impl FnMut(usize),
) -> bool {
    // A fixed number of first bytes, so that the per-word test unrolls (a loop inside the loop
    // doubled its cost).
    match *first_bytes {
        [] => scan_words_for(record, &[], quote_followed_by),
        [a] => scan_words_for(record, &[a], quote_followed_by),
        [a, b] => scan_words_for(record, &[a, b], quote_followed_by),
        [a, b, c, ..] => scan_words_for(record, &[a, b, c], quote_followed_by),
    }
}

fn scan_words_for<const N: usize>(
    record: &[u8],
    firsts: &[u64; N],
    mut quote_followed_by: impl FnMut(usize),
) -> bool {
    let backslash = broadcast(b'\\');
    let mut backslashes = 0u64;
    let mut at = 0;
    while let Some(window) = record.get(at..at + 9) {
        let (word, next) = words_of(window);
        backslashes |= zero_bytes(word ^ backslash);
        let marks = quote_pairs(word, next, firsts);
        if marks != 0 {
            report(marks, at, &mut quote_followed_by);
        }
        at += 8;
    }
    // The last 1 to 8 bytes, padded with zeros (a zero byte is neither a quote, a backslash nor
    // the first byte of a key).
    let mut tail = [0u8; 9];
    tail[..record.len() - at].copy_from_slice(&record[at..]);
    let (word, next) = words_of(&tail);
    backslashes |= zero_bytes(word ^ backslash);
    report(quote_pairs(word, next, firsts), at, &mut quote_followed_by);
    backslashes != 0
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
            if !self.collect_at(record, found + needle_len, out) {
                return;
            }
        }
    }

    /// Adds the rules selected by the value after the occurrence of the key ending at
    /// `after_key`. Returns false when the value was unclear and every rule on this key was added
    /// (further occurrences need not be read).
    fn collect_at(&self, record: &[u8], after_key: usize, out: &mut Vec<u32>) -> bool {
        match string_value_after_key(record, after_key) {
            ValueAfterKey::NotAMember => true,
            ValueAfterKey::Plain(value) => {
                if let Some(rules) = self.by_value.get(value) {
                    out.extend_from_slice(rules);
                }
                true
            }
            ValueAfterKey::Unclear => {
                out.extend_from_slice(&self.rules);
                false
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
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
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
        let (mut out, mut words) = (Vec::new(), Vec::new());
        filter().candidates_by_memmem(record.as_bytes(), &mut out);
        filter().candidates_by_words(record.as_bytes(), &mut words);
        assert_eq!(out, words);
        out
    }

    #[test]
    fn the_word_scanner_marks_quote_pairs_across_word_edges() {
        let record = br#"1234567"e"e\ xx"e"#;
        let mut hits = Vec::new();
        let backslash = scan_words(record, &[broadcast(b'e')], |q| hits.push(q));
        assert_eq!(hits, [7, 9, 15]);
        assert!(backslash);
        assert!(
            !scan_words(b"\"e", &[broadcast(b'e')], |_| {}),
            "no backslash"
        );
    }

    fn builtin_prefilter() -> &'static Prefilter {
        static DETECTOR: std::sync::OnceLock<crate::Detector> = std::sync::OnceLock::new();
        DETECTOR
            .get_or_init(|| crate::Detector::builtin().unwrap())
            .prefilter()
    }

    fn same_candidates(prefilter: &Prefilter, record: &[u8]) {
        let (mut by_words, mut by_memmem) = (Vec::new(), Vec::new());
        prefilter.candidates_by_words(record, &mut by_words);
        prefilter.candidates_by_memmem(record, &mut by_memmem);
        assert_eq!(by_words, by_memmem, "{:?}", String::from_utf8_lossy(record));
    }

    #[test]
    fn both_scanners_agree_on_every_real_record() {
        for record in trailtag_conformance::corpus_records() {
            same_candidates(builtin_prefilter(), &record);
            same_candidates(&filter(), &record);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

        #[test]
        fn both_scanners_agree_on_any_bytes(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just(&b"\"eventName\""[..]),
                proptest::prelude::Just(&b"\"eventSource\" : "[..]),
                proptest::prelude::Just(&b"\"CreateGroup\""[..]),
                proptest::prelude::Just(&b"\"rolesanywhere.amazonaws.com\""[..]),
                proptest::prelude::Just(&b":\"CreateProfile\","[..]),
                proptest::prelude::Just(&b"\\u0041"[..]),
                proptest::prelude::Just(&b"\"e"[..]),
                proptest::prelude::Just(&b"\\\""[..]),
                proptest::prelude::Just(&b"{"[..]),
                proptest::prelude::Just(&b"\"weird key\":\"x\""[..]),
            ], 0..24),
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..16),
            split in proptest::prelude::any::<usize>(),
        ) {
            let mut record: Vec<u8> = parts.concat();
            let at = split % (record.len() + 1);
            record.splice(at..at, noise);
            same_candidates(builtin_prefilter(), &record);
            same_candidates(&filter(), &record);
        }
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
    fn only_escapes_of_ascii_characters_can_disguise_a_key() {
        assert_eq!(
            candidates(r#"{"eventName":"ListProfiles","userAgent":"caf\u00e9 \u65e5"}"#),
            [2, 3]
        );
        assert_eq!(
            candidates(r#"{"eventName":"ListProfiles","x":"\u007e"}"#),
            [0, 1, 2, 3]
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
