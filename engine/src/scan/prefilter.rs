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
//! member named by one of the tag format's keys (`trailtag`; `rule` or `threat` for ECS: the
//! bytes `"trailtag"` followed by a colon, or an ASCII escape)? Only then is a record that
//! matches nothing parsed, to remove a tag it arrived with. (`memmem` makes one pass per key.)
//!
//! Two scanners find the occurrences, and a property test holds them to the same answer (this
//! module's tests). Where SIMD is available (native code, WebAssembly with `simd128`)
//! `memchr::memmem` makes one pass for the prefix the pinned keys share (`"event` for
//! `eventName` and `eventSource`; one pass per key when they share none), one for the tag key,
//! one `memchr` for a backslash and, only if there is one, a pass for `\u00`; each pass runs at
//! several GB/s. (One `memchr2` pass for a backslash and the tag key's rarest byte, `g`, was
//! tried and cost more: `g` is common enough in CloudTrail that restarting the search at each
//! one costs more than a pass of its own.) Without SIMD those passes crawl, so the portable build makes the single pass of
//! [`super::words::scan_words`].

use memchr::memmem::Finder;
use rustc_hash::FxHashMap;

use super::bytes::skip_ws;
use super::pairs::{FAR_BYTES, Far, scan_pairs};
use super::rank::finder;
use super::skip::{Pattern, SkipScan};
#[cfg(test)]
use super::words::{broadcast, scan_words};
use crate::ir::Case;
use crate::ir::pins::{MAX_FOLDED_VALUE, Need, Pin, is_scannable_key};

/// The word scanner handles up to this many distinct first bytes of pinned keys.
const MAX_WORD_SCAN_FIRST_BYTES: usize = 5;

/// What the scan learned about a record besides its candidates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanFacts {
    /// The record may hold a member named by a tag key (always false when no tag key is
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
    /// Distinct first bytes of the pinned keys and the tag keys.
    first_bytes: Vec<u8>,
    /// A byte further into those keys that the pair scanner also tests ([`far_filter`]).
    far: Option<Far>,
    /// `"` and the prefix every pinned key shares, when there are several keys and the prefix is
    /// long enough to be rare: one pass finds them all.
    shared_prefix: Option<Finder<'static>>,
    /// The tag keys, when the writers need to know about foreign tags.
    tag_keys: Vec<TagKey>,
    /// The sublinear scan over every pinned value and tag key, for records Fluent Bit wrote;
    /// `None` when some rule pins nothing or a value does not qualify (`super::skip`).
    skip: Option<SkipScan>,
}

/// A key with its quotes, and its first and last eight bytes as words: a hit of the scanner is
/// checked with one word comparison, and a key of up to 16 bytes (almost every CloudTrail key
/// with its quotes) is confirmed with a second, without `memcmp` (WebAssembly has no fast one:
/// it is a byte loop there, 4.7 % of the module's time with the built-in rules before the
/// second word; most hits, `"eventTime"` at a place where `"eventName"` was hoped for, differ
/// within the first eight bytes).
#[derive(Debug, Clone)]
struct QuotedKey {
    bytes: Box<[u8]>,
    head: u64,
    mask: u64,
    /// The last eight bytes, for a key of 9 to 16 bytes (head and tail then cover it).
    tail: Option<u64>,
}

impl QuotedKey {
    fn new(key: &str) -> Self {
        let bytes: Box<[u8]> = format!("\"{key}\"").into_bytes().into();
        let mut head = [0u8; 8];
        let n = bytes.len().min(8);
        head[..n].copy_from_slice(&bytes[..n]);
        let mask = if n == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * n)) - 1
        };
        let tail = (9..=16)
            .contains(&bytes.len())
            .then(|| word_at(&bytes, bytes.len() - 8))
            .flatten();
        Self {
            head: u64::from_le_bytes(head),
            mask,
            tail,
            bytes,
        }
    }

    fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether the quoted key starts at `at`.
    #[inline(always)]
    fn is_at(&self, record: &[u8], at: usize) -> bool {
        match word_at(record, at) {
            Some(word) if word & self.mask != self.head => false,
            // The head covers a key of up to eight bytes, head and tail one of up to 16.
            Some(_) if self.bytes.len() <= 8 => true,
            Some(_) if let Some(tail) = self.tail => {
                word_at(record, at + self.bytes.len() - 8) == Some(tail)
            }
            _ => record
                .get(at..)
                .is_some_and(|rest| rest.starts_with(&self.bytes)),
        }
    }
}

/// The eight bytes at `at`, as a little-endian word, if the record holds them.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> Option<u64> {
    let word = bytes.get(at..)?.first_chunk::<8>()?;
    Some(u64::from_le_bytes(*word))
}

/// The quoted tag key, and a finder for it that keys on its rarest bytes in CloudTrail.
#[derive(Debug, Clone)]
struct TagKey {
    quoted: QuotedKey,
    finder: Finder<'static>,
}

impl TagKey {
    fn new(key: &str) -> Self {
        let quoted = QuotedKey::new(key);
        Self {
            finder: finder(&quoted.bytes),
            quoted,
        }
    }

    /// Whether the key, as a member's key, starts (with its quote) at `quote`.
    #[inline(always)]
    fn is_member_at(&self, record: &[u8], quote: usize) -> bool {
        self.quoted.is_at(record, quote) && is_member_key(record, quote + self.quoted.len())
    }
}

#[derive(Debug, Clone)]
struct KeyScan {
    key: String,
    quoted: QuotedKey,
    quoted_key: Finder<'static>,
    exact: ValueTable,
    folded: ValueTable,
    /// Rules with a case-insensitive pin on this key.
    folded_rules: Vec<u32>,
    /// `contains` pins, case-sensitive and (ASCII) case-insensitive.
    contains: NeedleTable,
    contains_folded: NeedleTable,
    /// Every rule with a pin on this key.
    rules: Vec<u32>,
}

/// The rules selected by needles occurring in a value: one automaton over every needle of a
/// key, searched once per value (overlapping, so that every needle found selects its rules).
#[derive(Debug, Clone, Default)]
struct NeedleTable {
    needles: Vec<String>,
    rules: Vec<Vec<u32>>,
    /// Every rule of the table.
    all_rules: Vec<u32>,
    automaton: Option<aho_corasick::AhoCorasick>,
}

impl NeedleTable {
    fn add(&mut self, needle: &str, rule: u32) {
        push_unique(&mut self.all_rules, rule);
        match self.needles.iter().position(|n| n == needle) {
            Some(i) => push_unique(&mut self.rules[i], rule),
            None => {
                self.needles.push(needle.to_owned());
                self.rules.push(vec![rule]);
            }
        }
    }

    /// Builds the automaton once every needle is in. (A DFA without a prefilter was tried, for
    /// the short values searched here: no gain in the module, `BENCHMARKS.md`.)
    fn finish(&mut self, case: Case) {
        if self.needles.is_empty() {
            return;
        }
        self.automaton = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(case == Case::Insensitive)
            .build(&self.needles)
            .ok();
    }

    fn collect(&self, value: &[u8], out: &mut Vec<u32>) {
        match &self.automaton {
            // Most values hold no needle: the plain search says so faster than the
            // overlapping one, which only runs after a hit (the module, 222 rules: 1.08 x).
            Some(automaton) if !automaton.is_match(value) => {}
            Some(automaton) => {
                for found in automaton.find_overlapping_iter(value) {
                    out.extend_from_slice(&self.rules[found.pattern().as_usize()]);
                }
            }
            // The automaton could not be built: every rule is a candidate.
            None => out.extend_from_slice(&self.all_rules),
        }
    }
}

impl Prefilter {
    /// Builds the index from each rule's needs (rule index = position in `needs`). With
    /// `tag_keys`, the scan also reports whether a record may carry one of those members.
    pub fn new(needs: &[Need], tag_keys: &[&str]) -> Self {
        let mut scans: Vec<KeyScan> = Vec::new();
        let mut always = Vec::new();
        let mut pinned = Vec::new();
        for (index, need) in (0u32..).zip(needs) {
            if need.is_impossible() {
                continue;
            }
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
        for scan in &mut scans {
            scan.contains.finish(Case::Sensitive);
            scan.contains_folded.finish(Case::Insensitive);
        }
        let tag_keys: Vec<&str> = tag_keys
            .iter()
            .copied()
            .filter(|k| is_scannable_key(k))
            .collect();
        let scanned_keys: Vec<&str> = scans
            .iter()
            .map(|s| s.key.as_str())
            .chain(tag_keys.iter().copied())
            .collect();
        let mut first_bytes: Vec<u8> = scanned_keys
            .iter()
            .filter_map(|k| k.bytes().next())
            .collect();
        first_bytes.sort_unstable();
        first_bytes.dedup();
        let far = far_filter(&scanned_keys, &first_bytes);
        let skip = match always.is_empty() {
            true => skip_scan(needs, &tag_keys),
            false => None,
        };
        Self {
            skip,
            shared_prefix: shared_prefix(&scans),
            scans,
            always,
            pinned,
            escape: finder(b"\\u00"),
            first_bytes,
            far,
            tag_keys: tag_keys.into_iter().map(TagKey::new).collect(),
        }
    }

    /// Fills `out` with the indexes of the rules `record` could match, sorted, without repeats.
    ///
    /// In WebAssembly one pass of the pair scanner (SIMD with `simd128`, the word scanner
    /// without) beats `memchr`'s passes; natively, AVX2 `memchr` passes beat the 16-byte pair
    /// scanner. Measured with callgrind on the benchmark data: module 224 M instructions per
    /// 20 MB with pairs, 276 M with `memchr`; native 86 M with `memchr`, 99 M with pairs.
    pub fn candidates(&self, record: &[u8], out: &mut Vec<u32>) -> ScanFacts {
        if cfg!(target_family = "wasm") {
            self.candidates_by_pairs(record, out)
        } else {
            self.candidates_by_memmem(record, out)
        }
    }

    /// Whether the skip scan was built.
    pub fn has_skip_scan(&self) -> bool {
        self.skip.is_some()
    }

    /// Whether a record Fluent Bit wrote could match a rule or hold a tag key: `false` only
    /// when the skip scan finds none of the pinned values (`super::skip`).
    pub fn may_match_as_fluent_bit_wrote_it(&self, record: &[u8]) -> bool {
        self.skip.as_ref().is_none_or(|skip| skip.occurs_in(record))
    }

    /// Whether the keys are few enough (in first bytes and in number) for the one-pass scanners.
    fn one_pass(&self) -> bool {
        self.first_bytes.len() <= MAX_WORD_SCAN_FIRST_BYTES && self.scans.len() <= 64
    }

    /// One pass of [`scan_pairs`] (SIMD where the target has it, else the word scanner); the
    /// `\u00` pass only if the record holds a backslash.
    pub fn candidates_by_pairs(&self, record: &[u8], out: &mut Vec<u32>) -> ScanFacts {
        if !self.one_pass() {
            return self.candidates_by_memmem(record, out);
        }
        out.clear();
        out.extend_from_slice(&self.always);
        let mut unclear = 0u64;
        let mut tag_member = false;
        let saw_backslash = scan_pairs(record, &self.first_bytes, self.far, |quote| {
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
        let (backslash, tag_member) = self.backslash_and_tag_key(record);
        self.finish(record, backslash, tag_member, out)
    }

    /// A `memchr` pass for a backslash (when anything needs the escape pass), and a `memmem`
    /// pass for the tag key.
    fn backslash_and_tag_key(&self, record: &[u8]) -> (bool, bool) {
        let backslash = self.needs_escape_pass() && memchr::memchr(b'\\', record).is_some();
        let member = self.tag_keys.iter().any(|tag| {
            tag.finder
                .find_iter(record)
                .any(|quote| is_member_key(record, quote + tag.quoted.len()))
        });
        (backslash, member)
    }

    /// One pass of [`scan_words`]; the `\u00` pass only if the record holds a backslash.
    /// (The word scanner runs through [`scan_pairs`] in the portable module; the tests run it
    /// directly, natively.)
    #[cfg(test)]
    pub fn candidates_by_words(&self, record: &[u8], out: &mut Vec<u32>) -> ScanFacts {
        if !self.one_pass() {
            return self.candidates_by_memmem(record, out);
        }
        out.clear();
        out.extend_from_slice(&self.always);
        let mut unclear = 0u64;
        let mut tag_member = false;
        let words: Vec<u64> = self.first_bytes.iter().map(|&b| broadcast(b)).collect();
        let saw_backslash = scan_words(record, &words, |quote| {
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
        !self.pinned.is_empty() || !self.tag_keys.is_empty()
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
            may_hold_tag_key: !self.tag_keys.is_empty() && (tag_member || escaped),
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
    #[inline(always)]
    fn collect_key_at(&self, record: &[u8], quote: usize, unclear: &mut u64, out: &mut Vec<u32>) {
        for (i, scan) in self.scans.iter().enumerate() {
            if *unclear & (1 << i) == 0 && scan.quoted.is_at(record, quote) {
                *unclear |=
                    u64::from(!scan.collect_at(record, quote + scan.quoted.len(), out)) << i;
            }
        }
    }

    fn tag_key_at(&self, record: &[u8], quote: usize) -> bool {
        self.tag_keys
            .iter()
            .any(|tag| tag.is_member_at(record, quote))
    }
}

/// The byte further into the scanned keys that the pair scanner tests besides the first: at
/// the offset (within the shortest quoted key) where the keys have at most [`FAR_BYTES`]
/// distinct bytes and the fewest common CloudTrail keys that are not scanned pass both tests
/// (`crate::catalogue::known_keys`), so that `"eventTime"` and `"eventID"` stop being hits when
/// the scan wants `"eventName"`. `None` when no offset qualifies or none would drop a common
/// key.
fn far_filter(keys: &[&str], first_bytes: &[u8]) -> Option<Far> {
    let quoted: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| format!("\"{k}\"").into_bytes())
        .collect();
    let shortest = quoted.iter().map(Vec::len).min()?;
    // A common key as it sits in compact JSON: its quotes, then `:"`.
    let common: Vec<Vec<u8>> = crate::catalogue::known_keys()
        .filter(|k| !keys.contains(k))
        .map(|k| format!("\"{k}\":\"").into_bytes())
        .filter(|k| k.get(1).is_some_and(|b| first_bytes.contains(b)))
        .collect();
    let passing = |offset: usize, bytes: &[u8]| {
        (common.iter())
            .filter(|k| k.get(offset).is_some_and(|b| bytes.contains(b)))
            .count()
    };
    let (offset, bytes) = (2..shortest)
        .filter_map(|offset| {
            let mut bytes: Vec<u8> = quoted.iter().map(|q| q[offset]).collect();
            bytes.sort_unstable();
            bytes.dedup();
            (bytes.len() <= FAR_BYTES).then_some((offset, bytes))
        })
        .min_by_key(|(offset, bytes)| (passing(*offset, bytes), bytes.len(), *offset))?;
    if passing(offset, &bytes) == common.len() {
        return None;
    }
    let mut padded = [bytes[0]; FAR_BYTES];
    padded[..bytes.len()].copy_from_slice(&bytes);
    Some(Far {
        offset,
        bytes: padded,
    })
}

/// A clause the scan can test: every pin on a scannable key, with values.
/// The skip scan over the values of every rule's indexed clause and the tag keys. An equality
/// pin's value is looked for with its quotes unless it reads like a JSON literal (a number,
/// `true`, `false`, `null`), which a record may hold unquoted.
fn skip_scan(needs: &[Need], tag_keys: &[&str]) -> Option<SkipScan> {
    let mut patterns = Vec::new();
    for need in needs.iter().filter(|n| !n.is_impossible()) {
        let clause = need.best_clause().filter(|c| usable(c))?;
        for pin in clause {
            let folded = pin.case == Case::Insensitive;
            patterns.extend(pin.values.iter().map(|v| Pattern {
                bytes: v.as_bytes(),
                folded,
                quoted: !pin.contains && !reads_like_a_literal(v),
            }));
        }
    }
    patterns.extend(tag_keys.iter().map(|k| Pattern {
        bytes: k.as_bytes(),
        folded: false,
        quoted: true,
    }));
    SkipScan::new(&patterns)
}

/// Whether `value` could be written as a JSON value without quotes.
fn reads_like_a_literal(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "true" | "false" | "null"
    ) || value.starts_with(['-', '+', '.'])
        || value.starts_with(|c: char| c.is_ascii_digit())
}

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
    (shared >= 3).then(|| finder(format!("\"{prefix}").as_bytes()))
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
            quoted: QuotedKey::new(key),
            quoted_key: finder(quoted.as_bytes()),
            exact: ValueTable::default(),
            folded: ValueTable::default(),
            folded_rules: Vec::new(),
            contains: NeedleTable::default(),
            contains_folded: NeedleTable::default(),
            rules: Vec::new(),
        }
    }

    fn add(&mut self, rule: u32, pin: &Pin) {
        push_unique(&mut self.rules, rule);
        if pin.contains {
            let table = match pin.case {
                Case::Sensitive => &mut self.contains,
                Case::Insensitive => &mut self.contains_folded,
            };
            for needle in &pin.values {
                table.add(needle, rule);
            }
            return;
        }
        let table = match pin.case {
            Case::Sensitive => &mut self.exact,
            Case::Insensitive => {
                push_unique(&mut self.folded_rules, rule);
                &mut self.folded
            }
        };
        for value in &pin.values {
            table.add(value.as_bytes(), rule);
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
                if !self.contains.needles.is_empty() {
                    self.contains.collect(value, out);
                }
                if !self.contains_folded.needles.is_empty() {
                    // Unicode folding relates some non-ASCII letters to ASCII ones (`ſ`, `K`).
                    if value.is_ascii() {
                        self.contains_folded.collect(value, out);
                    } else {
                        out.extend_from_slice(&self.contains_folded.all_rules);
                    }
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
        if let Some(rules) = self.folded.get(folded) {
            out.extend_from_slice(rules);
        }
    }
}

/// The rules selected by each pinned value of one key. Most values a record holds are not
/// pinned, so a value whose length no pinned value has is rejected before it is hashed.
#[derive(Debug, Clone, Default)]
struct ValueTable {
    by_value: FxHashMap<Box<[u8]>, Vec<u32>>,
    /// Bit `n` set: some value is `n` bytes long (`n < 128`).
    short_lengths: u128,
    /// Some value is 128 bytes or longer.
    long_values: bool,
}

impl ValueTable {
    fn add(&mut self, value: &[u8], rule: u32) {
        match value.len() {
            n @ 0..128 => self.short_lengths |= 1 << n,
            _ => self.long_values = true,
        }
        push_unique(self.by_value.entry(value.into()).or_default(), rule);
    }

    fn is_empty(&self) -> bool {
        self.by_value.is_empty()
    }

    fn get(&self, value: &[u8]) -> Option<&[u32]> {
        let possible = match value.len() {
            n @ 0..128 => self.short_lengths & (1 << n) != 0,
            _ => self.long_values,
        };
        if !possible {
            return None;
        }
        self.by_value.get(value).map(Vec::as_slice)
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
                            contains: false,
                        })
                        .collect()
                })
                .collect(),
        }
    }

    /// The word comparisons answer as `starts_with` does, for keys of every length class (up to
    /// eight bytes, 9 to 16, longer), at every offset, including where the record ends inside
    /// the key and where only the first or only the last eight bytes agree.
    #[test]
    fn quoted_key_words_agree_with_starts_with() {
        for key in [
            "",
            "a",
            "abcdef",
            "abcdefg",
            "eventName",
            "abcdefghijklmn",
            "abcdefghijklmno",
            "eventSourceIPAddress",
        ] {
            let quoted = QuotedKey::new(key);
            let bytes = &quoted.bytes;
            let mut records: Vec<Vec<u8>> =
                (0..=bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            for at in 0..bytes.len() {
                let mut changed = bytes.to_vec();
                changed[at] ^= 0x20;
                records.push(changed);
            }
            for record in records {
                for padding in [0, 1, 7, 9, 20] {
                    let mut padded = vec![b'x'; padding];
                    padded.extend_from_slice(&record);
                    padded.extend_from_slice(b":1,\"x\"");
                    for trim in [0, 7] {
                        let padded = &padded[..padded.len().saturating_sub(trim)];
                        for at in 0..=padded.len() + 1 {
                            let expected = padded.get(at..).is_some_and(|r| r.starts_with(bytes));
                            assert_eq!(
                                quoted.is_at(padded, at),
                                expected,
                                "{key:?} {padded:?} {at}"
                            );
                        }
                    }
                }
            }
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
            &["trailtag"],
        )
    }

    fn candidates(record: &str) -> Vec<u32> {
        scan(record).0
    }

    fn scan(record: &str) -> (Vec<u32>, ScanFacts) {
        let (mut out, mut words, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
        let facts = filter().candidates_by_memmem(record.as_bytes(), &mut out);
        let word_facts = filter().candidates_by_words(record.as_bytes(), &mut words);
        let pair_facts = filter().candidates_by_pairs(record.as_bytes(), &mut pairs);
        assert_eq!(out, words);
        assert_eq!(out, pairs);
        assert_eq!(facts, word_facts);
        assert_eq!(facts, pair_facts);
        (out, facts)
    }

    fn builtin_prefilter() -> &'static Prefilter {
        static DETECTOR: std::sync::OnceLock<crate::Detector> = std::sync::OnceLock::new();
        DETECTOR
            .get_or_init(|| crate::Detector::builtin().unwrap())
            .prefilter()
    }

    fn same_candidates(prefilter: &Prefilter, record: &[u8]) {
        let (mut by_words, mut by_memmem, mut by_pairs) = (Vec::new(), Vec::new(), Vec::new());
        let facts_words = prefilter.candidates_by_words(record, &mut by_words);
        let facts_memmem = prefilter.candidates_by_memmem(record, &mut by_memmem);
        let facts_pairs = prefilter.candidates_by_pairs(record, &mut by_pairs);
        assert_eq!(by_words, by_memmem, "{:?}", String::from_utf8_lossy(record));
        assert_eq!(by_pairs, by_memmem, "{:?}", String::from_utf8_lossy(record));
        assert_eq!(facts_pairs, facts_memmem);
        assert_eq!(
            facts_words,
            facts_memmem,
            "{:?}",
            String::from_utf8_lossy(record)
        );
    }

    #[test]
    fn the_pair_scanner_also_tests_the_byte_that_tells_the_builtin_keys_from_common_ones() {
        // `"eventName"`, `"eventSource"`, `"trailtag"`: `N`, `S` and `t` six bytes in, where
        // `"eventTime"`, `"eventID"` and the other `"event` keys differ.
        let far = builtin_prefilter().far.unwrap();
        assert_eq!(far.offset, 6);
        let mut bytes = far.bytes.to_vec();
        bytes.sort_unstable();
        bytes.dedup();
        assert_eq!(bytes, b"NSt");
        // Keys with more distinct bytes at every offset than the filter takes: none.
        assert_eq!(
            far_filter(&["abcd", "bcdae", "cdabfg", "dabchij"], b"abcd"),
            None
        );
    }

    #[test]
    fn every_scanner_agrees_on_every_real_record() {
        for record in trailtag_conformance::corpus_records() {
            same_candidates(builtin_prefilter(), &record);
            same_candidates(&filter(), &record);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

        #[test]
        fn every_scanner_agrees_on_any_bytes(
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
        let ecs = Prefilter::new(&[], &["rule", "threat"]);
        for (record, holds) in [
            (r#"{"a":1,"threat":{}}"#, true),
            (r#"{"rule" :1}"#, true),
            (r#"{"a":"rule","b":["threat"]}"#, false),
            (r#"{"trailtag":1}"#, false),
        ] {
            let mut out = Vec::new();
            assert_eq!(
                ecs.candidates_by_memmem(record.as_bytes(), &mut out)
                    .may_hold_tag_key,
                holds,
                "{record}"
            );
            assert_eq!(
                ecs.candidates_by_words(record.as_bytes(), &mut out)
                    .may_hold_tag_key,
                holds,
                "{record}"
            );
        }
        let none = Prefilter::new(&[], &[]);
        assert!(
            !none
                .candidates_by_memmem(br#"{"trailtag":1}"#, &mut Vec::new())
                .may_hold_tag_key
        );
    }
}
