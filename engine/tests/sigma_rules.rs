//! SigmaHQ's 57 AWS CloudTrail rules (`shared/rules/sigma-aws`) through the whole detector.
//!
//! - every rule loads;
//! - hand-written CloudTrail records, matching and near misses (case variations, absent fields,
//!   JSON booleans for `'true'`, arrays, nested objects), give the verdict the rule means, on
//!   the fast path and exhaustively, optimised and as written;
//! - the real corpus decides alike on the fast path and exhaustively, optimised or not;
//! - the rules are pinned (only the one without an equality test is not), and a match's tag
//!   carries the rule's author and licence (DRL 1.1).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    reason = "a test fails by panicking; the pin and corpus reports are printed for the reader"
)]

use std::collections::BTreeMap;
use std::fs;

use serde_json::{Value, json};
use trailtag_engine::ir::pins::Need;
use trailtag_engine::{Detector, Options, RuleFormat, RuleSource, Scratch, Verdict};

/// Every rule file: (file name, text), sorted.
fn sigma_sources() -> Vec<RuleSource> {
    let dir = trailtag_conformance::shared_dir().join("rules/sigma-aws");
    let mut sources: Vec<RuleSource> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            RuleSource::new(name, fs::read_to_string(&p).unwrap())
        })
        .collect();
    sources.sort_by(|a, b| a.name.cmp(&b.name));
    sources
}

fn source(file: &str) -> RuleSource {
    sigma_sources()
        .into_iter()
        .find(|s| s.name == file)
        .unwrap_or_else(|| panic!("no rule file {file}"))
}

fn detector(sources: Vec<RuleSource>, optimise: bool) -> Detector {
    Detector::builder()
        .builtin(false)
        .optimise(optimise)
        .sources(sources)
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn all_57_rules_load_as_sigma_rules_with_their_authors() {
    let sources = sigma_sources();
    assert_eq!(sources.len(), 57);
    let mut failures = Vec::new();
    for source in &sources {
        if let Err(e) = Detector::builder()
            .builtin(false)
            .source(source.clone())
            .build()
        {
            failures.push(format!("{}: {e}", source.name));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let all = detector(sources, true);
    assert_eq!(all.rules().len(), 57);
    for rule in all.rules() {
        let meta = rule.meta();
        assert_eq!(meta.format, RuleFormat::Sigma);
        assert!(
            !meta.author.is_empty(),
            "{}: DRL attribution needs the author",
            meta.source
        );
        assert_eq!(meta.license.as_deref(), Some("DRL-1.1"));
        assert!(
            !meta.name.is_empty() && meta.status.is_some(),
            "{}",
            meta.source
        );
        assert!(
            !meta.threat.is_empty(),
            "{}: every rule has ATT&CK tags",
            meta.source
        );
    }
}

/// A realistic CloudTrail record: an IAM user's API call, with `fields` merged over it at the
/// top level (a value `"<absent>"` removes the member).
fn record(fields: Value) -> String {
    let mut base = json!({
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDATFQR7NSC5U6Q3TMDR",
            "arn": "arn:aws:iam::123456789012:user/benjamin",
            "accountId": "123456789012",
            "accessKeyId": "AKIATFQZ7NSC8Q4X21BJ",
            "userName": "benjamin"
        },
        "eventTime": "2024-07-10T11:42:44Z",
        "eventSource": "iam.amazonaws.com",
        "eventName": "ListUsers",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.10 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22",
        "requestParameters": null,
        "responseElements": null,
        "requestID": "CC9X0N62QREGTBMN",
        "eventID": "293ba626-3be5-4a26-ab1b-0f4c54f49959",
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management"
    });
    let object = base.as_object_mut().unwrap();
    for (key, value) in fields.as_object().unwrap() {
        if value == "<absent>" {
            object.remove(key);
        } else {
            object.insert(key.clone(), value.clone());
        }
    }
    base.to_string()
}

/// One rule, its matching records and its near misses.
struct RuleCases {
    file: &'static str,
    matching: Vec<(&'static str, String)>,
    near_misses: Vec<(&'static str, String)>,
}

fn cases() -> Vec<RuleCases> {
    let assumed_role = |arn: &str| {
        json!({"type": "AssumedRole", "arn": arn, "accountId": "123456789012",
               "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::123456789012:role/x"}}})
    };
    vec![
        RuleCases {
            file: "aws_cloudtrail_bucket_deleted.yml",
            matching: vec![
                (
                    "no errorCode",
                    record(json!({"eventSource": "s3.amazonaws.com", "eventName": "DeleteBucket"})),
                ),
                (
                    "errorCode null",
                    record(json!({"eventName": "DeleteBucket", "errorCode": null})),
                ),
                (
                    "lower-case event name",
                    record(json!({"eventName": "deletebucket", "errorCode": "success"})),
                ),
            ],
            near_misses: vec![
                (
                    "denied",
                    record(json!({"eventName": "DeleteBucket", "errorCode": "AccessDenied"})),
                ),
                (
                    "another event",
                    record(json!({"eventName": "DeleteBucketPolicy"})),
                ),
            ],
        },
        RuleCases {
            file: "aws_cloudtrail_console_login_success_without_mfa.yml",
            matching: vec![(
                "console login, MFA No",
                record(
                    json!({"eventSource": "signin.amazonaws.com", "eventName": "ConsoleLogin",
                    "responseElements": {"ConsoleLogin": "Success"},
                    "additionalEventData": {"LoginTo": "https://console.aws.amazon.com", "MobileVersion": "No", "MFAUsed": "No"}}),
                ),
            )],
            near_misses: vec![
                (
                    "MFA used",
                    record(
                        json!({"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Success"},
                    "additionalEventData": {"MFAUsed": "Yes"}}),
                    ),
                ),
                (
                    "failed login",
                    record(
                        json!({"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Failure"},
                    "additionalEventData": {"MFAUsed": "No"}}),
                    ),
                ),
                (
                    "no additionalEventData",
                    record(
                        json!({"eventName": "ConsoleLogin", "responseElements": {"ConsoleLogin": "Success"}}),
                    ),
                ),
            ],
        },
        RuleCases {
            file: "aws_cloudtrail_guardduty_detector_deleted_or_updated.yml",
            matching: vec![
                (
                    "disabled, enable is JSON false",
                    record(
                        json!({"eventSource": "guardduty.amazonaws.com", "eventName": "UpdateDetector",
                    "requestParameters": {"detectorId": "12abc34d567e8fa901bc2d34e56789f0", "enable": false}}),
                    ),
                ),
                (
                    "deleted, errorCode null",
                    record(
                        json!({"eventSource": "guardduty.amazonaws.com", "eventName": "DeleteDetector",
                    "requestParameters": {"detectorId": "12abc34d"}, "errorCode": null}),
                    ),
                ),
            ],
            near_misses: vec![
                (
                    "enabled",
                    record(
                        json!({"eventSource": "guardduty.amazonaws.com", "eventName": "UpdateDetector",
                    "requestParameters": {"detectorId": "12abc", "enable": true}}),
                    ),
                ),
                (
                    "delete failed",
                    record(
                        json!({"eventSource": "guardduty.amazonaws.com", "eventName": "DeleteDetector",
                    "errorCode": "BadRequestException"}),
                    ),
                ),
                (
                    "another service",
                    record(
                        json!({"eventSource": "securityhub.amazonaws.com", "eventName": "DeleteDetector"}),
                    ),
                ),
            ],
        },
        RuleCases {
            file: "aws_cloudtrail_imds_malicious_usage.yml",
            matching: vec![(
                "instance credentials used from outside",
                record(
                    json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets",
                    "userIdentity": assumed_role("arn:aws:sts::123456789012:assumed-role/aws:ec2-instance/i-0abc1234def567890")}),
                ),
            )],
            near_misses: vec![
                (
                    "SSM itself",
                    record(
                        json!({"eventSource": "ssm.amazonaws.com", "eventName": "UpdateInstanceInformation",
                    "userIdentity": assumed_role("arn:aws:sts::123456789012:assumed-role/aws:ec2-instance/i-0abc")}),
                    ),
                ),
                (
                    "from AWS",
                    record(
                        json!({"eventSource": "s3.amazonaws.com", "sourceIPAddress": "AWS Internal",
                    "userIdentity": assumed_role("arn:aws:sts::123456789012:assumed-role/aws:ec2-instance/i-0abc")}),
                    ),
                ),
                (
                    "an ordinary role",
                    record(
                        json!({"userIdentity": assumed_role("arn:aws:sts::123456789012:assumed-role/Admin/bob")}),
                    ),
                ),
                (
                    "the regex is case-sensitive",
                    record(
                        json!({"userIdentity": assumed_role("arn:aws:sts::123456789012:ASSUMED-ROLE/aws:x/i-1")}),
                    ),
                ),
            ],
        },
        RuleCases {
            file: "aws_cloudtrail_pua_trufflehog.yml",
            matching: vec![(
                "exact user agent, other case",
                record(json!({"userAgent": "trufflehog"})),
            )],
            near_misses: vec![(
                "a plain value is the whole value",
                record(json!({"userAgent": "TruffleHog/3.63.2"})),
            )],
        },
        RuleCases {
            file: "aws_sts_getcalleridentity_trufflehog.yml",
            matching: vec![(
                "user agent contains it",
                record(
                    json!({"eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
                    "userAgent": "TruffleHog aws-sdk-go/1.44.305 (go1.20.5; linux; amd64)"}),
                ),
            )],
            near_misses: vec![
                (
                    "the CLI",
                    record(
                        json!({"eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity"}),
                    ),
                ),
                (
                    "another call",
                    record(
                        json!({"eventSource": "sts.amazonaws.com", "eventName": "GetSessionToken", "userAgent": "TruffleHog"}),
                    ),
                ),
            ],
        },
        RuleCases {
            file: "aws_disable_bucket_versioning.yml",
            matching: vec![(
                "suspended, nested in the request",
                record(
                    json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
                    "requestParameters": {"bucketName": "logs", "Host": "logs.s3.amazonaws.com", "versioning": "",
                        "VersioningConfiguration": {"Status": "Suspended", "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/"}}}),
                ),
            )],
            near_misses: vec![(
                "enabled",
                record(
                    json!({"eventSource": "s3.amazonaws.com", "eventName": "PutBucketVersioning",
                    "requestParameters": {"bucketName": "logs", "VersioningConfiguration": {"Status": "Enabled"}}}),
                ),
            )],
        },
        RuleCases {
            file: "aws_ec2_vm_export_failure.yml",
            matching: vec![
                (
                    "export accepted",
                    record(
                        json!({"eventSource": "ec2.amazonaws.com", "eventName": "CreateInstanceExportTask",
                    "responseElements": {"exportTask": {"state": "active", "instanceExportDetails": {"instanceId": "i-1"}}}}),
                    ),
                ),
                (
                    "errorCode null is no error",
                    record(
                        json!({"eventSource": "ec2.amazonaws.com", "eventName": "CreateInstanceExportTask", "errorCode": null}),
                    ),
                ),
            ],
            near_misses: vec![
                (
                    "an error code",
                    record(
                        json!({"eventSource": "ec2.amazonaws.com", "eventName": "CreateInstanceExportTask",
                    "errorCode": "Client.UnauthorizedOperation", "errorMessage": "You are not authorized"}),
                    ),
                ),
                (
                    "a failure in the response",
                    record(
                        json!({"eventSource": "ec2.amazonaws.com", "eventName": "CreateInstanceExportTask",
                    "responseElements": {"exportTask": {"state": "cancelled", "statusMessage": "Export failure: unsupported"}}}),
                    ),
                ),
            ],
        },
        RuleCases {
            file: "aws_ecs_task_definition_cred_endpoint_query.yml",
            matching: vec![(
                "through two lists",
                record(
                    json!({"eventSource": "ecs.amazonaws.com", "eventName": "RegisterTaskDefinition",
                    "requestParameters": {"family": "x", "containerDefinitions": [
                        {"name": "a", "command": ["sleep", "10"]},
                        {"name": "b", "command": ["/bin/sh", "-c", "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}}),
                ),
            )],
            near_misses: vec![
                (
                    "harmless command",
                    record(
                        json!({"eventSource": "ecs.amazonaws.com", "eventName": "RunTask",
                    "requestParameters": {"containerDefinitions": [{"command": ["echo", "hi"]}]}}),
                    ),
                ),
                (
                    "deregistered",
                    record(
                        json!({"eventSource": "ecs.amazonaws.com", "eventName": "DeregisterTaskDefinition",
                    "requestParameters": {"containerDefinitions": [{"command": ["$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}}),
                    ),
                ),
            ],
        },
        RuleCases {
            file: "aws_iam_backdoor_users_keys.yml",
            matching: vec![(
                "a key for another user",
                record(
                    json!({"eventName": "CreateAccessKey", "requestParameters": {"userName": "alice"},
                    "responseElements": {"accessKey": {"userName": "alice", "status": "Active"}}}),
                ),
            )],
            near_misses: vec![
                ("another event", record(json!({"eventName": "CreateUser"}))),
                // The filter compares with the literal text `responseElements.accessKey.userName`.
                (
                    "the filter's literal text",
                    record(json!({"eventName": "CreateAccessKey",
                    "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/responseElements.accessKey.userName"}})),
                ),
            ],
        },
        RuleCases {
            file: "aws_iam_s3browser_templated_s3_bucket_policy_creation.yml",
            matching: vec![(
                "the template's policy",
                record(
                    json!({"eventName": "PutUserPolicy", "userAgent": "S3 Browser 11.5.7 https://s3browser.com",
                    "requestParameters": {"userName": "x", "policyName": "p",
                        "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::<YOUR-BUCKET-NAME>/*\"]}]}"}}),
                ),
            )],
            near_misses: vec![
                (
                    "a real bucket",
                    record(
                        json!({"eventName": "PutUserPolicy", "userAgent": "S3 Browser 11.5.7",
                    "requestParameters": {"policyDocument": "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::logs/*\"}"}}),
                    ),
                ),
                (
                    "the CLI",
                    record(json!({"eventName": "PutUserPolicy",
                    "requestParameters": {"policyDocument": "{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"arn:aws:s3:::<YOUR-BUCKET-NAME>/*\"}"}})),
                ),
            ],
        },
        RuleCases {
            file: "aws_new_lambda_layer_attached.yml",
            matching: vec![(
                "versioned event name, a layer",
                record(
                    json!({"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionConfiguration20150331v2",
                    "requestParameters": {"functionName": "f", "layers": ["arn:aws:lambda:us-east-1:123456789012:layer:evil:1"]}}),
                ),
            )],
            near_misses: vec![
                (
                    "no layers",
                    record(
                        json!({"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionConfiguration20150331v2",
                    "requestParameters": {"functionName": "f", "timeout": 30}}),
                    ),
                ),
                (
                    "an empty list of layers",
                    record(
                        json!({"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionConfiguration",
                    "requestParameters": {"layers": []}}),
                    ),
                ),
                (
                    "code, not configuration",
                    record(
                        json!({"eventSource": "lambda.amazonaws.com", "eventName": "UpdateFunctionCode20150331v2",
                    "requestParameters": {"layers": ["x"]}}),
                    ),
                ),
            ],
        },
        RuleCases {
            file: "aws_rds_change_master_password.yml",
            matching: vec![(
                "password pending",
                record(
                    json!({"eventSource": "rds.amazonaws.com", "eventName": "ModifyDBInstance",
                    "responseElements": {"dBInstanceIdentifier": "db", "pendingModifiedValues": {"masterUserPassword": "****"}}}),
                ),
            )],
            near_misses: vec![(
                "another change pending",
                record(
                    json!({"eventSource": "rds.amazonaws.com", "eventName": "ModifyDBInstance",
                    "responseElements": {"pendingModifiedValues": {"dBInstanceClass": "db.m5.large"}}}),
                ),
            )],
        },
        RuleCases {
            file: "aws_rds_public_db_restore.yml",
            matching: vec![(
                "publicly accessible, a JSON boolean",
                record(
                    json!({"eventSource": "rds.amazonaws.com", "eventName": "RestoreDBInstanceFromDBSnapshot",
                    "responseElements": {"publiclyAccessible": true, "dBInstanceIdentifier": "copy"}}),
                ),
            )],
            near_misses: vec![(
                "private",
                record(
                    json!({"eventSource": "rds.amazonaws.com", "eventName": "RestoreDBInstanceFromDBSnapshot",
                    "responseElements": {"publiclyAccessible": false}}),
                ),
            )],
        },
        RuleCases {
            file: "aws_root_account_usage.yml",
            matching: vec![(
                "root calls an API",
                record(
                    json!({"userIdentity": {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}}),
                ),
            )],
            near_misses: vec![
                (
                    "a service event for root",
                    record(
                        json!({"userIdentity": {"type": "Root"}, "eventType": "AwsServiceEvent"}),
                    ),
                ),
                ("an IAM user", record(json!({}))),
            ],
        },
        RuleCases {
            file: "aws_update_login_profile.yml",
            matching: vec![(
                "another user's password",
                record(
                    json!({"eventName": "UpdateLoginProfile", "requestParameters": {"userName": "alice", "passwordResetRequired": false}}),
                ),
            )],
            near_misses: vec![
                (
                    "the field reference holds",
                    record(json!({"eventName": "UpdateLoginProfile",
                    "requestParameters": {"userName": "ARN:AWS:IAM::123456789012:USER/BENJAMIN"}})),
                ),
                (
                    "another event",
                    record(
                        json!({"eventName": "CreateLoginProfile", "requestParameters": {"userName": "alice"}}),
                    ),
                ),
            ],
        },
        RuleCases {
            file: "aws_susp_saml_activity.yml",
            matching: vec![
                (
                    "STS with SAML",
                    record(
                        json!({"eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithSAML",
                    "userIdentity": {"type": "SAMLUser", "principalId": "x:y", "userName": "y"}}),
                    ),
                ),
                (
                    "IAM provider updated",
                    record(json!({"eventName": "UpdateSAMLProvider"})),
                ),
            ],
            near_misses: vec![(
                "crossed source and name",
                record(
                    json!({"eventSource": "sts.amazonaws.com", "eventName": "UpdateSAMLProvider"}),
                ),
            )],
        },
        RuleCases {
            file: "aws_enum_buckets.yml",
            matching: vec![
                (
                    "an IAM user lists",
                    record(json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets"})),
                ),
                (
                    "no identity type",
                    record(
                        json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "userIdentity": {"accountId": "1"}}),
                    ),
                ),
            ],
            near_misses: vec![(
                "an assumed role lists",
                record(
                    json!({"eventSource": "s3.amazonaws.com", "eventName": "ListBuckets", "userIdentity": assumed_role("arn:aws:sts::1:assumed-role/r/s")}),
                ),
            )],
        },
        RuleCases {
            file: "aws_sts_assumerole_misuse.yml",
            matching: vec![(
                "a role session",
                record(json!({"userIdentity": assumed_role("arn:aws:sts::1:assumed-role/r/s")})),
            )],
            near_misses: vec![(
                "no session issuer type",
                record(
                    json!({"userIdentity": {"type": "AssumedRole", "sessionContext": {"sessionIssuer": {}}}}),
                ),
            )],
        },
        RuleCases {
            file: "aws_cloudtrail_disable_logging.yml",
            matching: vec![(
                "logging stopped",
                record(
                    json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StopLogging",
                "requestParameters": {"name": "arn:aws:cloudtrail:us-east-1:123456789012:trail/main"}}),
                ),
            )],
            near_misses: vec![(
                "logging started",
                record(
                    json!({"eventSource": "cloudtrail.amazonaws.com", "eventName": "StartLogging"}),
                ),
            )],
        },
        RuleCases {
            file: "aws_console_getsignintoken.yml",
            matching: vec![(
                "a browser",
                record(
                    json!({"eventSource": "signin.amazonaws.com", "eventName": "GetSigninToken",
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64)"}),
                ),
            )],
            near_misses: vec![(
                "the SSO portal's agent",
                record(
                    json!({"eventSource": "signin.amazonaws.com", "eventName": "GetSigninToken",
                "userAgent": "Jersey/${project.version} (HttpUrlConnection 1.8.0_292)"}),
                ),
            )],
        },
        RuleCases {
            file: "aws_ec2_startup_script_change.yml",
            matching: vec![(
                "user data changed",
                record(
                    json!({"eventSource": "ec2.amazonaws.com", "eventName": "ModifyInstanceAttribute",
                "requestParameters": {"instanceId": "i-1", "attribute": "userData"}}),
                ),
            )],
            near_misses: vec![(
                "another attribute",
                record(
                    json!({"eventSource": "ec2.amazonaws.com", "eventName": "ModifyInstanceAttribute",
                "requestParameters": {"instanceId": "i-1", "attribute": "instanceType"}}),
                ),
            )],
        },
        RuleCases {
            file: "aws_sso_idp_change.yml",
            matching: vec![(
                "external IdP enabled",
                record(json!({"eventSource": "sso.amazonaws.com",
                "eventName": "EnableExternalIdPConfigurationForDirectory"})),
            )],
            near_misses: vec![(
                "another SSO call",
                record(json!({"eventSource": "sso.amazonaws.com", "eventName": "ListInstances"})),
            )],
        },
        RuleCases {
            file: "aws_delete_saml_provider.yml",
            matching: vec![(
                "only with the `status` field CloudTrail does not write",
                record(json!({"eventName": "DeleteSAMLProvider", "status": "Success"})),
            )],
            near_misses: vec![(
                "a real deletion record",
                record(json!({"eventName": "DeleteSAMLProvider",
                "requestParameters": {"sAMLProviderArn": "arn:aws:iam::1:saml-provider/x"}})),
            )],
        },
    ]
}

/// Whether each detector, on the fast path and exhaustively, matches `record` with its one rule.
fn verdicts(detectors: &[Detector], record: &str) -> Vec<bool> {
    let mut scratch = Scratch::default();
    let mut out = Vec::new();
    for detector in detectors {
        for exhaustive in [false, true] {
            let verdict = match exhaustive {
                false => detector.detect(record.as_bytes(), &Options::default(), &mut scratch),
                true => detector.detect_exhaustively(
                    record.as_bytes(),
                    &Options::default(),
                    &mut scratch,
                ),
            };
            out.push(verdict == Verdict::Tagged && scratch.matched() == [0]);
        }
    }
    out
}

#[test]
fn hand_written_records_get_the_verdict_the_rule_means() {
    let cases = cases();
    assert!(cases.len() >= 20, "{} rules", cases.len());
    let mut wrong = Vec::new();
    for case in &cases {
        let detectors = [
            detector(vec![source(case.file)], true),
            detector(vec![source(case.file)], false),
        ];
        let labelled = case
            .matching
            .iter()
            .map(|c| (c, true))
            .chain(case.near_misses.iter().map(|c| (c, false)));
        for ((name, record), expected) in labelled {
            let got = verdicts(&detectors, record);
            if got.iter().any(|v| *v != expected) {
                wrong.push(format!(
                    "{} / {name}: expected {expected}, got {got:?}",
                    case.file
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn a_match_is_tagged_with_the_rules_author_and_licence() {
    let detector = detector(vec![source("aws_cloudtrail_pua_trufflehog.yml")], true);
    let mut out = Vec::new();
    let record = record(json!({"userAgent": "TruffleHog"}));
    let verdict = detector.tag_record(
        record.as_bytes(),
        &Options::default(),
        &mut Scratch::default(),
        &mut out,
    );
    assert_eq!(verdict, Verdict::Tagged);
    let tagged: Value = serde_json::from_slice(&out).unwrap();
    let entry = &tagged["trailtag"]["detections"][0];
    assert_eq!(entry["id"], "a840e606-7c8c-4684-9bc1-eb6b6155127f");
    assert_eq!(entry["format"], "sigma");
    assert_eq!(
        entry["author"],
        json!(["Swachchhanda Shrawan Poudel (Nextron Systems)"])
    );
    assert_eq!(entry["license"], "DRL-1.1");
    assert_eq!(entry["severity"], "medium");
    assert_eq!(entry["risk_score"], 47);
    assert_eq!(entry["threat"][0]["tactic"]["id"], "TA0006");
}

#[test]
fn the_corpus_decides_alike_fast_and_exhaustive_optimised_and_as_written() {
    let optimised = detector(sigma_sources(), true);
    let written = detector(sigma_sources(), false);
    let (mut a, mut b, mut c) = (Scratch::default(), Scratch::default(), Scratch::default());
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let records = trailtag_conformance::corpus_records();
    assert!(records.len() > 3000);
    for record in &records {
        let options = Options::default();
        optimised.detect(record, &options, &mut a);
        optimised.detect_exhaustively(record, &options, &mut b);
        written.detect(record, &options, &mut c);
        let text = String::from_utf8_lossy(record);
        assert_eq!(
            a.matched(),
            b.matched(),
            "fast path against exhaustive on {text}"
        );
        assert_eq!(
            a.matched(),
            c.matched(),
            "optimised against as written on {text}"
        );
        for &index in a.matched() {
            *counts
                .entry(optimised.rules()[index as usize].meta().source.clone())
                .or_default() += 1;
        }
    }
    println!(
        "corpus matches per Sigma rule ({} records): {counts:#?}",
        records.len()
    );
    assert!(
        !counts.is_empty(),
        "the corpus holds attacks some SigmaHQ rule must see"
    );
}

#[test]
fn every_rule_is_pinned_and_event_name_rules_on_event_name() {
    let detector = detector(sigma_sources(), true);
    let mut unpinned = Vec::new();
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for rule in detector.rules() {
        let need = Need::of(rule.condition());
        match need.best_clause() {
            None => unpinned.push(rule.meta().source.clone()),
            Some(clause) => {
                let mut clause_keys: Vec<String> = clause.iter().map(|p| p.key.clone()).collect();
                clause_keys.dedup();
                keys.insert(rule.meta().source.clone(), clause_keys);
            }
        }
    }
    println!("rules that pin no field: {unpinned:?}");
    assert!(unpinned.is_empty(), "{unpinned:?}");
    let others: BTreeMap<&str, &[&str]> = BTreeMap::from([
        // `userIdentity.arn|re: '.+:assumed-role/aws:.+'`: the literal every match holds.
        ("aws_cloudtrail_imds_malicious_usage.yml", &["arn"][..]),
        ("aws_cloudtrail_pua_trufflehog.yml", &["userAgent"][..]),
        ("aws_root_account_usage.yml", &["type"][..]),
        ("aws_sts_assumerole_misuse.yml", &["type"][..]),
    ]);
    for (file, clause_keys) in &keys {
        let expected: &[&str] = others.get(file.as_str()).copied().unwrap_or(&["eventName"]);
        assert_eq!(clause_keys, expected, "{file}");
    }
    assert_eq!(keys.len(), 57);
}
