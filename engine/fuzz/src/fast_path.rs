//! The fast path is exact (the property of `engine/tests/fast_path.rs`): for every input,
//! [`Detector::tag_record`] writes the same bytes and reports the same rules as
//! [`Detector::tag_record_exhaustively`]; with `validate` it also agrees on which records are
//! unreadable.

use trailtag_engine::{Detector, Options, Scratch, Verdict};

/// A verdict reduced to what both paths must agree on.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// Not tagged (skipped by the scan or evaluated without a match).
    NoMatch,
    /// Tagged by these rules.
    Tagged(Vec<u32>),
    /// Not a JSON object the engine can read.
    Unreadable,
}

/// The record's output line (the input itself unless tagged) and its kind.
pub fn decide(
    detector: &Detector,
    record: &[u8],
    exhaustive: bool,
    validate: bool,
) -> (Vec<u8>, Kind) {
    let mut scratch = Scratch::default();
    let mut out: Vec<u8> = Vec::new();
    let verdict = if exhaustive {
        detector.tag_record_exhaustively(record, &mut scratch, &mut out)
    } else {
        let options = Options {
            only_matches: false,
            validate,
            ..Options::default()
        };
        detector.tag_record(record, &options, &mut scratch, &mut out)
    };
    let kind = match verdict {
        Verdict::Tagged => Kind::Tagged(scratch.matched().to_vec()),
        Verdict::Skipped | Verdict::NoMatch => Kind::NoMatch,
        Verdict::Unreadable(_) => Kind::Unreadable,
    };
    if kind == Kind::Unreadable {
        assert!(out == record, "an unreadable record was changed");
    }
    (out, kind)
}

/// The property. Without `validate`, the fast path may pass a malformed record the scan rules
/// out through without calling it unreadable; its output bytes must still be the same.
pub fn assert_fast_path_is_exact(detector: &Detector, record: &[u8]) {
    let (reference_out, reference) = decide(detector, record, true, false);
    let (validated_out, validated) = decide(detector, record, false, true);
    assert_eq!(validated, reference, "validated fast path vs exhaustive");
    assert!(
        validated_out == reference_out,
        "validated fast path wrote other bytes"
    );
    let (fast_out, fast) = decide(detector, record, false, false);
    assert!(fast_out == reference_out, "fast path wrote other bytes");
    match reference {
        Kind::Unreadable => assert!(matches!(fast, Kind::Unreadable | Kind::NoMatch)),
        _ => assert_eq!(fast, reference, "fast path vs exhaustive"),
    }
}
