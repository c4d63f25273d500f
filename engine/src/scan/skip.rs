//! The skip scan: a sublinear candidate test for records Fluent Bit encoded, for the
//! interpreter that runs the portable module inside Fluent Bit.
//!
//! Every other scan reads each byte of a record once. In WAMR's interpreter, which runs the
//! `.wasm` most Fluent Bit users load, each byte read costs several interpreted instructions,
//! and that pass was the whole cost of saying "no" (`pipelines/fluent-bit/README.md` §6). This
//! scan reads a fraction of the bytes: a Wu-Manber search (Horspool's skip loop for several
//! patterns, on two-byte blocks) for the values the rules pin, ASCII case-folded. A window whose
//! last two bytes end no pattern is skipped whole, so on a CloudTrail record most bytes are
//! never read.
//!
//! **Why it is exact under Fluent Bit's ABI, and only there.** It looks for pinned values as
//! raw bytes, which is a necessary condition for a match only when no escape can hide a value.
//! Fluent Bit writes the JSON a filter receives itself (`flb_utils_write_str`): it escapes `"`,
//! `\`, control characters and DEL, and non-ASCII characters (as `\uXXXX`, or raw UTF-8 with
//! `json.escape_unicode off`), never a printable ASCII character. So a record Fluent Bit hands
//! over that matches a rule holds the rule's pinned value byte for byte, and so does a record
//! holding a tag member to strip (`trailtag`). The scan is therefore built only when every
//! pattern is printable ASCII without `"` or `\`, and, since it folds ASCII case, only when no
//! case-insensitive pattern holds `s` or `k` (Unicode folds `ſ` to `s` and the Kelvin sign to
//! `k`, letters Fluent Bit escapes); when every rule pins something; and it is used only for
//! the Fluent Bit exports ([`crate::Options::encoded_by_fluent_bit`]). A record it rules out
//! is one the full scan rules out or parses to no match: both leave it unchanged. The property
//! test `engine/tests/fast_path.rs` holds it to the exhaustive evaluation on records encoded
//! the way Fluent Bit encodes them.

/// Patterns shorter than this make the skips too short to pay for the table: no skip scan.
const MIN_PATTERN: usize = 4;
/// Bytes per block of the shift table.
const BLOCK: usize = 2;

/// The compiled patterns.
#[derive(Debug, Clone)]
pub struct SkipScan {
    /// Folded patterns.
    patterns: Vec<Box<[u8]>>,
    /// The length of the shortest pattern: the window.
    window: usize,
    /// For each two-byte block, in any ASCII case, how far the window may move when it ends
    /// with it (indexed by the raw bytes: no folding in the loop).
    shift: Box<[u8; 1 << 16]>,
    /// For each folded block, 1 + the index in `ending_lists` of the (pattern, offset) pairs
    /// whose window ends with it; 0 when none does. A table, not a map: the lookup runs in an
    /// interpreter.
    ending: Box<[u16; 1 << 16]>,
    /// Each pattern whose window ends with a block, and where its window starts in it.
    ending_lists: Vec<Vec<(u16, u16)>>,
}

/// One value to look for, and whether the rule reading it folds case.
#[derive(Debug, Clone, Copy)]
pub struct Pattern<'a> {
    /// The value.
    pub bytes: &'a [u8],
    /// Whether the rule compares it case-insensitively.
    pub folded: bool,
    /// Whether it is a whole JSON string (a key, or the value of an equality test), so that
    /// its quotes are part of what Fluent Bit writes: a longer pattern, longer skips.
    pub quoted: bool,
}

impl SkipScan {
    /// The scan for `patterns`, or `None` when one of them could be escaped by Fluent Bit or
    /// disguised by Unicode folding, or is too short to skip on.
    pub fn new(patterns: &[Pattern<'_>]) -> Option<SkipScan> {
        if patterns.is_empty() {
            return None;
        }
        let mut folded: Vec<Box<[u8]>> = Vec::with_capacity(patterns.len());
        for pattern in patterns {
            if !is_plain(pattern) {
                return None;
            }
            let quote = pattern.quoted.then_some(&b'"');
            let bytes: Box<[u8]> = quote
                .into_iter()
                .chain(pattern.bytes)
                .chain(quote)
                .map(|&b| fold(b))
                .collect();
            if !folded.contains(&bytes) {
                folded.push(bytes);
            }
        }
        let window = folded
            .iter()
            .map(|p| p.len())
            .min()?
            .min(usize::from(u8::MAX));
        if window < MIN_PATTERN || folded.len() > usize::from(u16::MAX) {
            return None;
        }
        // Built on the heap: 64 KiB would crowd the module's stack.
        let mut shift: Box<[u8; 1 << 16]> = vec![u8::try_from(window - BLOCK + 1).ok()?; 1 << 16]
            .into_boxed_slice()
            .try_into()
            .ok()?;
        let mut ending: Box<[u16; 1 << 16]> =
            vec![0u16; 1 << 16].into_boxed_slice().try_into().ok()?;
        let mut ending_lists: Vec<Vec<(u16, u16)>> = Vec::new();
        for (index, pattern) in folded.iter().enumerate() {
            let offset = rarest_window(pattern, window);
            let head = &pattern[offset..offset + window];
            for end in BLOCK - 1..window {
                let distance = u8::try_from(window - 1 - end).ok()?;
                for block in cases_of(head[end - 1], head[end]) {
                    let slot = &mut shift[usize::from(block)];
                    *slot = (*slot).min(distance);
                }
            }
            let last = usize::from(block_of(head[window - 2], head[window - 1]));
            if ending[last] == 0 {
                ending_lists.push(Vec::new());
                ending[last] = u16::try_from(ending_lists.len()).ok()?;
            }
            let entry = (u16::try_from(index).ok()?, u16::try_from(offset).ok()?);
            ending_lists[usize::from(ending[last]) - 1].push(entry);
        }
        Some(SkipScan {
            patterns: folded,
            window,
            shift,
            ending,
            ending_lists,
        })
    }

    /// Whether some pattern occurs in `text` (ASCII case folded). The loop reads two bytes and
    /// one table entry per step and moves by up to the window's length; it is written for an
    /// interpreter: no folding, no bounds checks but the loop's own.
    pub fn occurs_in(&self, text: &[u8]) -> bool {
        let shift: &[u8; 1 << 16] = &self.shift;
        let mut end = self.window - 1;
        while end < text.len() {
            let block = block_of(text[end - 1], text[end]);
            let skip = shift[usize::from(block)];
            if skip > 0 {
                end += usize::from(skip);
                continue;
            }
            if self.verify(
                text,
                end + 1 - self.window,
                block_of(fold(text[end - 1]), fold(text[end])),
            ) {
                return true;
            }
            end += 1;
        }
        false
    }

    /// Whether a pattern whose window ends with `block` (folded) is where the window starting
    /// at `start` is.
    fn verify(&self, text: &[u8], start: usize, block: u16) -> bool {
        let Some(list) = usize::from(self.ending[usize::from(block)]).checked_sub(1) else {
            return false;
        };
        self.ending_lists[list].iter().any(|&(index, offset)| {
            let pattern = &self.patterns[usize::from(index)];
            start
                .checked_sub(usize::from(offset))
                .and_then(|from| text.get(from..from + pattern.len()))
                .is_some_and(|found| {
                    found
                        .iter()
                        .zip(pattern.iter())
                        .all(|(&t, &p)| fold(t) == p)
                })
        })
    }
}

/// Where in `pattern` the `window` bytes whose last block is rarest in CloudTrail start: the
/// scan stops to verify wherever a window's last block ends one, so a common pair (`ro` in
/// `"CreateGroup"`, which every `role` shares) would stop it often.
fn rarest_window(pattern: &[u8], window: usize) -> usize {
    let rank = |b: u8| u32::from(super::rank::RANK[usize::from(b)]);
    (0..=pattern.len() - window)
        .min_by_key(|&offset| {
            let (a, b) = (pattern[offset + window - 2], pattern[offset + window - 1]);
            rank(a) + rank(b.to_ascii_uppercase()).max(rank(b))
        })
        .unwrap_or(0)
}

/// Printable ASCII that Fluent Bit writes as it is, and, for a folded pattern, no letter that
/// Unicode folding relates to a non-ASCII one.
fn is_plain(pattern: &Pattern<'_>) -> bool {
    pattern
        .bytes
        .iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        && !(pattern.folded
            && pattern
                .bytes
                .iter()
                .any(|b| matches!(b.to_ascii_lowercase(), b's' | b'k')))
}

#[inline(always)]
fn fold(byte: u8) -> u8 {
    byte.to_ascii_lowercase()
}

/// The block `first second` in every ASCII case (folded bytes in, up to four blocks out).
fn cases_of(first: u8, second: u8) -> impl Iterator<Item = u16> {
    let variants = |b: u8| [b, b.to_ascii_uppercase()];
    let (firsts, seconds) = (variants(first), variants(second));
    let mut blocks: Vec<u16> = firsts
        .iter()
        .flat_map(|&a| seconds.iter().map(move |&b| block_of(a, b)))
        .collect();
    blocks.sort_unstable();
    blocks.dedup();
    blocks.into_iter()
}

#[inline(always)]
fn block_of(first: u8, second: u8) -> u16 {
    u16::from(first) << 8 | u16::from(second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(patterns: &[&str]) -> SkipScan {
        let patterns: Vec<Pattern<'_>> = patterns
            .iter()
            .map(|p| Pattern {
                bytes: p.as_bytes(),
                folded: false,
                quoted: false,
            })
            .collect();
        SkipScan::new(&patterns).unwrap()
    }

    #[test]
    fn finds_patterns_anywhere_in_any_ascii_case() {
        let s = scan(&["CreateGroup", "DeleteGroup", "rolesanywhere.amazonaws.com"]);
        assert!(s.occurs_in(br#"{"eventName":"CreateGroup"}"#));
        assert!(s.occurs_in(b"CreateGroup"));
        assert!(s.occurs_in(b"xdeletegroup"));
        assert!(s.occurs_in(br#"{"eventSource":"rolesanywhere.amazonaws.com"}"#));
        assert!(!s.occurs_in(br#"{"eventName":"CreateGrou","x":"reateGroup"}"#));
        assert!(!s.occurs_in(b""));
        assert!(!s.occurs_in(b"Cr"));
    }

    #[test]
    fn quoted_patterns_match_whole_strings_only() {
        let s = SkipScan::new(&[Pattern {
            bytes: b"CreateGroup",
            folded: false,
            quoted: true,
        }])
        .unwrap();
        assert!(s.occurs_in(br#"{"eventName":"CreateGroup"}"#));
        assert!(!s.occurs_in(br#"{"eventName":"CreateGroups"}"#));
    }

    #[test]
    fn patterns_fluent_bit_could_escape_or_unicode_could_fold_are_refused() {
        let refused = |bytes: &[u8], folded| {
            SkipScan::new(&[Pattern {
                bytes,
                folded,
                quoted: false,
            }])
            .is_none()
        };
        assert!(refused(b"a\"quote", false));
        assert!(refused(b"caf\xc3\xa9", false));
        assert!(refused(b"tab\there", false));
        assert!(refused(b"abc", false), "too short to skip on");
        assert!(refused(b"ListUsers", true), "a folded s");
        assert!(!refused(b"ListUsers", false));
        assert!(!refused(b"GetObject", true));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, ..Default::default() })]

        #[test]
        fn agrees_with_a_plain_search(
            text in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just(b'a'), proptest::prelude::Just(b'B'),
                proptest::prelude::Just(b'c'), proptest::prelude::Just(b'"'),
                proptest::prelude::any::<u8>(),
            ], 0..120),
            patterns in proptest::collection::vec(
                proptest::collection::vec(proptest::prop_oneof![
                    proptest::prelude::Just(b'a'), proptest::prelude::Just(b'b'),
                    proptest::prelude::Just(b'C'),
                ], 4..9), 1..4),
        ) {
            let owned: Vec<Pattern<'_>> = patterns.iter().map(|p| Pattern { bytes: p, folded: false, quoted: false }).collect();
            let s = SkipScan::new(&owned).unwrap();
            let folded_text: Vec<u8> = text.iter().map(|b| b.to_ascii_lowercase()).collect();
            let plain = patterns.iter().any(|p| {
                let p: Vec<u8> = p.iter().map(|b| b.to_ascii_lowercase()).collect();
                folded_text.windows(p.len()).any(|w| w == p.as_slice())
            });
            proptest::prop_assert_eq!(s.occurs_in(&text), plain);
        }
    }
}
