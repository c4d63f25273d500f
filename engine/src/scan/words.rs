//! The word scanner: one pass over a record, eight bytes at a time, for builds without SIMD.
//!
//! Without SIMD (the portable module Fluent Bit's interpreter runs) `memchr`'s passes crawl, so
//! [`scan_words`] makes a single pass, marking every `"` followed by the first byte of a pinned
//! key, and every backslash. It is hand-written because no library finds several needles and a
//! byte class in one pass without SIMD; a property test holds it to the `memchr` scanner
//! (`prefilter.rs`).

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

pub(crate) fn broadcast(byte: u8) -> u64 {
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
pub(crate) fn scan_words(
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
        [a, b, c] => scan_words_for(record, &[a, b, c], quote_followed_by),
        [a, b, c, d] => scan_words_for(record, &[a, b, c, d], quote_followed_by),
        [a, b, c, d, e, ..] => scan_words_for(record, &[a, b, c, d, e], quote_followed_by),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
