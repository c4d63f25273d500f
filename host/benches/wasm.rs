//! Criterion benchmarks of the WebAssembly boundary on wasmtime: a 1 MiB batch of the real
//! corpus through the raw ABI (SIMD and portable modules), one record through the Fluent Bit
//! ABI (a record that is not a candidate, and a match), and a fresh instance from the compiled
//! module. Outputs are asserted before timing. `BENCHMARKS.md` has the results.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmarks fail by panicking"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trailtag::runtime::{ModuleVariant, Runtime, RuntimeOptions};
use trailtag::session::Session;
use trailtag_conformance as data;
use trailtag_plugin::codec::Config;

fn session(variant: ModuleVariant) -> Session {
    Session::embedded(variant, &Config::default()).unwrap()
}

fn raw_batches(c: &mut Criterion) {
    let batch = data::corpus_batch(1 << 20);
    let mut group = c.benchmark_group("wasm_batch_1mib");
    group.throughput(Throughput::Bytes(batch.len() as u64));
    for (name, variant) in [
        ("simd", ModuleVariant::Simd),
        ("portable", ModuleVariant::Portable),
    ] {
        let mut session = session(variant);
        let first = session.transform(&batch).unwrap().unwrap();
        assert_eq!(
            first.bytes(&batch).len() > batch.len(),
            first.report.counts.tagged > 0
        );
        assert!(first.report.counts.tagged > 0 && first.report.counts.records_in > 500);
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    session
                        .transform(black_box(&batch))
                        .unwrap()
                        .unwrap()
                        .report
                        .counts
                        .tagged,
                )
            })
        });
    }
    group.finish();
}

fn fluent_bit_records(c: &mut Criterion) {
    let cases = data::cases();
    let record = |id: &str| {
        cases
            .iter()
            .find(|c| c.id == id)
            .unwrap()
            .record
            .clone()
            .into_bytes()
    };
    let mut session = session(ModuleVariant::Portable);
    let mut group = c.benchmark_group("wasm_fluent_bit_record");
    for (name, record, tagged) in [
        ("not_a_candidate", record("real-invictus-kms-op"), false),
        ("match", record("real-invictus-ra-CreateTrustAnchor"), true),
    ] {
        let answer = session
            .fluent_bit_filter(b"cloudtrail", &record, false)
            .unwrap()
            .unwrap();
        assert_eq!(answer != record, tagged, "{name}");
        group.throughput(Throughput::Bytes(record.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    session
                        .fluent_bit_filter(b"cloudtrail", black_box(&record), false)
                        .unwrap()
                        .unwrap(),
                )
            })
        });
    }
    group.finish();
}

fn instantiation(c: &mut Criterion) {
    let runtime = Runtime::embedded(ModuleVariant::Simd, &RuntimeOptions::default()).unwrap();
    c.bench_function("wasm_instantiate", |b| {
        b.iter(|| black_box(runtime.instantiate().unwrap().memory_size()))
    });
}

criterion_group!(benches, raw_batches, fluent_bit_records, instantiation);
criterion_main!(benches);
