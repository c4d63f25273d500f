//! Conservation through the WebAssembly module: for any input, every line that goes in comes
//! out exactly once and in order, untagged lines byte-identical, tagged lines the original plus
//! one member; with `only_matches`, exactly the tagged lines, in order; for both embedded
//! modules (SIMD and portable). Inputs mix real records,
//! labelled cases, garbage, blank lines, CRLF, invalid UTF-8 and arbitrary bytes. The module's
//! output is also byte-identical to the native engine's.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::sync::{Mutex, OnceLock};

use proptest::prelude::*;
use trailtag::runtime::ModuleVariant;
use trailtag::session::Session;
use trailtag_conformance as data;
use trailtag_engine::{Detector, Options, Scratch};
use trailtag_plugin::codec::Config;

fn session(variant: ModuleVariant, only_matches: bool) -> &'static Mutex<Session> {
    static CELLS: [OnceLock<Mutex<Session>>; 4] = [const { OnceLock::new() }; 4];
    let cell =
        &CELLS[usize::from(variant == ModuleVariant::Portable) * 2 + usize::from(only_matches)];
    cell.get_or_init(|| {
        Mutex::new(
            Session::embedded(
                variant,
                &Config {
                    only_matches,
                    ..Config::default()
                },
            )
            .unwrap(),
        )
    })
}

fn through_module(variant: ModuleVariant, input: &[u8], only_matches: bool) -> Vec<u8> {
    let mut session = session(variant, only_matches).lock().unwrap();
    session.transform(input).unwrap().unwrap().bytes(input)
}

fn samples() -> &'static [Vec<u8>] {
    static SAMPLES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let mut all: Vec<Vec<u8>> = data::cases()
            .into_iter()
            .map(|c| c.record.into_bytes())
            .collect();
        all.extend(data::corpus_records().into_iter().step_by(50));
        all
    })
}

fn line() -> impl Strategy<Value = Vec<u8>> {
    let sample = (0..samples().len()).prop_map(|i| samples()[i].clone());
    prop_oneof![
        6 => sample.clone(),
        1 => sample.clone().prop_map(|mut r| { r.push(b'\r'); r }),
        1 => (sample, any::<usize>()).prop_map(|(r, at)| r[..at % (r.len() + 1)].to_vec()),
        1 => Just(Vec::new()),
        1 => proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..64),
        1 => Just(b"{\"eventName\":\"CreateGroup\",\"eventSource\":\"iam.amazonaws.com\",\"x\":\"\xff\"}".to_vec()),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec(line(), 0..40), any::<bool>()).prop_map(|(lines, final_newline)| {
        let mut input = lines.join(&b'\n');
        if final_newline && !input.is_empty() {
            input.push(b'\n');
        }
        input
    })
}

/// The input with one member inserted after its last value (docs/tag-schema.md).
fn is_tagged_version_of(output: &[u8], input: &[u8]) -> bool {
    let Some(close) = input.iter().rposition(|&b| b == b'}') else {
        return false;
    };
    let insert_at = input[..close]
        .iter()
        .rposition(|b| !b" \t\r\n".contains(b))
        .map_or(close, |i| i + 1);
    output.starts_with(&input[..insert_at])
        && output.ends_with(&input[insert_at..])
        && !data::detection_ids(output).is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_line_comes_out_once_in_order(input in input(), portable in any::<bool>()) {
        let variant = if portable { ModuleVariant::Portable } else { ModuleVariant::Simd };
        let output = through_module(variant, &input, false);
        let (inp, out): (Vec<&[u8]>, Vec<&[u8]>) = (trailtag_engine::lines(&input).collect(), trailtag_engine::lines(&output).collect());
        prop_assert_eq!(inp.len(), out.len());
        prop_assert!(output.is_empty() || output.ends_with(b"\n"));
        for (i, o) in inp.iter().zip(&out) {
            prop_assert!(i == o || is_tagged_version_of(o, i), "line changed beyond a tag: {:?} -> {:?}", String::from_utf8_lossy(i), String::from_utf8_lossy(o));
        }
        let mut native = Vec::new();
        Detector::builtin().unwrap().transform_ndjson(&input, &Options::default(), &mut Scratch::default(), &mut native);
        prop_assert_eq!(native, output, "the module and the native engine agree byte for byte");
    }

    #[test]
    fn only_matches_keeps_exactly_the_tagged_lines(input in input(), portable in any::<bool>()) {
        let variant = if portable { ModuleVariant::Portable } else { ModuleVariant::Simd };
        let all = through_module(variant, &input, false);
        let tagged: Vec<&[u8]> = trailtag_engine::lines(&all).filter(|l| !data::detection_ids(l).is_empty()).collect();
        let only = through_module(variant, &input, true);
        prop_assert_eq!(trailtag_engine::lines(&only).collect::<Vec<_>>(), tagged);
    }
}

/// The sandbox: both embedded modules import nothing (no filesystem, network, clock or host
/// call), so a rule or a record can reach nothing outside the module's own memory.
#[test]
fn the_embedded_modules_import_nothing() {
    let engine = wasmtime::Engine::default();
    for (name, bytes) in [
        ("portable", trailtag::runtime::PORTABLE_MODULE),
        ("simd", trailtag::runtime::SIMD_MODULE),
    ] {
        let module = wasmtime::Module::new(&engine, bytes).unwrap();
        let imports: Vec<String> = module
            .imports()
            .map(|i| format!("{}::{}", i.module(), i.name()))
            .collect();
        assert!(imports.is_empty(), "the {name} module imports {imports:?}");
        assert!(
            module.exports().any(|e| e.name() == "tt_transform")
                && module.exports().any(|e| e.name() == "trailtag_filter")
        );
    }
}
