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

/// A second byte a hit must have: the byte `offset` places after the `"` is one of `bytes`
/// (repeated to fill the array when fewer). The keys a scan looks for share a prefix (`"event`)
/// far more often than they share a byte further in (`N` of `"eventName"`, `S` of
/// `"eventSource"`), so this cuts the hits to verify to about the keys themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Far {
    /// Bytes after the quote, at least 2.
    pub offset: usize,
    /// The bytes accepted there.
    pub bytes: [u8; FAR_BYTES],
}

/// How many distinct bytes a [`Far`] filter may accept.
pub(crate) const FAR_BYTES: usize = 3;

/// Calls `hit` with the index of every `"` whose next byte is one of `firsts` (at most five
/// bytes) and, with `far`, whose byte `far.offset` places on is one of `far.bytes`, in order,
/// possibly with a few other indexes the caller's verification discards (and, without SIMD,
/// with `far` not applied), and returns whether the record may contain a backslash (it surely
/// does not when this is false).
pub(crate) fn scan_pairs(
    record: &[u8],
    firsts: &[u8],
    far: Option<Far>,
    hit: impl FnMut(usize),
) -> bool {
    match *firsts {
        [] => scan_pairs_for(record, &[], far, hit),
        [a] => scan_pairs_for(record, &[a], far, hit),
        [a, b] => scan_pairs_for(record, &[a, b], far, hit),
        [a, b, c] => scan_pairs_for(record, &[a, b, c], far, hit),
        [a, b, c, d] => scan_pairs_for(record, &[a, b, c, d], far, hit),
        [a, b, c, d, e, ..] => scan_pairs_for(record, &[a, b, c, d, e], far, hit),
    }
}

#[cfg(not(all(target_family = "wasm", not(target_feature = "simd128"))))]
fn scan_pairs_for<const N: usize>(
    record: &[u8],
    firsts: &[u8; N],
    far: Option<Far>,
    hit: impl FnMut(usize),
) -> bool {
    match far {
        Some(far) if far.offset >= 2 => scan_blocks::<N, true>(record, firsts, far, hit),
        _ => {
            let near = Far {
                offset: 1,
                bytes: [0; FAR_BYTES],
            };
            scan_blocks::<N, false>(record, firsts, near, hit)
        }
    }
}

/// The SIMD loop; with `FAR`, a hit also needs `far`'s byte (one more load and compare a
/// block, for a fraction of the hits).
#[cfg(not(all(target_family = "wasm", not(target_feature = "simd128"))))]
#[inline(always)]
fn scan_blocks<const N: usize, const FAR: bool>(
    record: &[u8],
    firsts: &[u8; N],
    far: Far,
    mut hit: impl FnMut(usize),
) -> bool {
    use wide::u8x16;
    let (quote, backslash) = (u8x16::splat(b'"'), u8x16::splat(b'\\'));
    let first_vectors = firsts.map(u8x16::splat);
    let far_vectors = far.bytes.map(u8x16::splat);
    let reach = far.offset;
    let any_of = |block: u8x16, of: &[u8x16]| {
        of.iter()
            .fold(u8x16::splat(0), |acc, &f| acc | block.simd_eq(f))
    };
    // The pairs and backslashes of the 16 bytes at `from` in `window` (which holds `reach`
    // bytes more).
    let block_at = |window: &[u8], from: usize| {
        let (Some(chunk), Some(next), Some(further)) = (
            window[from..].first_chunk::<16>(),
            window[from + 1..].first_chunk::<16>(),
            window[from + reach..].first_chunk::<16>(),
        ) else {
            return (u8x16::splat(0), u8x16::splat(0));
        };
        let (chunk, next) = (u8x16::new(*chunk), u8x16::new(*next));
        let mut starts = any_of(next, &first_vectors);
        if FAR {
            starts &= any_of(u8x16::new(*further), &far_vectors);
        }
        (chunk.simd_eq(quote) & starts, chunk.simd_eq(backslash))
    };
    let mut backslashes = u8x16::splat(0);
    let mut at = 0;
    // Two blocks a step: one branch per 32 bytes on the common path (no pair in either).
    while let Some(window) = record.get(at..at + 32 + reach) {
        let (pairs_a, slashes_a) = block_at(window, 0);
        let (pairs_b, slashes_b) = block_at(window, 16);
        backslashes |= slashes_a | slashes_b;
        if (pairs_a | pairs_b).any() {
            report(pairs_a.to_bitmask(), at, &mut hit);
            report(pairs_b.to_bitmask(), at + 16, &mut hit);
        }
        at += 32;
    }
    while let Some(window) = record.get(at..at + 16 + reach) {
        let (pairs, slashes) = block_at(window, 0);
        backslashes |= slashes;
        if pairs.any() {
            report(pairs.to_bitmask(), at, &mut hit);
        }
        at += 16;
    }
    // The last bytes: two more blocks over a copy padded with zeros, when they fit and the
    // padding can add no hit (no key starts with a zero byte or has one further in).
    let rest = &record[at..];
    let inert = !firsts.contains(&0) && (!FAR || !far.bytes.contains(&0));
    if inert && rest.len() <= 32 && reach <= MAX_PADDED_REACH {
        let mut padded = [0u8; 32 + 16 + MAX_PADDED_REACH];
        padded[..rest.len()].copy_from_slice(rest);
        let (pairs_a, slashes_a) = block_at(&padded, 0);
        let (pairs_b, slashes_b) = block_at(&padded, 16);
        // Fewer than 16 + `reach` bytes are left, so every hit is in the first block; the
        // second is read for its backslashes.
        report(pairs_a.to_bitmask(), at, &mut hit);
        debug_assert!(!pairs_b.any());
        return (backslashes | slashes_a | slashes_b).any();
    }
    let far = FAR.then_some(far);
    tail(record, at, firsts, far, hit) | backslashes.any()
}

/// The furthest [`Far::offset`] for which the last bytes are scanned as padded blocks.
#[cfg(not(all(target_family = "wasm", not(target_feature = "simd128"))))]
const MAX_PADDED_REACH: usize = 32;

#[cfg(all(target_family = "wasm", not(target_feature = "simd128")))]
fn scan_pairs_for<const N: usize>(
    record: &[u8],
    firsts: &[u8; N],
    _far: Option<Far>,
    hit: impl FnMut(usize),
) -> bool {
    // The word scanner tests the next byte only: the far byte would cost more than it saves.
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
fn tail(
    record: &[u8],
    from: usize,
    firsts: &[u8],
    far: Option<Far>,
    mut hit: impl FnMut(usize),
) -> bool {
    let mut backslash = false;
    for (i, &byte) in record.iter().enumerate().skip(from) {
        backslash |= byte == b'\\';
        if byte == b'"' && is_pair_at(record, i, firsts, far) {
            hit(i);
        }
    }
    backslash
}

/// Whether the `"` at `quote` is followed as [`scan_pairs`] asks.
#[cfg(not(all(target_family = "wasm", not(target_feature = "simd128"))))]
fn is_pair_at(record: &[u8], quote: usize, firsts: &[u8], far: Option<Far>) -> bool {
    record
        .get(quote + 1)
        .is_some_and(|next| firsts.contains(next))
        && far.is_none_or(|far| {
            (record.get(quote + far.offset)).is_some_and(|byte| far.bytes.contains(byte))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(record: &[u8], firsts: &[u8], far: Option<Far>) -> (Vec<usize>, bool) {
        let mut hits = Vec::new();
        let backslash = scan_pairs(record, firsts, far, |i| hits.push(i));
        (hits, backslash)
    }

    /// The plain definition every build must agree with.
    fn reference(record: &[u8], firsts: &[u8], far: Option<Far>) -> (Vec<usize>, bool) {
        let hits = (0..record.len())
            .filter(|&i| record[i] == b'"' && record.get(i + 1).is_some_and(|n| firsts.contains(n)))
            .filter(|&i| {
                far.is_none_or(|far| {
                    record
                        .get(i + far.offset)
                        .is_some_and(|b| far.bytes.contains(b))
                })
            })
            .collect();
        (hits, record.contains(&b'\\'))
    }

    #[test]
    fn hits_across_every_block_edge() {
        let mut record = [b'x'; 70];
        for at in [0, 14, 15, 16, 31, 47, 62] {
            record[at] = b'"';
            record[at + 1] = if at % 2 == 0 { b'e' } else { b't' };
            record[at + 6] = if at % 3 == 0 { b'N' } else { b'y' };
        }
        record[33] = b'\\';
        let far = Far {
            offset: 6,
            bytes: [b'N', b'S', b'N'],
        };
        for len in 0..=record.len() {
            for far in [None, Some(far)] {
                assert_eq!(
                    pairs(&record[..len], b"et", far),
                    reference(&record[..len], b"et", far),
                    "{len} {far:?}"
                );
            }
        }
        assert_eq!(pairs(b"\"e", b"e", None), (vec![0], false));
        assert_eq!(pairs(b"\"e\"x\"t\\", b"xt", None), (vec![2, 4], true));
        assert_eq!(pairs(b"\"eventName\"", b"e", Some(far)), (vec![0], false));
        assert_eq!(pairs(b"\"eventTime\"", b"e", Some(far)), (vec![], false));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]

        #[test]
        fn agrees_with_the_definition(
            record in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just(b'"'),
                proptest::prelude::Just(b'e'),
                proptest::prelude::Just(b't'),
                proptest::prelude::Just(b'N'),
                proptest::prelude::Just(b'\\'),
                proptest::prelude::any::<u8>(),
            ], 0..200),
            firsts in proptest::collection::vec(proptest::prop_oneof![
                proptest::prelude::Just(b'e'),
                proptest::prelude::Just(b't'),
                proptest::prelude::any::<u8>(),
            ], 0..4),
            far in proptest::option::of((2usize..12, proptest::array::uniform3(proptest::prop_oneof![
                proptest::prelude::Just(b'N'),
                proptest::prelude::Just(b't'),
                proptest::prelude::any::<u8>(),
            ]))),
        ) {
            let far = far.map(|(offset, bytes)| Far { offset, bytes });
            proptest::prop_assert_eq!(
                pairs(&record, &firsts, far),
                reference(&record, &firsts[..firsts.len().min(3)], far)
            );
        }
    }
}
