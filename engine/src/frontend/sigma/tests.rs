//! Whole rules through the front end: what they match, what they say about themselves, and
//! where their mistakes are reported.

use super::*;
use crate::json::Json;
use crate::rule::Severity;

const HEADER: &str = "title: Test rule\nid: 0B5E1E0E-1A2B-4C3D-8E9F-0123456789AB\nlogsource:\n    product: aws\n    service: cloudtrail\n";

/// A rule with the standard header and `detection` (indented by four spaces, as written).
fn rule_with(detection: &str, placeholders: &Placeholders) -> Result<Rule, Vec<RuleError>> {
    let text = format!("{HEADER}detection:\n{detection}");
    compile_sigma_file("test.yml", &text, placeholders).map(|mut rules| rules.remove(0))
}

fn rule(detection: &str) -> Rule {
    rule_with(detection, &Placeholders::default()).unwrap_or_else(|e| panic!("{detection}\n{e:#?}"))
}

fn errors(text: &str) -> Vec<RuleError> {
    match compile_sigma_file("bad.yml", text, &Placeholders::default()) {
        Ok(rules) => panic!("compiled {} rule(s) from:\n{text}", rules.len()),
        Err(errors) => errors,
    }
}

/// The one error of a rule with the standard header and this detection.
fn detection_error(detection: &str) -> RuleError {
    let mut all = errors(&format!("{HEADER}detection:\n{detection}"));
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

fn holds(rule: &Rule, record: &str) -> bool {
    let json = Json::parse(record.as_bytes()).unwrap();
    let as_written = rule.condition().matches(&json);
    let optimised = crate::ir::optimise::optimise(rule.condition().clone()).matches(&json);
    assert_eq!(
        as_written, optimised,
        "optimising changed the verdict on {record}"
    );
    as_written
}

#[test]
fn values_match_whole_field_values_as_case_insensitive_text() {
    let r = rule("    selection:\n        eventName: CreateUser\n    condition: selection\n");
    assert!(holds(&r, r#"{"eventName":"createuser"}"#));
    assert!(!holds(&r, r#"{"eventName":"CreateUsers"}"#));
    assert!(!holds(&r, r#"{"eventName":"xCreateUser"}"#));
    assert!(!holds(&r, r#"{}"#));
    let cased =
        rule("    selection:\n        eventName|cased: CreateUser\n    condition: selection\n");
    assert!(holds(&cased, r#"{"eventName":"CreateUser"}"#));
    assert!(!holds(&cased, r#"{"eventName":"createuser"}"#));
}

#[test]
fn scalars_compare_by_their_text() {
    let r = rule(
        "    selection:\n        responseElements.publiclyAccessible: 'true'\n        n: 42\n        b: true\n    condition: selection\n",
    );
    assert!(holds(
        &r,
        r#"{"responseElements":{"publiclyAccessible":true},"n":42,"b":"TRUE"}"#
    ));
    assert!(holds(
        &r,
        r#"{"responseElements":{"publiclyAccessible":"true"},"n":"42","b":true}"#
    ));
    assert!(!holds(
        &r,
        r#"{"responseElements":{"publiclyAccessible":false},"n":42,"b":true}"#
    ));
    assert!(!holds(
        &r,
        r#"{"responseElements":{"publiclyAccessible":true},"n":420,"b":true}"#
    ));
}

#[test]
fn wildcards_and_escapes_in_values() {
    let r = rule(
        "    selection:\n        a: 'Create*User?'\n        b: 'x\\*y'\n    condition: selection\n",
    );
    assert!(holds(&r, r#"{"a":"CreateIAMUsers","b":"X*Y"}"#));
    assert!(
        !holds(&r, r#"{"a":"CreateUser","b":"x*y"}"#),
        "? needs a character"
    );
    assert!(
        !holds(&r, r#"{"a":"CreateIAMUsers","b":"xzy"}"#),
        "\\* is a star"
    );
    let contains = rule(
        "    selection:\n        userAgent|contains: 'S3 Browser'\n    condition: selection\n",
    );
    assert!(holds(
        &contains,
        r#"{"userAgent":"s3 browser 9.5.5 https://s3browser.com"}"#
    ));
    let ends = rule("    selection:\n        a|endswith: '\\\\'\n    condition: selection\n");
    assert!(holds(&ends, r#"{"a":"C:\\dir\\"}"#) && !holds(&ends, r#"{"a":"C:\\dir"}"#));
}

#[test]
fn null_means_absent_or_null_and_not_empty() {
    let r = rule("    selection:\n        errorCode: null\n    condition: selection\n");
    assert!(holds(&r, r#"{}"#) && holds(&r, r#"{"errorCode":null}"#));
    assert!(!holds(&r, r#"{"errorCode":""}"#) && !holds(&r, r#"{"errorCode":"Denied"}"#));
    let empty = rule("    selection:\n        errorCode: ''\n    condition: selection\n");
    assert!(holds(&empty, r#"{"errorCode":""}"#) && !holds(&empty, r#"{}"#));
}

#[test]
fn arrays_are_entered_and_objects_searched_to_their_leaves() {
    let r = rule(
        "    selection:\n        requestParameters.containerDefinitions.command|contains: '$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'\n    condition: selection\n",
    );
    let record = r#"{"requestParameters":{"containerDefinitions":[{"command":["sh","-c","curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}}"#;
    assert!(holds(&r, record));
    assert!(!holds(
        &r,
        r#"{"requestParameters":{"containerDefinitions":[{"command":["sh"]}]}}"#
    ));
    let object = rule(
        "    selection:\n        requestParameters|contains: 'Suspended'\n    condition: selection\n",
    );
    assert!(holds(
        &object,
        r#"{"requestParameters":{"bucketName":"b","VersioningConfiguration":{"Status":"Suspended"}}}"#
    ));
    assert!(!holds(
        &object,
        r#"{"requestParameters":{"Status":"Enabled"}}"#
    ));
}

#[test]
fn lists_maps_and_all() {
    let r = rule(
        "    selection:\n        - eventName:\n            - A\n            - B\n          eventSource: s\n        - userAgent: x\n    condition: selection\n",
    );
    assert!(holds(&r, r#"{"eventName":"b","eventSource":"S"}"#));
    assert!(holds(&r, r#"{"userAgent":"X"}"#));
    assert!(!holds(&r, r#"{"eventName":"a"}"#), "a map is an AND");
    let all = rule(
        "    selection:\n        requestParameters|contains|all:\n            - '\"s3:GetObject\"'\n            - '\"Allow\"'\n    condition: selection\n",
    );
    let policy = r#"{"requestParameters":{"policyDocument":"{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\"}"}}"#;
    assert!(holds(&all, policy));
    assert!(!holds(
        &all,
        r#"{"requestParameters":{"policyDocument":"{\"Effect\":\"Deny\",\"Action\":\"s3:GetObject\"}"}}"#
    ));
}

#[test]
fn keywords_search_every_value_of_the_record() {
    let r =
        rule("    keywords:\n        - 'evil*tool'\n        - mimikatz\n    condition: keywords\n");
    assert!(holds(&r, r#"{"a":{"b":["x","run MIMIKATZ now"]}}"#));
    assert!(holds(&r, r#"{"userAgent":"an Evil-Tool/1.0"}"#));
    assert!(!holds(&r, r#"{"mimikatz":"a key is not a value"}"#));
    let all = rule(
        "    keywords:\n        '|all':\n            - Oab\n            - ' -ExternalUrl '\n    condition: keywords\n",
    );
    assert!(holds(
        &all,
        r#"{"a":"Set-OabVirtualDirectory","b":"x -ExternalUrl y"}"#
    ));
    assert!(!holds(&all, r#"{"a":"Set-OabVirtualDirectory"}"#));
    let single = rule("    keywords: TruffleHog\n    condition: keywords\n");
    assert!(holds(&single, r#"{"userAgent":"trufflehog/3"}"#));
}

#[test]
fn type_modifiers() {
    let re = rule(
        "    selection:\n        userIdentity.arn|re: '.+:assumed-role/aws:.+'\n    condition: selection\n",
    );
    assert!(holds(
        &re,
        r#"{"userIdentity":{"arn":"arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"}}"#
    ));
    assert!(!holds(
        &re,
        r#"{"userIdentity":{"arn":"arn:aws:sts::1:ASSUMED-ROLE/aws:x/i"}}"#
    ));
    let insensitive = rule("    selection:\n        a|re|i: '^create'\n    condition: selection\n");
    assert!(
        holds(&insensitive, r#"{"a":"CreateUser"}"#) && !holds(&insensitive, r#"{"a":"xcreate"}"#)
    );
    let cidr = rule(
        "    selection:\n        sourceIPAddress|cidr:\n            - 10.0.0.0/8\n            - '2001:db8::/32'\n    condition: selection\n",
    );
    assert!(holds(&cidr, r#"{"sourceIPAddress":"10.1.2.3"}"#));
    assert!(holds(&cidr, r#"{"sourceIPAddress":"2001:db8::5"}"#));
    assert!(!holds(&cidr, r#"{"sourceIPAddress":"AWS Internal"}"#));
    let exists = rule(
        "    selection:\n        errorCode|exists: true\n    filter:\n        b|exists: false\n    condition: selection and filter\n",
    );
    assert!(holds(&exists, r#"{"errorCode":null}"#), "null is there");
    assert!(!holds(&exists, r#"{}"#) && !holds(&exists, r#"{"errorCode":"x","b":1}"#));
    let gte = rule("    selection:\n        n|gte: 900\n    condition: selection\n");
    assert!(holds(&gte, r#"{"n":900}"#) && holds(&gte, r#"{"n":"901.5"}"#));
    assert!(!holds(&gte, r#"{"n":899}"#) && !holds(&gte, r#"{"n":"many"}"#));
    let neq = rule(
        "    selection:\n        eventName|neq:\n            - A\n            - B\n    condition: selection\n",
    );
    assert!(holds(&neq, r#"{"eventName":"C"}"#) && holds(&neq, r#"{}"#));
    assert!(!holds(&neq, r#"{"eventName":"b"}"#));
}

#[test]
fn field_references_compare_two_fields() {
    let r = rule(
        "    selection:\n        eventName: UpdateLoginProfile\n    filter_main_user_identity:\n        userIdentity.userName|fieldref: requestParameters.userName\n    condition: selection and not 1 of filter_main_*\n",
    );
    let record = |actor: &str| {
        format!(
            r#"{{"eventName":"UpdateLoginProfile","userIdentity":{{"userName":"{actor}"}},"requestParameters":{{"userName":"alice"}}}}"#
        )
    };
    assert!(holds(&r, &record("mallory")));
    assert!(!holds(&r, &record("Alice")), "case-insensitive by default");
    let cased = rule("    selection:\n        a|fieldref|cased: b\n    condition: selection\n");
    assert!(!holds(&cased, r#"{"a":"X","b":"x"}"#) && holds(&cased, r#"{"a":"x","b":["y","x"]}"#));
}

#[test]
fn transformations_expand_into_alternatives() {
    let windash =
        rule("    selection:\n        cmd|windash|contains: ' -enc '\n    condition: selection\n");
    assert!(holds(&windash, r#"{"cmd":"powershell /enc abc"}"#));
    assert!(holds(&windash, "{\"cmd\":\"powershell \u{2013}enc abc\"}"));
    assert!(!holds(&windash, r#"{"cmd":"powershell +enc abc"}"#));
    let b64 = rule(
        "    selection:\n        cmd|base64offset|contains: '/bin/bash'\n    condition: selection\n",
    );
    assert!(holds(
        &b64,
        r#"{"cmd":"echo IC9iaW4vYmFzaA== | base64 -d"}"#
    ));
    assert!(holds(&b64, r#"{"cmd":"xL2Jpbi9iYXNox"}"#));
    assert!(!holds(&b64, r#"{"cmd":"/bin/bash"}"#));
    let places = Placeholders::new().with("Administrators", ["root", "admin*"]);
    let expand = rule_with(
        "    selection:\n        userIdentity.userName|expand: '%Administrators%'\n    condition: selection\n",
        &places,
    )
    .unwrap();
    assert!(holds(&expand, r#"{"userIdentity":{"userName":"Admin-2"}}"#));
    assert!(holds(&expand, r#"{"userIdentity":{"userName":"root"}}"#));
    assert!(!holds(&expand, r#"{"userIdentity":{"userName":"rooted"}}"#));
    let unexpanded =
        rule("    selection:\n        a: '%Administrators%'\n    condition: selection\n");
    assert!(
        holds(&unexpanded, r#"{"a":"%administrators%"}"#),
        "literal without expand"
    );
}

#[test]
fn conditions_combine_selections() {
    let r = rule(
        "    selection_event_name:\n        eventName: DeleteBucket\n    selection_status_success:\n        errorCode: Success\n    selection_status_null:\n        errorCode: null\n    condition: selection_event_name and 1 of selection_status_*\n",
    );
    assert!(holds(&r, r#"{"eventName":"DeleteBucket"}"#));
    assert!(holds(
        &r,
        r#"{"eventName":"DeleteBucket","errorCode":"Success"}"#
    ));
    assert!(!holds(
        &r,
        r#"{"eventName":"DeleteBucket","errorCode":"AccessDenied"}"#
    ));
    let listed = rule(
        "    a:\n        x: 1\n    b:\n        y: 2\n    condition:\n        - a\n        - b\n",
    );
    assert!(holds(&listed, r#"{"y":2}"#) && !holds(&listed, r#"{"x":2}"#));
    let them = rule("    a:\n        x: 1\n    _b:\n        y: 2\n    condition: all of them\n");
    assert!(holds(&them, r#"{"x":1}"#), "`them` skips `_b`");
    let not = rule(
        "    selection:\n        eventName: ListBuckets\n    filter:\n        userIdentity.type: AssumedRole\n    condition: selection and not filter\n",
    );
    assert!(
        holds(&not, r#"{"eventName":"ListBuckets"}"#),
        "an absent filter field does not filter"
    );
    assert!(!holds(
        &not,
        r#"{"eventName":"ListBuckets","userIdentity":{"type":"AssumedRole"}}"#
    ));
}

#[test]
fn metadata_is_read_into_the_rule() {
    let text = "title: AWS Thing\nid: 0B5E1E0E-1A2B-4C3D-8E9F-0123456789AB\nstatus: test\ndescription: |\n    Detects a thing.\nreferences:\n    - https://example.com/a\nauthor: Jane Doe (@jd), John Roe\ndate: 2024-01-01\ntags:\n    - attack.persistence\n    - attack.t1098\n    - detection.threat-hunting\nlogsource:\n    product: AWS\n    service: CloudTrail\ndetection:\n    selection:\n        eventName: A\n    condition: selection\nfalsepositives:\n    - Admins\nlevel: high\ncustom_attribute: kept out\n";
    let rules = compile_sigma_file("aws_thing.yml", text, &Placeholders::default()).unwrap();
    let meta = rules[0].meta();
    assert_eq!(meta.id, "0b5e1e0e-1a2b-4c3d-8e9f-0123456789ab");
    assert_eq!(
        (meta.name.as_str(), meta.description.as_str()),
        ("AWS Thing", "Detects a thing.")
    );
    assert_eq!((meta.severity, meta.risk_score), (Severity::High, 73));
    assert_eq!(meta.format, RuleFormat::Sigma);
    assert_eq!(meta.status.as_deref(), Some("test"));
    assert_eq!(meta.author, ["Jane Doe (@jd), John Roe"]);
    assert_eq!(meta.license.as_deref(), Some("DRL-1.1"));
    assert_eq!(meta.references, ["https://example.com/a"]);
    assert_eq!(meta.false_positives, ["Admins"]);
    assert_eq!(meta.tags, ["detection.threat-hunting"]);
    assert_eq!(meta.threat[0].tactic.name, "Persistence");
    assert_eq!(meta.threat[0].technique[0].name, "Account Manipulation");
    assert_eq!(meta.source, "aws_thing.yml");
    assert_eq!(meta.note, None);
    let plain = rule("    selection:\n        a: b\n    condition: selection\n");
    assert_eq!(
        (plain.meta().severity, plain.meta().risk_score),
        (Severity::Medium, 47),
        "no level"
    );
    let licensed = compile_sigma_file("x.yml", &format!("{HEADER}license: MIT\nlevel: informational\ndetection:\n    s:\n        a: b\n    condition: s\n"), &Placeholders::default()).unwrap();
    assert_eq!(licensed[0].meta().license.as_deref(), Some("MIT"));
    assert_eq!(licensed[0].meta().risk_score, 0);
}

#[test]
fn every_document_of_a_file_is_a_rule() {
    let one = |id: &str| {
        format!(
            "title: T\nid: {id}\nlogsource:\n    product: aws\n    service: cloudtrail\ndetection:\n    s:\n        a: b\n    condition: s\n"
        )
    };
    let text = format!("{}---\n{}", one("rule-1"), one("rule_2"));
    let rules = compile_sigma_file("two.yml", &text, &Placeholders::default()).unwrap();
    let ids: Vec<&str> = rules.iter().map(Rule::id).collect();
    assert_eq!(ids, ["rule-1", "rule_2"]);
}

fn at(error: &RuleError) -> (usize, usize, RuleErrorKind) {
    (error.line, error.column, error.kind)
}

#[test]
fn detection_mistakes_are_reported_where_they_are_written() {
    // The header has 5 lines and `detection:` is line 6, so a selection's first entry is line 8.
    for (detection, expected, words) in [
        (
            "    selection:\n        eventName|contians: x\n    condition: selection\n",
            (8, 19, RuleErrorKind::Query),
            "unknown modifier `contians`",
        ),
        (
            "    selection:\n        eventName: x\n    condition: selection and not filter\n",
            (9, 34, RuleErrorKind::Query),
            "no selection is named `filter`",
        ),
        (
            "    selection:\n        eventName: x\n    condition: 1 of filter*\n",
            (9, 21, RuleErrorKind::Query),
            "matches `filter*`",
        ),
        (
            "    selection:\n        eventName: x\n    condition: selection | count() > 5\n",
            (9, 26, RuleErrorKind::Unsupported),
            "aggregations",
        ),
        (
            "    selection:\n        a:\n            - x\n            - null\n    condition: selection\n",
            (10, 15, RuleErrorKind::Query),
            "`null` cannot be part of a list",
        ),
        (
            "    selection:\n        a|re: '(unclosed'\n    condition: selection\n",
            (8, 15, RuleErrorKind::Query),
            "invalid pattern",
        ),
        (
            "    selection:\n        a|cidr: 10.0.0.0/33\n    condition: selection\n",
            (8, 17, RuleErrorKind::Query),
            "prefix length",
        ),
        (
            "    selection:\n        a|gt: '5'\n    condition: selection\n",
            (8, 15, RuleErrorKind::Query),
            "must be a number",
        ),
        (
            "    selection:\n        a|contains|all: x\n    condition: selection\n",
            (8, 20, RuleErrorKind::Query),
            "`all` needs a list",
        ),
        (
            "    selection:\n        a|expand: '%Servers%'\n    condition: selection\n",
            (8, 19, RuleErrorKind::Query),
            "`%Servers%` has no values",
        ),
        (
            "    selection:\n    condition: selection\n",
            (7, 5, RuleErrorKind::Query),
            "`selection` is empty",
        ),
        (
            "    selection:\n        a: []\n    condition: selection\n",
            (8, 12, RuleErrorKind::Query),
            "empty list",
        ),
        (
            "    selection:\n        a..b: x\n    condition: selection\n",
            (8, 9, RuleErrorKind::Query),
            "not a field name",
        ),
        (
            "    selection:\n        a:\n            b: c\n    condition: selection\n",
            (9, 13, RuleErrorKind::Query),
            "not a map",
        ),
        (
            "    selection:\n        a|exists: 'yes'\n    condition: selection\n",
            (8, 19, RuleErrorKind::Query),
            "`true` or `false`",
        ),
        (
            "    selection:\n        '|startswith': x\n    condition: selection\n",
            (8, 11, RuleErrorKind::Query),
            "needs a field",
        ),
        (
            "    selection:\n        a|hour: 3\n    condition: selection\n",
            (8, 11, RuleErrorKind::Unsupported),
            "time modifier",
        ),
        (
            "    selection:\n        a: x\n    timeframe: 5m\n    condition: selection\n",
            (9, 5, RuleErrorKind::Unsupported),
            "`timeframe`",
        ),
        (
            "    selection:\n        a: x\n",
            (7, 5, RuleErrorKind::Syntax),
            "no `condition`",
        ),
        (
            "    condition: selection\n",
            (7, 5, RuleErrorKind::Query),
            "defines no selection",
        ),
    ] {
        let error = detection_error(detection);
        assert_eq!(at(&error), expected, "{detection}\n{error}");
        assert!(error.message.contains(words), "{detection}\n{error}");
        assert_eq!(error.file, "bad.yml");
        assert_eq!(
            error.rule_id.as_deref(),
            Some("0b5e1e0e-1a2b-4c3d-8e9f-0123456789ab")
        );
    }
}

#[test]
fn rule_level_mistakes_name_what_is_wrong() {
    let detection = "detection:\n    s:\n        a: b\n    condition: s\n";
    let logsource = "logsource:\n    product: aws\n    service: cloudtrail\n";
    for (text, expected, words) in [
        (
            format!("title: T\n{logsource}{detection}"),
            (1, 1, RuleErrorKind::Syntax),
            "no `id`",
        ),
        (
            format!("title: T\nid: 'not a uuid'\n{logsource}{detection}"),
            (2, 5, RuleErrorKind::Metadata),
            "`id` must be",
        ),
        (
            format!("id: x\n{logsource}{detection}"),
            (1, 1, RuleErrorKind::Syntax),
            "no `title`",
        ),
        (
            format!("title: T\nid: x\n{logsource}"),
            (1, 1, RuleErrorKind::Syntax),
            "no `detection`",
        ),
        (
            format!("title: T\nid: x\n{detection}"),
            (1, 1, RuleErrorKind::Syntax),
            "no `logsource`",
        ),
        (
            format!("title: T\nid: x\nlevel: severe\n{logsource}{detection}"),
            (3, 8, RuleErrorKind::Metadata),
            "`level` must be",
        ),
        (
            format!("title: T\nid: x\nstatus: beta\n{logsource}{detection}"),
            (3, 9, RuleErrorKind::Metadata),
            "`status` must be",
        ),
        (
            format!(
                "title: T\nid: x\nlogsource:\n    product: windows\n    service: security\n{detection}"
            ),
            (4, 5, RuleErrorKind::Unsupported),
            "logsource product: windows, service: security: trailtag reads CloudTrail records (logsource product: aws, service: cloudtrail)",
        ),
        (
            format!(
                "title: T\nid: x\nlogsource:\n    category: process_creation\n    product: aws\n    service: cloudtrail\n{detection}"
            ),
            (4, 5, RuleErrorKind::Unsupported),
            "category: process_creation",
        ),
        (
            format!("title: T\nid: x\ntitle: U\n{logsource}{detection}"),
            (3, 1, RuleErrorKind::Syntax),
            "duplicate key `title` (first given at line 1)",
        ),
        (
            "title: T\nid: x\ncorrelation:\n    type: event_count\n".to_owned(),
            (3, 1, RuleErrorKind::Unsupported),
            "correlation rules",
        ),
        (
            format!("action: global\ntitle: T\n---\nid: x\n{logsource}{detection}"),
            (1, 1, RuleErrorKind::Unsupported),
            "rule collections",
        ),
        (
            "title: [unclosed\n".to_owned(),
            (2, 1, RuleErrorKind::Syntax),
            "not valid YAML",
        ),
        (
            "- a list\n".to_owned(),
            (1, 1, RuleErrorKind::Syntax),
            "a Sigma rule is a map",
        ),
        (
            "# nothing\n".to_owned(),
            (1, 1, RuleErrorKind::Syntax),
            "no Sigma rule",
        ),
    ] {
        let all = errors(&text);
        let error = &all[0];
        assert_eq!(at(error), expected, "{text}\n{all:#?}");
        assert!(error.message.contains(words), "{text}\n{error}");
    }
}

#[test]
fn every_problem_of_a_rule_is_reported_at_once() {
    let text = format!(
        "{HEADER}level: severe\ndetection:\n    a:\n        x|bogus: 1\n    b:\n        y: []\n    condition: a and c\n"
    );
    let all = errors(&text);
    let lines: Vec<usize> = all.iter().map(|e| e.line).collect();
    assert_eq!(lines, [9, 11, 12, 6], "{all:#?}");
}
