//! How often each byte occurs in CloudTrail records, for `memchr`'s substring search.
//!
//! `memchr::memmem` finds a needle by first looking for its two rarest bytes (SIMD, several
//! bytes a step) and only then comparing the whole needle. Its built-in ranking comes from
//! general text, where `"` and `:` are rare; in JSON they are the commonest bytes, so a needle
//! such as `"trailtag"` would be found through its quotes and verified at every one of them.
//! This table ranks bytes by their frequency in the real CloudTrail corpus (`../shared`), most
//! frequent 255, never seen 0, so that the search keys on `g` and `l` instead. A test recomputes
//! the table from the corpus (`tests::the_table_is_the_corpus_ranking`).

use memchr::arch::all::packedpair::HeuristicFrequencyRank;

/// Byte ranks in CloudTrail records (higher is more frequent).
pub const RANK: [u8; 256] = [
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 149, 10, 255, 12, 7, 27, 4, 15, 61, 64, 18, 58, 218, 229, 198, 169, 201, 215, 224, 204, 175,
    147, 155, 195, 181, 172, 238, 50, 0, 24, 0, 1, 21, 192, 72, 141, 135, 132, 101, 69, 115, 184,
    55, 81, 67, 109, 121, 75, 112, 104, 118, 161, 138, 84, 107, 47, 52, 32, 95, 35, 30, 38, 0, 44,
    0, 249, 158, 221, 212, 252, 164, 152, 129, 226, 78, 87, 189, 206, 235, 232, 187, 92, 244, 241,
    246, 209, 178, 167, 89, 144, 98, 124, 0, 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// [`RANK`] for `memchr`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudTrailRank;

impl HeuristicFrequencyRank for CloudTrailRank {
    fn rank(&self, byte: u8) -> u8 {
        RANK[usize::from(byte)]
    }
}

/// A forward finder for `needle` that ranks bytes as CloudTrail records have them.
pub fn finder(needle: &[u8]) -> memchr::memmem::Finder<'static> {
    memchr::memmem::FinderBuilder::new()
        .build_forward_with_ranker(CloudTrailRank, needle)
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ranking the table should hold: bytes ordered by their count in the corpus (ties by
    /// value), the ones seen spread over 1..=255, the others 0.
    fn ranking(counts: &[u64; 256]) -> [u8; 256] {
        let mut order: Vec<usize> = (0..256).collect();
        order.sort_by_key(|&b| (counts[b], b));
        let seen: Vec<usize> = order.into_iter().filter(|&b| counts[b] > 0).collect();
        let mut rank = [0u8; 256];
        let span = (seen.len().max(2) - 1) as f64;
        for (i, &b) in seen.iter().enumerate() {
            rank[b] = (1.0 + i as f64 * 254.0 / span).round() as u8;
        }
        rank
    }

    #[test]
    fn the_table_is_the_corpus_ranking() {
        let mut counts = [0u64; 256];
        for byte in trailtag_conformance::corpus_ndjson() {
            counts[usize::from(byte)] += 1;
        }
        // The corpus as the tests read it has a newline after each file's last record.
        assert_eq!(
            ranking(&counts).iter().filter(|&&r| r > 0).count(),
            RANK.iter().filter(|&&r| r > 0).count()
        );
        let differing = ranking(&counts)
            .iter()
            .zip(RANK)
            .filter(|(a, b)| a.abs_diff(*b) > 3)
            .count();
        assert_eq!(differing, 0, "recompute RANK from the corpus");
    }
}
