//! The pair scanner: one SIMD pass over a record for every `"` followed by the first byte of a
//! key the scan looks for, and for backslashes.
//!
//! The scan needs three things from a record's bytes: where the keys it pins may start, where
//! the tag key may start, and whether there is a backslash (an escape could disguise a key).
//! `memchr` finds one needle per pass, so that took three passes; this scanner takes one, 16
//! bytes a step: a byte is a hit when it is a quote and the next byte is one of the keys' first
//! bytes, and every hit is then verified by the caller. No library offers this search (memchr
//! has single needles; aho-corasick's Teddy finds several, but only on x86-64 and AArch64, not in
//! WebAssembly, where the module runs), hence this file.
//!
//! The vector steps are `wide`'s `u8x16` (safe portable SIMD over SSE2 on x86-64, NEON on
//! AArch64 and `simd128` in WebAssembly), so the engine stays free of `unsafe`. Where the target
//! has no SIMD (the portable module Fluent Bit's interpreter runs), `wide` would step through
//! arrays, so the eight-bytes-a-step word scanner (`words.rs`) runs instead. A property test holds
//! this function to a plain definition, and the prefilter's tests hold it to the `memchr` scanner.

/// Calls `hit` with the index of every `"` whose next byte is one of `firsts` (at most five
/// bytes), in order, possibly with a few other indexes the caller's verification discards, and
/// returns whether the record may contain a backslash (it surely does not when this is false).
pub(crate) fn scan_pairs(record: &[u8], firsts: &[u8], hit: impl FnMut(usize)) -> bool {
    match *firsts {
        [] => scan_pairs_for(record, &[], hit),
        [a] => scan_pairs_for(record, &[a], hit),
        [a, b] => scan_pairs_for(record, &[a, b], hit),
        [a, b, c] => scan_pairs_for(record, &[a, b, c], hit),
        [a, b, c, d] => scan_pairs_for(record, &[a, b, c, d], hit),
        [a, b, c, d, e, ..] => scan_pairs_for(record, &[a, b, c, d, e], hit),
    }
}

#[cfg(not(all(target_family = "wasm", not(target_feature = "simd128"))))]
fn scan_pairs_for<const N: usize>(
    record: &[u8],
    firsts: &[u8; N],
    mut hit: impl FnMut(usize),
) -> bool {
    use wide::u8x16;
    let (quote, backslash) = (u8x16::splat(b'"'), u8x16::splat(b'\\'));
    let first_vectors = firsts.map(u8x16::splat);
    let mut backslashes = u8x16::splat(0);
    let pairs_at = |chunk: &[u8; 16], next: &[u8; 16]| {
        let (chunk, next) = (u8x16::new(*chunk), u8x16::new(*next));
        let starts = first_vectors
            .iter()
            .fold(u8x16::splat(0), |acc, &f| acc | next.simd_eq(f));
        (chunk.simd_eq(quote) & starts, chunk.simd_eq(backslash))
    };
    let mut at = 0;
    // Two blocks a step: one branch per 32 bytes on the common path (no pair in either).
    while let Some(window) = record.get(at..at + 33) {
        let (Some(a), Some(a_next), Some(b), Some(b_next)) = (
            window.first_chunk::<16>(),
            window[1..].first_chunk::<16>(),
            window[16..].first_chunk::<16>(),
            window[17..].first_chunk::<16>(),
        ) else {
            break;
        };
        let (pairs_a, slashes_a) = pairs_at(a, a_next);
        let (pairs_b, slashes_b) = pairs_at(b, b_next);
        backslashes |= slashes_a | slashes_b;
        if (pairs_a | pairs_b).any() {
            report(pairs_a.to_bitmask(), at, &mut hit);
            report(pairs_b.to_bitmask(), at + 16, &mut hit);
        }
        at += 32;
    }
    while let Some(window) = record.get(at..at + 17) {
        let (Some(chunk), Some(next)) = (window.first_chunk::<16>(), window.last_chunk::<16>())
        else {
            break;
        };
        let (pairs, slashes) = pairs_at(chunk, next);
        backslashes |= slashes;
        if pairs.any() {
            report(pairs.to_bitmask(), at, &mut hit);
        }
        at += 16;
    }
    tail(record, at, firsts, hit) | backslashes.any()
}

#[cfg(all(target_family = "wasm", not(target_feature = "simd128")))]
fn scan_pairs_for<const N: usize>(record: &[u8], firsts: &[u8; N], hit: impl FnMut(usize)) -> bool {
    let words = firsts.map(super::words::broadcast);
    super::words::scan_words(record, &words, hit)
}

/// Calls `hit` for every set bit of `mask` (bit `i`: the byte at `base + i`).
#[cfg(not(all(target_family = "wasm", not(target_feature = "simd128"))))]
#[inline(always)]
fn report(mut mask: u32, base: usize, hit: &mut impl FnMut(usize)) {
    while mask != 0 {
        hit(base + mask.trailing_zeros() as usize);
        mask &= mask - 1;
    }
}

/// The last bytes, one at a time; returns whether one is a backslash.
#[cfg(not(all(target_family = "wasm", not(target_feature = "simd128"))))]
fn tail(record: &[u8], from: usize, firsts: &[u8], mut hit: impl FnMut(usize)) -> bool {
    let mut backslash = false;
    for (i, &byte) in record.iter().enumerate().skip(from) {
        backslash |= byte == b'\\';
        if byte == b'"' && record.get(i + 1).is_some_and(|next| firsts.contains(next)) {
            hit(i);
        }
    }
    backslash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(record: &[u8], firsts: &[u8]) -> (Vec<usize>, bool) {
        let mut hits = Vec::new();
        let backslash = scan_pairs(record, firsts, |i| hits.push(i));
        (hits, backslash)
    }

    /// The plain definition every build must agree with.
    fn reference(record: &[u8], firsts: &[u8]) -> (Vec<usize>, bool) {
        let hits = (0..record.len())
            .filter(|&i| record[i] == b'"' && record.get(i + 1).is_some_and(|n| firsts.contains(n)))
            .collect();
        (hits, record.contains(&b'\\'))
    }

    #[test]
    fn hits_across_every_block_edge() {
        let mut record = [b'x'; 70];
        for at in [0, 14, 15, 16, 31, 47, 68] {
            record[at] = b'"';
            record[at + 1] = if at % 2 == 0 { b'e' } else { b't' };
        }
        record[33] = b'\\';
        for len in 0..=record.len() {
            assert_eq!(
                pairs(&record[..len], b"et"),
                reference(&record[..len], b"et"),
                "{len}"
            );
        }
        assert_eq!(pairs(b"\"e", b"e"), (vec![0], false));
        assert_eq!(pairs(b"\"e\"x\"t\\", b"xt"), (vec![2, 4], true));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        #[test]
        fn agrees_with_the_definition(
            record in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just(b'"'),
                proptest::prelude::Just(b'e'),
                proptest::prelude::Just(b't'),
                proptest::prelude::Just(b'\\'),
                proptest::prelude::any::<u8>(),
            ], 0..200),
            firsts in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just(b'e'),
                proptest::prelude::Just(b't'),
                proptest::prelude::any::<u8>(),
            ], 0..4),
        ) {
            proptest::prop_assert_eq!(pairs(&record, &firsts), reference(&record, &firsts[..firsts.len().min(3)]));
        }
    }
}
