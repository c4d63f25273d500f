//! Users' own rules through the CLI: SigmaHQ's and Elastic's AWS rules from ../shared loaded
//! by directory, listed, checked and tested; `explain` and `ecs`; placeholders; and a module
//! with the rules baked in (`trailtag module`) running them under the Fluent Bit ABI exactly as
//! the configured module does under the raw ABI.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

mod common;

use std::path::PathBuf;

use common::{lines, temp_dir, trailtag};

fn shared(relative: &str) -> String {
    let dir = trailtag_conformance::shared_dir().join(relative);
    assert!(dir.exists(), "missing shared data {}", dir.display());
    dir.display().to_string()
}

fn sigma_dir() -> String {
    shared("rules/sigma-aws")
}

fn elastic_dir() -> String {
    shared("rules/elastic-aws")
}

/// Every record of the real corpus, as NDJSON.
fn corpus() -> Vec<u8> {
    trailtag_conformance::corpus_ndjson()
}

const STOP_LOGGING: &str = r#"{"eventVersion":"1.08","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","userName":"mallory"},"requestParameters":{"name":"main-trail"},"eventID":"e1"}"#;
const GET_TRAIL: &str = r#"{"eventVersion":"1.08","eventSource":"cloudtrail.amazonaws.com","eventName":"GetTrailStatus","awsRegion":"us-east-1","eventID":"e2"}"#;
const DISABLE_LOGGING: &str = "4db60cc0-36fb-42b7-9b58-a5b53019fb74";

#[test]
fn a_directory_of_sigma_rules_lists_every_rule_with_its_format() {
    let run = trailtag(
        &[
            "rules",
            "list",
            "--no-builtin-rules",
            "--rules",
            &sigma_dir(),
        ],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert_eq!(
        stdout.lines().filter(|l| l.contains(" sigma ")).count(),
        57,
        "{stdout}"
    );
    assert!(
        stdout.ends_with("57 rules loaded (57 sigma), 0 partial\n"),
        "{stdout}"
    );
    assert!(
        run.stderr.contains("ignored 3 file(s)") && run.stderr.contains("LICENSE"),
        "licence and README files are reported, not read as rules: {}",
        run.stderr
    );
}

#[test]
fn elastic_rules_that_cannot_run_fail_the_load_or_are_skipped_and_counted() {
    let strict = trailtag(
        &[
            "rules",
            "list",
            "--no-builtin-rules",
            "--rules",
            &elastic_dir(),
        ],
        b"",
    );
    assert_eq!(strict.code, 1);
    assert!(
        strict.stderr.contains("29 rule problem(s)")
            && strict.stderr.contains(".toml:82:8: rule 98cfaa44")
            && strict.stderr.contains("ES|QL"),
        "every problem with file, line and column: {}",
        strict.stderr
    );
    let lenient = trailtag(
        &[
            "rules",
            "list",
            "--no-builtin-rules",
            "--skip-invalid-rules",
            "--rules",
            &elastic_dir(),
        ],
        b"",
    );
    assert_eq!(lenient.code, 0, "{}", lenient.stderr);
    let stdout = String::from_utf8(lenient.stdout).unwrap();
    assert!(
        stdout.ends_with(
            "165 rules loaded (165 elastic), 59 partial; 29 rule file(s) skipped (29 unsupported)\n"
        ),
        "{stdout}"
    );
    assert!(
        lenient
            .stderr
            .contains("29 rule file(s) skipped (--skip-invalid-rules)"),
        "{}",
        lenient.stderr
    );
    assert_eq!(
        lenient.stderr.matches("trailtag: skipped ").count(),
        29,
        "each skipped rule is named: {}",
        lenient.stderr
    );
}

#[test]
fn rules_check_and_rules_test_say_what_is_untested() {
    let check = trailtag(&["rules", "check", "--rules", &sigma_dir()], b"");
    assert_eq!(check.code, 0, "{}", check.stderr);
    let stdout = String::from_utf8(check.stdout).unwrap();
    assert!(
        stdout.contains(&format!("warning: {DISABLE_LOGGING}: no examples")),
        "{stdout}"
    );
    assert!(
        stdout.contains("62 rules loaded (5 native, 57 sigma), 0 partial; "),
        "{stdout}"
    );
    let test = trailtag(&["rules", "test", "--rules", &sigma_dir()], b"");
    assert_eq!(test.code, 0, "{}", test.stderr);
    let stdout = String::from_utf8(test.stdout).unwrap();
    assert!(
        stdout.contains("57 of 62 rules have no examples, so nothing tests them"),
        "{stdout}"
    );
}

#[test]
fn example_files_beside_sigma_rules_are_run_through_the_module() {
    let dir = temp_dir("sigma-examples");
    let rule = std::fs::read_to_string(
        PathBuf::from(sigma_dir()).join("aws_cloudtrail_disable_logging.yml"),
    )
    .unwrap();
    std::fs::write(dir.join("disable_logging.yml"), rule).unwrap();
    let examples = format!(
        "[[example]]\nname = \"trail stopped\"\nmatches = true\nrecord = '''{STOP_LOGGING}'''\n\n[[example]]\nname = \"status read\"\nmatches = false\nrecord = '''{GET_TRAIL}'''\n"
    );
    std::fs::write(dir.join("disable_logging.examples.toml"), &examples).unwrap();
    let args = [
        "rules",
        "test",
        "--no-builtin-rules",
        "--rules",
        dir.to_str().unwrap(),
    ];
    let test = trailtag(&args, b"");
    assert_eq!(test.code, 0, "{}", test.stderr);
    assert_eq!(
        String::from_utf8(test.stdout).unwrap(),
        "2 examples passed, 0 failed\n"
    );
    // An example that says the wrong thing fails the run.
    std::fs::write(
        dir.join("disable_logging.examples.toml"),
        examples.replace("matches = false", "matches = true"),
    )
    .unwrap();
    let failing = trailtag(&args, b"");
    assert_eq!(failing.code, 1);
    let stdout = String::from_utf8(failing.stdout).unwrap();
    assert!(
        stdout.contains(&format!("FAIL {DISABLE_LOGGING}"))
            && stdout.contains("1 examples passed, 1 failed"),
        "{stdout}"
    );
}

#[test]
fn explain_shows_matches_and_near_misses_clause_by_clause() {
    let dir = temp_dir("explain");
    std::fs::write(
        dir.join("stop.yml"),
        "title: Trail stopped outside the pipeline\nid: stop-outside-pipeline\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  selection:\n    eventSource: cloudtrail.amazonaws.com\n    eventName: StopLogging\n  filter:\n    userIdentity.userName: deployer\n  condition: selection and not filter\nlevel: high\n",
    )
    .unwrap();
    let by_deployer = STOP_LOGGING.replace("mallory", "deployer");
    let input = format!("{STOP_LOGGING}\n{by_deployer}\n{GET_TRAIL}\n");
    let rules = dir.to_str().unwrap();
    let run = trailtag(
        &["explain", "--no-builtin-rules", "--rules", rules],
        input.as_bytes(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let stdout = String::from_utf8(run.stdout).unwrap();
    assert!(
        stdout.contains("record 1 (StopLogging from cloudtrail.amazonaws.com): 1 match(es)")
            && stdout.contains("  MATCH: stop-outside-pipeline"),
        "{stdout}"
    );
    assert!(
        stdout.contains("record 2 (StopLogging from cloudtrail.amazonaws.com): 0 match(es), 1 near miss(es)\n  near miss: stop-outside-pipeline (Trail stopped outside the pipeline, 1 clause(s) of 2 held)\n      held   selection\n      failed not filter\n"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("record 3"),
        "a record far from every rule is not shown: {stdout}"
    );
    assert!(
        run.stderr.contains("3 record(s) read, 2 shown"),
        "{}",
        run.stderr
    );
    let json = trailtag(
        &[
            "explain",
            "--json",
            "--all",
            "--no-builtin-rules",
            "--rules",
            rules,
        ],
        input.as_bytes(),
    );
    let records: Vec<serde_json::Value> = lines(&json.stdout)
        .into_iter()
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3);
    assert_eq!(records[2]["rules"][0]["matched"], false);
    assert_eq!(records[2]["rules"][0]["clauses"][0]["held"], false);
    let failed = records[2]["rules"][0]["clauses"][0]["failed_test"]
        .as_str()
        .unwrap();
    assert!(failed.contains("eventName"), "{failed}");
    let unknown = trailtag(&["explain", "--rule", "no-such-rule"], b"");
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("no loaded rule has the id"));
}

#[test]
fn ecs_prints_the_document_elastic_rules_read() {
    let run = trailtag(&["ecs"], format!("{STOP_LOGGING}\nnot json\n").as_bytes());
    assert_eq!(run.code, 1, "an unreadable record fails the run");
    assert!(run.stderr.contains("record 2: not JSON"), "{}", run.stderr);
    let documents = lines(&run.stdout);
    assert_eq!(documents.len(), 1);
    let document: serde_json::Value = serde_json::from_slice(documents[0]).unwrap();
    assert_eq!(document["data_stream"]["dataset"], "aws.cloudtrail");
    assert_eq!(document["event"]["provider"], "cloudtrail.amazonaws.com");
    assert_eq!(document["event"]["action"], "StopLogging");
    assert_eq!(document["source"]["ip"], "203.0.113.9");
    assert_eq!(
        document["aws"]["cloudtrail"]["request_parameters"],
        "{name=main-trail}"
    );
}

#[test]
fn a_placeholder_must_be_given_before_a_rule_that_expands_it_loads() {
    let dir = temp_dir("placeholders");
    std::fs::write(
        dir.join("admins.yml"),
        "title: Admin stops a trail\nid: admin-stops-trail\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  selection:\n    eventName: StopLogging\n    userIdentity.userName|expand: '%admins%'\n  condition: selection\n",
    )
    .unwrap();
    let rules = dir.to_str().unwrap();
    let missing = trailtag(
        &["tag", "--no-builtin-rules", "--rules", rules],
        STOP_LOGGING.as_bytes(),
    );
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("admins.yml:7:")
            && missing.stderr.contains("admins")
            && missing.stderr.contains("placeholder"),
        "{}",
        missing.stderr
    );
    let given = trailtag(
        &[
            "tag",
            "--no-builtin-rules",
            "--rules",
            rules,
            "--placeholder",
            "admins=alice",
            "--placeholder",
            "admins=mallory",
            "--summary",
            "json",
        ],
        STOP_LOGGING.as_bytes(),
    );
    assert_eq!(given.code, 0, "{}", given.stderr);
    assert_eq!(given.count("tagged"), 1);
    let only_alice = trailtag(
        &[
            "tag",
            "--no-builtin-rules",
            "--rules",
            rules,
            "--placeholder",
            "admins=alice",
            "--summary",
            "json",
        ],
        STOP_LOGGING.as_bytes(),
    );
    assert_eq!(only_alice.count("tagged"), 0);
}

#[test]
fn a_module_with_baked_rules_tags_under_fluent_bit_as_the_configured_module_does() {
    let dir = temp_dir("baked");
    let module = dir.join("sigma.wasm");
    let module = module.to_str().unwrap();
    let bake = trailtag(
        &[
            "module",
            "--no-builtin-rules",
            "--rules",
            &sigma_dir(),
            "-o",
            module,
        ],
        b"",
    );
    assert_eq!(bake.code, 0, "{}", bake.stderr);
    assert!(
        bake.stderr
            .contains("57 rules (57 sigma), loaded unconfigured"),
        "{}",
        bake.stderr
    );
    let mut input = corpus();
    input.extend_from_slice(format!("{STOP_LOGGING}\n").as_bytes());
    let configured = trailtag(
        &[
            "tag",
            "--no-builtin-rules",
            "--rules",
            &sigma_dir(),
            "--summary",
            "json",
        ],
        &input,
    );
    assert_eq!(configured.code, 0, "{}", configured.stderr);
    let baked = trailtag(
        &[
            "tag",
            "--abi",
            "fluent-bit",
            "--module",
            module,
            "--use-baked-config",
            "--summary",
            "json",
        ],
        &input,
    );
    assert_eq!(baked.code, 0, "{}", baked.stderr);
    assert!(
        configured.count("tagged") >= 2,
        "the corpus and the added record hold Sigma matches: {}",
        configured.stderr
    );
    assert_eq!(baked.count("tagged"), configured.count("tagged"));
    assert_eq!(
        baked.summary()["per_rule"],
        configured.summary()["per_rule"]
    );
    assert!(
        baked.stdout == configured.stdout,
        "the same bytes under both ABIs"
    );
    // The embedded module, unconfigured, runs the built-in rules: the bake is what differs.
    let plain = trailtag(
        &[
            "tag",
            "--abi",
            "fluent-bit",
            "--use-baked-config",
            "--summary",
            "json",
        ],
        format!("{STOP_LOGGING}\n").as_bytes(),
    );
    assert_eq!(plain.count("tagged"), 0, "{}", plain.stderr);
}

#[test]
fn a_rule_that_does_not_compile_writes_no_module() {
    let dir = temp_dir("bake-bad");
    std::fs::write(
        dir.join("bad.yml"),
        "title: t\nid: bad\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  selection:\n    eventName|contians: Stop\n  condition: selection\n",
    )
    .unwrap();
    let out = dir.join("never.wasm");
    let run = trailtag(
        &[
            "module",
            "--rules",
            dir.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("bad.yml:6:") && run.stderr.contains("contians"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing is written when a rule fails");
}

#[test]
fn a_record_too_long_to_inspect_is_reported_and_fails_the_run() {
    let huge = format!(
        "{{\"eventName\":\"GetObject\",\"pad\":\"{}\"}}",
        "x".repeat(17 << 20)
    );
    let input = format!("{huge}\n{STOP_LOGGING}\n");
    let run = trailtag(&["ecs"], input.as_bytes());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("record 1: longer than 16 MiB, not read"),
        "{}",
        run.stderr
    );
    assert_eq!(lines(&run.stdout).len(), 1, "the other record is shown");
}
