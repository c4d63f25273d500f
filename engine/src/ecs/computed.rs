//! The ECS fields Elastic's pipeline computes rather than copies: the outcome, the payload
//! strings, `source.ip`, the user fields, `cloud.account.id`, the TLS split and the ConsoleLogin
//! extras (`../shared/spec/ecs-mapping.md` §3–§5). Each is a function of the raw record, so
//! the ECS document (`super::document`) and the rules (`@ecs.…` derived fields read through
//! `crate::document`) compute it the same way.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use super::java::{is_removed_scalar, java_length, render};
use crate::json::Json;
use crate::path::FieldPath;

/// The first segment of a derived field's path.
pub const DERIVED_ROOT: &str = "@ecs";

/// A payload object the pipeline writes as a string (and copies as a `flattened` object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payload {
    /// `requestParameters`
    RequestParameters,
    /// `responseElements`
    ResponseElements,
    /// `additionalEventData`
    AdditionalEventData,
    /// `serviceEventDetails`
    ServiceEventDetails,
}

/// Strings longer than this (in UTF-16 units) are not made into a `flattened` copy.
const FLATTENED_LIMIT: usize = 32_766;

impl Payload {
    /// Every payload.
    pub const ALL: [Payload; 4] = [
        Payload::RequestParameters,
        Payload::ResponseElements,
        Payload::AdditionalEventData,
        Payload::ServiceEventDetails,
    ];

    /// The CloudTrail key.
    pub fn raw_key(self) -> &'static str {
        match self {
            Payload::RequestParameters => "requestParameters",
            Payload::ResponseElements => "responseElements",
            Payload::AdditionalEventData => "additionalEventData",
            Payload::ServiceEventDetails => "serviceEventDetails",
        }
    }

    /// The last segment of its ECS names (`aws.cloudtrail.<this>`,
    /// `aws.cloudtrail.flattened.<this>`).
    pub fn ecs_key(self) -> &'static str {
        match self {
            Payload::RequestParameters => "request_parameters",
            Payload::ResponseElements => "response_elements",
            Payload::AdditionalEventData => "additional_eventdata",
            Payload::ServiceEventDetails => "service_event_details",
        }
    }

    /// `ignore_above` of the keyword field: a longer string is stored but not indexed, so no
    /// query sees it (rules see it as absent).
    pub fn ignore_above(self) -> Option<usize> {
        match self {
            Payload::RequestParameters | Payload::ResponseElements => Some(8191),
            Payload::AdditionalEventData | Payload::ServiceEventDetails => None,
        }
    }

    /// The payload whose `ecs_key` is `key`.
    pub fn from_ecs_key(key: &str) -> Option<Payload> {
        Payload::ALL.into_iter().find(|p| p.ecs_key() == key)
    }

    /// The pipeline's string, as stored (whatever its length), or `None` when absent.
    pub fn stored_string(self, root: &Json<'_>) -> Option<String> {
        root.get(self.raw_key()).and_then(render)
    }

    /// Whether the pipeline makes the `flattened` copy (the string is shorter than 32,766).
    pub fn has_flattened_copy(self, root: &Json<'_>) -> bool {
        self.stored_string(root)
            .is_some_and(|s| java_length(&s) < FLATTENED_LIMIT)
    }
}

/// A computed ECS field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Computed {
    /// `event.outcome`
    Outcome,
    /// `aws.cloudtrail.request_parameters` and the other payload strings, as queries see them
    /// (absent beyond `ignore_above`).
    PayloadString(Payload),
    /// Present (as `true`) when the payload's `flattened` copy is made.
    FlattenedCopy(Payload),
    /// `source.ip`
    SourceIp,
    /// `user.id`
    UserId,
    /// `user.name`
    UserName,
    /// `user.email`
    UserEmail,
    /// `user.changes.name`
    UserChangesName,
    /// `related.user`
    RelatedUser,
    /// `cloud.account.id`
    CloudAccountId,
    /// `tls.version_protocol`
    TlsVersionProtocol,
    /// `tls.version`
    TlsVersion,
    /// `tls.cipher`
    TlsCipher,
    /// `tls.client.server_name`
    TlsServerName,
    /// `aws.cloudtrail.console_login.additional_eventdata.mfa_used`
    ConsoleLoginMfaUsed,
    /// `aws.cloudtrail.console_login.additional_eventdata.mobile_version`
    ConsoleLoginMobileVersion,
    /// `aws.cloudtrail.console_login.additional_eventdata.login_to`
    ConsoleLoginLoginTo,
}

/// The computed values of a field: none, one, or (for lists) several.
pub type Values = Vec<Json<'static>>;

fn owned(s: impl Into<String>) -> Json<'static> {
    Json::String(Cow::Owned(s.into()))
}

/// The string at a dotted raw path (objects only), unless the clean-up removes it.
pub(crate) fn text_at<'r>(root: &'r Json<'_>, path: &str) -> Option<&'r str> {
    root.lookup(path.split('.'))
        .filter(|v| !is_removed_scalar(v))
        .and_then(Json::as_str)
}

/// Whether a value is at a dotted raw path once the clean-up has run.
fn present_at(root: &Json<'_>, path: &str) -> bool {
    root.lookup(path.split('.'))
        .is_some_and(|v| render(v).is_some())
}

impl Computed {
    /// The path rules read it by: `@ecs` and the ECS name.
    pub fn path(self) -> FieldPath {
        FieldPath::new(vec![DERIVED_ROOT.to_owned(), self.name()])
    }

    /// The computed field a derived path names.
    pub fn from_path(path: &FieldPath) -> Option<Computed> {
        match path.segments() {
            [root, name] if root == DERIVED_ROOT => Computed::from_name(name),
            _ => None,
        }
    }

    /// Its ECS name.
    pub fn name(self) -> String {
        let fixed = match self {
            Computed::Outcome => "event.outcome",
            Computed::PayloadString(p) => return format!("aws.cloudtrail.{}", p.ecs_key()),
            Computed::FlattenedCopy(p) => {
                return format!("aws.cloudtrail.flattened.{}", p.ecs_key());
            }
            Computed::SourceIp => "source.ip",
            Computed::UserId => "user.id",
            Computed::UserName => "user.name",
            Computed::UserEmail => "user.email",
            Computed::UserChangesName => "user.changes.name",
            Computed::RelatedUser => "related.user",
            Computed::CloudAccountId => "cloud.account.id",
            Computed::TlsVersionProtocol => "tls.version_protocol",
            Computed::TlsVersion => "tls.version",
            Computed::TlsCipher => "tls.cipher",
            Computed::TlsServerName => "tls.client.server_name",
            Computed::ConsoleLoginMfaUsed => {
                "aws.cloudtrail.console_login.additional_eventdata.mfa_used"
            }
            Computed::ConsoleLoginMobileVersion => {
                "aws.cloudtrail.console_login.additional_eventdata.mobile_version"
            }
            Computed::ConsoleLoginLoginTo => {
                "aws.cloudtrail.console_login.additional_eventdata.login_to"
            }
        };
        fixed.to_owned()
    }

    /// Every computed field (for the ECS document and its tests).
    pub fn all() -> Vec<Computed> {
        let mut all = vec![
            Computed::Outcome,
            Computed::SourceIp,
            Computed::UserId,
            Computed::UserName,
            Computed::UserEmail,
            Computed::UserChangesName,
            Computed::RelatedUser,
            Computed::CloudAccountId,
            Computed::TlsVersionProtocol,
            Computed::TlsVersion,
            Computed::TlsCipher,
            Computed::TlsServerName,
            Computed::ConsoleLoginMfaUsed,
            Computed::ConsoleLoginMobileVersion,
            Computed::ConsoleLoginLoginTo,
        ];
        all.extend(Payload::ALL.map(Computed::PayloadString));
        all.extend(Payload::ALL.map(Computed::FlattenedCopy));
        all
    }

    /// The computed field named `name`.
    ///
    /// (Rules name derived fields by path, and a path is resolved whenever a rule reads it,
    /// so the names are indexed once rather than rendered again for every lookup.)
    pub fn from_name(name: &str) -> Option<Computed> {
        static BY_NAME: OnceLock<HashMap<String, Computed>> = OnceLock::new();
        BY_NAME
            .get_or_init(|| Computed::all().into_iter().map(|c| (c.name(), c)).collect())
            .get(name)
            .copied()
    }

    /// The raw members (by key, wherever they are nested) whose string this field copies
    /// unchanged, when every value it has is such a copy: `user.name` is a `userName` (the
    /// identity's or its session issuer's) or a `UserName` (a sign-in's). A test of the field then
    /// pins those keys (`crate::ir::pins`). Empty for a field that changes what it reads
    /// (`event.outcome`, `tls.version`, the payload strings) or may take a part of a value
    /// (`user.changes.name`, `related.user`: the end of an ARN).
    pub fn copied_from(self) -> &'static [&'static str] {
        match self {
            Computed::UserName | Computed::UserEmail => &["userName", "UserName"],
            Computed::UserId => &["principalId", "userId"],
            Computed::SourceIp => &["sourceIPAddress"],
            Computed::CloudAccountId => &["accountId", "recipientAccountId"],
            Computed::TlsCipher => &["cipherSuite"],
            Computed::TlsServerName => &["clientProvidedHostHeader"],
            Computed::ConsoleLoginLoginTo => &["LoginTo"],
            Computed::Outcome
            | Computed::PayloadString(_)
            | Computed::FlattenedCopy(_)
            | Computed::UserChangesName
            | Computed::RelatedUser
            | Computed::TlsVersionProtocol
            | Computed::TlsVersion
            | Computed::ConsoleLoginMfaUsed
            | Computed::ConsoleLoginMobileVersion => &[],
        }
    }

    /// Its values for the record `root`.
    pub fn values(self, root: &Json<'_>) -> Values {
        match self {
            Computed::Outcome => vec![owned(outcome(root))],
            Computed::PayloadString(p) => payload_string(root, p).into_iter().map(owned).collect(),
            Computed::FlattenedCopy(p) => {
                if p.has_flattened_copy(root) {
                    vec![Json::Bool(true)]
                } else {
                    Vec::new()
                }
            }
            Computed::SourceIp => one(source_ip(root)),
            Computed::UserId => one(user_id(root)),
            Computed::UserName => one(user_name(root)),
            Computed::UserEmail => one(user_email(root)),
            Computed::UserChangesName => one(user_changes_name(root)),
            Computed::RelatedUser => related_user(root).into_iter().map(owned).collect(),
            Computed::CloudAccountId => one(cloud_account_id(root)),
            Computed::TlsVersionProtocol => one(tls_version(root).and_then(|(p, _)| p)),
            Computed::TlsVersion => one(tls_version(root).map(|(_, v)| v)),
            Computed::TlsCipher => one(tls_text(root, "cipherSuite")),
            Computed::TlsServerName => one(tls_text(root, "clientProvidedHostHeader")),
            Computed::ConsoleLoginMfaUsed => console_login_flag(root, "MFAUsed"),
            Computed::ConsoleLoginMobileVersion => console_login_flag(root, "MobileVersion"),
            Computed::ConsoleLoginLoginTo => one(console_login(root)
                .and_then(|r| text_at(r, "additionalEventData.LoginTo"))
                .map(str::to_owned)),
        }
    }
}

fn one(value: Option<String>) -> Values {
    value.into_iter().map(owned).collect()
}

/// `failure` when the record has an error code or message (after the clean-up), else
/// `success`; a ConsoleLogin's own result, lower-cased, when it gives one.
pub fn outcome(root: &Json<'_>) -> String {
    if let Some(result) =
        console_login(root).and_then(|r| text_at(r, "responseElements.ConsoleLogin"))
    {
        return result.to_lowercase();
    }
    let failed = present_at(root, "errorCode") || present_at(root, "errorMessage");
    if failed { "failure" } else { "success" }.to_owned()
}

/// The record, when its action is ConsoleLogin.
fn console_login<'r, 'a>(root: &'r Json<'a>) -> Option<&'r Json<'a>> {
    (text_at(root, "eventName") == Some("ConsoleLogin")).then_some(root)
}

fn console_login_flag(root: &Json<'_>, key: &str) -> Values {
    let path = format!("additionalEventData.{key}");
    console_login(root)
        .and_then(|r| text_at(r, &path))
        .map(|value| vec![Json::Bool(value != "No")])
        .unwrap_or_default()
}

fn payload_string(root: &Json<'_>, payload: Payload) -> Option<String> {
    let stored = payload.stored_string(root)?;
    match payload.ignore_above() {
        Some(limit) if java_length(&stored) > limit => None,
        _ => Some(stored),
    }
}

fn source_ip(root: &Json<'_>) -> Option<String> {
    text_at(root, "sourceIPAddress")
        .filter(|a| a.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
}

fn identity_type<'r>(root: &'r Json<'_>) -> Option<&'r str> {
    text_at(root, "userIdentity.type")
}

fn is_role_session(root: &Json<'_>) -> bool {
    matches!(identity_type(root), Some("AssumedRole" | "FederatedUser"))
}

fn user_id(root: &Json<'_>) -> Option<String> {
    text_at(root, "userIdentity.principalId")
        .or_else(|| {
            (identity_type(root) == Some("IdentityCenterUser"))
                .then(|| text_at(root, "userIdentity.onBehalfOf.userId"))
                .flatten()
        })
        .map(str::to_owned)
}

fn user_name(root: &Json<'_>) -> Option<String> {
    let issuer = text_at(root, "userIdentity.sessionContext.sessionIssuer.userName")
        .filter(|_| is_role_session(root));
    issuer
        .or_else(|| text_at(root, "userIdentity.userName"))
        .or_else(|| {
            (text_at(root, "eventName") == Some("UserAuthentication"))
                .then(|| text_at(root, "additionalEventData.UserName"))
                .flatten()
        })
        .map(str::to_owned)
}

fn user_email(root: &Json<'_>) -> Option<String> {
    user_name(root).filter(|name| name.find('@').is_some_and(|at| at > 0))
}

fn user_changes_name(root: &Json<'_>) -> Option<String> {
    if let Some(new_name) = text_at(root, "requestParameters.newUserName") {
        return Some(new_name.to_owned());
    }
    let arn = text_at(root, "userIdentity.arn").filter(|_| is_role_session(root))?;
    arn.starts_with("arn:aws:sts:")
        .then(|| arn.rsplit('/').next().unwrap_or(arn).to_owned())
}

fn related_user(root: &Json<'_>) -> Vec<String> {
    let candidates = [
        text_at(root, "requestParameters.userName").map(str::to_owned),
        text_at(root, "requestParameters.newUserName").map(str::to_owned),
        text_at(root, "responseElements.user.userId").map(str::to_owned),
        user_id(root),
        user_name(root),
        user_changes_name(root),
    ];
    let mut users: Vec<String> = Vec::new();
    for user in candidates.into_iter().flatten() {
        if !users.contains(&user) {
            users.push(user);
        }
    }
    users
}

fn cloud_account_id(root: &Json<'_>) -> Option<String> {
    text_at(root, "userIdentity.accountId")
        .or_else(|| text_at(root, "recipientAccountId"))
        .map(str::to_owned)
}

/// `tlsDetails`, unless the pipeline drops it (a `tlsVersion` of literally `"tlsVersion"`).
fn tls_details<'r, 'a>(root: &'r Json<'a>) -> Option<&'r Json<'a>> {
    let details = root.get("tlsDetails")?;
    (text_at(details, "tlsVersion") != Some("tlsVersion")).then_some(details)
}

fn tls_text(root: &Json<'_>, key: &str) -> Option<String> {
    tls_details(root)
        .and_then(|d| text_at(d, key))
        .map(str::to_owned)
}

/// `TLSv1.3` is protocol `tls`, version `1.3`; a value without a `v` is the version alone.
fn tls_version(root: &Json<'_>) -> Option<(Option<String>, String)> {
    let raw = tls_details(root).and_then(|d| text_at(d, "tlsVersion"))?;
    Some(match raw.split_once('v') {
        Some((protocol, version)) if !protocol.is_empty() && !version.is_empty() => {
            (Some(protocol.to_lowercase()), version.to_owned())
        }
        _ => (None, raw.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every string member of `node` (any depth) under one of `keys`.
    fn strings_under(node: &Json<'_>, keys: &[&str], out: &mut Vec<String>) {
        match node {
            Json::Object(members) => {
                for (key, value) in members {
                    if let (true, Json::String(s)) = (keys.contains(&key.as_ref()), value) {
                        out.push(s.to_string());
                    }
                    strings_under(value, keys, out);
                }
            }
            Json::Array(items) => items.iter().for_each(|v| strings_under(v, keys, out)),
            _ => {}
        }
    }

    /// What `copied_from` promises, on hand-written records for each branch: every value is
    /// the string of a member under one of the keys (the corpus is checked through the rules,
    /// `engine/tests/elastic_rules.rs`).
    #[test]
    fn a_copied_field_holds_only_strings_of_its_source_members() {
        let records = [
            r#"{"userIdentity":{"type":"AssumedRole","principalId":"AROA1:bob","arn":"arn:aws:sts::1:assumed-role/admin/bob","accountId":"1","sessionContext":{"sessionIssuer":{"userName":"admin"}}},"sourceIPAddress":"10.0.0.1","recipientAccountId":"2","tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"iam.amazonaws.com"}}"#,
            r#"{"userIdentity":{"type":"IAMUser","userName":"a@example.com","principalId":"AIDA1"},"recipientAccountId":"2"}"#,
            r#"{"eventName":"UserAuthentication","userIdentity":{"type":"IdentityCenterUser","onBehalfOf":{"userId":"u-1"}},"additionalEventData":{"UserName":"carol"}}"#,
            r#"{"eventName":"ConsoleLogin","additionalEventData":{"LoginTo":"https://console.aws.amazon.com/"},"userIdentity":{"type":"Root"}}"#,
        ];
        let mut checked = 0;
        for record in records {
            let root = Json::parse(record.as_bytes()).unwrap();
            for field in Computed::all() {
                let keys = field.copied_from();
                if keys.is_empty() {
                    continue;
                }
                let mut sources = Vec::new();
                strings_under(&root, keys, &mut sources);
                for value in values(record, field) {
                    assert!(
                        sources.contains(&value),
                        "{field:?}: {value} not in {sources:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 12, "{checked}");
    }

    fn values(record: &str, field: Computed) -> Vec<String> {
        let root = Json::parse(record.as_bytes()).unwrap();
        field
            .values(&root)
            .iter()
            .map(|v| match v {
                Json::String(s) => s.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_outcome_follows_errors_and_console_logins() {
        assert_eq!(values("{}", Computed::Outcome), ["success"]);
        assert_eq!(
            values(r#"{"errorCode":""}"#, Computed::Outcome),
            ["success"]
        );
        assert_eq!(
            values(r#"{"errorCode":"-"}"#, Computed::Outcome),
            ["success"]
        );
        assert_eq!(
            values(r#"{"errorMessage":"x"}"#, Computed::Outcome),
            ["failure"]
        );
        let login = r#"{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"}}"#;
        assert_eq!(values(login, Computed::Outcome), ["failure"]);
        let ok = r#"{"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Success"}}"#;
        assert_eq!(values(ok, Computed::Outcome), ["success"]);
    }

    #[test]
    fn payload_strings_beyond_ignore_above_are_not_seen() {
        let long = format!(r#"{{"requestParameters":{{"a":"{}"}}}}"#, "x".repeat(8200));
        assert!(values(&long, Computed::PayloadString(Payload::RequestParameters)).is_empty());
        assert_eq!(
            values(&long, Computed::FlattenedCopy(Payload::RequestParameters)).len(),
            1
        );
        let short = r#"{"requestParameters":{"groupName":"ops"}}"#;
        assert_eq!(
            values(short, Computed::PayloadString(Payload::RequestParameters)),
            ["{groupName=ops}"]
        );
    }

    #[test]
    fn user_fields_follow_the_identity_type() {
        let role = r#"{"userIdentity":{"type":"AssumedRole","principalId":"AROA1:bob@example.com","arn":"arn:aws:sts::1:assumed-role/admin/bob@example.com","userName":"ignored","accountId":"1","sessionContext":{"sessionIssuer":{"userName":"admin"}}}}"#;
        assert_eq!(values(role, Computed::UserName), ["admin"]);
        assert_eq!(values(role, Computed::UserChangesName), ["bob@example.com"]);
        assert_eq!(values(role, Computed::UserId), ["AROA1:bob@example.com"]);
        assert_eq!(
            values(role, Computed::RelatedUser),
            ["AROA1:bob@example.com", "admin", "bob@example.com"]
        );
        assert!(values(role, Computed::UserEmail).is_empty());
        let user = r#"{"userIdentity":{"type":"IAMUser","userName":"test@elastic.co"},"recipientAccountId":"2"}"#;
        assert_eq!(values(user, Computed::UserEmail), ["test@elastic.co"]);
        assert_eq!(values(user, Computed::CloudAccountId), ["2"]);
    }

    #[test]
    fn source_ip_only_for_addresses_and_tls_splits() {
        assert_eq!(
            values(r#"{"sourceIPAddress":"2001:db8::1"}"#, Computed::SourceIp),
            ["2001:db8::1"]
        );
        assert!(values(r#"{"sourceIPAddress":"AWS Internal"}"#, Computed::SourceIp).is_empty());
        let tls =
            r#"{"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256"}}"#;
        assert_eq!(values(tls, Computed::TlsVersionProtocol), ["tls"]);
        assert_eq!(values(tls, Computed::TlsVersion), ["1.3"]);
        assert_eq!(values(tls, Computed::TlsCipher), ["TLS_AES_128_GCM_SHA256"]);
        let dropped = r#"{"tlsDetails":{"tlsVersion":"tlsVersion","cipherSuite":"x"}}"#;
        assert!(values(dropped, Computed::TlsCipher).is_empty());
    }

    #[test]
    fn names_round_trip() {
        for field in Computed::all() {
            assert_eq!(Computed::from_path(&field.path()), Some(field));
        }
    }
}
