//! ABI v2's answer is exact: for every batch and every option, applying the edits of
//! [`Detector::transform_ndjson_edits_into`] to the batch gives the bytes
//! [`Detector::transform_ndjson_into`] writes, with the same report; and the replacements hold
//! only the lines that change.
//!
//! Batches are drawn from real records (tagged and not), the labelled cases, envelopes (one
//! line each: EventBridge, CloudWatch Logs, S3 bodies), records carrying a foreign `trailtag`
//! member, blank and `\r\n` lines, lines that are not JSON, and a last line with or without
//! its `\n`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use proptest::prelude::*;
use trailtag_conformance as data;
use trailtag_engine::edits::{self, EditLog};
use trailtag_engine::output::TagFormat;
use trailtag_engine::{BatchReport, Detector, Options, Scratch};

fn detector() -> &'static Detector {
    static DETECTOR: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
    DETECTOR.get_or_init(|| Detector::builtin().expect("built-in rules"))
}

/// Every kind of line a batch may hold, one line each (no `\n` inside).
fn line_pool() -> &'static [Vec<u8>] {
    static POOL: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let mut pool: Vec<Vec<u8>> = data::corpus_records().into_iter().take(300).collect();
        pool.extend(data::cases().into_iter().map(|c| c.record.into_bytes()));
        for file in [
            "eventbridge_iam_CreateGroup.json",
            "cloudwatch_logs_subscription_decoded.json",
            "cloudwatch_logs_subscription_lambda_event.json",
            "s3_records_mixed.json",
        ] {
            let document = data::read_maybe_gzip(&data::envelopes_dir().join(file));
            let value: serde_json::Value = serde_json::from_slice(&document).unwrap();
            pool.push(serde_json::to_vec(&value).unwrap());
        }
        pool.push(br#"{"eventName":"ListUsers","trailtag":{"forged":true}}"#.to_vec());
        pool.push(
            br#"{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","trailtag":1}"#
                .to_vec(),
        );
        pool.extend([
            b"".to_vec(),
            b"  \t".to_vec(),
            b"not json".to_vec(),
            b"[1,2]".to_vec(),
        ]);
        pool.push(
            b"{\"eventName\":\"CreateGroup\",\"eventSource\":\"iam.amazonaws.com\"}\r".to_vec(),
        );
        pool
    })
}

fn options(bits: u8) -> Options {
    Options {
        only_matches: bits & 1 != 0,
        unwrap: bits & 2 != 0,
        keep_foreign_tags: bits & 4 != 0,
        validate: bits & 8 != 0,
        input_shape: None,
        encoded_by_fluent_bit: false,
    }
}

/// Holds the two answers of one batch to each other; returns how many bytes the edits'
/// replacements hold.
fn assert_edits_are_exact(batch: &[u8], options: &Options, format: TagFormat) -> usize {
    let writer = format.writer(detector().rules());
    let mut scratch = Scratch::default();
    let (mut copied, mut copied_report) = (Vec::new(), BatchReport::default());
    detector().transform_ndjson_into(
        &writer,
        batch,
        options,
        &mut scratch,
        &mut copied,
        &mut copied_report,
    );
    let (mut replacements, mut log, mut report) =
        (Vec::new(), EditLog::new(), BatchReport::default());
    detector().transform_ndjson_edits_into(
        &writer,
        batch,
        options,
        &mut scratch,
        &mut replacements,
        &mut log,
        &mut report,
    );
    let applied = edits::apply(batch, log.edits(), &replacements).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&applied),
        String::from_utf8_lossy(&copied),
        "options {options:?}, format {format:?}"
    );
    assert_eq!(report, copied_report);
    for pair in log.edits().windows(2) {
        assert!(
            pair[0].input_end < pair[1].input_start,
            "edits touch or overlap: {pair:?}"
        );
    }
    replacements.len()
}

fn batch_of(picks: &[usize], newline_at_end: bool) -> Vec<u8> {
    let pool = line_pool();
    let mut batch = Vec::new();
    for (i, pick) in picks.iter().enumerate() {
        batch.extend_from_slice(&pool[pick % pool.len()]);
        if i + 1 < picks.len() || newline_at_end {
            batch.push(b'\n');
        }
    }
    batch
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn edits_give_the_copying_transforms_bytes(
        picks in proptest::collection::vec(any::<usize>(), 0..24),
        newline_at_end in any::<bool>(),
        bits in 0u8..16,
        format in 0usize..3,
    ) {
        let batch = batch_of(&picks, newline_at_end);
        assert_edits_are_exact(&batch, &options(bits), TagFormat::ALL[format]);
    }

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300), bits in 0u8..16) {
        assert_edits_are_exact(&bytes, &options(bits), TagFormat::Trailtag);
    }
}

#[test]
fn the_corpus_needs_replacements_only_for_its_tagged_records() {
    let corpus = data::corpus_ndjson();
    let replaced = assert_edits_are_exact(&corpus, &Options::default(), TagFormat::Trailtag);
    let mut scratch = Scratch::default();
    let mut tagged_out = Vec::new();
    let report =
        detector().transform_ndjson(&corpus, &Options::default(), &mut scratch, &mut Vec::new());
    for line in &report.tagged {
        let record = trailtag_engine::lines(&corpus)
            .nth(line.line as usize)
            .unwrap();
        detector().tag_record(record, &Options::default(), &mut scratch, &mut tagged_out);
        tagged_out.push(b'\n');
    }
    assert!(report.counts.tagged > 0);
    assert_eq!(
        replaced,
        tagged_out.len(),
        "replacements are the tagged records, nothing else"
    );
}
