//! Framing: the streaming splitter on any bytes cut into chunks anywhere, and `sniff`.
//!
//! Input: a byte choosing the framing, a byte choosing the size limit, a byte giving the number
//! of cuts, two bytes per cut (its position), then the stream. Properties: nothing panics; the
//! pieces and the end result are the same whether the stream comes whole, cut at the chosen
//! points or one byte at a time (oversized records compared by their bytes, which may come in
//! differently sized pieces); no piece holds a `\n`; no complete record exceeds the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailtag_engine::framing::{Framing, Piece, Splitter, sniff, to_one_line};

const FRAMINGS: [Framing; 3] = [Framing::Lines, Framing::RecordsArray, Framing::Concatenated];
const LIMITS: [usize; 6] = [usize::MAX, 1 << 20, 256, 16, 1, 0];

fuzz_target!(|data: &[u8]| {
    let [framing, limit, cuts, rest @ ..] = data else {
        return;
    };
    let cuts = usize::from(cuts % 16);
    if rest.len() < 2 * cuts {
        return;
    }
    let (positions, stream) = rest.split_at(2 * cuts);
    let framing = FRAMINGS[usize::from(*framing) % FRAMINGS.len()];
    let limit = LIMITS[usize::from(*limit) % LIMITS.len()];
    let whole = split(framing, limit, &[stream]);
    let cut = split(framing, limit, &cut_at(stream, positions));
    assert_eq!(cut, whole, "cut at the chosen points");
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(split(framing, limit, &bytes), whole, "one byte at a time");
    let _ = sniff(stream);
    assert!(!to_one_line(stream).contains(&b'\n'));
});

/// What a splitter emitted: complete records, oversized records (their pieces joined), and how
/// the stream ended.
#[derive(Debug, PartialEq, Eq)]
struct Split {
    records: Vec<(bool, Vec<u8>)>,
    end: String,
}

fn split(framing: Framing, limit: usize, chunks: &[&[u8]]) -> Split {
    let mut splitter = Splitter::new(framing, limit);
    let mut records = Vec::new();
    let mut oversized: Option<Vec<u8>> = None;
    let mut emit = |piece: Piece<'_>| match piece {
        Piece::Record(bytes) => {
            assert!(oversized.is_none(), "a record inside an oversized one");
            assert!(!bytes.contains(&b'\n'), "a record holds a line break");
            assert!(bytes.len() <= limit, "a record over the limit");
            records.push((false, bytes.to_vec()));
        }
        Piece::OversizedChunk(bytes) => {
            assert!(
                !bytes.contains(&b'\n'),
                "an oversized chunk holds a line break"
            );
            oversized
                .get_or_insert_with(Vec::new)
                .extend_from_slice(bytes);
        }
        Piece::OversizedEnd => match oversized.take() {
            Some(bytes) => records.push((true, bytes)),
            None => panic!("the end of an oversized record that did not start"),
        },
    };
    for chunk in chunks {
        splitter.push(chunk, &mut emit);
    }
    let end = format!("{:?}", splitter.finish(&mut emit));
    assert!(oversized.is_none(), "an oversized record without its end");
    Split { records, end }
}

/// `stream` cut at the positions (two bytes each, taken modulo its length), empty chunks included.
fn cut_at<'s>(stream: &'s [u8], positions: &[u8]) -> Vec<&'s [u8]> {
    let mut at: Vec<usize> = positions
        .chunks_exact(2)
        .map(|p| usize::from(u16::from_le_bytes([p[0], p[1]])) % (stream.len() + 1))
        .collect();
    at.sort_unstable();
    let mut chunks = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for end in at {
        chunks.push(&stream[start..end]);
        start = end;
    }
    chunks.push(&stream[start..]);
    chunks
}
