//! Criterion benchmarks of the engine, natively: one record (not a candidate, a candidate that
//! does not match, a match), a 1 MiB batch of the real corpus, the exhaustive reference path,
//! and the same batch with a 105-rule set. Every benchmark first asserts what its input yields,
//! so a benchmark cannot silently measure the wrong thing. `BENCHMARKS.md` has the results.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmarks fail by panicking"
)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use trailtag_conformance as data;
use trailtag_engine::{Detector, Options, RuleSource, Scratch, Verdict};

const PACK: &str = include_str!("../../bench/rule-pack-event-names.tsv");

fn pack_sources() -> Vec<RuleSource> {
    PACK.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .enumerate()
        .map(|(i, (source, name))| {
            let text = format!(
                "[rule]\nid = \"pack_{i:03}\"\nname = \"n\"\ndescription = \"d\"\nseverity = \"low\"\nrisk_score = 21\nquery = '''\neventSource == \"{source}\" and eventName == \"{name}\"\n'''\n"
            );
            RuleSource::new(format!("pack_{i:03}.toml"), text)
        })
        .collect()
}

fn record(id: &str) -> Vec<u8> {
    data::cases()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap()
        .record
        .into_bytes()
}

fn single_records(c: &mut Criterion) {
    let detector = Detector::builtin().unwrap();
    let cases = [
        (
            "not_a_candidate",
            record("real-invictus-kms-op"),
            Verdict::Skipped,
        ),
        (
            "candidate_no_match",
            record("real-elastic-CreateGroup-cli-EntityAlreadyExists"),
            Verdict::NoMatch,
        ),
        (
            "match",
            record("real-invictus-ra-CreateTrustAnchor"),
            Verdict::Tagged,
        ),
    ];
    let mut group = c.benchmark_group("record");
    for (name, record, expected) in cases {
        let mut scratch = Scratch::default();
        let mut out = Vec::with_capacity(record.len() * 2);
        assert_eq!(
            detector.tag_record(&record, &Options::default(), &mut scratch, &mut out),
            expected,
            "{name}"
        );
        group.throughput(Throughput::Bytes(record.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(detector.tag_record(
                    black_box(&record),
                    &Options::default(),
                    &mut scratch,
                    &mut out,
                ))
            })
        });
    }
    group.finish();
}

fn batches(c: &mut Criterion) {
    let batch = data::corpus_batch(1 << 20);
    let builtin = Detector::builtin().unwrap();
    let pack = Detector::builder().sources(pack_sources()).build().unwrap();
    let mut group = c.benchmark_group("batch_1mib");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    for (name, detector, validate) in [
        ("builtin", &builtin, false),
        ("pack_105_rules", &pack, false),
        ("builtin_validate", &builtin, true),
    ] {
        let options = Options {
            only_matches: false,
            validate,
            ..Options::default()
        };
        let mut scratch = Scratch::default();
        let mut out = Vec::with_capacity(batch.len() * 2);
        let report = detector.transform_ndjson(&batch, &options, &mut scratch, &mut out);
        assert!(
            report.counts.tagged > 0 && report.counts.unreadable == 0,
            "{name}: {:?}",
            report.counts
        );
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                || Vec::with_capacity(batch.len() * 2),
                |out| {
                    black_box(detector.transform_ndjson(
                        black_box(&batch),
                        &options,
                        &mut scratch,
                        out,
                    ))
                },
                BatchSize::LargeInput,
            )
        });
    }
    let mut scratch = Scratch::default();
    group.bench_function("builtin_exhaustive_reference", |b| {
        b.iter(|| {
            let mut tagged = 0u32;
            for line in trailtag_engine::lines(&batch) {
                let mut out = Vec::new();
                tagged += u32::from(
                    builtin.tag_record_exhaustively(line, &mut scratch, &mut out)
                        == Verdict::Tagged,
                );
            }
            black_box(tagged)
        })
    });
    group.finish();
}

criterion_group!(benches, single_records, batches);
criterion_main!(benches);
