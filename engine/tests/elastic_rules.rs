//! Elastic's own AWS rules (`../shared/rules/elastic-aws`), loaded from their files unchanged:
//! which load, which load partially and which are rejected, each for its reason; the two
//! founding Elastic rules tag exactly what the built-in rules tag; and hand-written records
//! decide as Elasticsearch would on the ECS document.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::collections::BTreeMap;

use trailtag_conformance as data;
use trailtag_engine::{Detector, Options, RuleFormat, RuleSource, Scratch, Verdict};

fn elastic_dir() -> std::path::PathBuf {
    data::shared_dir().join("rules/elastic-aws")
}

fn elastic_file(name: &str) -> RuleSource {
    let path = elastic_dir().join(name);
    RuleSource::new(name, String::from_utf8(data::read(&path)).unwrap())
}

fn every_elastic_file() -> Vec<RuleSource> {
    let mut names: Vec<String> = std::fs::read_dir(elastic_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    names.iter().map(|n| elastic_file(n)).collect()
}

fn detector(sources: Vec<RuleSource>) -> Detector {
    Detector::builder()
        .builtin(false)
        .sources(sources)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn matched_ids(detector: &Detector, record: &[u8]) -> Vec<String> {
    let mut scratch = Scratch::default();
    match detector.detect(record, &Options::default(), &mut scratch) {
        Verdict::Tagged => scratch
            .matched()
            .iter()
            .map(|&i| detector.rules()[i as usize].id().to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// What loading each file gives: loaded, partial (and why) or rejected (and why).
fn outcomes() -> BTreeMap<String, Result<Option<String>, String>> {
    every_elastic_file()
        .into_iter()
        .map(|source| {
            let outcome = match Detector::builder()
                .builtin(false)
                .source(source.clone())
                .build()
            {
                Ok(d) => {
                    let meta = d.rules()[0].meta();
                    assert_eq!(meta.format, RuleFormat::Elastic);
                    Ok(meta.partial.clone())
                }
                Err(e) => Err(e.to_string()),
            };
            (source.name, outcome)
        })
        .collect()
}

#[test]
fn every_stateless_rule_loads_and_the_rest_say_why_not() {
    let outcomes = outcomes();
    assert_eq!(outcomes.len(), 194);
    let rejected: Vec<(&String, &String)> = outcomes
        .iter()
        .filter_map(|(n, o)| o.as_ref().err().map(|e| (n, e)))
        .collect();
    let esql = rejected
        .iter()
        .filter(|(_, e)| e.contains("type = \"esql\""))
        .count();
    let ml = rejected
        .iter()
        .filter(|(_, e)| e.contains("type = \"machine_learning\""))
        .count();
    let sequence = rejected
        .iter()
        .filter(|(_, e)| e.contains("EQL sequence"))
        .count();
    assert_eq!((esql, ml, sequence), (23, 5, 1), "{rejected:#?}");
    assert_eq!(
        rejected.len(),
        29,
        "only ES|QL, ML and sequences are rejected: {rejected:#?}"
    );
    let partial: Vec<&Option<String>> = outcomes.values().filter_map(|o| o.as_ref().ok()).collect();
    let new_terms = partial
        .iter()
        .filter(|p| p.as_deref().is_some_and(|p| p.starts_with("new_terms")))
        .count();
    let threshold = partial
        .iter()
        .filter(|p| p.as_deref().is_some_and(|p| p.starts_with("threshold")))
        .count();
    assert_eq!((new_terms, threshold), (49, 5));
}

#[test]
fn the_founding_elastic_rules_tag_what_the_built_in_rules_tag() {
    let pairs = [
        (
            "persistence_iam_roles_anywhere_trusted_anchor_created_with_external_ca.toml",
            "71de53ea-ff3b-11ee-b572-f661ea17fbce",
            "roles_anywhere_trust_anchor_external_ca",
        ),
        (
            "persistence_iam_roles_anywhere_profile_created.toml",
            "1d4ca9c0-ff1e-11ee-91cc-f661ea17fbce",
            "roles_anywhere_profile_created",
        ),
    ];
    let builtin = Detector::builtin().unwrap();
    let mut records: Vec<(String, Vec<u8>)> = data::cases()
        .into_iter()
        .map(|c| (c.id, c.record.into_bytes()))
        .collect();
    records.extend(
        data::corpus_records()
            .into_iter()
            .enumerate()
            .map(|(i, r)| (format!("corpus line {}", i + 1), r)),
    );
    for (file, elastic_id, builtin_id) in pairs {
        let elastic = detector(vec![elastic_file(file)]);
        let mut agreed = 0;
        for (name, record) in &records {
            let by_elastic = matched_ids(&elastic, record).contains(&elastic_id.to_owned());
            let by_builtin = matched_ids(&builtin, record).contains(&builtin_id.to_owned());
            assert_eq!(by_elastic, by_builtin, "{file} on {name}");
            agreed += usize::from(by_elastic);
        }
        assert!(agreed >= 2, "{file}: only {agreed} records tagged");
    }
}

/// Every loadable SigmaHQ and Elastic rule at once (the benchmark's 222) decides every real
/// record and labelled case alike on the fast path and exhaustively: the pins each rule is
/// indexed by, including those taken through computed ECS fields (`user.name` pins `userName`
/// and `UserName`), never drop a rule that matches.
#[test]
fn every_loadable_rule_decides_every_real_record_alike_on_the_fast_path() {
    let sigma_dir = data::shared_dir().join("rules/sigma-aws");
    let mut sources = every_elastic_file();
    let mut sigma: Vec<_> = std::fs::read_dir(&sigma_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    sigma.sort();
    sources.extend(sigma.iter().map(|p| {
        RuleSource::new(
            p.file_name().unwrap().to_string_lossy(),
            String::from_utf8(data::read(p)).unwrap(),
        )
    }));
    let detector = Detector::builder()
        .builtin(false)
        .skip_invalid(true)
        .sources(sources)
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(detector.rules().len() >= 200, "{}", detector.rules().len());
    let mut records: Vec<Vec<u8>> = data::corpus_records();
    records.extend(data::cases().into_iter().map(|c| c.record.into_bytes()));
    let (mut fast, mut slow) = (Scratch::default(), Scratch::default());
    let mut tagged = 0;
    for (i, record) in records.iter().enumerate() {
        let verdict = detector.detect(record, &Options::default(), &mut fast);
        let reference = detector.detect_exhaustively(record, &Options::default(), &mut slow);
        let matched = |v: &Verdict, s: &Scratch| match v {
            Verdict::Tagged => s.matched().to_vec(),
            _ => Vec::new(),
        };
        assert_eq!(
            matched(&verdict, &fast),
            matched(&reference, &slow),
            "record {i}"
        );
        tagged += usize::from(matches!(verdict, Verdict::Tagged));
    }
    assert!(tagged > 100, "only {tagged} records tagged");
}
