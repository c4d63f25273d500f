//! The index over every rule's pins, and the scan that decides, without parsing, which rules a
//! record could match.
//!
//! Most CloudTrail records match no rule, so the engine's cost is the cost of saying "no" to
//! them. Each rule is indexed by one clause of its [`Need`] (a disjunction of pins, usually one
//! pin on `eventName`). For every pinned key the scan finds each occurrence of the bytes `"key"`,
//! reads the string after the colon and looks it up in that key's value tables (exact, and folded
//! for case-insensitive pins). Only rules found this way, plus rules that pin nothing, are
//! candidates; a record without candidates is passed through unparsed.
//!
//! The scan is exact in the only direction that matters: it never misses a rule the full
//! evaluation would match (property tests hold it to that, `engine/tests/fast_path.rs`).
//! - Occurrences that are not the member the rule reads (a nested `additionalEventData.eventName`)
//!   only add candidates; the parse then decides.
//! - A key can be disguised only by a `\uXXXX` escape of an ASCII character, `\u0000` to
//!   `\u007F` (pinned keys are restricted to ASCII characters no shorter escape produces), so a
//!   record containing `\u00` followed by `0`-`7` makes every pinned rule a candidate. Escapes of
//!   other characters cannot disguise a key; Fluent Bit writes every non-ASCII character that
//!   way, and such records would otherwise all be parsed.
//! - A value that contains an escape, is not a string, or is not terminated makes every rule
//!   pinned on that key a candidate; so does a non-ASCII value for the case-insensitive pins
//!   (Unicode folding relates some non-ASCII letters to ASCII ones, `ſ` to `s`).
//!
//! The same pass answers a second question for the writers: could the record hold a top-level
//! `trailtag` member (the bytes `"trailtag"` followed by a colon, or an ASCII escape)? Only then
//! is a record that matches nothing parsed, to remove a tag it arrived with.
//!
//! Two scanners find the occurrences, and a property test holds them to the same answer (this
//! module's tests). Where SIMD is available (native code, WebAssembly with `simd128`)
//! `memchr::memmem` makes one pass for the prefix the pinned keys share (`"event` for
//! `eventName` and `eventSource`; one pass per key when they share none), one for the tag key,
//! one `memchr` for a backslash and, only if there is one, a pass for `\u00`; each pass runs at
//! several GB/s. Without SIMD those passes crawl, so the portable build makes the single pass of
//! [`super::words::scan_words`].

use std::collections::HashMap;

use memchr::memmem::Finder;

use super::bytes::skip_ws;
use super::words::{broadcast, scan_words};
use crate::ir::Case;
use crate::ir::pins::{MAX_FOLDED_VALUE, Need, Pin, is_scannable_key};

/// The word scanner handles up to this many distinct first bytes of pinned keys.
const MAX_WORD_SCAN_FIRST_BYTES: usize = 3;

/// What the scan learned about a record besides its candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanFacts {
    /// The record may hold a member named by the tag key (always false when no tag key is
    /// scanned for).
    pub may_hold_tag_key: bool,
}

/// The compiled index over all rules.
#[derive(Debug, Clone)]
pub struct Prefilter {
    scans: Vec<KeyScan>,
    always: Vec<u32>,
    pinned: Vec<u32>,
    escape: Finder<'static>,
    /// Distinct first bytes of the pinned keys and the tag key, broadcast to every byte of a word.
    first_bytes: Vec<u64>,
    /// `"` and the prefix every pinned key shares, when there are several keys and the prefix is
    /// long enough to be rare: one pass finds them all.
    shared_prefix: Option<Finder<'static>>,
    /// `"trailtag"` (quoted), when the writers need to know about foreign tags.
    tag_key: Option<Finder<'static>>,
}

#[derive(Debug, Clone)]
struct KeyScan {
    key: String,
    quoted_key: Finder<'static>,
    exact: HashMap<Box<[u8]>, Vec<u32>>,
    folded: HashMap<Box<[u8]>, Vec<u32>>,
    /// Rules with a case-insensitive pin on this key.
    folded_rules: Vec<u32>,
    /// Every rule with a pin on this key.
    rules: Vec<u32>,
}

impl Prefilter {
    /// Builds the index from each rule's needs (rule index = position in `needs`). With a
    /// `tag_key`, the scan also reports whether a record may carry that member.
    pub fn new(needs: &[Need], tag_key: Option<&str>) -> Self {
        let mut scans: Vec<KeyScan> = Vec::new();
        let mut always = Vec::new();
        let mut pinned = Vec::new();
        for (index, need) in (0u32..).zip(needs) {
            let Some(clause) = need.best_clause().filter(|c| usable(c)) else {
                always.push(index);
                continue;
            };
            pinned.push(index);
            for pin in clause {
                let scan = match scans.iter().position(|s| s.key == pin.key) {
                    Some(i) => i,
                    None => {
                        scans.push(KeyScan::new(&pin.key));
                        scans.len() - 1
                    }
                };
                scans[scan].add(index, pin);
            }
        }
        let tag_key = tag_key.filter(|k| is_scannable_key(k));
        let mut first_bytes: Vec<u64> = scans
            .iter()
            .map(|s| s.key.as_str())
            .chain(tag_key)
            .filter_map(|k| k.bytes().next())
            .map(broadcast)
            .collect();
        first_bytes.sort_unstable();
        first_bytes.dedup();
        Self {
            shared_prefix: shared_prefix(&scans),
            scans,
            always,
            pinned,
            escape: Finder::new(b"\\u00").into_owned(),
            first_bytes,
            tag_key: tag_key.map(|k| Finder::new(format!("\"{k}\"").as_bytes()).into_owned()),
        }
    }

    /// Fills `out` with the indexes of the rules `record` could match, sorted, without repeats.
    pub fn candidates(&self, record: &[u8], out: &mut Vec<u32>) -> ScanFacts {
        if cfg!(all(target_family = "wasm", not(target_feature = "simd128"))) {
            self.candidates_by_words(record, out)
        } else {
            self.candidates_by_memmem(record, out)
        }
    }

    /// `memchr::memmem`: one pass for the keys' shared prefix (or one per key), one for the tag
    /// key, one `memchr` for a backslash, and the `\u00` pass only when there is one.
    pub fn candidates_by_memmem(&self, record: &[u8], out: &mut Vec<u32>) -> ScanFacts {
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
        let tag_member = self.tag_key.as_ref().is_some_and(|finder| {
            let after = finder.needle().len();
            finder
                .find_iter(record)
                .any(|at| is_member_key(record, at + after))
        });
        let escaped = self.needs_escape_pass() && memchr::memchr(b'\\', record).is_some();
        self.finish(record, escaped, tag_member, out)
    }

    /// One pass of [`scan_words`]; the `\u00` pass only if the record holds a backslash.
    pub fn candidates_by_words(&self, record: &[u8], out: &mut Vec<u32>) -> ScanFacts {
        if self.first_bytes.len() > MAX_WORD_SCAN_FIRST_BYTES || self.scans.len() > 64 {
            return self.candidates_by_memmem(record, out);
        }
        out.clear();
        out.extend_from_slice(&self.always);
        let mut unclear = 0u64;
        let mut tag_member = false;
        let saw_backslash = scan_words(record, &self.first_bytes, |quote| {
            self.collect_key_at(record, quote, &mut unclear, out);
            tag_member |= self.tag_key_at(record, quote);
        });
        self.finish(
            record,
            saw_backslash && self.needs_escape_pass(),
            tag_member,
            out,
        )
    }

    fn needs_escape_pass(&self) -> bool {
        !self.pinned.is_empty() || self.tag_key.is_some()
    }

    /// Adds every pinned rule when an ASCII escape could disguise a key, and sorts.
    fn finish(
        &self,
        record: &[u8],
        saw_backslash: bool,
        tag_member: bool,
        out: &mut Vec<u32>,
    ) -> ScanFacts {
        let escaped = saw_backslash && self.has_ascii_escape(record);
        if escaped {
            out.extend_from_slice(&self.pinned);
        }
        sort_unique(out);
        ScanFacts {
            may_hold_tag_key: self.tag_key.is_some() && (tag_member || escaped),
        }
    }

    /// Whether `record` holds an escape of an ASCII character, `\u0000`..`\u007F`.
    fn has_ascii_escape(&self, record: &[u8]) -> bool {
        self.escape
            .find_iter(record)
            .any(|at| matches!(record.get(at + 4), Some(b'0'..=b'7')))
    }

    /// If a pinned key starts at the `"` at `quote`, adds the rules its value selects. `unclear`
    /// has a bit per key whose rules were all added already (at most 64 keys).
    fn collect_key_at(&self, record: &[u8], quote: usize, unclear: &mut u64, out: &mut Vec<u32>) {
        let Some(rest) = record.get(quote..) else {
            return;
        };
        for (i, scan) in self.scans.iter().enumerate() {
            let needle = scan.quoted_key.needle();
            if *unclear & (1 << i) == 0 && rest.starts_with(needle) {
                *unclear |= u64::from(!scan.collect_at(record, quote + needle.len(), out)) << i;
            }
        }
    }

    fn tag_key_at(&self, record: &[u8], quote: usize) -> bool {
        let Some(finder) = &self.tag_key else {
            return false;
        };
        let needle = finder.needle();
        record
            .get(quote..)
            .is_some_and(|rest| rest.starts_with(needle))
            && is_member_key(record, quote + needle.len())
    }
}

/// A clause the scan can test: every pin on a scannable key, with values.
fn usable(clause: &[Pin]) -> bool {
    !clause.is_empty()
        && clause
            .iter()
            .all(|p| is_scannable_key(&p.key) && !p.values.is_empty())
}

/// Whether the quoted string ending at `after_key` is followed by a colon (so it is a key).
fn is_member_key(record: &[u8], after_key: usize) -> bool {
    record.get(skip_ws(record, after_key)) == Some(&b':')
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
    let prefix = first.key.get(..shared)?;
    (shared >= 3).then(|| Finder::new(format!("\"{prefix}").as_bytes()).into_owned())
}

fn sort_unique(out: &mut Vec<u32>) {
    if out.len() > 1 {
        out.sort_unstable();
        out.dedup();
    }
}

impl KeyScan {
    fn new(key: &str) -> Self {
        let quoted = format!("\"{key}\"");
        Self {
            key: key.to_owned(),
            quoted_key: Finder::new(quoted.as_bytes()).into_owned(),
            exact: HashMap::new(),
            folded: HashMap::new(),
            folded_rules: Vec::new(),
            rules: Vec::new(),
        }
    }

    fn add(&mut self, rule: u32, pin: &Pin) {
        push_unique(&mut self.rules, rule);
        let table = match pin.case {
            Case::Sensitive => &mut self.exact,
            Case::Insensitive => {
                push_unique(&mut self.folded_rules, rule);
                &mut self.folded
            }
        };
        for value in &pin.values {
            push_unique(table.entry(value.as_bytes().into()).or_default(), rule);
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
                if let Some(rules) = self.exact.get(value) {
                    out.extend_from_slice(rules);
                }
                if !self.folded.is_empty() {
                    self.collect_folded(value, out);
                }
                true
            }
            ValueAfterKey::Unclear => {
                out.extend_from_slice(&self.rules);
                false
            }
        }
    }

    fn collect_folded(&self, value: &[u8], out: &mut Vec<u32>) {
        if !value.is_ascii() {
            out.extend_from_slice(&self.folded_rules);
            return;
        }
        // Folding keeps an ASCII string's length, so a longer value equals no folded pin.
        let mut buffer = [0u8; MAX_FOLDED_VALUE];
        let Some(folded) = buffer.get_mut(..value.len()) else {
            return;
        };
        for (f, b) in folded.iter_mut().zip(value) {
            *f = b.to_ascii_uppercase();
        }
        if let Some(rules) = self.folded.get(&*folded) {
            out.extend_from_slice(rules);
        }
    }
}

fn push_unique(rules: &mut Vec<u32>, rule: u32) {
    if !rules.contains(&rule) {
        rules.push(rule);
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
    if !is_member_key(record, after_key) {
        return ValueAfterKey::NotAMember;
    }
    let colon = skip_ws(record, after_key);
    let quote = skip_ws(record, colon + 1);
    if record.get(quote) != Some(&b'"') {
        return ValueAfterKey::Unclear;
    }
    let Some(content) = record.get(quote + 1..) else {
        return ValueAfterKey::Unclear;
    };
    match memchr::memchr2(b'"', b'\\', content) {
        Some(len) if content.get(len) == Some(&b'"') => {
            ValueAfterKey::Plain(content.get(..len).unwrap_or_default())
        }
        _ => ValueAfterKey::Unclear,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    fn pin(key: &str, values: &[&str]) -> Need {
        need(&[&[(key, values, Case::Sensitive)]])
    }

    fn need(clauses: &[&[(&str, &[&str], Case)]]) -> Need {
        Need {
            clauses: clauses
                .iter()
                .map(|c| {
                    c.iter()
                        .map(|(key, values, case)| Pin {
                            key: (*key).into(),
                            values: values.iter().map(|v| (*v).to_owned()).collect(),
                            case: *case,
                        })
                        .collect()
                })
                .collect(),
        }
    }

    fn filter() -> Prefilter {
        Prefilter::new(
            &[
                need(&[
                    &[("eventSource", &["ra"], Case::Sensitive)],
                    &[("eventName", &["CreateProfile"], Case::Sensitive)],
                ]),
                pin("eventSource", &["ra"]),
                Need::default(),
                pin("weird key", &["x"]),
                need(&[&[
                    ("eventName", &["DELETEUSER"], Case::Insensitive),
                    ("userName", &["root"], Case::Sensitive),
                ]]),
            ],
            Some("trailtag"),
        )
    }

    fn candidates(record: &str) -> Vec<u32> {
        scan(record).0
    }

    fn scan(record: &str) -> (Vec<u32>, ScanFacts) {
        let (mut out, mut words) = (Vec::new(), Vec::new());
        let facts = filter().candidates_by_memmem(record.as_bytes(), &mut out);
        let word_facts = filter().candidates_by_words(record.as_bytes(), &mut words);
        assert_eq!(out, words);
        assert_eq!(facts, word_facts);
        (out, facts)
    }

    fn builtin_prefilter() -> &'static Prefilter {
        static DETECTOR: std::sync::OnceLock<crate::Detector> = std::sync::OnceLock::new();
        DETECTOR
            .get_or_init(|| crate::Detector::builtin().unwrap())
            .prefilter()
    }

    fn same_candidates(prefilter: &Prefilter, record: &[u8]) {
        let (mut by_words, mut by_memmem) = (Vec::new(), Vec::new());
        let facts_words = prefilter.candidates_by_words(record, &mut by_words);
        let facts_memmem = prefilter.candidates_by_memmem(record, &mut by_memmem);
        assert_eq!(by_words, by_memmem, "{:?}", String::from_utf8_lossy(record));
        assert_eq!(
            facts_words,
            facts_memmem,
            "{:?}",
            String::from_utf8_lossy(record)
        );
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
                proptest::prelude::Just(&b":\"deleteUser\","[..]),
                proptest::prelude::Just(&b"\"trailtag\":"[..]),
                proptest::prelude::Just(&b"\\u0041"[..]),
                proptest::prelude::Just(&b"\"e"[..]),
                proptest::prelude::Just(&b"\"t"[..]),
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
    fn case_insensitive_pins_fold_what_they_read() {
        assert_eq!(candidates(r#"{"eventName":"deleteuser"}"#), [2, 3, 4]);
        assert_eq!(candidates(r#"{"eventName":"DeleteUserX"}"#), [2, 3]);
        assert_eq!(
            candidates(r#"{"eventName":"deleteu\u017fer"}"#),
            [0, 2, 3, 4],
            "an escape is unclear: every rule on the key"
        );
        assert_eq!(
            candidates("{\"eventName\":\"deleteu\u{17f}er\"}"),
            [2, 3, 4],
            "non-ASCII text is unclear for folded pins"
        );
        assert_eq!(
            candidates(r#"{"userName":"root"}"#),
            [2, 3, 4],
            "a disjunctive clause: either pin selects"
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
            [0, 1, 2, 3, 4]
        );
    }

    #[test]
    fn anything_unclear_is_a_candidate() {
        assert_eq!(
            candidates(r#"{"event\u004eame":"CreateProfile"}"#),
            [0, 1, 2, 3, 4]
        );
        assert_eq!(
            candidates(r#"{"eventName":"Create\"Profile"}"#),
            [0, 2, 3, 4]
        );
        assert_eq!(
            candidates(r#"{"eventName":["CreateProfile"]}"#),
            [0, 2, 3, 4]
        );
        assert_eq!(candidates(r#"{"eventName":"CreateProf"#), [0, 2, 3, 4]);
        assert_eq!(candidates(r#"{"a":"eventName","b":"x"}"#), [2, 3]);
    }

    #[test]
    fn the_tag_key_is_reported_only_as_a_member() {
        assert!(scan(r#"{"a":1,"trailtag" : {}}"#).1.may_hold_tag_key);
        assert!(!scan(r#"{"a":"trailtag"}"#).1.may_hold_tag_key);
        assert!(scan(r#"{"trail\u0074ag":1}"#).1.may_hold_tag_key);
        let none = Prefilter::new(&[], None);
        assert!(
            !none
                .candidates_by_memmem(br#"{"trailtag":1}"#, &mut Vec::new())
                .may_hold_tag_key
        );
    }
}
