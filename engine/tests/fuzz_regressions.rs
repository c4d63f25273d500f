//! Inputs the fuzz targets (`engine/fuzz`, run by `scripts/fuzz`) found to break a documented
//! property, minimised, each with the property it broke. The fixes are in the engine; these tests
//! keep them fixed without a fuzzer.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use trailtag_engine::framing::{Framing, FramingError, Piece, Splitter, sniff};
use trailtag_engine::{Detector, Options, Scratch, Verdict};

/// Splits `stream` pushed in one chunk; returns the records. Panics instead of looping forever if
/// the splitter emits without end, so that a regression fails rather than hangs.
fn split(framing: Framing, stream: &[u8]) -> (Vec<Vec<u8>>, Result<(), FramingError>) {
    let mut splitter = Splitter::new(framing, usize::MAX);
    let mut records = Vec::new();
    let mut emit = |piece: Piece<'_>| {
        let Piece::Record(bytes) = piece else {
            panic!("no record is oversized without a limit: {piece:?}");
        };
        assert!(
            records.len() <= stream.len(),
            "the splitter emits without end"
        );
        records.push(bytes.to_vec());
    };
    splitter.push(stream, &mut emit);
    let end = splitter.finish(&mut emit);
    (records, end)
}

/// `envelope` target, out of memory on `03 01 00 00 5d 05` (lines framing, stream `\0]\x05`),
/// minimised to a lone `]`. A `}` or `]` where a value should start was taken for the start of a
/// scalar, which ends at a `}` or `]` before consuming it: the splitter emitted empty records
/// forever. `sniff` runs the splitter on a stream's first line, so a first line with one closing
/// brace too many (`{"a":1}}`) hung the CLI whatever the framing. A stray closer is now a record
/// of its own (unreadable downstream, not lost).
#[test]
fn a_stray_closing_bracket_is_a_record_of_its_own() {
    let records = |framing, stream| split(framing, stream).0;
    assert_eq!(records(Framing::Concatenated, b"]"), [b"]"]);
    assert_eq!(records(Framing::Concatenated, b"}"), [b"}"]);
    assert_eq!(records(Framing::Lines, b"\0]\x05"), [b"\0", b"]", b"\x05"]);
    assert_eq!(
        records(Framing::Concatenated, b"{\"a\":1}}\n{\"b\":\n2}"),
        [&b"{\"a\":1}"[..], b"}", b"{\"b\": 2}"]
    );
    assert_eq!(
        records(Framing::RecordsArray, b"{\"Records\":[{\"a\":1},}]}"),
        [&b"{\"a\":1}"[..], b"}"]
    );
    assert_eq!(
        records(Framing::RecordsArray, b"{\"Records\":[7}]}"),
        [b"7", b"}"]
    );
    assert_eq!(split(Framing::RecordsArray, b"{\"Records\":[}]}").1, Ok(()));
    assert_eq!(sniff(b"{\"a\":1}}\n{\"b\":2}\n"), Framing::Lines);
}

/// `fast_path` target, `{"":7e770}`: with `validate`, the fast path called a record readable that
/// the exhaustive path (and evaluation) cannot parse. Validation used `serde_json`'s `IgnoredAny`,
/// which skips numbers without converting them (7e770 is beyond `f64`) and nests without the
/// recursion limit; it now runs the parse evaluation runs. The second record, nested 200 deep,
/// is the same cause found while reading the code.
#[test]
fn validation_reads_records_as_evaluation_does() {
    let detector = Detector::builtin().unwrap();
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
    let validate = Options {
        only_matches: false,
        validate: true,
        ..Options::default()
    };
    for record in [&b"{\"\":7e770}"[..], deep.as_bytes()] {
        let (mut scratch, mut out) = (Scratch::default(), Vec::new());
        let exhaustive = detector.tag_record_exhaustively(record, &mut scratch, &mut out);
        let validated = detector.tag_record(record, &validate, &mut scratch, &mut out);
        assert!(
            matches!(exhaustive, Verdict::Unreadable(_)),
            "{exhaustive:?}"
        );
        assert!(matches!(validated, Verdict::Unreadable(_)), "{validated:?}");
        out.clear();
        let report = detector.transform_ndjson(record, &validate, &mut scratch, &mut out);
        assert_eq!(report.counts.unreadable, 1);
        assert_eq!(out, [record, b"\n"].concat(), "passed through unchanged");
    }
}
