//! The ECS view of a raw CloudTrail record: what Elastic's `aws.cloudtrail` ingest pipeline
//! makes of it, so that Elastic's rules (KQL and EQL over ECS names) run on raw records in flight
//! (`../shared/spec/ecs-mapping.md`, newest pipeline version).
//!
//! The view is never built for detection. Every ECS name resolves, when a rule is compiled, to
//! one [`Source`]:
//! - a **constant** (`data_stream.dataset` is `aws.cloudtrail`): the rule's test on it is decided
//!   at load time;
//! - a **raw** path the pipeline renames or copies (`event.action` is `eventName`): the rule tests
//!   the raw field as keyword text, so it keeps the raw field's pins;
//! - the **categorisation** table (`event.category`, `event.type`), keyed by `eventName`: a test
//!   on it becomes a set of `eventName`s, pins included;
//! - a **computed** value ([`Computed`]: the outcome, the payload strings, `source.ip`, the user
//!   fields …), read through a derived `@ecs.…` field that the document computes from the record
//!   only when a candidate reaches that test;
//! - a **flattened** payload path, a raw path under the payload object, seen as keyword text;
//! - or **unavailable** (GeoIP, the user-agent parser, entity enrichment, ingest times): data the
//!   pipeline takes from outside the record. Such a field has no value, and a rule reading it is
//!   marked partial.
//!
//! [`document`] builds the whole view for people (`trailtag ecs`) from the same table, so what a
//! user sees is what the rules read; a test holds the two to each other on the corpus.
//!
//! Decided where the pipeline is ambiguous or depends on outside data:
//! - the newest clean-up (`"-"` and `"none"` removed too) applies everywhere;
//! - `data_stream.namespace` is `default` (the data stream's namespace is a deployment setting);
//! - `event.ingested`, `event.created` and `@timestamp`'s ingest-time fallback are not available
//!   (there is no ingest).

pub mod categories;
pub mod computed;
pub mod java;

use serde_json::{Map, Value};

pub use computed::{Computed, Payload};

use crate::json::Json;

/// Where an ECS field's values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Always this string.
    Constant(&'static str),
    /// The raw record's field at this dotted path (arrays entered), as keyword text.
    Raw(&'static str),
    /// `event.category`, from the categorisation table.
    Category,
    /// `event.type`, from the categorisation table.
    Type,
    /// Computed from the record.
    Computed(Computed),
    /// `aws.cloudtrail.flattened.<payload>.<rest>`: the leaves under `<payload raw key>.<rest>`,
    /// as keyword text, when the flattened copy is made.
    Flattened(Payload, Vec<String>),
    /// Not computable from the record alone; why.
    Unavailable(&'static str),
}

/// The fields with a fixed name, in the order `trailtag ecs` writes them.
pub const FIELDS: &[(&str, Source)] = &[
    ("@timestamp", Source::Raw("eventTime")),
    ("ecs.version", Source::Constant("8.11.0")),
    ("data_stream.dataset", Source::Constant("aws.cloudtrail")),
    ("data_stream.type", Source::Constant("logs")),
    ("data_stream.namespace", Source::Constant("default")),
    ("event.dataset", Source::Constant("aws.cloudtrail")),
    ("event.module", Source::Constant("aws")),
    ("event.kind", Source::Constant("event")),
    ("event.provider", Source::Raw("eventSource")),
    ("event.action", Source::Raw("eventName")),
    ("event.id", Source::Raw("eventID")),
    ("event.outcome", Source::Computed(Computed::Outcome)),
    ("event.category", Source::Category),
    ("event.type", Source::Type),
    ("aws.cloudtrail.event_version", Source::Raw("eventVersion")),
    (
        "aws.cloudtrail.event_category",
        Source::Raw("eventCategory"),
    ),
    ("aws.cloudtrail.event_type", Source::Raw("eventType")),
    ("aws.cloudtrail.api_version", Source::Raw("apiVersion")),
    (
        "aws.cloudtrail.management_event",
        Source::Raw("managementEvent"),
    ),
    ("aws.cloudtrail.read_only", Source::Raw("readOnly")),
    ("aws.cloudtrail.request_id", Source::Raw("requestID")),
    (
        "aws.cloudtrail.recipient_account_id",
        Source::Raw("recipientAccountId"),
    ),
    (
        "aws.cloudtrail.vpc_endpoint_id",
        Source::Raw("vpcEndpointId"),
    ),
    (
        "aws.cloudtrail.session_credential_from_console",
        Source::Raw("sessionCredentialFromConsole"),
    ),
    ("aws.cloudtrail.error_code", Source::Raw("errorCode")),
    ("aws.cloudtrail.error_message", Source::Raw("errorMessage")),
    (
        "aws.cloudtrail.user_identity.type",
        Source::Raw("userIdentity.type"),
    ),
    (
        "aws.cloudtrail.user_identity.arn",
        Source::Raw("userIdentity.arn"),
    ),
    (
        "aws.cloudtrail.user_identity.access_key_id",
        Source::Raw("userIdentity.accessKeyId"),
    ),
    (
        "aws.cloudtrail.user_identity.invoked_by",
        Source::Raw("userIdentity.invokedBy"),
    ),
    (
        "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
        Source::Raw("userIdentity.sessionContext.attributes.mfaAuthenticated"),
    ),
    (
        "aws.cloudtrail.user_identity.session_context.creation_date",
        Source::Raw("userIdentity.sessionContext.attributes.creationDate"),
    ),
    (
        "aws.cloudtrail.user_identity.session_context.session_issuer.type",
        Source::Raw("userIdentity.sessionContext.sessionIssuer.type"),
    ),
    (
        "aws.cloudtrail.user_identity.session_context.session_issuer.principal_id",
        Source::Raw("userIdentity.sessionContext.sessionIssuer.principalId"),
    ),
    (
        "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
        Source::Raw("userIdentity.sessionContext.sessionIssuer.arn"),
    ),
    (
        "aws.cloudtrail.user_identity.session_context.session_issuer.account_id",
        Source::Raw("userIdentity.sessionContext.sessionIssuer.accountId"),
    ),
    (
        "aws.cloudtrail.request_parameters",
        Source::Computed(Computed::PayloadString(Payload::RequestParameters)),
    ),
    (
        "aws.cloudtrail.response_elements",
        Source::Computed(Computed::PayloadString(Payload::ResponseElements)),
    ),
    (
        "aws.cloudtrail.additional_eventdata",
        Source::Computed(Computed::PayloadString(Payload::AdditionalEventData)),
    ),
    (
        "aws.cloudtrail.service_event_details",
        Source::Computed(Computed::PayloadString(Payload::ServiceEventDetails)),
    ),
    ("aws.cloudtrail.resources.arn", Source::Raw("resources.ARN")),
    (
        "aws.cloudtrail.resources.account_id",
        Source::Raw("resources.accountId"),
    ),
    (
        "aws.cloudtrail.resources.type",
        Source::Raw("resources.type"),
    ),
    (
        "aws.cloudtrail.console_login.additional_eventdata.mfa_used",
        Source::Computed(Computed::ConsoleLoginMfaUsed),
    ),
    (
        "aws.cloudtrail.console_login.additional_eventdata.mobile_version",
        Source::Computed(Computed::ConsoleLoginMobileVersion),
    ),
    (
        "aws.cloudtrail.console_login.additional_eventdata.login_to",
        Source::Computed(Computed::ConsoleLoginLoginTo),
    ),
    (
        "cloud.account.id",
        Source::Computed(Computed::CloudAccountId),
    ),
    ("cloud.region", Source::Raw("awsRegion")),
    ("source.address", Source::Raw("sourceIPAddress")),
    ("source.ip", Source::Computed(Computed::SourceIp)),
    ("user_agent.original", Source::Raw("userAgent")),
    ("user.id", Source::Computed(Computed::UserId)),
    ("user.name", Source::Computed(Computed::UserName)),
    ("user.email", Source::Computed(Computed::UserEmail)),
    (
        "user.changes.name",
        Source::Computed(Computed::UserChangesName),
    ),
    (
        "user.target.id",
        Source::Raw("responseElements.user.userId"),
    ),
    (
        "user.target.name",
        Source::Raw("requestParameters.userName"),
    ),
    ("related.user", Source::Computed(Computed::RelatedUser)),
    ("group.id", Source::Raw("responseElements.group.groupId")),
    ("group.name", Source::Raw("requestParameters.groupName")),
    (
        "tls.version_protocol",
        Source::Computed(Computed::TlsVersionProtocol),
    ),
    ("tls.version", Source::Computed(Computed::TlsVersion)),
    ("tls.cipher", Source::Computed(Computed::TlsCipher)),
    (
        "tls.client.server_name",
        Source::Computed(Computed::TlsServerName),
    ),
];

/// Prefixes of fields that need data from outside the record, and what.
const UNAVAILABLE: &[(&str, &str)] = &[
    ("source.geo.", "GeoIP data (a MaxMind City database)"),
    ("source.as.", "GeoIP data (a MaxMind ASN database)"),
    ("user_agent.", "the user-agent parser (uap-core)"),
    (
        "related.entity",
        "the entity enrichment (`actor_target_mapping`)",
    ),
    ("entity.", "the entity enrichment (`actor_target_mapping`)"),
    (
        "actor.entity.",
        "the entity enrichment (`actor_target_mapping`)",
    ),
    (
        "target.entity.",
        "the entity enrichment (`actor_target_mapping`)",
    ),
    ("event.ingested", "an ingest time"),
    ("event.created", "an ingest time"),
];

/// Where the ECS field `name` comes from; `None` for a name the view does not have.
pub fn source(name: &str) -> Option<Source> {
    if let Some((_, source)) = FIELDS.iter().find(|(field, _)| *field == name) {
        return Some(source.clone());
    }
    if let Some(flattened) = flattened(name) {
        return Some(flattened);
    }
    UNAVAILABLE
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix) || name == prefix.trim_end_matches('.'))
        .map(|(_, why)| Source::Unavailable(why))
}

fn flattened(name: &str) -> Option<Source> {
    let rest = name.strip_prefix("aws.cloudtrail.flattened.")?;
    let (key, path) = rest.split_once('.').unwrap_or((rest, ""));
    let payload = Payload::from_ecs_key(key)?;
    let segments: Vec<String> = path
        .split('.')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    Some(Source::Flattened(payload, segments))
}

/// The ECS document the pipeline would index for `root`, as people read it: nested objects,
/// keys sorted, the flattened payload copies included.
pub fn document(root: &Json<'_>) -> Value {
    let mut doc = Map::new();
    for (name, source) in FIELDS {
        if let Some(value) = values_for_people(root, source) {
            insert_dotted(&mut doc, name, value);
        }
    }
    for payload in Payload::ALL {
        if payload.has_flattened_copy(root) {
            let raw = root.get(payload.raw_key()).and_then(cleaned);
            if let Some(raw) = raw {
                let name = format!("aws.cloudtrail.flattened.{}", payload.ecs_key());
                insert_dotted(&mut doc, &name, raw);
            }
        }
    }
    Value::Object(doc)
}

/// A field's value in the document: a string, or a list when it has several (or is a list).
fn values_for_people(root: &Json<'_>, source: &Source) -> Option<Value> {
    match source {
        Source::Constant(value) => Some(Value::from(*value)),
        Source::Raw(path) => raw_values(root, path),
        Source::Category => {
            let row = action(root).and_then(categories::row_of)?;
            Some(strings(row.categories))
        }
        Source::Type => {
            let types = match action(root).and_then(categories::row_of) {
                Some(row) => row.types,
                None => categories::DEFAULT_TYPES,
            };
            (!types.is_empty()).then(|| strings(types))
        }
        Source::Computed(computed) => {
            let values: Vec<Value> = computed.values(root).iter().filter_map(cleaned).collect();
            match (*computed, values.len()) {
                (_, 0) => None,
                (Computed::RelatedUser, _) => Some(Value::Array(values)),
                (_, _) => values.into_iter().next(),
            }
        }
        Source::Flattened(..) | Source::Unavailable(_) => None,
    }
}

/// The record's action as the pipeline reads it (`eventName`, unless the clean-up removes it).
pub fn action<'r>(root: &'r Json<'_>) -> Option<&'r str> {
    computed::text_at(root, "eventName")
}

fn strings(values: &[&str]) -> Value {
    Value::Array(values.iter().map(|v| Value::from(*v)).collect())
}

/// The cleaned value at a raw path, arrays entered along the way (their values collected).
fn raw_values(root: &Json<'_>, path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut found = Vec::new();
    collect(root, &segments, &mut found);
    match found.len() {
        0 => None,
        1 => found.pop(),
        _ => Some(Value::Array(found)),
    }
}

fn collect(node: &Json<'_>, segments: &[&str], found: &mut Vec<Value>) {
    match (node, segments) {
        (Json::Array(items), [_, ..]) => items.iter().for_each(|i| collect(i, segments, found)),
        (_, []) => found.extend(cleaned(node)),
        (Json::Object(_), [key, rest @ ..]) => {
            if let Some(child) = node.get(key) {
                collect(child, rest, found);
            }
        }
        _ => {}
    }
}

/// A value after the clean-up, as `serde_json`; `None` when nothing is left.
pub fn cleaned(value: &Json<'_>) -> Option<Value> {
    if java::is_removed_scalar(value) {
        return None;
    }
    match value {
        Json::Object(members) => {
            let mut map = Map::new();
            for (key, member) in members {
                match cleaned(member) {
                    Some(v) => map.insert(key.to_string(), v),
                    None => map.remove(key.as_ref()),
                };
            }
            (!map.is_empty()).then_some(Value::Object(map))
        }
        Json::Array(items) => {
            let kept: Vec<Value> = items.iter().filter_map(cleaned).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => serde_json::to_value(other).ok(),
    }
}

/// Inserts `value` at a dotted name, creating the objects on the way.
fn insert_dotted(doc: &mut Map<String, Value>, name: &str, value: Value) {
    let mut segments: Vec<&str> = name.split('.').collect();
    let Some(last) = segments.pop() else {
        return;
    };
    let mut node = doc;
    for segment in segments {
        let entry = node
            .entry(segment.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(map) = entry else {
            return;
        };
        node = map;
    }
    node.insert(last.to_owned(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRUST_ANCHOR: &str = r#"{"eventSource":"rolesanywhere.amazonaws.com","eventName":"CreateTrustAnchor","awsRegion":"us-east-1","eventCategory":"Management","eventType":"AwsApiCall","readOnly":false,"recipientAccountId":"000000000","requestParameters":{"enabled":false,"name":"cloudtrail-test","source":{"sourceData":{"acmPcaArn":"arn:aws:acm-pca:us-east-1:000000000:certificate-authority/83dcb5a2"},"sourceType":"AWS_ACM_PCA"}},"sourceIPAddress":"216.160.83.56","userAgent":"aws-cli/2.17.60","userIdentity":{"accessKeyId":"ACCESSKEYID","accountId":"000000000","arn":"arn:aws:iam::000000000:user/test@elastic.co","principalId":"PRINCIPALID","type":"IAMUser","userName":"test@elastic.co"},"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"rolesanywhere.us-east-1.amazonaws.com"}}"#;

    fn doc(record: &str) -> Value {
        document(&Json::parse(record.as_bytes()).unwrap())
    }

    #[test]
    fn the_trust_anchor_record_becomes_the_pipeline_tests_document() {
        let d = doc(TRUST_ANCHOR);
        assert_eq!(d["event"]["provider"], "rolesanywhere.amazonaws.com");
        assert_eq!(d["event"]["action"], "CreateTrustAnchor");
        assert_eq!(d["event"]["outcome"], "success");
        assert_eq!(d["event"]["kind"], "event");
        assert_eq!(d["event"]["type"], serde_json::json!(["info"]));
        assert!(d["event"].get("category").is_none());
        assert_eq!(d["data_stream"]["dataset"], "aws.cloudtrail");
        assert_eq!(
            d["aws"]["cloudtrail"]["request_parameters"],
            "{name=cloudtrail-test, source={sourceType=AWS_ACM_PCA, sourceData={acmPcaArn=arn:aws:acm-pca:us-east-1:000000000:certificate-authority/83dcb5a2}}, enabled=false}"
        );
        assert_eq!(
            d["aws"]["cloudtrail"]["flattened"]["request_parameters"]["source"]["sourceType"],
            "AWS_ACM_PCA"
        );
        assert_eq!(d["user"]["id"], "PRINCIPALID");
        assert_eq!(d["user"]["name"], "test@elastic.co");
        assert_eq!(d["user"]["email"], "test@elastic.co");
        assert_eq!(
            d["related"]["user"],
            serde_json::json!(["PRINCIPALID", "test@elastic.co"])
        );
        assert_eq!(d["cloud"]["account"]["id"], "000000000");
        assert_eq!(d["source"]["ip"], "216.160.83.56");
        assert_eq!(d["tls"]["version_protocol"], "tls");
        assert_eq!(d["tls"]["version"], "1.3");
        assert_eq!(
            d["tls"]["client"]["server_name"],
            "rolesanywhere.us-east-1.amazonaws.com"
        );
        assert_eq!(d["aws"]["cloudtrail"]["read_only"], false);
    }

    #[test]
    fn categories_come_from_the_table() {
        let d = doc(r#"{"eventName":"CreateGroup","errorCode":"EntityAlreadyExistsException"}"#);
        assert_eq!(d["event"]["category"], serde_json::json!(["iam"]));
        assert_eq!(d["event"]["type"], serde_json::json!(["group", "creation"]));
        assert_eq!(d["event"]["outcome"], "failure");
        let publish = doc(r#"{"eventName":"Publish"}"#);
        assert!(
            publish["event"].get("type").is_none(),
            "an empty type is removed"
        );
    }

    #[test]
    fn names_resolve_to_sources() {
        assert_eq!(source("event.action"), Some(Source::Raw("eventName")));
        assert_eq!(
            source("aws.cloudtrail.flattened.request_parameters.ipPermissions.items.fromPort"),
            Some(Source::Flattened(
                Payload::RequestParameters,
                vec!["ipPermissions".into(), "items".into(), "fromPort".into()]
            ))
        );
        assert!(matches!(
            source("source.as.organization.name"),
            Some(Source::Unavailable(_))
        ));
        assert!(matches!(
            source("user_agent.name"),
            Some(Source::Unavailable(_))
        ));
        assert_eq!(
            source("user_agent.original"),
            Some(Source::Raw("userAgent"))
        );
        assert_eq!(source("event.nonsense"), None);
    }
}
