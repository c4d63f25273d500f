//! Hand-written CloudTrail records for 48 of Elastic's AWS rules (`../shared/rules/elastic-aws`),
//! loaded unchanged from their files and all together: for each rule, records that it must tag
//! and near misses that it must not.
//!
//! Every record is written as CloudTrail writes it (the raw record, not the ECS document), and
//! what each rule should do with it was worked out from the rule's query and the ingest
//! pipeline's mapping (`../shared/spec/ecs-mapping.md`, `docs/elastic.md`): `event.provider` is
//! `eventSource`, `event.action` is `eventName`, `event.outcome` is `failure` when `errorCode` or
//! `errorMessage` is present (`responseElements.ConsoleLogin` for console sign-ins), the
//! `aws.cloudtrail.request_parameters` string is the Java `HashMap` rendering of
//! `requestParameters` after the pipeline's clean-up, and so on. A near miss is its match with
//! exactly one thing changed, and says why the rule must reject it.
//!
//! A record is expected to be tagged by exactly the rules listed with it: where another of the
//! chosen rules legitimately matches too (a security-group rule and the broader security-group
//! change rule, a `new_terms` and a `threshold` rule over the same filter), it is listed.
//! `new_terms` and `threshold` rules are partial: their filter runs and the tag says what
//! Elasticsearch would also require.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::collections::BTreeSet;

use trailtag_conformance as data;
use trailtag_engine::{Detector, Options, RuleFormat, RuleSource, Scratch, Verdict};

/// What kind of Elastic rule a file holds (its `type`, and the query language).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `type = "query"`, KQL.
    Kql,
    /// `type = "eql"`.
    Eql,
    /// `type = "new_terms"` (KQL filter; partial in trailtag).
    NewTerms,
    /// `type = "threshold"` (KQL filter; partial in trailtag).
    Threshold,
}

// The rules, by the ids in their files.
const S3_CREDENTIAL_FILES: &str = "2f0ee9fe-4529-4b9e-9f78-6c81ef33c6ba";
const MANAGEMENT_EVENTS_OFF: &str = "20b79388-3225-4a98-b19f-17de8feaa39c";
const ALARM_DELETED: &str = "f772ec8a-e182-483c-91d2-72058f76a44c";
const CONFIG_RULE_DELETED: &str = "7024e2a0-315d-4334-bb1a-552d604f27bc";
const GUARDDUTY_SUPPRESSION: &str = "e515aeb2-3d47-4925-b6fc-3f92b0d40d5b";
const PASSWORD_POLICY_DELETED: &str = "283f6c2a-9811-4239-9a40-52b066c67f99";
const LEAVE_ORGANIZATION: &str = "4236393d-090e-4dfa-9e32-c9a7ec6189ee";
const SG_REMOTE_INGRESS: &str = "25e7fee6-fc25-11ee-ba0f-f661ea17fbce";
const SG_CHANGED: &str = "29052c19-ff3e-42fd-8363-7be14d7c5469";
const DEPRECATED_AMI: &str = "264c641e-c202-11ef-993e-f661ea17fbce";
const EKS_LOGGING_OFF: &str = "0f189343-dac7-4c1b-aca7-be8baa6bd02b";
const AMI_SHARED: &str = "6a309864-fc3f-11ee-b8cc-f661ea17fbce";
const LAMBDA_DELETED: &str = "bb3ac0e3-2c9c-4069-a26d-75ca6a6e547b";
const ROOT_CONSOLE_LOGIN: &str = "e2a67480-3b79-403d-96e3-fdd2992c50ef";
const SAML_PROVIDER_UPDATED: &str = "979729e7-0c52-4c4c-b71e-88103304a79f";
const IAM_VIA_LAMBDA_ROLE: &str = "a8f3c2e1-4d5b-4e6f-8a9b-0c1d2e3f4a5b";
const IAM_VIA_CLOUDSHELL: &str = "41554afd-d839-4cc2-b185-170ac01cbefc";
const BEDROCK_KEY_OUTSIDE_BEDROCK: &str = "56788ae8-794b-4ade-affd-534aa5c9e28d";
const BEDROCK_MODEL_ACCESS_DENIED: &str = "3d2e8c90-5be7-4a57-9de4-58be75af933f";
const NACL_CREATED: &str = "39144f38-5284-4f8e-a2ae-e3fd628d90b0";
const KEY_QUARANTINE_POLICY: &str = "0b79f5c0-2c31-4fea-86cd-e62644278205";
const ADMIN_POLICY_ON_ROLE: &str = "dde13d58-bc39-4aa0-87fd-b4bdbf4591da";
const S3_ACCESS_LOGGING_OFF: &str = "a6788d4b-b241-4bf0-8986-a3b4315c5b70";
const BUCKET_POLICY_EXTERNAL: &str = "e8c9ff14-fd1e-11ee-a0df-f661ea17fbce";
const BUCKET_POLICY_PUBLIC: &str = "618bb351-00f0-467b-8956-8cace8b81f07";
const RDS_SNAPSHOT_DELETED: &str = "b36c99af-b944-4509-a523-7e0fad275be1";
const RDS_PASSWORD_CHANGED: &str = "f2015527-7c46-4bb9-80db-051657ddfb69";
const RDS_DELETION_PROTECTION_OFF: &str = "f6652fb5-cd8e-499c-8311-2ce2bb6cac62";
const RDS_MADE_PUBLIC: &str = "9efb3f79-b77b-466a-9fa0-3645d22d1e7f";
const S3_RANSOM_NOTE: &str = "7fda9bb2-fd28-11ee-85f9-f661ea17fbce";
const SUSPICIOUS_USER_AGENT: &str = "f80ea920-f6f5-4c8a-9761-84ac97ec0cb2";
const VIRTUAL_MFA_WITH_TEMPORARY_KEY: &str = "e4feea34-3b62-4c83-b77f-018fbef48c00";
const EC2_ROLE_CONSOLE_LOGIN: &str = "d1e5e410-3e34-412e-9b1f-dd500b3b55cd";
const ROOT_LOGIN_PROFILE: &str = "c04be7e0-b0fc-11ef-a826-f661ea17fbce";
const RDS_SNAPSHOT_SHARED: &str = "4577ef08-61d1-4458-909f-25a4b10c87fe";
const SSM_SECURE_STRING: &str = "fd332492-0bc6-11ef-b5be-f661ea17fbcc";
const NACL_ALLOW_ALL: &str = "5d9a3c71-2b84-4e58-f693-1c7f0a4e8b26";
const ROLE_ASSUMED_BY_SERVICE: &str = "93075852-b0f5-4b8b-89c3-a226efae5726";
const ORGANIZATION_DISCOVERY: &str = "444c8fad-874f-4f59-b0ea-cf26cea478bd";
const IAM_WITH_SESSION_TOKEN: &str = "c70d9f0d-8cb6-4cfc-85df-a95c1ccf4eab";
const CONSOLE_LOGIN_WITHOUT_MFA: &str = "f5778acd-80e3-4ca0-a32a-6259386dfb20";
const SSE_C_UNUSUAL: &str = "c1a9ed70-d349-11ef-841c-f661ea17fbcd";
const ASSUME_ROLE_POLICY_UPDATED: &str = "a60326d7-dca7-4fb7-93eb-1ca03a1febbd";
const ROOT_LOGIN_FAILURES: &str = "4d50a94f-2844-43fa-8395-6afbd5e1c5ef";
const SSE_C_EXCESSIVE: &str = "909bf7c8-d371-11ef-bcc3-f661ea17fbcd";
const PRINCIPAL_ENUMERATION: &str = "ea248a02-bc47-4043-8e94-2885b19b2636";
const LAMBDA_INVOKE_FOR_ANYONE: &str = "151d8f72-0747-11ef-a0c2-f661ea17fbcc";
const LAMBDA_CROSS_ACCOUNT_INVOKE: &str = "8f985da6-66e8-4838-a63e-21636eb9adc5";

/// Every rule this file exercises: its file, its id and its kind.
const RULES: &[(&str, &str, Kind)] = &[
    (
        "credential_access_credentials_in_s3_bucket.toml",
        S3_CREDENTIAL_FILES,
        Kind::Kql,
    ),
    (
        "defense_evasion_cloudtrail_management_events_disabled_via_eventselectors.toml",
        MANAGEMENT_EVENTS_OFF,
        Kind::Kql,
    ),
    (
        "defense_evasion_cloudwatch_alarm_deletion.toml",
        ALARM_DELETED,
        Kind::Kql,
    ),
    (
        "defense_evasion_config_service_rule_deletion.toml",
        CONFIG_RULE_DELETED,
        Kind::Kql,
    ),
    (
        "defense_evasion_guardduty_finding_suppression.toml",
        GUARDDUTY_SUPPRESSION,
        Kind::Kql,
    ),
    (
        "defense_evasion_iam_account_password_policy_deleted.toml",
        PASSWORD_POLICY_DELETED,
        Kind::Kql,
    ),
    (
        "defense_evasion_organizations_leave_organization.toml",
        LEAVE_ORGANIZATION,
        Kind::Kql,
    ),
    (
        "defense_evasion_vpc_security_group_ingress_rule_added_for_remote_connections.toml",
        SG_REMOTE_INGRESS,
        Kind::Kql,
    ),
    (
        "persistence_ec2_security_group_configuration_change_detection.toml",
        SG_CHANGED,
        Kind::Kql,
    ),
    (
        "discovery_ec2_deprecated_ami_discovery.toml",
        DEPRECATED_AMI,
        Kind::Kql,
    ),
    (
        "defense_evasion_eks_control_plane_logging_disabled.toml",
        EKS_LOGGING_OFF,
        Kind::Kql,
    ),
    (
        "exfiltration_ec2_ami_shared_with_separate_account.toml",
        AMI_SHARED,
        Kind::Kql,
    ),
    (
        "impact_lambda_function_deleted.toml",
        LAMBDA_DELETED,
        Kind::Kql,
    ),
    (
        "initial_access_console_login_root.toml",
        ROOT_CONSOLE_LOGIN,
        Kind::Kql,
    ),
    (
        "privilege_escalation_iam_saml_provider_updated.toml",
        SAML_PROVIDER_UPDATED,
        Kind::Kql,
    ),
    (
        "privilege_escalation_iam_privilege_operations_via_lambda_execution_role.toml",
        IAM_VIA_LAMBDA_ROLE,
        Kind::Kql,
    ),
    (
        "persistence_sensitive_operations_via_cloudshell.toml",
        IAM_VIA_CLOUDSHELL,
        Kind::Kql,
    ),
    (
        "privilege_escalation_bedrock_phantom_user_activity_outside_bedrock.toml",
        BEDROCK_KEY_OUTSIDE_BEDROCK,
        Kind::Kql,
    ),
    (
        "persistence_bedrock_foundation_model_access_denied_attempt.toml",
        BEDROCK_MODEL_ACCESS_DENIED,
        Kind::Kql,
    ),
    (
        "persistence_ec2_network_acl_creation.toml",
        NACL_CREATED,
        Kind::Kql,
    ),
    (
        "credential_access_iam_compromisedkeyquarantine_policy_attached_to_user.toml",
        KEY_QUARANTINE_POLICY,
        Kind::Eql,
    ),
    (
        "privilege_escalation_iam_administratoraccess_policy_attached_to_role.toml",
        ADMIN_POLICY_ON_ROLE,
        Kind::Eql,
    ),
    (
        "defense_evasion_s3_bucket_server_access_logging_disabled.toml",
        S3_ACCESS_LOGGING_OFF,
        Kind::Eql,
    ),
    (
        "exfiltration_s3_bucket_policy_added_for_external_account_access.toml",
        BUCKET_POLICY_EXTERNAL,
        Kind::Eql,
    ),
    (
        "exfiltration_s3_bucket_policy_added_for_public_access.toml",
        BUCKET_POLICY_PUBLIC,
        Kind::Eql,
    ),
    (
        "impact_rds_snapshot_deleted.toml",
        RDS_SNAPSHOT_DELETED,
        Kind::Eql,
    ),
    (
        "persistence_rds_db_instance_password_modified.toml",
        RDS_PASSWORD_CHANGED,
        Kind::Eql,
    ),
    (
        "impact_rds_instance_cluster_deletion_protection_disabled.toml",
        RDS_DELETION_PROTECTION_OFF,
        Kind::Eql,
    ),
    (
        "persistence_rds_instance_made_public.toml",
        RDS_MADE_PUBLIC,
        Kind::Eql,
    ),
    (
        "impact_s3_bucket_object_uploaded_with_ransom_keyword.toml",
        S3_RANSOM_NOTE,
        Kind::Eql,
    ),
    (
        "initial_access_suspicious_user_agent_detected_in_cloudtrail.toml",
        SUSPICIOUS_USER_AGENT,
        Kind::Eql,
    ),
    (
        "persistence_aws_attempt_to_register_virtual_mfa_device.toml",
        VIRTUAL_MFA_WITH_TEMPORARY_KEY,
        Kind::Eql,
    ),
    (
        "lateral_movement_ec2_instance_console_login.toml",
        EC2_ROLE_CONSOLE_LOGIN,
        Kind::Eql,
    ),
    (
        "persistence_iam_create_login_profile_for_root.toml",
        ROOT_LOGIN_PROFILE,
        Kind::Eql,
    ),
    (
        "exfiltration_rds_snapshot_shared_with_another_account.toml",
        RDS_SNAPSHOT_SHARED,
        Kind::Eql,
    ),
    (
        "persistence_lambda_backdoor_invoke_function_for_any_principal.toml",
        LAMBDA_INVOKE_FOR_ANYONE,
        Kind::Eql,
    ),
    (
        "persistence_lambda_cross_account_invocation_backdoor.toml",
        LAMBDA_CROSS_ACCOUNT_INVOKE,
        Kind::Eql,
    ),
    (
        "credential_access_retrieve_secure_string_parameters_via_ssm.toml",
        SSM_SECURE_STRING,
        Kind::NewTerms,
    ),
    (
        "defense_evasion_ec2_nacl_all_traffic_allowed_new_identity.toml",
        NACL_ALLOW_ALL,
        Kind::NewTerms,
    ),
    (
        "privilege_escalation_role_assumption_by_service.toml",
        ROLE_ASSUMED_BY_SERVICE,
        Kind::NewTerms,
    ),
    (
        "discovery_organization_discovery_by_rare_user.toml",
        ORGANIZATION_DISCOVERY,
        Kind::NewTerms,
    ),
    (
        "persistence_iam_api_calls_via_user_session_token.toml",
        IAM_WITH_SESSION_TOKEN,
        Kind::NewTerms,
    ),
    (
        "initial_access_iam_user_console_login_without_mfa.toml",
        CONSOLE_LOGIN_WITHOUT_MFA,
        Kind::NewTerms,
    ),
    (
        "impact_s3_unusual_object_encryption_with_sse_c.toml",
        SSE_C_UNUSUAL,
        Kind::NewTerms,
    ),
    (
        "privilege_escalation_iam_update_assume_role_policy.toml",
        ASSUME_ROLE_POLICY_UPDATED,
        Kind::NewTerms,
    ),
    (
        "credential_access_root_console_failure_brute_force.toml",
        ROOT_LOGIN_FAILURES,
        Kind::Threshold,
    ),
    (
        "impact_s3_excessive_object_encryption_with_sse_c.toml",
        SSE_C_EXCESSIVE,
        Kind::Threshold,
    ),
    (
        "discovery_iam_principal_enumeration_via_update_assume_role_policy.toml",
        PRINCIPAL_ENUMERATION,
        Kind::Threshold,
    ),
];

/// A record a rule must tag, and its near misses.
struct Example {
    /// The rule this example is for.
    rule: &'static str,
    /// What the record shows.
    about: &'static str,
    /// The raw CloudTrail record (whitespace outside strings is dropped: CloudTrail writes one
    /// compact line).
    record: &'static str,
    /// Every chosen rule that tags the record (`rule` among them).
    tags: &'static [&'static str],
    misses: &'static [Miss],
}

/// The example's record with one thing changed: every occurrence of `from` becomes `to` (one
/// value, written where the record holds it).
struct Miss {
    from: &'static str,
    to: &'static str,
    /// Every chosen rule that tags the changed record (`rule` never among them).
    tags: &'static [&'static str],
    /// Why the rule must not match it.
    why: &'static str,
}

/// An `errorCode` and `errorMessage` put before `"requestParameters"`: the call was refused.
macro_rules! failed {
    () => {
        concat!(
            r#""errorCode":"AccessDenied","errorMessage":"User is not authorized to perform this operation","#,
            r#""requestParameters""#
        )
    };
}

const EXAMPLES: &[Example] = &[
    // ---------------------------------------------------------------- KQL `query` rules
    Example {
        rule: S3_CREDENTIAL_FILES,
        about: "an AWS credentials file read out of a bucket",
        record: r#"{"eventVersion":"1.10",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:02:11Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"[aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1018-aws md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off md/command#s3.cp]",
            "requestParameters":{"bucketName":"corp-backups","Host":"corp-backups.s3.us-east-1.amazonaws.com","key":"home/ubuntu/.aws/credentials"},
            "responseElements":null,
            "additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":"Zm9vYmFyYmF6cXV4","bytesTransferredOut":116},
            "requestID":"8XQ2K7T9VB3N1M4P","eventID":"0c5a6f1e-6a0f-4d8e-9a55-2d1c8f4e7b10","readOnly":true,
            "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::corp-backups/home/ubuntu/.aws/credentials"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::corp-backups"}],
            "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data",
            "tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"corp-backups.s3.us-east-1.amazonaws.com"}}"#,
        tags: &[S3_CREDENTIAL_FILES],
        misses: &[
            Miss {
                from: "home/ubuntu/.aws/credentials",
                to: "home/ubuntu/notes/todo.txt",
                tags: &[],
                why: "the object key matches none of the secret-file patterns",
            },
            Miss {
                from: r#""type":"IAMUser""#,
                to: r#""type":"AWSService""#,
                tags: &[],
                why: "an AWS service reading the object is excluded",
            },
            Miss {
                from: r#""requestParameters""#,
                to: failed!(),
                tags: &[],
                why: "a refused GetObject is event.outcome failure",
            },
        ],
    },
    Example {
        rule: S3_CREDENTIAL_FILES,
        about: "a PEM private key read out of a bucket (`*.pem`)",
        record: r#"{"eventVersion":"1.10",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:03:40Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"[aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1018-aws md/arch#x86_64 lang/python#3.11.8 md/command#s3.cp]",
            "requestParameters":{"bucketName":"corp-backups","Host":"corp-backups.s3.us-east-1.amazonaws.com","key":"deploy/server.pem"},
            "responseElements":null,"requestID":"8XQ2K7T9VB3N1M4Q","eventID":"0c5a6f1e-6a0f-4d8e-9a55-2d1c8f4e7b11","readOnly":true,
            "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::corp-backups/deploy/server.pem"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::corp-backups"}],
            "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data"}"#,
        tags: &[S3_CREDENTIAL_FILES],
        misses: &[Miss {
            from: "deploy/server.pem",
            to: "deploy/server.PEM",
            tags: &[],
            why: "keyword wildcards are case-sensitive: `*.pem` does not match `.PEM`",
        }],
    },
    Example {
        rule: MANAGEMENT_EVENTS_OFF,
        about: "a trail's event selector stops recording management events",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:10:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 md/command#cloudtrail.put-event-selectors",
            "requestParameters":{"trailName":"management-trail","eventSelectors":[{"readWriteType":"All","includeManagementEvents":false,"dataResources":[],"excludeManagementEventSources":[]}]},
            "responseElements":{"trailARN":"arn:aws:cloudtrail:us-east-1:111122223333:trail/management-trail","eventSelectors":[{"readWriteType":"All","includeManagementEvents":false,"dataResources":[],"excludeManagementEventSources":[]}]},
            "requestID":"3f9d2c1e-7b6a-4c5d-8e9f-0a1b2c3d4e5f","eventID":"5e4d3c2b-1a09-4f8e-b7d6-c5b4a3928170","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[MANAGEMENT_EVENTS_OFF],
        misses: &[
            Miss {
                from: r#""includeManagementEvents":false,"dataResources":[],"excludeManagementEventSources":[]}]},"responseElements""#,
                to: r#""includeManagementEvents":true,"dataResources":[],"excludeManagementEventSources":[]}]},"responseElements""#,
                tags: &[],
                why: "management events stay on: `{eventSelectors=[{readWriteType=All, includeManagementEvents=true}], trailName=management-trail}` has no `false` after the key",
            },
            Miss {
                from: r#""eventName":"PutEventSelectors""#,
                to: r#""eventName":"GetEventSelectors""#,
                tags: &[],
                why: "reading the selectors is not changing them",
            },
        ],
    },
    Example {
        rule: ALARM_DELETED,
        about: "a CloudWatch alarm deleted from an IP address",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:20:00Z","eventSource":"monitoring.amazonaws.com","eventName":"DeleteAlarms","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 md/command#cloudwatch.delete-alarms",
            "requestParameters":{"alarmNames":["HighCPU-prod-web"]},"responseElements":null,
            "requestID":"6d1f0e3a-2b4c-4d5e-9f6a-7b8c9d0e1f2a","eventID":"7e2a1f4b-3c5d-4e6f-8a7b-9c0d1e2f3a4b","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[ALARM_DELETED],
        misses: &[
            Miss {
                from: "aws-cli/2.15.30 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8 md/command#cloudwatch.delete-alarms",
                to: "AWS Internal",
                tags: &[],
                why: "the user agent `AWS Internal` is excluded",
            },
            Miss {
                from: r#""sourceIPAddress":"203.0.113.10""#,
                to: r#""sourceIPAddress":"cloudformation.amazonaws.com""#,
                tags: &[],
                why: "a service name is not an IP address, so there is no source.ip and `source.ip: *` fails",
            },
        ],
    },
    Example {
        rule: CONFIG_RULE_DELETED,
        about: "an AWS Config rule deleted by a user",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:30:00Z","eventSource":"config.amazonaws.com","eventName":"DeleteConfigRule","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 os/linux#6.5.0 md/command#configservice.delete-config-rule",
            "requestParameters":{"configRuleName":"s3-bucket-logging-enabled"},"responseElements":null,
            "requestID":"9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d","eventID":"1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[CONFIG_RULE_DELETED],
        misses: &[
            Miss {
                from: r#""userName":"alice"}"#,
                to: r#""userName":"alice","invokedBy":"securityhub.amazonaws.com"}"#,
                tags: &[],
                why: "Security Hub removing its own Config rule is excluded (invoked_by)",
            },
            Miss {
                from: r#""eventName":"DeleteConfigRule""#,
                to: r#""eventName":"PutConfigRule""#,
                tags: &[],
                why: "creating a rule is not deleting one",
            },
        ],
    },
    Example {
        rule: GUARDDUTY_SUPPRESSION,
        about: "a GuardDuty detector disabled (UpdateDetector enable=false)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:40:00Z","eventSource":"guardduty.amazonaws.com","eventName":"UpdateDetector","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#guardduty.update-detector",
            "requestParameters":{"detectorId":"12abc34d567e8fa901bc2d34e56789f0","enable":false},"responseElements":null,
            "requestID":"2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f","eventID":"3d4e5f6a-7b8c-4d9e-0f1a-2b3c4d5e6f7a","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[GUARDDUTY_SUPPRESSION],
        misses: &[Miss {
            from: r#""enable":false"#,
            to: r#""enable":true"#,
            tags: &[],
            why: "enabling the detector suppresses nothing",
        }],
    },
    Example {
        rule: GUARDDUTY_SUPPRESSION,
        about: "a trusted IP set activated (CreateIPSet activate=true)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:41:00Z","eventSource":"guardduty.amazonaws.com","eventName":"CreateIPSet","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#guardduty.create-ip-set",
            "requestParameters":{"detectorId":"12abc34d567e8fa901bc2d34e56789f0","name":"office-egress","format":"TXT","location":"https://s3.amazonaws.com/corp-sec/trusted-ips.txt","activate":true},
            "responseElements":{"ipSetId":"0cb0141ab9fbde177613ab9436212e90"},
            "requestID":"4e5f6a7b-8c9d-4e0f-1a2b-3c4d5e6f7a8b","eventID":"5f6a7b8c-9d0e-4f1a-2b3c-4d5e6f7a8b9c","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[GUARDDUTY_SUPPRESSION],
        misses: &[Miss {
            from: r#""activate":true"#,
            to: r#""activate":false"#,
            tags: &[],
            why: "an IP set created inactive suppresses no finding",
        }],
    },
    Example {
        rule: PASSWORD_POLICY_DELETED,
        about: "the account password policy deleted from the CLI",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:50:00Z","eventSource":"iam.amazonaws.com","eventName":"DeleteAccountPasswordPolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 os/linux#6.5.0 md/command#iam.delete-account-password-policy",
            "requestParameters":null,"responseElements":null,
            "requestID":"6a7b8c9d-0e1f-4a2b-3c4d-5e6f7a8b9c0d","eventID":"7b8c9d0e-1f2a-4b3c-4d5e-6f7a8b9c0d1e","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[PASSWORD_POLICY_DELETED],
        misses: &[
            Miss {
                from: "aws-cli/2.15.30 ua/2.0 os/linux#6.5.0 md/command#iam.delete-account-password-policy",
                to: "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.51.0 (go1.22.1; linux; amd64)",
                tags: &[],
                why: "a Terraform user agent (`*terraform*`) is excluded",
            },
            Miss {
                from: "user/alice",
                to: "user/terraform-ci",
                tags: &[],
                why: "an identity ARN naming terraform is excluded",
            },
            Miss {
                from: r#""sourceIPAddress":"203.0.113.10""#,
                to: r#""sourceIPAddress":"cloudformation.amazonaws.com""#,
                tags: &[],
                why: "CloudFormation as the source is excluded",
            },
        ],
    },
    Example {
        rule: PASSWORD_POLICY_DELETED,
        about: "a user agent that says `Terraform` only with a capital T is not excluded (keyword wildcards are case-sensitive)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T10:51:00Z","eventSource":"iam.amazonaws.com","eventName":"DeleteAccountPasswordPolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"HashiCorp Terraform/1.7.5 aws-sdk-go-v2/1.26.0",
            "requestParameters":null,"responseElements":null,
            "requestID":"6a7b8c9d-0e1f-4a2b-3c4d-5e6f7a8b9c0e","eventID":"7b8c9d0e-1f2a-4b3c-4d5e-6f7a8b9c0d1f","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[PASSWORD_POLICY_DELETED],
        misses: &[Miss {
            from: r#""eventName":"DeleteAccountPasswordPolicy""#,
            to: r#""eventName":"GetAccountPasswordPolicy""#,
            tags: &[],
            why: "reading the policy is not deleting it",
        }],
    },
    Example {
        rule: LEAVE_ORGANIZATION,
        about: "an account leaves its organization",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"AssumedRole","principalId":"AROAJ2UCCR6DPCEXAMPLE:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIAJEXAMPLEXEG2JICEA","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAJ2UCCR6DPCEXAMPLE","arn":"arn:aws:iam::111122223333:role/Admin","accountId":"111122223333","userName":"Admin"},"webIdFederationData":{},"attributes":{"creationDate":"2024-05-01T09:12:00Z","mfaAuthenticated":"true"}}},
            "eventTime":"2024-05-01T11:00:00Z","eventSource":"organizations.amazonaws.com","eventName":"LeaveOrganization","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#organizations.leave-organization",
            "requestParameters":null,"responseElements":null,
            "requestID":"8c9d0e1f-2a3b-4c4d-5e6f-7a8b9c0d1e2f","eventID":"9d0e1f2a-3b4c-4d5e-6f7a-8b9c0d1e2f3a","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[LEAVE_ORGANIZATION],
        misses: &[
            Miss {
                from: r#""eventName":"LeaveOrganization""#,
                to: r#""eventName":"leaveOrganization""#,
                tags: &[],
                why: "event.action is a case-sensitive keyword",
            },
            Miss {
                from: r#""eventSource":"organizations.amazonaws.com""#,
                to: r#""eventSource":"account.amazonaws.com""#,
                tags: &[],
                why: "another service's LeaveOrganization is not the organizations call",
            },
        ],
    },
    Example {
        rule: LEAVE_ORGANIZATION,
        about: "the rule has no outcome test: a refused attempt is tagged too",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"AssumedRole","principalId":"AROAJ2UCCR6DPCEXAMPLE:alice","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accountId":"111122223333","accessKeyId":"ASIAJEXAMPLEXEG2JICEA"},
            "eventTime":"2024-05-01T11:01:00Z","eventSource":"organizations.amazonaws.com","eventName":"LeaveOrganization","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#organizations.leave-organization",
            "errorCode":"ConstraintViolationException","errorMessage":"You cannot remove the master account.",
            "requestParameters":null,"responseElements":null,
            "requestID":"8c9d0e1f-2a3b-4c4d-5e6f-7a8b9c0d1e30","eventID":"9d0e1f2a-3b4c-4d5e-6f7a-8b9c0d1e2f3b","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[LEAVE_ORGANIZATION],
        misses: &[Miss {
            from: r#""eventName":"LeaveOrganization""#,
            to: r#""eventName":"RemoveAccountFromOrganization""#,
            tags: &[],
            why: "another organizations call",
        }],
    },
    Example {
        rule: SG_REMOTE_INGRESS,
        about: "SSH opened to the internet; the broader security-group change rule tags it too",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T11:10:00Z","eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#ec2.authorize-security-group-ingress",
            "requestParameters":{"groupId":"sg-0123456789abcdef0","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"groups":{},"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{},"prefixListIds":{}}]}},
            "responseElements":{"requestId":"0c897921-eded-4cdf-ac2a-c0e5ed5f397d","_return":true,"securityGroupRuleSet":{"items":[{"groupOwnerId":"111122223333","groupId":"sg-0123456789abcdef0","securityGroupRuleId":"sgr-0bb31cddb2c27f401","isEgress":false,"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIpv4":"0.0.0.0/0"}]}},
            "requestID":"0c897921-eded-4cdf-ac2a-c0e5ed5f397d","eventID":"7e96f0e7-4d78-423d-b3f5-391370685b30","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[SG_REMOTE_INGRESS, SG_CHANGED],
        misses: &[
            Miss {
                from: r#""fromPort":22,"toPort":22"#,
                to: r#""fromPort":443,"toPort":443"#,
                tags: &[SG_CHANGED],
                why: "HTTPS is not a remote-administration port; any ingress change is still a change",
            },
            Miss {
                from: r#""cidrIp":"0.0.0.0/0""#,
                to: r#""cidrIp":"10.0.0.0/8""#,
                tags: &[SG_CHANGED],
                why: "a private range is not the whole internet",
            },
            Miss {
                from: r#""requestParameters""#,
                to: failed!(),
                tags: &[],
                why: "a refused change opened nothing",
            },
        ],
    },
    Example {
        rule: SG_CHANGED,
        about: "security groups swapped on an instance (ModifyInstanceAttribute with groupSet)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T11:12:00Z","eventSource":"ec2.amazonaws.com","eventName":"ModifyInstanceAttribute","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#ec2.modify-instance-attribute",
            "requestParameters":{"instanceId":"i-0abcd1234efab5678","groupSet":{"items":[{"groupId":"sg-0123456789abcdef0"},{"groupId":"sg-0fedcba9876543210"}]}},
            "responseElements":{"requestId":"1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a","_return":true},
            "requestID":"1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a","eventID":"2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[SG_CHANGED],
        misses: &[Miss {
            from: r#""groupSet":{"items":[{"groupId":"sg-0123456789abcdef0"},{"groupId":"sg-0fedcba9876543210"}]}"#,
            to: r#""instanceType":{"value":"t3.large"}"#,
            tags: &[],
            why: "changing the instance type touches no security group",
        }],
    },
    Example {
        rule: DEPRECATED_AMI,
        about: "deprecated AMIs listed (includeDeprecated, a JSON boolean, is the keyword `true`)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T11:20:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeImages","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#ec2.describe-images",
            "requestParameters":{"executableBySet":{},"imagesSet":{},"ownersSet":{"items":[{"owner":"amazon"}]},"availabilityZone":"","filterSet":{"items":[{"name":"name","valueSet":{"items":[{"value":"ubuntu/images/*-16.04-*"}]}}]},"includeDeprecated":true,"includeDisabled":false},
            "responseElements":null,
            "requestID":"3f4a5b6c-7d8e-4f9a-0b1c-2d3e4f5a6b7c","eventID":"4a5b6c7d-8e9f-4a0b-1c2d-3e4f5a6b7c8d","readOnly":true,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[DEPRECATED_AMI],
        misses: &[Miss {
            from: r#""includeDeprecated":true"#,
            to: r#""includeDeprecated":false"#,
            tags: &[],
            why: "only current AMIs were asked for",
        }],
    },
    Example {
        rule: EKS_LOGGING_OFF,
        about: "EKS control-plane logging switched off",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T11:30:00Z","eventSource":"eks.amazonaws.com","eventName":"UpdateClusterConfig","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#eks.update-cluster-config",
            "requestParameters":{"name":"prod","logging":{"clusterLogging":[{"types":["api","audit","authenticator"],"enabled":false}]}},
            "responseElements":{"update":{"id":"6f3c9b2e-1a4d-4e5f-8a9b-0c1d2e3f4a5b","status":"InProgress","type":"LoggingUpdate","createdAt":1714562999.123}},
            "requestID":"5b6c7d8e-9f0a-4b1c-2d3e-4f5a6b7c8d9e","eventID":"6c7d8e9f-0a1b-4c2d-3e4f-5a6b7c8d9e0f","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[EKS_LOGGING_OFF],
        misses: &[Miss {
            from: r#""enabled":false"#,
            to: r#""enabled":true"#,
            tags: &[],
            why: "`{name=prod, logging={clusterLogging=[{types=[api, audit, authenticator], enabled=true}]}}` turns logging on",
        }],
    },
    Example {
        rule: AMI_SHARED,
        about: "an AMI's launch permission given to another account",
        record: r#"{"eventVersion":"1.08",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T11:40:00Z","eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#ec2.modify-image-attribute",
            "requestParameters":{"imageId":"ami-0aa1d83d0b0985c86","launchPermission":{"add":{"items":[{"userId":"999988887777"}]}},"attributeType":"launchPermission"},
            "responseElements":{"requestId":"9a32473d-7495-4050-aa14-572331ab538d","_return":true},
            "requestID":"9a32473d-7495-4050-aa14-572331ab538d","eventID":"8fe3095f-909c-41f5-a769-00b9ec6e95df","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[AMI_SHARED],
        misses: &[
            Miss {
                from: r#""launchPermission":{"add":"#,
                to: r#""launchPermission":{"remove":"#,
                tags: &[],
                why: "revoking a share: `launchPermission={remove={items=[...]}}` has no `add=`",
            },
            Miss {
                from: r#""userName":"alice"}"#,
                to: r#""userName":"alice","invokedBy":"assets.marketplace.amazonaws.com"}"#,
                tags: &[],
                why: "AWS Marketplace sharing an AMI is excluded",
            },
        ],
    },
    Example {
        rule: LAMBDA_DELETED,
        about: "a Lambda function deleted (the versioned event name DeleteFunction20150331)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T11:50:00Z","eventSource":"lambda.amazonaws.com","eventName":"DeleteFunction20150331","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#lambda.delete-function",
            "requestParameters":{"functionName":"billing-export"},"responseElements":null,
            "requestID":"7d8e9f0a-1b2c-4d3e-4f5a-6b7c8d9e0f1a","eventID":"8e9f0a1b-2c3d-4e4f-5a6b-7c8d9e0f1a2b","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[LAMBDA_DELETED],
        misses: &[
            Miss {
                from: r#""eventName":"DeleteFunction20150331""#,
                to: r#""eventName":"DeleteFunctionUrlConfig20211031""#,
                tags: &[],
                why: "deleting a function URL: the name does not start with `DeleteFunction20`",
            },
            Miss {
                from: r#""requestParameters""#,
                to: failed!(),
                tags: &[],
                why: "a refused delete deleted nothing",
            },
        ],
    },
    Example {
        rule: ROOT_CONSOLE_LOGIN,
        about: "the root user signs in to the console",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":""},
            "eventTime":"2024-05-01T12:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.7","userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},
            "additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true","MobileVersion":"No","MFAUsed":"Yes"},
            "eventID":"9f0a1b2c-3d4e-4f5a-6b7c-8d9e0f1a2b3c","readOnly":false,
            "eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management",
            "tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"signin.aws.amazon.com"}}"#,
        tags: &[ROOT_CONSOLE_LOGIN],
        misses: &[
            Miss {
                from: r#"{"ConsoleLogin":"Success"}"#,
                to: r#"{"ConsoleLogin":"Failure"}"#,
                tags: &[ROOT_LOGIN_FAILURES],
                why: "a failed sign-in (event.outcome comes from responseElements.ConsoleLogin), which the brute-force threshold rule's filter takes",
            },
            Miss {
                from: r#""type":"Root""#,
                to: r#""type":"IAMUser""#,
                tags: &[],
                why: "not the root user",
            },
        ],
    },
    Example {
        rule: SAML_PROVIDER_UPDATED,
        about: "a SAML provider's metadata replaced by a user",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T12:10:00Z","eventSource":"iam.amazonaws.com","eventName":"UpdateSAMLProvider","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.update-saml-provider",
            "requestParameters":{"sAMLMetadataDocument":"<?xml version=\"1.0\"?><md:EntityDescriptor entityID=\"http://www.okta.com/exk1\"/>","sAMLProviderArn":"arn:aws:iam::111122223333:saml-provider/Okta"},
            "responseElements":{"sAMLProviderArn":"arn:aws:iam::111122223333:saml-provider/Okta"},
            "requestID":"0a1b2c3d-4e5f-4a6b-7c8d-9e0f1a2b3c4d","eventID":"1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5f","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[SAML_PROVIDER_UPDATED],
        misses: &[Miss {
            from: r#""requestParameters""#,
            to: failed!(),
            tags: &[],
            why: "a refused update changed nothing",
        }],
    },
    Example {
        rule: SAML_PROVIDER_UPDATED,
        about: "the exclusion needs both the source and the user agent to be IAM Identity Center: the source alone is not enough",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLESSOROLE01:sso","arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForSSO/sso","accountId":"111122223333","accessKeyId":"ASIAEXAMPLESSOKEY001"},
            "eventTime":"2024-05-01T12:11:00Z","eventSource":"iam.amazonaws.com","eventName":"UpdateSAMLProvider","awsRegion":"us-east-1",
            "sourceIPAddress":"sso.amazonaws.com","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.update-saml-provider",
            "requestParameters":{"sAMLMetadataDocument":"<md:EntityDescriptor/>","sAMLProviderArn":"arn:aws:iam::111122223333:saml-provider/AWSSSO_1a2b3c4d_DO_NOT_DELETE"},
            "responseElements":{"sAMLProviderArn":"arn:aws:iam::111122223333:saml-provider/AWSSSO_1a2b3c4d_DO_NOT_DELETE"},
            "requestID":"0a1b2c3d-4e5f-4a6b-7c8d-9e0f1a2b3c4e","eventID":"1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d60","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[SAML_PROVIDER_UPDATED],
        misses: &[Miss {
            from: "aws-cli/2.15.30 ua/2.0 md/command#iam.update-saml-provider",
            to: "sso.amazonaws.com",
            tags: &[],
            why: "IAM Identity Center maintaining its own provider (source and user agent both sso.amazonaws.com) is excluded",
        }],
    },
    Example {
        rule: IAM_VIA_LAMBDA_ROLE,
        about: "an access key created by code running in Lambda (exec-env/AWS_Lambda_python3.12)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLELAMBDA001:billing-export","arn":"arn:aws:sts::111122223333:assumed-role/billing-export-role/billing-export","accountId":"111122223333","accessKeyId":"ASIAEXAMPLELAMBDA001","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLELAMBDA001","arn":"arn:aws:iam::111122223333:role/billing-export-role","accountId":"111122223333","userName":"billing-export-role"},"webIdFederationData":{},"attributes":{"creationDate":"2024-05-01T12:00:00Z","mfaAuthenticated":"false"}}},
            "eventTime":"2024-05-01T12:20:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1",
            "sourceIPAddress":"3.80.1.2","userAgent":"Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.214-223.852.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.2 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.34",
            "requestParameters":{"userName":"backup-svc"},
            "responseElements":{"accessKey":{"accessKeyId":"AKIAEXAMPLENEWKEY001","status":"Active","userName":"backup-svc","createDate":"May 1, 2024, 12:20:00 PM"}},
            "requestID":"2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e70","eventID":"3d4e5f6a-7b8c-4d9e-0f1a-2b3c4d5e6f80","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[IAM_VIA_LAMBDA_ROLE],
        misses: &[
            Miss {
                from: " exec-env/AWS_Lambda_python3.12",
                to: "",
                tags: &[],
                why: "the same SDK call from outside Lambda: neither invoked_by lambda nor `*AWS_Lambda*` in the user agent",
            },
            Miss {
                from: r#""eventName":"CreateAccessKey""#,
                to: r#""eventName":"ListAccessKeys""#,
                tags: &[],
                why: "listing keys is not in the rule's list of privileged operations",
            },
        ],
    },
    Example {
        rule: IAM_VIA_CLOUDSHELL,
        about: "an IAM user created from CloudShell",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"ASIAEXAMPLESHELLKEY1","userName":"alice"},
            "eventTime":"2024-05-01T12:30:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","awsRegion":"us-east-1",
            "sourceIPAddress":"44.192.10.20","userAgent":"aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.1.79-99.164.amzn2023.x86_64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython exec-env/CloudShell cfg/retry-mode#standard md/installer#exe md/distrib#amzn.2023 md/prompt#off md/command#iam.create-user",
            "requestParameters":{"userName":"svc-shadow"},
            "responseElements":{"user":{"path":"/","userName":"svc-shadow","userId":"AIDAEXAMPLESHADOW001","arn":"arn:aws:iam::111122223333:user/svc-shadow","createDate":"May 1, 2024, 12:30:00 PM"}},
            "requestID":"4e5f6a7b-8c9d-4e0f-1a2b-3c4d5e6f7a90","eventID":"5f6a7b8c-9d0e-4f1a-2b3c-4d5e6f7a8ba0","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","sessionCredentialFromConsole":"true"}"#,
        tags: &[IAM_VIA_CLOUDSHELL],
        misses: &[
            Miss {
                from: r#""eventName":"CreateUser""#,
                to: r#""eventName":"GetUser""#,
                tags: &[],
                why: "reading a user is not a sensitive change",
            },
            Miss {
                from: " exec-env/CloudShell",
                to: "",
                tags: &[],
                why: "the same CLI call from a workstation: no `CloudShell` in the user agent",
            },
        ],
    },
    Example {
        rule: BEDROCK_KEY_OUTSIDE_BEDROCK,
        about: "a Bedrock API key's phantom IAM user describing EC2 instances",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEBEDROCK01","arn":"arn:aws:iam::111122223333:user/BedrockAPIKey-x7k2","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEBEDROCK01","userName":"BedrockAPIKey-x7k2"},
            "eventTime":"2024-05-01T12:40:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.23","userAgent":"python-requests/2.31.0",
            "requestParameters":{"instancesSet":{},"filterSet":{}},"responseElements":null,
            "requestID":"6a7b8c9d-0e1f-4a2b-3c4d-5e6f7a8b9cb0","eventID":"7b8c9d0e-1f2a-4b3c-4d5e-6f7a8b9c0dc0","readOnly":true,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[BEDROCK_KEY_OUTSIDE_BEDROCK],
        misses: &[
            Miss {
                from: r#""eventSource":"ec2.amazonaws.com""#,
                to: r#""eventSource":"bedrock.amazonaws.com""#,
                tags: &[],
                why: "the key used in Bedrock, where it belongs",
            },
            Miss {
                from: r#""userName":"BedrockAPIKey-x7k2""#,
                to: r#""userName":"alice""#,
                tags: &[],
                why: "user.name is not a Bedrock API key's user",
            },
        ],
    },
    Example {
        rule: BEDROCK_MODEL_ACCESS_DENIED,
        about: "a refused attempt to enable foundation-model access",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T12:50:00Z","eventSource":"bedrock.amazonaws.com","eventName":"PutUseCaseForModelAccess","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#bedrock.put-use-case-for-model-access",
            "errorCode":"AccessDeniedException","errorMessage":"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: bedrock:PutUseCaseForModelAccess",
            "requestParameters":{"formData":"***"},"responseElements":null,
            "requestID":"8c9d0e1f-2a3b-4c4d-5e6f-7a8b9c0d1ed0","eventID":"9d0e1f2a-3b4c-4d5e-6f7a-8b9c0d1e2fe0","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[BEDROCK_MODEL_ACCESS_DENIED],
        misses: &[Miss {
            from: r#""errorCode":"AccessDeniedException""#,
            to: r#""errorCode":"ValidationException""#,
            tags: &[],
            why: "a malformed request is a failure, but not an access denial",
        }],
    },
    Example {
        rule: NACL_CREATED,
        about: "a network ACL created",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T13:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"CreateNetworkAcl","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#ec2.create-network-acl",
            "requestParameters":{"vpcId":"vpc-0a1b2c3d4e5f67890","tagSpecificationSet":{}},
            "responseElements":{"requestId":"0e1f2a3b-4c5d-4e6f-7a8b-9c0d1e2f3a4b","networkAcl":{"networkAclId":"acl-0a1b2c3d4e5f67890","vpcId":"vpc-0a1b2c3d4e5f67890","default":false}},
            "requestID":"0e1f2a3b-4c5d-4e6f-7a8b-9c0d1e2f3a4b","eventID":"1f2a3b4c-5d6e-4f7a-8b9c-0d1e2f3a4b5c","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[NACL_CREATED],
        misses: &[Miss {
            from: r#""eventName":"CreateNetworkAcl""#,
            to: r#""eventName":"DeleteNetworkAcl""#,
            tags: &[],
            why: "a deletion is not a creation",
        }],
    },
    // ---------------------------------------------------------------- EQL rules
    Example {
        rule: KEY_QUARANTINE_POLICY,
        about: "AWS's compromised-key quarantine policy attached to a user",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLEADMIN0001","arn":"arn:aws:iam::111122223333:user/secops","accountId":"111122223333","accessKeyId":"AKIAEXAMPLEADMIN0001","userName":"secops"},
            "eventTime":"2024-05-01T13:10:00Z","eventSource":"iam.amazonaws.com","eventName":"AttachUserPolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.attach-user-policy",
            "requestParameters":{"userName":"alice","policyArn":"arn:aws:iam::aws:policy/AWSCompromisedKeyQuarantineV2"},"responseElements":null,
            "requestID":"2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d","eventID":"3b4c5d6e-7f8a-4b9c-0d1e-2f3a4b5c6d7e","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[KEY_QUARANTINE_POLICY],
        misses: &[
            Miss {
                from: "AWSCompromisedKeyQuarantineV2",
                to: "ReadOnlyAccess",
                tags: &[],
                why: "another policy",
            },
            Miss {
                from: r#""eventName":"AttachUserPolicy""#,
                to: r#""eventName":"AttachGroupPolicy""#,
                tags: &[],
                why: "the rule is about users (AttachGroupPolicy is category iam too)",
            },
        ],
    },
    Example {
        rule: ADMIN_POLICY_ON_ROLE,
        about: "AdministratorAccess attached to a role",
        record: r#"{"eventVersion":"1.08",
            "userIdentity":{"type":"IAMUser","principalId":"AIDATFQR7NSC5AU2ZV3IE","arn":"arn:aws:iam::123837392027:user/bert-jan","accountId":"123837392027","accessKeyId":"AKIATFQR7NSC8Q4X20BJ","userName":"bert-jan"},
            "eventTime":"2023-07-10T11:55:10Z","eventSource":"iam.amazonaws.com","eventName":"AttachRolePolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"192.168.10.20","userAgent":"APN/1.0 HashiCorp/1.0 Terraform/1.1.2 (+https://www.terraform.io) terraform-provider-aws/3.76.1 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.44.157 (go1.19.3; linux; amd64) HashiCorp-terraform-exec/0.17.3",
            "requestParameters":{"roleName":"stratus-red-team-ec2-steal-credentials-role","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},"responseElements":null,
            "requestID":"7fbf2fab-df59-44c0-b33c-f8847753d33f","eventID":"edc26fa8-655a-4346-9e18-f79b0d9e25de","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123837392027","eventCategory":"Management",
            "tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","clientProvidedHostHeader":"iam.amazonaws.com"}}"#,
        tags: &[ADMIN_POLICY_ON_ROLE],
        misses: &[
            Miss {
                from: "policy/AdministratorAccess",
                to: "policy/AmazonSSMManagedInstanceCore",
                tags: &[],
                why: "another managed policy (the record as it is in the corpus)",
            },
            Miss {
                from: r#""eventName":"AttachRolePolicy""#,
                to: r#""eventName":"DetachRolePolicy""#,
                tags: &[],
                why: "DetachRolePolicy is not in the pipeline's category table, so it has no event.category and `iam where` fails",
            },
        ],
    },
    Example {
        rule: ADMIN_POLICY_ON_ROLE,
        about: "stringContains is a substring test: AdministratorAccess-Amplify contains the ARN too",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T13:20:00Z","eventSource":"iam.amazonaws.com","eventName":"AttachRolePolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.attach-role-policy",
            "requestParameters":{"roleName":"amplify-console-role","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess-Amplify"},"responseElements":null,
            "requestID":"4c5d6e7f-8a9b-4c0d-1e2f-3a4b5c6d7e8f","eventID":"5d6e7f8a-9b0c-4d1e-2f3a-4b5c6d7e8f9a","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[ADMIN_POLICY_ON_ROLE],
        misses: &[Miss {
            from: r#""eventSource":"iam.amazonaws.com""#,
            to: r#""eventSource":"IAM.amazonaws.com""#,
            tags: &[],
            why: "EQL `==` is case-sensitive",
        }],
    },
    Example {
        rule: S3_ACCESS_LOGGING_OFF,
        about: "server access logging removed from a bucket (an empty BucketLoggingStatus)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T13:30:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketLogging","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"[aws-cli/2.15.30 ua/2.0 md/command#s3api.put-bucket-logging]",
            "requestParameters":{"bucketName":"corp-data","BucketLoggingStatus":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"},"Host":"corp-data.s3.us-east-1.amazonaws.com","logging":""},
            "responseElements":null,
            "requestID":"6e7f8a9b-0c1d-4e2f-3a4b-5c6d7e8f9a0b","eventID":"7f8a9b0c-1d2e-4f3a-4b5c-6d7e8f9a0b1c","readOnly":false,
            "resources":[{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::corp-data"}],
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[S3_ACCESS_LOGGING_OFF],
        misses: &[
            Miss {
                from: r#""BucketLoggingStatus":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/"}"#,
                to: r#""BucketLoggingStatus":{"xmlns":"http://s3.amazonaws.com/doc/2006-03-01/","LoggingEnabled":{"TargetBucket":"corp-logs","TargetPrefix":"corp-data/"}}"#,
                tags: &[],
                why: "logging is being configured (LoggingEnabled), not removed",
            },
            Miss {
                from: r#""requestParameters""#,
                to: failed!(),
                tags: &[],
                why: "a refused call changed nothing",
            },
        ],
    },
    // Elasticsearch runs a `stringContains` whose substring is a field as a script, where a
    // missing substring makes the function null and `not null` filters the document out: the
    // record without `recipientAccountId` is a miss (trailtag's dialect says so, `Dialect`).
    Example {
        rule: BUCKET_POLICY_EXTERNAL,
        about: "a bucket policy granting another account read access",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T13:40:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"[aws-cli/2.15.30 ua/2.0 md/command#s3api.put-bucket-policy]",
            "requestParameters":{"bucketPolicy":{"Version":"2012-10-17","Statement":[{"Sid":"CrossAccountRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999988887777:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::corp-data/*"}]},"bucketName":"corp-data","Host":"corp-data.s3.us-east-1.amazonaws.com","policy":""},
            "responseElements":null,
            "requestID":"8a9b0c1d-2e3f-4a4b-5c6d-7e8f9a0b1c2d","eventID":"9b0c1d2e-3f4a-4b5c-6d7e-8f9a0b1c2d3e","readOnly":false,
            "resources":[{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::corp-data"}],
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[BUCKET_POLICY_EXTERNAL],
        misses: &[
            Miss {
                from: r#","recipientAccountId":"111122223333","eventCategory":"Management"}"#,
                to: r#","eventCategory":"Management"}"#,
                tags: &[],
                why: "no recipientAccountId: the script's stringContains is null, and `not null` is no match",
            },
            Miss {
                from: "arn:aws:iam::999988887777:root",
                to: "arn:aws:iam::111122223333:role/reporting",
                tags: &[],
                why: "the principal is in the bucket's own account: the request string contains recipient_account_id",
            },
            Miss {
                from: r#""Effect":"Allow""#,
                to: r#""Effect":"Deny""#,
                tags: &[],
                why: "a Deny statement grants nothing",
            },
            Miss {
                from: "arn:aws:iam::999988887777:root",
                to: "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E1EXAMPLE",
                tags: &[],
                why: "a CloudFront origin access identity is excluded (`arn:aws:iam::cloudfront:user`)",
            },
        ],
    },
    Example {
        rule: BUCKET_POLICY_PUBLIC,
        about: "a bucket policy making objects public (`Principal=*`)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T13:45:00Z","eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"[aws-cli/2.15.30 ua/2.0 md/command#s3api.put-bucket-policy]",
            "requestParameters":{"bucketPolicy":{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::corp-data/*"}]},"bucketName":"corp-data","Host":"corp-data.s3.us-east-1.amazonaws.com","policy":""},
            "responseElements":null,
            "requestID":"0c1d2e3f-4a5b-4c6d-7e8f-9a0b1c2d3e4f","eventID":"1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5b","readOnly":false,
            "resources":[{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::corp-data"}],
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[BUCKET_POLICY_PUBLIC],
        misses: &[
            Miss {
                from: r#""Principal":"*""#,
                to: r#""Principal":{"AWS":"*"}"#,
                tags: &[BUCKET_POLICY_EXTERNAL],
                why: "`Principal={AWS=*}` does not contain `Principal=*` (the rule's `\\*` is a literal star); it does contain `AWS=`, which the external-account rule takes",
            },
            Miss {
                from: r#""eventName":"PutBucketPolicy""#,
                to: r#""eventName":"GetBucketPolicy""#,
                tags: &[],
                why: "reading a policy is not setting it",
            },
        ],
    },
    Example {
        rule: RDS_SNAPSHOT_DELETED,
        about: "a DB snapshot deleted",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T13:50:00Z","eventSource":"rds.amazonaws.com","eventName":"DeleteDBSnapshot","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#rds.delete-db-snapshot",
            "requestParameters":{"dBSnapshotIdentifier":"prod-db-2024-04-30"},
            "responseElements":{"dBSnapshotIdentifier":"prod-db-2024-04-30","dBInstanceIdentifier":"prod-db","status":"deleted","engine":"postgres"},
            "requestID":"2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6c","eventID":"3f4a5b6c-7d8e-4f9a-0b1c-2d3e4f5a6b7d","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[RDS_SNAPSHOT_DELETED],
        misses: &[Miss {
            from: r#""eventName":"DeleteDBSnapshot""#,
            to: r#""eventName":"CopyDBSnapshot""#,
            tags: &[],
            why: "copying a snapshot deletes nothing",
        }],
    },
    Example {
        rule: RDS_SNAPSHOT_DELETED,
        about: "the exclusion needs both the user agent and the source to be AWS Backup: the source alone is not enough",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEBACKUP001:AWSBackup","arn":"arn:aws:sts::111122223333:assumed-role/AWSBackupDefaultServiceRole/AWSBackup","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEBACKUP001"},
            "eventTime":"2024-05-01T13:55:00Z","eventSource":"rds.amazonaws.com","eventName":"DeleteDBClusterSnapshot","awsRegion":"us-east-1",
            "sourceIPAddress":"backup.amazonaws.com","userAgent":"aws-sdk-java/1.12.600 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9",
            "requestParameters":{"dBClusterSnapshotIdentifier":"awsbackup:job-1a2b3c4d"},
            "responseElements":{"dBClusterSnapshotIdentifier":"awsbackup:job-1a2b3c4d","status":"deleted"},
            "requestID":"4a5b6c7d-8e9f-4a0b-1c2d-3e4f5a6b7c8e","eventID":"5b6c7d8e-9f0a-4b1c-2d3e-4f5a6b7c8d9f","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[RDS_SNAPSHOT_DELETED],
        misses: &[Miss {
            from: "aws-sdk-java/1.12.600 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.9",
            to: "backup.amazonaws.com",
            tags: &[],
            why: "AWS Backup expiring its own recovery point (user agent and source both backup.amazonaws.com) is excluded",
        }],
    },
    Example {
        rule: RDS_SNAPSHOT_DELETED,
        about: "one ModifyDBInstance that resets the password, makes the instance public, drops deletion protection and sets backup retention to 0: four rules",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T14:00:00Z","eventSource":"rds.amazonaws.com","eventName":"ModifyDBInstance","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#rds.modify-db-instance",
            "requestParameters":{"dBInstanceIdentifier":"prod-db","masterUserPassword":"****","publiclyAccessible":true,"deletionProtection":false,"backupRetentionPeriod":0,"applyImmediately":true},
            "responseElements":{"dBInstanceIdentifier":"prod-db","dBInstanceStatus":"available","publiclyAccessible":false,"deletionProtection":true},
            "requestID":"6c7d8e9f-0a1b-4c2d-3e4f-5a6b7c8d9ea0","eventID":"7d8e9f0a-1b2c-4d3e-4f5a-6b7c8d9e0fb0","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[
            RDS_SNAPSHOT_DELETED,
            RDS_PASSWORD_CHANGED,
            RDS_MADE_PUBLIC,
            RDS_DELETION_PROTECTION_OFF,
        ],
        misses: &[
            Miss {
                from: r#""backupRetentionPeriod":0"#,
                to: r#""backupRetentionPeriod":7"#,
                tags: &[
                    RDS_PASSWORD_CHANGED,
                    RDS_MADE_PUBLIC,
                    RDS_DELETION_PROTECTION_OFF,
                ],
                why: "backups are kept: `backupRetentionPeriod=7` is not `backupRetentionPeriod=0`",
            },
            Miss {
                from: r#""requestParameters""#,
                to: failed!(),
                tags: &[],
                why: "a refused modification changed nothing, for any of the four rules",
            },
        ],
    },
    Example {
        rule: RDS_PASSWORD_CHANGED,
        about: "a DB instance's master password reset (`masterUserPassword=*`)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T14:05:00Z","eventSource":"rds.amazonaws.com","eventName":"ModifyDBInstance","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#rds.modify-db-instance",
            "requestParameters":{"dBInstanceIdentifier":"prod-db","masterUserPassword":"****","applyImmediately":true},
            "responseElements":{"dBInstanceIdentifier":"prod-db","dBInstanceStatus":"resetting-master-credentials"},
            "requestID":"8e9f0a1b-2c3d-4e4f-5a6b-7c8d9e0f1ac0","eventID":"9f0a1b2c-3d4e-4f5a-6b7c-8d9e0f1a2bd0","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[RDS_PASSWORD_CHANGED],
        misses: &[
            Miss {
                from: r#""masterUserPassword":"****""#,
                to: r#""allocatedStorage":200"#,
                tags: &[],
                why: "a storage change leaves the password alone",
            },
            Miss {
                from: r#""eventName":"ModifyDBInstance""#,
                to: r#""eventName":"ModifyDBInstanceAttribute""#,
                tags: &[],
                why: "`in` is an exact list of event names",
            },
        ],
    },
    Example {
        rule: RDS_DELETION_PROTECTION_OFF,
        about: "deletion protection turned off on an Aurora cluster",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T14:10:00Z","eventSource":"rds.amazonaws.com","eventName":"ModifyDBCluster","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#rds.modify-db-cluster",
            "requestParameters":{"dBClusterIdentifier":"prod-aurora","deletionProtection":false,"applyImmediately":true},
            "responseElements":{"dBClusterIdentifier":"prod-aurora","status":"available","deletionProtection":false},
            "requestID":"0a1b2c3d-4e5f-4a6b-7c8d-9e0f1a2b3ce0","eventID":"1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4df0","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[RDS_DELETION_PROTECTION_OFF],
        misses: &[Miss {
            from: r#""deletionProtection":false,"applyImmediately""#,
            to: r#""deletionProtection":true,"applyImmediately""#,
            tags: &[],
            why: "turning protection on (the response's `deletionProtection` is not the request string)",
        }],
    },
    Example {
        rule: RDS_MADE_PUBLIC,
        about: "a DB instance created publicly accessible",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T14:15:00Z","eventSource":"rds.amazonaws.com","eventName":"CreateDBInstance","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#rds.create-db-instance",
            "requestParameters":{"dBInstanceIdentifier":"public-db","allocatedStorage":20,"dBInstanceClass":"db.t3.micro","engine":"mysql","masterUsername":"admin","masterUserPassword":"HIDDEN_DUE_TO_SECURITY_REASONS","publiclyAccessible":true},
            "responseElements":{"dBInstanceIdentifier":"public-db","dBInstanceStatus":"creating","publiclyAccessible":true},
            "requestID":"2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e01","eventID":"3d4e5f6a-7b8c-4d9e-0f1a-2b3c4d5e6f02","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[RDS_MADE_PUBLIC],
        misses: &[Miss {
            from: r#""publiclyAccessible":true},"responseElements""#,
            to: r#""publiclyAccessible":false},"responseElements""#,
            tags: &[],
            why: "a private instance (only the request string is read)",
        }],
    },
    Example {
        rule: S3_RANSOM_NOTE,
        about: "a ransom note uploaded (`decrypt` after the bucket name, regex~ is case-insensitive)",
        record: r#"{"eventVersion":"1.10",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T14:20:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.99","userAgent":"[aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.53.0]",
            "requestParameters":{"bucketName":"corp-data","Host":"corp-data.s3.us-east-1.amazonaws.com","key":"README_TO_DECRYPT_FILES.txt"},
            "responseElements":{"x-amz-server-side-encryption":"AES256"},
            "additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":1024,"SSEApplied":"Default_SSE_S3","AuthenticationMethod":"AuthHeader","x-amz-id-2":"cXV4YmF6YmFyZm9v","bytesTransferredOut":0},
            "requestID":"4e5f6a7b-8c9d-4e0f-1a2b-3c4d5e6f7a03","eventID":"5f6a7b8c-9d0e-4f1a-2b3c-4d5e6f7a8b04","readOnly":false,
            "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::corp-data/README_TO_DECRYPT_FILES.txt"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::corp-data"}],
            "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data"}"#,
        tags: &[S3_RANSOM_NOTE],
        misses: &[
            Miss {
                from: "README_TO_DECRYPT_FILES.txt",
                to: "q3-figures.csv",
                tags: &[],
                why: "an object name with none of the ransom-note words",
            },
            Miss {
                from: "corp-data",
                to: "corp-access-logs",
                tags: &[],
                why: "objects in a bucket whose ARN mentions access-logs are excluded",
            },
            Miss {
                from: r#""type":"IAMUser""#,
                to: r#""type":"AWSService""#,
                tags: &[],
                why: "an AWS service writing the object is excluded",
            },
        ],
    },
    Example {
        rule: SUSPICIOUS_USER_AGENT,
        about: "an SDK call from Kali Linux (`distrib#kali` in the user agent)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T14:30:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.66","userAgent":"Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#6.6.9-amd64 md/arch#x86_64 lang/python#3.11.8 md/pyimpl#CPython md/distrib#kali.2024 cfg/retry-mode#legacy Botocore/1.34.0",
            "requestParameters":null,"responseElements":null,
            "requestID":"6a7b8c9d-0e1f-4a2b-3c4d-5e6f7a8b9c05","eventID":"7b8c9d0e-1f2a-4b3c-4d5e-6f7a8b9c0d06","readOnly":true,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[SUSPICIOUS_USER_AGENT],
        misses: &[
            Miss {
                from: "md/distrib#kali.2024",
                to: "md/distrib#ubuntu.22",
                tags: &[],
                why: "an ordinary distribution",
            },
            Miss {
                from: r#""requestParameters""#,
                to: failed!(),
                tags: &[],
                why: "the rule takes successful calls only",
            },
        ],
    },
    Example {
        rule: SUSPICIOUS_USER_AGENT,
        about: "TruffleHog verifying a leaked key",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T14:31:00Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.67","userAgent":"aws-sdk-go/1.55.5 (go1.22.5; linux; amd64) TruffleHog",
            "requestParameters":null,"responseElements":null,
            "requestID":"6a7b8c9d-0e1f-4a2b-3c4d-5e6f7a8b9c07","eventID":"7b8c9d0e-1f2a-4b3c-4d5e-6f7a8b9c0d08","readOnly":true,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[SUSPICIOUS_USER_AGENT],
        misses: &[Miss {
            from: "TruffleHog",
            to: "Trufflehog",
            tags: &[],
            why: "stringContains is case-sensitive: neither `TruffleHog` nor `trufflehog`",
        }],
    },
    Example {
        rule: VIRTUAL_MFA_WITH_TEMPORARY_KEY,
        about: "a virtual MFA device created with a session-token key outside the console; the session-token IAM rule tags it too",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"ASIAEXAMPLETOKEN0001","userName":"alice"},
            "eventTime":"2024-05-01T14:40:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateVirtualMFADevice","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.41","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.create-virtual-mfa-device",
            "requestParameters":{"virtualMFADeviceName":"alice-backup","path":"/"},
            "responseElements":{"virtualMFADevice":{"serialNumber":"arn:aws:iam::111122223333:mfa/alice-backup"}},
            "requestID":"8c9d0e1f-2a3b-4c4d-5e6f-7a8b9c0d1e09","eventID":"9d0e1f2a-3b4c-4d5e-6f7a-8b9c0d1e2f10","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[VIRTUAL_MFA_WITH_TEMPORARY_KEY, IAM_WITH_SESSION_TOKEN],
        misses: &[
            Miss {
                from: r#""eventCategory":"Management"}"#,
                to: r#""eventCategory":"Management","sessionCredentialFromConsole":"true"}"#,
                tags: &[],
                why: "console session credentials are excluded by both rules",
            },
            Miss {
                from: "ASIAEXAMPLETOKEN0001",
                to: "AKIAEXAMPLETOKEN0001",
                tags: &[],
                why: "a long-term key (AKIA), not a session token (ASIA)",
            },
            Miss {
                from: r#""eventName":"CreateVirtualMFADevice""#,
                to: r#""eventName":"ListMFADevices""#,
                tags: &[IAM_WITH_SESSION_TOKEN],
                why: "ListMFADevices is not in the category table, so `iam where` fails; any IAM call with a session token is still the other rule's",
            },
        ],
    },
    Example {
        rule: EC2_ROLE_CONSOLE_LOGIN,
        about: "an EC2 instance role's credentials turned into a console sign-in token",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLEEC2ROLE01:i-0abcd1234efab5678","arn":"arn:aws:sts::111122223333:assumed-role/app-instance-role/i-0abcd1234efab5678","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEEC2KEY001","sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAEXAMPLEEC2ROLE01","arn":"arn:aws:iam::111122223333:role/app-instance-role","accountId":"111122223333","userName":"app-instance-role"},"webIdFederationData":{},"attributes":{"creationDate":"2024-05-01T14:00:00Z","mfaAuthenticated":"false"},"ec2RoleDelivery":"2.0"}},
            "eventTime":"2024-05-01T14:50:00Z","eventSource":"signin.amazonaws.com","eventName":"GetSigninToken","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.52","userAgent":"python-requests/2.31.0",
            "requestParameters":null,"responseElements":{"GetSigninToken":"Success"},
            "additionalEventData":{"MobileVersion":"No"},
            "eventID":"0e1f2a3b-4c5d-4e6f-7a8b-9c0d1e2f3a11","readOnly":false,
            "eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[EC2_ROLE_CONSOLE_LOGIN],
        misses: &[
            Miss {
                from: r#""principalId":"AROAEXAMPLEEC2ROLE01:i-0abcd1234efab5678""#,
                to: r#""principalId":"AROAEXAMPLEEC2ROLE01:alice""#,
                tags: &[],
                why: "user.id (the principal id) names a person's session, not an instance",
            },
            Miss {
                from: r#""type":"AssumedRole""#,
                to: r#""type":"FederatedUser""#,
                tags: &[],
                why: "not an assumed role",
            },
        ],
    },
    Example {
        rule: ROOT_LOGIN_PROFILE,
        about: "the root user gives itself a console password (no userName in the request)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEROOTKEY01"},
            "eventTime":"2024-05-01T15:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateLoginProfile","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.8","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.create-login-profile",
            "requestParameters":{"passwordResetRequired":false},
            "responseElements":{"loginProfile":{"createDate":"May 1, 2024, 3:00:00 PM","passwordResetRequired":false}},
            "requestID":"1f2a3b4c-5d6e-4f7a-8b9c-0d1e2f3a4b12","eventID":"2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c13","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[ROOT_LOGIN_PROFILE],
        misses: &[
            Miss {
                from: r#""requestParameters":{"passwordResetRequired":false}"#,
                to: r#""requestParameters":{"userName":"bob","passwordResetRequired":false}"#,
                tags: &[],
                why: "root giving an IAM user a password (`userName=` in the request)",
            },
            Miss {
                from: r#""type":"Root""#,
                to: r#""type":"IAMUser""#,
                tags: &[IAM_WITH_SESSION_TOKEN],
                why: "not the root user; an IAM user calling IAM with a session-token (ASIA) key from an IP address is the session-token rule's",
            },
        ],
    },
    Example {
        rule: RDS_SNAPSHOT_SHARED,
        about: "a DB snapshot's restore attribute shared with another account (`valuesToAdd=[999988887777]`)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T15:10:00Z","eventSource":"rds.amazonaws.com","eventName":"ModifyDBSnapshotAttribute","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#rds.modify-db-snapshot-attribute",
            "requestParameters":{"dBSnapshotIdentifier":"prod-db-2024-04-30","attributeName":"restore","valuesToAdd":["999988887777"]},
            "responseElements":{"dBSnapshotIdentifier":"prod-db-2024-04-30","dBSnapshotAttributes":[{"attributeName":"restore","attributeValues":["999988887777"]}]},
            "requestID":"3b4c5d6e-7f8a-4b9c-0d1e-2f3a4b5c6d14","eventID":"4c5d6e7f-8a9b-4c0d-1e2f-3a4b5c6d7e15","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[RDS_SNAPSHOT_SHARED],
        misses: &[
            Miss {
                from: r#""valuesToAdd":["999988887777"]"#,
                to: r#""valuesToRemove":["999988887777"]"#,
                tags: &[],
                why: "unsharing the snapshot",
            },
            Miss {
                from: r#""valuesToAdd":["999988887777"]"#,
                to: r#""valuesToAdd":[]"#,
                tags: &[],
                why: "the pipeline's clean-up drops the empty list, so there is no `valuesToAdd=` in the string",
            },
        ],
    },
    Example {
        rule: ROOT_LOGIN_PROFILE,
        about: "no requestParameters at all: there is no request string, and `not stringContains` holds (Elasticsearch runs it as a must_not wildcard query, which a document without the field passes)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEROOTKEY02"},
            "eventTime":"2024-05-01T15:05:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateLoginProfile","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.8","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.create-login-profile",
            "requestParameters":null,
            "responseElements":{"loginProfile":{"createDate":"May 1, 2024, 3:05:00 PM","passwordResetRequired":false}},
            "requestID":"1f2a3b4c-5d6e-4f7a-8b9c-0d1e2f3a4b40","eventID":"2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c41","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[ROOT_LOGIN_PROFILE],
        misses: &[Miss {
            from: r#""eventName":"CreateLoginProfile""#,
            to: r#""eventName":"UpdateLoginProfile""#,
            tags: &[],
            why: "changing an existing password is not creating the profile",
        }],
    },
    Example {
        rule: LAMBDA_INVOKE_FOR_ANYONE,
        about: "a function made invocable by any principal (`principal=*`; `event.action : \"AddPermission*\"` takes the versioned name)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T15:15:00Z","eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#lambda.add-permission",
            "requestParameters":{"functionName":"billing-export","statementId":"public-invoke","action":"lambda:InvokeFunction","principal":"*"},
            "responseElements":{"statement":"{\"Sid\":\"public-invoke\",\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"lambda:InvokeFunction\",\"Resource\":\"arn:aws:lambda:us-east-1:111122223333:function:billing-export\"}"},
            "requestID":"3b4c5d6e-7f8a-4b9c-0d1e-2f3a4b5c6d42","eventID":"4c5d6e7f-8a9b-4c0d-1e2f-3a4b5c6d7e43","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[LAMBDA_INVOKE_FOR_ANYONE],
        misses: &[
            Miss {
                from: r#""principal":"*""#,
                to: r#""principal":"999988887777""#,
                tags: &[LAMBDA_CROSS_ACCOUNT_INVOKE],
                why: "one other account may invoke it, not anyone: the cross-account rule's case",
            },
            Miss {
                from: r#""action":"lambda:InvokeFunction""#,
                to: r#""action":"lambda:GetFunction""#,
                tags: &[],
                why: "a permission to read the function, not to invoke it",
            },
        ],
    },
    Example {
        rule: LAMBDA_CROSS_ACCOUNT_INVOKE,
        about: "a function made invocable by another account",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T15:16:00Z","eventSource":"lambda.amazonaws.com","eventName":"AddPermission20150331v2","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#lambda.add-permission",
            "requestParameters":{"functionName":"billing-export","statementId":"partner-invoke","action":"lambda:InvokeFunction","principal":"999988887777"},
            "responseElements":{"statement":"{\"Sid\":\"partner-invoke\",\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::999988887777:root\"},\"Action\":\"lambda:InvokeFunction\",\"Resource\":\"arn:aws:lambda:us-east-1:111122223333:function:billing-export\"}"},
            "requestID":"3b4c5d6e-7f8a-4b9c-0d1e-2f3a4b5c6d44","eventID":"4c5d6e7f-8a9b-4c0d-1e2f-3a4b5c6d7e45","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[LAMBDA_CROSS_ACCOUNT_INVOKE],
        misses: &[Miss {
            from: r#""principal":"999988887777""#,
            to: r#""principal":"s3.amazonaws.com""#,
            tags: &[],
            why: "an AWS service principal (`.amazonaws.com`) is excluded",
        }],
    },
    // ---------------------------------------------------------------- new_terms rules (partial)
    Example {
        rule: SSM_SECURE_STRING,
        about: "a SecureString parameter read decrypted (the corpus's record)",
        record: r#"{"eventVersion":"1.08",
            "userIdentity":{"type":"IAMUser","principalId":"AIDATFQR7NSC5AU2ZV3IE","arn":"arn:aws:iam::123837392027:user/bert-jan","accountId":"123837392027","accessKeyId":"AKIATFQR7NSC8Q4X20BJ","userName":"bert-jan"},
            "eventTime":"2023-07-10T11:58:10Z","eventSource":"ssm.amazonaws.com","eventName":"GetParameter","awsRegion":"us-east-1",
            "sourceIPAddress":"192.168.10.20","userAgent":"APN/1.0 HashiCorp/1.0 Terraform/1.1.2 (+https://www.terraform.io) terraform-provider-aws/3.76.1 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.44.157 (go1.19.3; linux; amd64) HashiCorp-terraform-exec/0.17.3",
            "requestParameters":{"name":"/credentials/stratus-red-team/credentials-6","withDecryption":true},"responseElements":null,
            "requestID":"45d5aa2b-5f29-4425-ab3d-a37df96a667e","eventID":"736cbe1d-d978-4599-ba4c-a4d682b908b8","readOnly":true,
            "resources":[{"accountId":"123837392027","ARN":"arn:aws:ssm:us-east-1:123837392027:parameter/credentials/stratus-red-team/credentials-6"}],
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"123837392027","eventCategory":"Management",
            "tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","clientProvidedHostHeader":"ssm.us-east-1.amazonaws.com"}}"#,
        tags: &[SSM_SECURE_STRING],
        misses: &[
            Miss {
                from: r#""withDecryption":true"#,
                to: r#""withDecryption":false"#,
                tags: &[],
                why: "the value stays encrypted",
            },
            Miss {
                from: r#""sourceIPAddress":"192.168.10.20""#,
                to: r#""sourceIPAddress":"cloudformation.amazonaws.com""#,
                tags: &[],
                why: "CloudFormation resolving a parameter is excluded",
            },
        ],
    },
    Example {
        rule: NACL_ALLOW_ALL,
        about: "a network ACL entry allowing all protocols (`aclProtocol` `-1`, which the clean-up keeps: it removes only `-`)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T15:20:00Z","eventSource":"ec2.amazonaws.com","eventName":"CreateNetworkAclEntry","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#ec2.create-network-acl-entry",
            "requestParameters":{"networkAclId":"acl-0a1b2c3d4e5f67890","ruleNumber":100,"egress":false,"ruleAction":"allow","icmpTypeCode":{},"portRange":{},"aclProtocol":"-1","cidrBlock":"0.0.0.0/0"},
            "responseElements":{"requestId":"5d6e7f8a-9b0c-4d1e-2f3a-4b5c6d7e8f16","_return":true},
            "requestID":"5d6e7f8a-9b0c-4d1e-2f3a-4b5c6d7e8f16","eventID":"6e7f8a9b-0c1d-4e2f-3a4b-5c6d7e8f9a17","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[NACL_ALLOW_ALL, NACL_CREATED],
        misses: &[
            Miss {
                from: r#""ruleAction":"allow""#,
                to: r#""ruleAction":"deny""#,
                tags: &[NACL_CREATED],
                why: "a deny-all entry; still a NACL entry created",
            },
            Miss {
                from: r#""aclProtocol":"-1""#,
                to: r#""aclProtocol":"6""#,
                tags: &[NACL_CREATED],
                why: "TCP only, not all traffic",
            },
            Miss {
                from: "aws-cli/2.15.30 ua/2.0 md/command#ec2.create-network-acl-entry",
                to: "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.40.0",
                tags: &[NACL_CREATED],
                why: "infrastructure as code is excluded by the new_terms rule, not by the creation rule",
            },
        ],
    },
    Example {
        rule: NACL_ALLOW_ALL,
        about: "the rule takes failed attempts too (`event.outcome: (\"success\" or \"failure\")`); the creation rule does not",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T15:21:00Z","eventSource":"ec2.amazonaws.com","eventName":"ReplaceNetworkAclEntry","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#ec2.replace-network-acl-entry",
            "errorCode":"Client.UnauthorizedOperation","errorMessage":"You are not authorized to perform this operation.",
            "requestParameters":{"networkAclId":"acl-0a1b2c3d4e5f67890","ruleNumber":100,"egress":true,"ruleAction":"allow","aclProtocol":"-1","cidrBlock":"0.0.0.0/0"},
            "responseElements":null,
            "requestID":"7f8a9b0c-1d2e-4f3a-4b5c-6d7e8f9a0b18","eventID":"8a9b0c1d-2e3f-4a4b-5c6d-7e8f9a0b1c19","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[NACL_ALLOW_ALL],
        misses: &[Miss {
            from: r#""type":"IAMUser""#,
            to: r#""type":"AWSService""#,
            tags: &[],
            why: "AWS services are excluded",
        }],
    },
    Example {
        rule: ROLE_ASSUMED_BY_SERVICE,
        about: "EC2 assuming an instance role",
        record: r#"{"eventVersion":"1.08",
            "userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"},
            "eventTime":"2024-05-01T15:30:00Z","eventSource":"sts.amazonaws.com","eventName":"AssumeRole","awsRegion":"us-east-1",
            "sourceIPAddress":"ec2.amazonaws.com","userAgent":"ec2.amazonaws.com",
            "requestParameters":{"roleArn":"arn:aws:iam::111122223333:role/app-instance-role","roleSessionName":"i-0abcd1234efab5678"},
            "responseElements":{"credentials":{"accessKeyId":"ASIAEXAMPLEEC2KEY001","sessionToken":"IQoJb3JpZ2luX2VjEXAMPLE","expiration":"May 1, 2024, 9:30:00 PM"}},
            "requestID":"9b0c1d2e-3f4a-4b5c-6d7e-8f9a0b1c2d20","eventID":"0c1d2e3f-4a5b-4c6d-7e8f-9a0b1c2d3e21","readOnly":true,
            "resources":[{"accountId":"111122223333","type":"AWS::IAM::Role","ARN":"arn:aws:iam::111122223333:role/app-instance-role"}],
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","sharedEventID":"1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f22","eventCategory":"Management"}"#,
        tags: &[ROLE_ASSUMED_BY_SERVICE],
        misses: &[Miss {
            from: r#""invokedBy":"ec2.amazonaws.com""#,
            to: r#""invokedBy":"cloudformation.amazonaws.com""#,
            tags: &[],
            why: "CloudFormation is not among the compute services the rule watches",
        }],
    },
    Example {
        rule: ORGANIZATION_DISCOVERY,
        about: "an organization described with an access key",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T15:40:00Z","eventSource":"organizations.amazonaws.com","eventName":"DescribeOrganization","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#organizations.describe-organization",
            "requestParameters":null,"responseElements":null,
            "requestID":"2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a23","eventID":"3f4a5b6c-7d8e-4f9a-0b1c-2d3e4f5a6b24","readOnly":true,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[ORGANIZATION_DISCOVERY],
        misses: &[
            Miss {
                from: r#""eventCategory":"Management"}"#,
                to: r#""eventCategory":"Management","sessionCredentialFromConsole":"true"}"#,
                tags: &[],
                why: "the console browsing the organization is excluded",
            },
            Miss {
                from: r#""eventName":"DescribeOrganization""#,
                to: r#""eventName":"DescribeOrganizationalUnit""#,
                tags: &[],
                why: "the rule lists this call misspelt (`DescribeOrgnanizationalUnit`), so the real event name is not matched",
            },
        ],
    },
    Example {
        rule: ORGANIZATION_DISCOVERY,
        about: "IAM's account summary read with an access key",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T15:41:00Z","eventSource":"iam.amazonaws.com","eventName":"GetAccountSummary","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.get-account-summary",
            "requestParameters":null,"responseElements":null,
            "requestID":"4a5b6c7d-8e9f-4a0b-1c2d-3e4f5a6b7c25","eventID":"5b6c7d8e-9f0a-4b1c-2d3e-4f5a6b7c8d26","readOnly":true,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[ORGANIZATION_DISCOVERY],
        misses: &[Miss {
            from: r#""sourceIPAddress":"203.0.113.10""#,
            to: r#""sourceIPAddress":"AWS Internal""#,
            tags: &[],
            why: "no IP address, so no source.ip (`source.ip:*`)",
        }],
    },
    Example {
        rule: IAM_WITH_SESSION_TOKEN,
        about: "an IAM call with a user's session-token key from an IP address",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"ASIAEXAMPLETOKEN0001","userName":"alice"},
            "eventTime":"2024-05-01T15:50:00Z","eventSource":"iam.amazonaws.com","eventName":"ListRoles","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.41","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.list-roles",
            "requestParameters":null,"responseElements":null,
            "requestID":"6c7d8e9f-0a1b-4c2d-3e4f-5a6b7c8d9e27","eventID":"7d8e9f0a-1b2c-4d3e-4f5a-6b7c8d9e0f28","readOnly":true,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[IAM_WITH_SESSION_TOKEN],
        misses: &[
            Miss {
                from: "aws-cli/2.15.30 ua/2.0 md/command#iam.list-roles",
                to: "AWS Internal",
                tags: &[],
                why: "the user agent `AWS Internal` is excluded",
            },
            Miss {
                from: r#""eventSource":"iam.amazonaws.com""#,
                to: r#""eventSource":"sts.amazonaws.com""#,
                tags: &[],
                why: "the rule watches IAM only",
            },
        ],
    },
    Example {
        rule: CONSOLE_LOGIN_WITHOUT_MFA,
        about: "an IAM user signs in without MFA (the corpus's record: MFAUsed No makes mfa_used false)",
        record: r#"{"eventVersion":"1.05",
            "userIdentity":{"type":"IAMUser","principalId":"AIDACKCEVSQ6C2EXAMPLE","arn":"arn:aws:iam::111122223333:user/JohnDoe","accountId":"111122223333","userName":"JohnDoe"},
            "eventTime":"2014-07-16T15:49:27Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-2",
            "sourceIPAddress":"89.160.20.156","userAgent":"Mozilla/5.0 (Windows NT 6.1; WOW64; rv:24.0) Gecko/20100101 Firefox/24.0",
            "requestParameters":null,"responseElements":{"ConsoleLogin":"Success"},
            "additionalEventData":{"MobileVersion":"No","LoginTo":"https://console.aws.amazon.com/s3/","MFAUsed":"No"},
            "eventID":"3fcfb182-98f8-4744-bd45-10aEXAMPLE"}"#,
        tags: &[CONSOLE_LOGIN_WITHOUT_MFA],
        misses: &[
            Miss {
                from: r#""MFAUsed":"No""#,
                to: r#""MFAUsed":"Yes""#,
                tags: &[],
                why: "signed in with MFA",
            },
            Miss {
                from: r#"{"ConsoleLogin":"Success"}"#,
                to: r#"{"ConsoleLogin":"Failure"}"#,
                tags: &[],
                why: "a failed sign-in (not root, so not the brute-force rule either)",
            },
        ],
    },
    Example {
        rule: SSE_C_UNUSUAL,
        about: "an object written with a customer-provided key (SSE-C); the threshold rule over the same filter tags it too",
        record: r#"{"eventVersion":"1.10",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T16:00:00Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.99","userAgent":"[aws-cli/2.15.30 ua/2.0 md/command#s3.cp]",
            "requestParameters":{"bucketName":"corp-data","Host":"corp-data.s3.us-east-1.amazonaws.com","key":"exports/2024/q1.csv","x-amz-server-side-encryption-customer-algorithm":"AES256"},
            "responseElements":{"x-amz-server-side-encryption-customer-algorithm":"AES256"},
            "additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"TLS_AES_128_GCM_SHA256","bytesTransferredIn":52000,"SSEApplied":"SSE_C","AuthenticationMethod":"AuthHeader","x-amz-id-2":"YmFyYmF6cXV4Zm9v","bytesTransferredOut":0},
            "requestID":"8e9f0a1b-2c3d-4e4f-5a6b-7c8d9e0f1a29","eventID":"9f0a1b2c-3d4e-4f5a-6b7c-8d9e0f1a2b30","readOnly":false,
            "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::corp-data/exports/2024/q1.csv"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::corp-data"}],
            "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data",
            "tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"corp-data.s3.us-east-1.amazonaws.com"}}"#,
        tags: &[SSE_C_UNUSUAL, SSE_C_EXCESSIVE],
        misses: &[
            Miss {
                from: r#""key":"exports/2024/q1.csv","x-amz-server-side-encryption-customer-algorithm":"AES256""#,
                to: r#""key":"exports/2024/q1.csv","x-amz-server-side-encryption":"AES256""#,
                tags: &[],
                why: "S3-managed encryption (SSE-S3) is not a customer-provided key",
            },
            Miss {
                from: r#""requestParameters""#,
                to: failed!(),
                tags: &[],
                why: "a refused upload encrypted nothing",
            },
        ],
    },
    Example {
        rule: ASSUME_ROLE_POLICY_UPDATED,
        about: "a role's trust policy replaced",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T16:10:00Z","eventSource":"iam.amazonaws.com","eventName":"UpdateAssumeRolePolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.update-assume-role-policy",
            "requestParameters":{"roleName":"deploy-role","policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::999988887777:root\"},\"Action\":\"sts:AssumeRole\"}]}"},
            "responseElements":null,
            "requestID":"0a1b2c3d-4e5f-4a6b-7c8d-9e0f1a2b3c31","eventID":"1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d32","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[ASSUME_ROLE_POLICY_UPDATED],
        misses: &[Miss {
            from: r#""requestParameters""#,
            to: failed!(),
            tags: &[],
            why: "a refused update (AccessDenied, not a malformed document) is neither rule's",
        }],
    },
    // ---------------------------------------------------------------- threshold rules (partial)
    Example {
        rule: ROOT_LOGIN_FAILURES,
        about: "a failed root console sign-in, as AWS writes it",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":""},
            "eventTime":"2024-05-01T16:20:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.77","userAgent":"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "errorMessage":"Failed authentication",
            "requestParameters":null,"responseElements":{"ConsoleLogin":"Failure"},
            "additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No"},
            "eventID":"2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e33","readOnly":false,
            "eventType":"AwsConsoleSignIn","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[ROOT_LOGIN_FAILURES],
        misses: &[
            Miss {
                from: r#""type":"Root""#,
                to: r#""type":"IAMUser""#,
                tags: &[],
                why: "an IAM user's failed sign-in (the failure keeps the MFA-less rule out too)",
            },
            Miss {
                from: r#""eventName":"ConsoleLogin""#,
                to: r#""eventName":"PasswordRecoveryRequested""#,
                tags: &[],
                why: "not a sign-in",
            },
        ],
    },
    Example {
        rule: SSE_C_EXCESSIVE,
        about: "an object copied with a customer-provided key; the new_terms rule over the same filter tags it too",
        record: r#"{"eventVersion":"1.10",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T16:30:00Z","eventSource":"s3.amazonaws.com","eventName":"CopyObject","awsRegion":"us-east-1",
            "sourceIPAddress":"198.51.100.99","userAgent":"[aws-cli/2.15.30 ua/2.0 md/command#s3.cp]",
            "requestParameters":{"bucketName":"corp-data","Host":"corp-data.s3.us-east-1.amazonaws.com","key":"exports/2024/q2.csv","x-amz-copy-source":"corp-data/exports/2024/q2.csv","x-amz-server-side-encryption-customer-algorithm":"AES256"},
            "responseElements":{"x-amz-server-side-encryption-customer-algorithm":"AES256"},
            "requestID":"4e5f6a7b-8c9d-4e0f-1a2b-3c4d5e6f7a34","eventID":"5f6a7b8c-9d0e-4f1a-2b3c-4d5e6f7a8b35","readOnly":false,
            "resources":[{"type":"AWS::S3::Object","ARN":"arn:aws:s3:::corp-data/exports/2024/q2.csv"},{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::corp-data"}],
            "eventType":"AwsApiCall","managementEvent":false,"recipientAccountId":"111122223333","eventCategory":"Data"}"#,
        tags: &[SSE_C_EXCESSIVE, SSE_C_UNUSUAL],
        misses: &[Miss {
            from: r#""x-amz-copy-source":"corp-data/exports/2024/q2.csv","x-amz-server-side-encryption-customer-algorithm":"AES256""#,
            to: r#""x-amz-copy-source":"corp-data/exports/2024/q2.csv","x-amz-server-side-encryption-customer-algorithm":"aes256""#,
            tags: &[],
            why: "flattened leaves are compared exactly: `aes256` is not `AES256`",
        }],
    },
    Example {
        rule: PRINCIPAL_ENUMERATION,
        about: "a trust policy refused as malformed (how principals in other accounts are probed)",
        record: r#"{"eventVersion":"1.09",
            "userIdentity":{"type":"IAMUser","principalId":"AIDAJQABLZS4A3QDU576Q","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAIOSFODNN7EXAMPLE","userName":"alice"},
            "eventTime":"2024-05-01T16:40:00Z","eventSource":"iam.amazonaws.com","eventName":"UpdateAssumeRolePolicy","awsRegion":"us-east-1",
            "sourceIPAddress":"203.0.113.10","userAgent":"aws-cli/2.15.30 ua/2.0 md/command#iam.update-assume-role-policy",
            "errorCode":"MalformedPolicyDocumentException","errorMessage":"Invalid principal in policy: \"AWS\":\"arn:aws:iam::999988887777:user/guess\"",
            "requestParameters":{"roleName":"probe-role","policyDocument":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::999988887777:user/guess\"},\"Action\":\"sts:AssumeRole\"}]}"},
            "responseElements":null,
            "requestID":"6a7b8c9d-0e1f-4a2b-3c4d-5e6f7a8b9c36","eventID":"7b8c9d0e-1f2a-4b3c-4d5e-6f7a8b9c0d37","readOnly":false,
            "eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management"}"#,
        tags: &[PRINCIPAL_ENUMERATION],
        misses: &[Miss {
            from: r#""errorCode":"MalformedPolicyDocumentException""#,
            to: r#""errorCode":"AccessDenied""#,
            tags: &[],
            why: "refused for want of permission, which says nothing about the principal",
        }],
    },
];

fn elastic_file(name: &str) -> RuleSource {
    let path = data::shared_dir().join("rules/elastic-aws").join(name);
    RuleSource::new(name, String::from_utf8(data::read(&path)).unwrap())
}

/// All the chosen rules in one detector, as they would run together.
fn detector() -> Detector {
    Detector::builder()
        .builtin(false)
        .sources(RULES.iter().map(|(file, _, _)| elastic_file(file)))
        .build()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The record as CloudTrail writes it: the hand-written text without the whitespace between
/// tokens (whitespace inside strings is kept).
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// The example's record with the miss's change.
fn changed(record: &str, miss: &Miss) -> String {
    assert!(
        record.contains(miss.from),
        "{:?} is not in the record it should change",
        miss.from
    );
    let out = record.replace(miss.from, miss.to);
    assert_ne!(out, record);
    out
}

fn tagged_ids(detector: &Detector, record: &[u8]) -> BTreeSet<String> {
    let mut scratch = Scratch::default();
    let ids = |scratch: &Scratch| -> BTreeSet<String> {
        scratch
            .matched()
            .iter()
            .map(|&i| detector.rules()[i as usize].id().to_owned())
            .collect()
    };
    let fast = match detector.detect(record, &Options::default(), &mut scratch) {
        Verdict::Tagged => ids(&scratch),
        Verdict::Skipped | Verdict::NoMatch => BTreeSet::new(),
        Verdict::Unreadable(u) => panic!("unreadable record: {u:?}"),
    };
    let mut reference = Scratch::default();
    detector.detect_exhaustively(record, &Options::default(), &mut reference);
    assert_eq!(
        fast,
        ids(&reference),
        "the cheap scan and the reference disagree"
    );
    fast
}

fn index_of(detector: &Detector, id: &str) -> usize {
    detector
        .rules()
        .iter()
        .position(|r| r.id() == id)
        .unwrap_or_else(|| panic!("rule {id} is not loaded"))
}

/// What explain says about `rule` on `record`, for messages.
fn clause_report(detector: &Detector, record: &[u8], rule: usize) -> String {
    let explanation = detector.explain(record).unwrap();
    explanation.rules[rule]
        .clauses
        .iter()
        .map(|c| {
            format!(
                "  [{}] {}{}\n",
                if c.held { "held" } else { "FAILED" },
                c.text,
                c.failed_test
                    .as_deref()
                    .map(|t| format!("  (first failed test: {t})"))
                    .unwrap_or_default()
            )
        })
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|&id| id.to_owned()).collect()
}

#[test]
fn the_chosen_rules_load_unchanged_and_the_stateful_ones_are_partial() {
    let detector = detector();
    assert_eq!(detector.rules().len(), RULES.len());
    let ids: BTreeSet<&str> = RULES.iter().map(|(_, id, _)| *id).collect();
    assert_eq!(ids.len(), RULES.len(), "a rule is listed twice");
    for &(file, id, kind) in RULES {
        let text = String::from_utf8(data::read(
            &data::shared_dir().join("rules/elastic-aws").join(file),
        ))
        .unwrap();
        let declared = match kind {
            Kind::Kql => r#"type = "query""#,
            Kind::Eql => r#"type = "eql""#,
            Kind::NewTerms => r#"type = "new_terms""#,
            Kind::Threshold => r#"type = "threshold""#,
        };
        assert!(text.contains(declared), "{file} is not {declared}");
        let rule = &detector.rules()[index_of(&detector, id)];
        let meta = rule.meta();
        assert_eq!(meta.format, RuleFormat::Elastic, "{file}");
        match kind {
            Kind::Kql | Kind::Eql => {
                assert_eq!(meta.partial, None, "{file} runs as written");
            }
            Kind::NewTerms => {
                let note = meta.partial.as_deref().unwrap_or_else(|| panic!("{file}"));
                assert!(note.starts_with("new_terms"), "{file}: {note}");
            }
            Kind::Threshold => {
                let note = meta.partial.as_deref().unwrap_or_else(|| panic!("{file}"));
                assert!(note.starts_with("threshold"), "{file}: {note}");
            }
        }
    }
}

#[test]
fn every_rule_has_a_match_and_a_near_miss() {
    let chosen: BTreeSet<&str> = RULES.iter().map(|(_, id, _)| *id).collect();
    for &(file, id, _) in RULES {
        let examples: Vec<&Example> = EXAMPLES.iter().filter(|e| e.rule == id).collect();
        assert!(!examples.is_empty(), "{file}: no record it tags");
        assert!(
            examples.iter().any(|e| !e.misses.is_empty()),
            "{file}: no near miss"
        );
    }
    for example in EXAMPLES {
        assert!(chosen.contains(example.rule), "{}", example.about);
        assert!(example.tags.contains(&example.rule), "{}", example.about);
        for id in example
            .tags
            .iter()
            .chain(example.misses.iter().flat_map(|m| m.tags))
        {
            assert!(
                chosen.contains(id),
                "{}: {id} is not a chosen rule",
                example.about
            );
        }
        for miss in example.misses {
            assert!(!miss.tags.contains(&example.rule), "{}", miss.why);
        }
    }
    let kinds: BTreeSet<Kind> = RULES.iter().map(|(_, _, k)| *k).collect();
    assert_eq!(kinds.len(), 4, "KQL, EQL, new_terms and threshold rules");
    assert!(RULES.len() >= 24);
}

#[test]
fn each_record_is_tagged_by_exactly_the_rules_that_match_it() {
    let detector = detector();
    let mut failures = Vec::new();
    for example in EXAMPLES {
        let record = compact(example.record);
        serde_json::from_str::<serde_json::Value>(&record)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", example.about));
        let rule = index_of(&detector, example.rule);
        let got = tagged_ids(&detector, record.as_bytes());
        if got != set(example.tags) {
            failures.push(format!(
                "{} ({}): tagged by {got:?}, expected {:?}\n{}",
                example.about,
                example.rule,
                example.tags,
                clause_report(&detector, record.as_bytes(), rule)
            ));
        }
        let explanation = detector.explain(record.as_bytes()).unwrap();
        let explained = &explanation.rules[rule];
        if !(explained.matched && explained.candidate && explained.clauses.iter().all(|c| c.held)) {
            failures.push(format!(
                "{}: explain does not say every clause held\n{}",
                example.about,
                clause_report(&detector, record.as_bytes(), rule)
            ));
        }
        for miss in example.misses {
            let near = changed(&record, miss);
            serde_json::from_str::<serde_json::Value>(&near)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", miss.why));
            let got = tagged_ids(&detector, near.as_bytes());
            if got != set(miss.tags) {
                failures.push(format!(
                    "near miss of {} ({}), {}: tagged by {got:?}, expected {:?}\n{}",
                    example.about,
                    example.rule,
                    miss.why,
                    miss.tags,
                    clause_report(&detector, near.as_bytes(), rule)
                ));
            }
            let explanation = detector.explain(near.as_bytes()).unwrap();
            let explained = &explanation.rules[rule];
            if explained.matched || explained.clauses.iter().all(|c| c.held) {
                failures.push(format!(
                    "near miss {}: explain does not say the rule failed\n{}",
                    miss.why,
                    clause_report(&detector, near.as_bytes(), rule)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_partial_rules_tag_says_so() {
    let detector = detector();
    for example in EXAMPLES {
        let record = compact(example.record);
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        detector.tag_record(
            record.as_bytes(),
            &Options::default(),
            &mut scratch,
            &mut out,
        );
        let tagged: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let detections = tagged["trailtag"]["detections"].as_array().unwrap();
        for &id in example.tags {
            let (_, _, kind) = RULES.iter().find(|(_, rule, _)| *rule == id).unwrap();
            let entry = detections
                .iter()
                .find(|d| d["id"] == id)
                .unwrap_or_else(|| panic!("{}: no entry for {id}", example.about));
            assert_eq!(entry["format"], "elastic", "{id}");
            let partial = entry.get("partial").and_then(|p| p.as_str());
            match kind {
                Kind::Kql | Kind::Eql => assert_eq!(partial, None, "{id}"),
                Kind::NewTerms | Kind::Threshold => {
                    let note = partial.unwrap_or_else(|| panic!("{id}: no partial note"));
                    let meta = detector.rules()[index_of(&detector, id)].meta();
                    assert_eq!(Some(note), meta.partial.as_deref());
                }
            }
        }
    }
}
