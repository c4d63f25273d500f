//! Documents that already carry a CloudTrail record in another schema: ECS, as Elastic's AWS
//! integration writes it, and OCSF, as Amazon Security Lake writes it. The rules were written
//! against raw CloudTrail names, so such a document is read through a *projection*: the raw
//! record its fields correspond to, rebuilt with the field correspondence of
//! `../shared/spec/ecs-mapping.md` (section 3) and `rules-and-fields.md` §6.5 (OCSF 1.1.0 API
//! Activity). Every rule (built-in, Sigma, Elastic through its own ECS view) then decides the
//! projection, and the tag is written into the document itself.
//!
//! An ECS document with `event.original` (the integration's `preserve_original_event`) is
//! projected exactly: the original record. Without it, what the integration dropped cannot
//! come back: CloudTrail keys it does not index, and the payload objects when only their
//! string renderings (`aws.cloudtrail.request_parameters`) are kept rather than the `flattened`
//! copies. Rules over those fields cannot fire on such documents; docs/ingest.md lists them.
//! A `trailtag` member the document arrived with is carried into the projection, so that a
//! forged tag is found and removed as on a bare record.

use serde_json::{Map, Value};

use crate::findings::TAG_KEY;

/// How a document's fields map back to a raw record: `(raw path, document path)`.
type Correspondence = &'static [(&'static str, &'static str)];

/// ECS (Elastic's `aws.cloudtrail` integration) → CloudTrail.
const ECS: Correspondence = &[
    ("eventSource", "event.provider"),
    ("eventName", "event.action"),
    ("eventID", "event.id"),
    ("eventTime", "@timestamp"),
    ("awsRegion", "cloud.region"),
    ("sourceIPAddress", "source.address"),
    ("userAgent", "user_agent.original"),
    ("errorCode", "aws.cloudtrail.error_code"),
    ("errorMessage", "aws.cloudtrail.error_message"),
    ("eventVersion", "aws.cloudtrail.event_version"),
    ("eventType", "aws.cloudtrail.event_type"),
    ("eventCategory", "aws.cloudtrail.event_category"),
    ("apiVersion", "aws.cloudtrail.api_version"),
    ("readOnly", "aws.cloudtrail.read_only"),
    ("requestID", "aws.cloudtrail.request_id"),
    ("recipientAccountId", "aws.cloudtrail.recipient_account_id"),
    ("vpcEndpointId", "aws.cloudtrail.vpc_endpoint_id"),
    (
        "sessionCredentialFromConsole",
        "aws.cloudtrail.session_credential_from_console",
    ),
    ("userIdentity.type", "aws.cloudtrail.user_identity.type"),
    ("userIdentity.arn", "aws.cloudtrail.user_identity.arn"),
    (
        "userIdentity.accessKeyId",
        "aws.cloudtrail.user_identity.access_key_id",
    ),
    (
        "userIdentity.invokedBy",
        "aws.cloudtrail.user_identity.invoked_by",
    ),
    ("userIdentity.accountId", "cloud.account.id"),
    ("userIdentity.principalId", "user.id"),
    (
        "userIdentity.sessionContext.attributes.mfaAuthenticated",
        "aws.cloudtrail.user_identity.session_context.mfa_authenticated",
    ),
    (
        "userIdentity.sessionContext.attributes.creationDate",
        "aws.cloudtrail.user_identity.session_context.creation_date",
    ),
    (
        "userIdentity.sessionContext.sessionIssuer.type",
        "aws.cloudtrail.user_identity.session_context.session_issuer.type",
    ),
    (
        "userIdentity.sessionContext.sessionIssuer.principalId",
        "aws.cloudtrail.user_identity.session_context.session_issuer.principal_id",
    ),
    (
        "userIdentity.sessionContext.sessionIssuer.arn",
        "aws.cloudtrail.user_identity.session_context.session_issuer.arn",
    ),
    (
        "userIdentity.sessionContext.sessionIssuer.accountId",
        "aws.cloudtrail.user_identity.session_context.session_issuer.account_id",
    ),
    (
        "requestParameters",
        "aws.cloudtrail.flattened.request_parameters",
    ),
    (
        "responseElements",
        "aws.cloudtrail.flattened.response_elements",
    ),
    (
        "additionalEventData",
        "aws.cloudtrail.flattened.additional_eventdata",
    ),
    (
        "serviceEventDetails",
        "aws.cloudtrail.flattened.service_event_details",
    ),
    ("tlsDetails.cipherSuite", "tls.cipher"),
    (
        "tlsDetails.clientProvidedHostHeader",
        "tls.client.server_name",
    ),
];

/// OCSF 1.1.0 API Activity (Security Lake) → CloudTrail.
const OCSF: Correspondence = &[
    ("eventSource", "api.service.name"),
    ("eventName", "api.operation"),
    ("errorCode", "api.response.error"),
    ("errorMessage", "api.response.message"),
    ("requestParameters", "api.request.data"),
    ("responseElements", "api.response.data"),
    ("requestID", "api.request.uid"),
    ("apiVersion", "api.version"),
    ("userIdentity.type", "actor.user.type"),
    ("userIdentity.arn", "actor.user.uid"),
    ("userIdentity.principalId", "actor.user.uid_alt"),
    ("userIdentity.userName", "actor.user.name"),
    ("userIdentity.accountId", "actor.user.account.uid"),
    ("userIdentity.accessKeyId", "actor.user.credential_uid"),
    (
        "userIdentity.sessionContext.attributes.creationDate",
        "actor.session.created_time_dt",
    ),
    (
        "userIdentity.sessionContext.sessionIssuer.arn",
        "actor.session.issuer",
    ),
    ("userIdentity.invokedBy", "actor.invoked_by"),
    ("vpcEndpointId", "src_endpoint.uid"),
    ("userAgent", "http_request.user_agent"),
    ("awsRegion", "cloud.region"),
    ("eventTime", "time_dt"),
    ("eventID", "metadata.uid"),
    ("eventVersion", "metadata.product.version"),
    ("eventType", "metadata.event_code"),
    ("eventCategory", "metadata.product.feature.name"),
];

/// Which schema a document is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// Elastic Common Schema.
    Ecs,
    /// Open Cybersecurity Schema Framework.
    Ocsf,
}

/// What a document in another schema stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// The raw CloudTrail record it corresponds to, as JSON text.
    pub record: Vec<u8>,
    /// Whether that record names its service (`eventSource`, from ECS's `event.provider` or
    /// OCSF's `api.service.name`): an ECS document of another dataset (an application's log
    /// with an `event.action`) is read the same way but does not count as CloudTrail.
    pub cloudtrail: bool,
}

/// The raw CloudTrail record `doc` (in `schema`) corresponds to.
pub fn project(doc: &[u8], schema: Schema) -> Result<Projection, String> {
    let document: Value =
        serde_json::from_slice(doc).map_err(|e| format!("a document that cannot be read: {e}"))?;
    let mut record = match schema {
        Schema::Ecs => ecs_record(&document)?,
        Schema::Ocsf => ocsf_record(&document),
    };
    let cloudtrail = record.get("eventSource").is_some_and(Value::is_string);
    if let Some(tag) = document.get(TAG_KEY) {
        record.insert(TAG_KEY.to_owned(), tag.clone());
    }
    let record = serde_json::to_vec(&Value::Object(record)).map_err(|e| e.to_string())?;
    Ok(Projection { record, cloudtrail })
}

fn ecs_record(document: &Value) -> Result<Map<String, Value>, String> {
    if let Some(original) = at(document, "event.original").and_then(Value::as_str) {
        return match serde_json::from_str(original) {
            Ok(Value::Object(record)) => Ok(record),
            _ => Err("event.original is not a JSON object".to_owned()),
        };
    }
    let mut record = corresponding(document, ECS);
    let identity_type = at(document, "aws.cloudtrail.user_identity.type").and_then(Value::as_str);
    if let Some(name) = at(document, "user.name") {
        // The integration writes the role's name to user.name for assumed roles and federated
        // users (from the session issuer), the user's own name otherwise.
        let path = match identity_type {
            Some("AssumedRole" | "FederatedUser") => {
                "userIdentity.sessionContext.sessionIssuer.userName"
            }
            _ => "userIdentity.userName",
        };
        set(&mut record, path, name.clone());
    }
    // A list of one is shown as its element, like every multi-valued ECS field.
    let resources = match at(document, "aws.cloudtrail.resources") {
        Some(Value::Array(resources)) => resources.iter().map(ecs_resource).collect(),
        Some(resource @ Value::Object(_)) => vec![ecs_resource(resource)],
        _ => Vec::new(),
    };
    if !resources.is_empty() {
        record.insert("resources".to_owned(), Value::Array(resources));
    }
    if at(document, "tls.version_protocol").and_then(Value::as_str) == Some("tls")
        && let Some(version) = at(document, "tls.version").and_then(Value::as_str)
    {
        set(
            &mut record,
            "tlsDetails.tlsVersion",
            format!("TLSv{version}").into(),
        );
    }
    if let Some(Value::String(flag)) = record.get("managementEvent").cloned() {
        record.insert("managementEvent".to_owned(), Value::Bool(flag == "true"));
    }
    Ok(record)
}

fn ecs_resource(resource: &Value) -> Value {
    let mut raw = Map::new();
    for (from, to) in [
        ("arn", "ARN"),
        ("account_id", "accountId"),
        ("type", "type"),
    ] {
        if let Some(value) = resource.get(from) {
            raw.insert(to.to_owned(), value.clone());
        }
    }
    Value::Object(raw)
}

fn ocsf_record(document: &Value) -> Map<String, Value> {
    let mut record = corresponding(document, OCSF);
    let source = at(document, "src_endpoint.ip").or_else(|| at(document, "src_endpoint.domain"));
    if let Some(source) = source {
        record.insert("sourceIPAddress".to_owned(), source.clone());
    }
    if let Some(mfa) = at(document, "actor.session.is_mfa").and_then(Value::as_bool) {
        set(
            &mut record,
            "userIdentity.sessionContext.attributes.mfaAuthenticated",
            mfa.to_string().into(),
        );
    }
    if let Some(resources) = at(document, "resources").and_then(Value::as_array) {
        let resources = resources.iter().map(ocsf_resource).collect();
        record.insert("resources".to_owned(), Value::Array(resources));
    }
    if let Some(Value::Object(unmapped)) = document.get("unmapped") {
        for (key, value) in unmapped {
            // Security Lake keeps unmapped CloudTrail members under their own (dotted) names;
            // what the mapped fields already wrote wins.
            merge(&mut record, key, value.clone());
        }
    }
    record
}

fn ocsf_resource(resource: &Value) -> Value {
    let mut raw = Map::new();
    let fields = [
        ("uid", "ARN"),
        ("account.uid", "accountId"),
        ("type", "type"),
    ];
    for (from, to) in fields {
        if let Some(value) = at(resource, from) {
            raw.insert(to.to_owned(), value.clone());
        }
    }
    Value::Object(raw)
}

/// The raw record with every field of `correspondence` that `document` has.
fn corresponding(document: &Value, correspondence: Correspondence) -> Map<String, Value> {
    let mut record = Map::new();
    for (raw, path) in correspondence {
        if let Some(value) = at(document, path).filter(|v| !v.is_null()) {
            set(&mut record, raw, value.clone());
        }
    }
    record
}

/// The value at a dotted path, through nested objects or dotted keys (Elasticsearch accepts
/// both spellings of a document).
fn at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let Value::Object(members) = value else {
        return None;
    };
    if let Some(found) = members.get(path) {
        return Some(found);
    }
    let mut split = path.match_indices('.').map(|(i, _)| i);
    split.find_map(|i| at(members.get(&path[..i])?, &path[i + 1..]))
}

/// Adds `value` at `path` without replacing anything there: objects are merged member by
/// member, and a value already present stays.
fn merge(record: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        Some((head, rest)) => {
            let child = record
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                merge(child, rest, value);
            }
        }
        None => merge_member(record, path, value),
    }
}

/// [`merge`] of one member, its name taken as it is (dots included).
fn merge_member(object: &mut Map<String, Value>, key: &str, value: Value) {
    match (object.get_mut(key), value) {
        (None, value) => {
            object.insert(key.to_owned(), value);
        }
        (Some(Value::Object(existing)), Value::Object(members)) => {
            for (name, member) in members {
                merge_member(existing, &name, member);
            }
        }
        (Some(_), _) => {}
    }
}

fn set(record: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            record.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = record
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(child) = child {
                set(child, rest, value);
            }
        }
    }
}
