//! One corpus through every build, byte-identical output: the native engine, the SIMD and the
//! portable module through the raw ABI on wasmtime, the portable module through the Fluent Bit
//! ABI on wasmtime, the JavaScript build on Node, and the independent Python host (written from
//! `docs/abi.md` alone) running the embedded portable module. The corpus is the real CloudTrail
//! corpus plus every labelled and ambiguous case, forged tags, and every envelope fixture (one
//! verdict, and the same bytes, whatever shape a record travels in and whichever build reads
//! it).
//!
//! Every tag format (`--tag-format`) is held to the same bytes through the CLI, both ABIs and Node.
//!
//! The JavaScript package and the Python host's wasmtime are built and installed by
//! `scripts/test-all` (`scripts/build-js`, `pip install`); if they are missing these tests fail
//! with the command to run, they never skip.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use trailtag::runtime::{ModuleVariant, PORTABLE_MODULE};
use trailtag::session::Session;
use trailtag_conformance as data;
use trailtag_engine::output::TagFormat;
use trailtag_engine::output::fluent_bit::as_fluent_bit_writes_it;
use trailtag_engine::{Detector, Options, RuleSource, Scratch};
use trailtag_plugin::codec::{Config, RuleFile};

/// Records that arrive with a `trailtag` member of their own: forged, escaped, spaced, nested
/// (data, not a tag), on records that match and on records that do not.
const FORGED: &[&str] = &[
    r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","trailtag":{"version":1,"severity":"critical","detections":[{"id":"fake"}]}}"#,
    r#"{"trailtag":{"forged":true},"eventSource":"iam.amazonaws.com","eventName":"CreateGroup"}"#,
    r#"{"eventName":"GetObject","trail\u0074ag":{"forged":1}}"#,
    r#"{"eventName":"GetObject", "trailtag" : 1 , "b":2, "trailtag":[2]}"#,
    r#"{"a":{"trailtag":"nested data"},"eventName":"GetObject"}"#,
];

/// Every file of `fixtures/envelopes` (decompressed, one line each): EventBridge, CloudWatch
/// Logs (decoded and as a Lambda receives it, gzip and base64), S3 bodies, a digest file.
fn envelope_lines() -> Vec<Vec<u8>> {
    let mut names: Vec<String> = data::envelope_expectations().keys().cloned().collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let document = data::read_maybe_gzip(&data::envelopes_dir().join(name));
            trailtag_engine::framing::to_one_line(&document)
        })
        .collect()
}

/// The corpus, then every case record, then the forged tags, then the envelope fixtures, one
/// per line.
fn corpus() -> &'static [u8] {
    static CORPUS: OnceLock<Vec<u8>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut all = data::corpus_ndjson();
        for case in data::cases().into_iter().chain(data::ambiguous_cases()) {
            all.extend_from_slice(case.record.as_bytes());
            all.push(b'\n');
        }
        for forged in FORGED {
            all.extend_from_slice(forged.as_bytes());
            all.push(b'\n');
        }
        for envelope in envelope_lines() {
            all.extend_from_slice(&envelope);
            all.push(b'\n');
        }
        all
    })
}

/// The reference: the engine called natively.
/// The native engine's output for `input`, with the built-in rules.
fn native_of(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Detector::builtin().unwrap().transform_ndjson(
        input,
        &Options::default(),
        &mut Scratch::default(),
        &mut out,
    );
    out
}

fn native() -> &'static [u8] {
    static NATIVE: OnceLock<Vec<u8>> = OnceLock::new();
    NATIVE.get_or_init(|| {
        let mut out = Vec::new();
        let report = Detector::builtin().unwrap().transform_ndjson(
            corpus(),
            &Options::default(),
            &mut Scratch::default(),
            &mut out,
        );
        let envelopes = envelope_lines().len() as u64;
        assert_eq!(
            report.counts.records_in,
            3027 + 104 + FORGED.len() as u64 + envelopes
        );
        assert!(
            report.counts.envelopes.iter().sum::<u64>() >= envelopes - 1,
            "every envelope fixture but the digest file is an envelope: {:?}",
            report.counts
        );
        assert!(
            report.counts.tagged > 50,
            "the corpus exercises every rule: {:?}",
            report.counts
        );
        out
    })
}

fn session(variant: ModuleVariant) -> Session {
    Session::embedded(variant, &Config::default()).unwrap()
}

// ---- users' rules ----------------------------------------------------------------------------

/// The 57 SigmaHQ rules and every Elastic AWS rule that loads (ES|QL, machine-learning and
/// sequence rules do not), as rule files named by their paths.
fn imported_rule_files() -> &'static [RuleFile] {
    static FILES: OnceLock<Vec<RuleFile>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut files = Vec::new();
        for (corpus, extension) in [("sigma-aws", "yml"), ("elastic-aws", "toml")] {
            let dir = data::shared_dir().join("rules").join(corpus);
            let mut paths: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == extension))
                .collect();
            paths.sort();
            for path in paths {
                let name = path.display().to_string();
                let text = String::from_utf8(data::read(&path)).unwrap();
                let source = RuleSource::new(name.clone(), text.clone());
                if trailtag_engine::frontend::compile(&source).is_ok() {
                    files.push(RuleFile { name, text });
                }
            }
        }
        assert_eq!(
            files.len(),
            57 + 165,
            "every loadable SigmaHQ and Elastic rule"
        );
        files
    })
}

fn imported_config() -> Config {
    Config {
        rules: imported_rule_files().to_vec(),
        ..Config::default()
    }
}

/// The reference with the users' rules: the engine called natively.
fn native_imported() -> &'static [u8] {
    static NATIVE: OnceLock<Vec<u8>> = OnceLock::new();
    NATIVE.get_or_init(|| {
        let detector = imported_config().detector().unwrap();
        let mut out = Vec::new();
        let report = detector.transform_ndjson(
            corpus(),
            &Options::default(),
            &mut Scratch::default(),
            &mut out,
        );
        let fired = report.counts.per_rule.iter().filter(|&&n| n > 0).count();
        assert!(
            fired >= 40,
            "the corpus exercises many imported rules: {fired} fired"
        );
        out
    })
}

#[test]
fn imported_rules_give_the_same_bytes_in_every_build() {
    let reference = native_imported();
    for variant in [ModuleVariant::Simd, ModuleVariant::Portable] {
        let mut session = Session::embedded(variant, &imported_config()).unwrap();
        assert_eq!(session.rules().len(), 5 + 57 + 165);
        let output = session
            .transform(corpus())
            .unwrap()
            .unwrap()
            .bytes(corpus());
        assert_same_as(
            reference,
            &format!("raw ABI, {variant:?} module, imported rules"),
            &output,
        );
        let mut fluent_bit = Vec::new();
        for record in trailtag_engine::lines(corpus()) {
            fluent_bit.extend(
                session
                    .fluent_bit_filter(b"cloudtrail", record, false)
                    .unwrap()
                    .unwrap(),
            );
            fluent_bit.push(b'\n');
        }
        assert_same_as(
            reference,
            &format!("Fluent Bit ABI, {variant:?} module, imported rules"),
            &fluent_bit,
        );
    }
    let mut args = vec!["plugin/js/bin/trailtag-tag.mjs".to_owned()];
    for file in imported_rule_files() {
        args.push("--rules".to_owned());
        args.push(file.name.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let node = pipe_through("node", &args, "build the package with scripts/build-js");
    assert_same_as(reference, "JavaScript build on Node, imported rules", &node);
}

/// Raw ABI, batches of about 64 KiB cut at line ends.
fn raw_abi(variant: ModuleVariant) -> Vec<u8> {
    let mut session = session(variant);
    let mut out = Vec::new();
    let mut batch = Vec::new();
    for line in trailtag_engine::lines(corpus()) {
        batch.extend_from_slice(line);
        batch.push(b'\n');
        if batch.len() > 64 << 10 {
            out.extend(session.transform(&batch).unwrap().unwrap().bytes(&batch));
            batch.clear();
        }
    }
    out.extend(session.transform(&batch).unwrap().unwrap().bytes(&batch));
    out
}

fn assert_same(build: &str, output: &[u8]) {
    assert_same_as(native(), build, output);
}

fn assert_same_as(reference: &[u8], build: &str, output: &[u8]) {
    if output == reference {
        return;
    }
    let (expected, got): (Vec<&[u8]>, Vec<&[u8]>) = (
        trailtag_engine::lines(reference).collect(),
        trailtag_engine::lines(output).collect(),
    );
    let first = expected.iter().zip(&got).position(|(e, g)| e != g);
    panic!(
        "{build} differs from the native engine: {} vs {} lines; first difference at line {first:?}:\n  native: {}\n  {build}: {}",
        expected.len(),
        got.len(),
        first.map_or(String::new(), |i| String::from_utf8_lossy(expected[i])
            .into_owned()),
        first.map_or(String::new(), |i| String::from_utf8_lossy(got[i])
            .into_owned()),
    );
}

/// The native output of the forged records: a top-level `trailtag` member only where this pass
/// tagged the record, with this pass's detections; every other member as it was. The other
/// builds are held to the same bytes by the tests below, so the property holds for each of them.
#[test]
fn a_forged_tag_never_survives_a_pass() {
    let output: Vec<&[u8]> = trailtag_engine::lines(native()).collect();
    let forged_start = output.len() - FORGED.len() - envelope_lines().len();
    let forged_output = &output[forged_start..forged_start + FORGED.len()];
    let detector = Detector::builtin().unwrap();
    let ids: Vec<&str> = detector.rules().iter().map(|r| r.id()).collect();
    for (input, out) in FORGED.iter().zip(forged_output) {
        let mut expected: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(input).unwrap();
        expected.remove("trailtag");
        let mut got: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(out).unwrap();
        if let Some(tag) = got.remove("trailtag") {
            let detections = tag["detections"].as_array().unwrap();
            assert!(!detections.is_empty(), "{input}");
            assert!(
                detections
                    .iter()
                    .all(|d| ids.contains(&d["id"].as_str().unwrap())),
                "only this pass's rules: {input}"
            );
            assert!(tag.get("context").is_some(), "{input}");
        }
        assert_eq!(got, expected, "every other member as it was: {input}");
        let count = String::from_utf8_lossy(out).matches("\"trailtag\"").count();
        assert!(
            count <= 1 + usize::from(input.contains("nested")),
            "{input}"
        );
    }
    assert_eq!(
        data::detection_ids(forged_output[1]),
        ["iam_group_created"],
        "a forged tag on a match is replaced by the real one"
    );
}

#[test]
fn raw_abi_simd_module() {
    assert_same("raw ABI, SIMD module", &raw_abi(ModuleVariant::Simd));
}

#[test]
fn raw_abi_portable_module() {
    assert_same(
        "raw ABI, portable module",
        &raw_abi(ModuleVariant::Portable),
    );
}

#[test]
fn fluent_bit_abi_portable_module() {
    // Records as Fluent Bit writes them (the filter's skip scan relies on it), against the
    // native engine on the same records.
    let mut session = session(ModuleVariant::Portable);
    let (mut written, mut out) = (Vec::new(), Vec::new());
    for record in trailtag_engine::lines(corpus()) {
        let record = as_fluent_bit_writes_it(record, true).unwrap_or_else(|| record.to_vec());
        out.extend(
            session
                .fluent_bit_filter(b"cloudtrail", &record, false)
                .unwrap()
                .unwrap(),
        );
        out.push(b'\n');
        written.extend_from_slice(&record);
        written.push(b'\n');
    }
    assert_same_as(
        &native_of(&written),
        "Fluent Bit ABI, portable module",
        &out,
    );
}

fn pipe_through(program: &str, args: &[&str], install_hint: &str) -> Vec<u8> {
    pipe_corpus(Path::new(program), args, corpus(), install_hint)
}

#[test]
fn javascript_build_on_node() {
    let output = pipe_through(
        "node",
        &["plugin/js/bin/trailtag-tag.mjs"],
        "build the package with scripts/build-js",
    );
    assert_same("JavaScript build on Node", &output);
}

#[test]
fn independent_python_host_running_the_embedded_portable_module() {
    independent_python_host("raw", "independent Python host");
}

#[test]
fn independent_python_host_answered_with_edits() {
    independent_python_host("raw-edits", "independent Python host, tt_transform_edits");
}

/// The corpus through `tests/independent-host/host.py` (written from docs/abi.md alone) on the
/// embedded portable module, through the ABI `abi` names.
fn independent_python_host(abi: &str, name: &str) {
    let module = std::env::temp_dir().join(format!(
        "trailtag-conformance-{}-{abi}.wasm",
        std::process::id()
    ));
    std::fs::write(&module, PORTABLE_MODULE).unwrap();
    let host = Path::new("tests/independent-host/host.py");
    let output = pipe_through(
        "python3",
        &[
            host.to_str().unwrap(),
            "--module",
            module.to_str().unwrap(),
            "--abi",
            abi,
            "-",
        ],
        "install its wasmtime with: python3 -m pip install -r tests/independent-host/requirements.txt",
    );
    let _ = std::fs::remove_file(&module);
    assert_same(name, &output);
}

// ---- tag formats -----------------------------------------------------------------------------

/// Records that carry members the ECS and OCSF formats write: a shipper's `event` and `tags`,
/// and forged `rule`, `threat` and `detection_findings`, on a match and not.
const FORMAT_CARRIERS: &[&str] = &[
    r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup","event":{"kind":"event","dataset":"aws.cloudtrail"},"tags":["forwarded","trailtag"],"rule":{"id":"forged"},"cloud":{"provider":"aws"}}"#,
    r#"{"eventSource":"s3.amazonaws.com","eventName":"GetObject","rule":{"id":"forged"},"thr\u0065at":{},"detection_findings":[{}]}"#,
];

/// The corpus and the format carriers.
fn format_corpus() -> &'static [u8] {
    static CORPUS: OnceLock<Vec<u8>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut all = corpus().to_vec();
        for record in FORMAT_CARRIERS {
            all.extend_from_slice(record.as_bytes());
            all.push(b'\n');
        }
        all
    })
}

/// The SigmaHQ rule files, by path (they carry ATT&CK mappings the built-in rules lack).
fn sigma_rule_files() -> Vec<RuleFile> {
    imported_rule_files()
        .iter()
        .filter(|f| f.name.ends_with(".yml"))
        .cloned()
        .collect()
}

fn format_config(format: TagFormat) -> Config {
    Config {
        rules: sigma_rule_files(),
        tag_format: format,
        ..Config::default()
    }
}

/// The reference for a format: the engine called natively with that format's writer.
fn native_format(format: TagFormat) -> Vec<u8> {
    let config = format_config(format);
    let detector = config.detector().unwrap();
    let mut out = Vec::new();
    let mut report = trailtag_engine::BatchReport::default();
    detector.transform_ndjson_into(
        &config.writer(&detector),
        format_corpus(),
        &Options::default(),
        &mut Scratch::default(),
        &mut out,
        &mut report,
    );
    assert!(report.counts.tagged > 50, "{format}: {:?}", report.counts);
    assert!(
        report.counts.foreign_tags_removed > 0,
        "{format}: the corpus carries members each format owns"
    );
    out
}

/// The `trailtag` binary cargo built beside this test.
fn cli_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    dir.join(format!("trailtag{}", std::env::consts::EXE_SUFFIX))
}

fn pipe_corpus(program: &Path, args: &[&str], input: &'static [u8], hint: &str) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(data::repo_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): {hint}", program.display()));
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "{} {args:?} failed ({hint}):\n{}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Every format through the CLI, the raw ABI, the Fluent Bit ABI and Node: the native bytes.
#[test]
fn every_tag_format_gives_the_same_bytes_in_every_build() {
    let sigma: Vec<String> = sigma_rule_files().into_iter().map(|f| f.name).collect();
    for format in TagFormat::ALL {
        let reference = native_format(format);
        let config = format_config(format);
        let mut session = Session::embedded(ModuleVariant::Simd, &config).unwrap();
        let raw = session
            .transform(format_corpus())
            .unwrap()
            .unwrap()
            .bytes(format_corpus());
        assert_same_as(&reference, &format!("raw ABI, {format}"), &raw);
        let mut session = Session::embedded(ModuleVariant::Portable, &config).unwrap();
        let mut fluent_bit = Vec::new();
        for record in trailtag_engine::lines(format_corpus()) {
            let answer = session.fluent_bit_filter(b"cloudtrail", record, false);
            fluent_bit.extend(answer.unwrap().unwrap());
            fluent_bit.push(b'\n');
        }
        assert_same_as(
            &reference,
            &format!("Fluent Bit ABI, {format}"),
            &fluent_bit,
        );
        let mut args = vec![
            "plugin/js/bin/trailtag-tag.mjs",
            "--tag-format",
            format.name(),
        ];
        let mut cli_args = vec!["tag", "--tag-format", format.name(), "--summary", "json"];
        for name in &sigma {
            args.extend(["--rules", name]);
            cli_args.extend(["--rules", name]);
        }
        let node = pipe_corpus(
            Path::new("node"),
            &args,
            format_corpus(),
            "scripts/build-js",
        );
        assert_same_as(
            &reference,
            &format!("JavaScript build on Node, {format}"),
            &node,
        );
        let cli = pipe_corpus(
            &cli_binary(),
            &cli_args,
            format_corpus(),
            "cargo build -p trailtag",
        );
        assert_same_as(&reference, &format!("trailtag tag, {format}"), &cli);
    }
}
