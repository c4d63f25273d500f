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

use rustc_hash::FxHashMap;

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
    /// For each folded two-byte block, how far the window may move when it ends with it.
    shift: Box<[u8]>,
    /// Patterns whose first `window` bytes end with a block, by block.
    ending: FxHashMap<u16, Vec<u16>>,
}

/// One value to look for, and whether the rule reading it folds case.
#[derive(Debug, Clone, Copy)]
pub struct Pattern<'a> {
    /// The value.
    pub bytes: &'a [u8],
    /// Whether the rule compares it case-insensitively.
    pub folded: bool,
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
            let bytes: Box<[u8]> = pattern.bytes.iter().map(|&b| fold(b)).collect();
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
        let mut shift = vec![u8::try_from(window - BLOCK + 1).ok()?; 1 << 16].into_boxed_slice();
        let mut ending: FxHashMap<u16, Vec<u16>> = FxHashMap::default();
        for (index, pattern) in folded.iter().enumerate() {
            let head = &pattern[..window];
            for end in BLOCK - 1..window {
                let block = block_of(head[end - 1], head[end]);
                let distance = u8::try_from(window - 1 - end).ok()?;
                let slot = &mut shift[usize::from(block)];
                *slot = (*slot).min(distance);
            }
            let last = block_of(head[window - 2], head[window - 1]);
            ending
                .entry(last)
                .or_default()
                .push(u16::try_from(index).ok()?);
        }
        Some(SkipScan {
            patterns: folded,
            window,
            shift,
            ending,
        })
    }

    /// Whether some pattern occurs in `text` (ASCII case folded).
    pub fn occurs_in(&self, text: &[u8]) -> bool {
        let mut end = self.window - 1;
        while let Some((&before, &last)) = end
            .checked_sub(1)
            .and_then(|b| text.get(b))
            .zip(text.get(end))
        {
            let block = block_of(fold(before), fold(last));
            let skip = self.shift[usize::from(block)];
            if skip > 0 {
                end += usize::from(skip);
                continue;
            }
            if self.verify(text, end + 1 - self.window, block) {
                return true;
            }
            end += 1;
        }
        false
    }

    /// Whether a pattern whose head ends with `block` starts at `start`.
    fn verify(&self, text: &[u8], start: usize, block: u16) -> bool {
        let Some(candidates) = self.ending.get(&block) else {
            return false;
        };
        candidates.iter().any(|&index| {
            let pattern = &self.patterns[usize::from(index)];
            text.get(start..start + pattern.len())
                .is_some_and(|window| {
                    window
                        .iter()
                        .zip(pattern.iter())
                        .all(|(&t, &p)| fold(t) == p)
                })
        })
    }
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
    fn patterns_fluent_bit_could_escape_or_unicode_could_fold_are_refused() {
        let refused = |bytes: &[u8], folded| SkipScan::new(&[Pattern { bytes, folded }]).is_none();
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
            let owned: Vec<Pattern<'_>> = patterns.iter().map(|p| Pattern { bytes: p, folded: false }).collect();
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
