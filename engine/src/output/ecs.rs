//! Elastic Common Schema alert fields: a matching record becomes an ECS alert that Elastic shows
//! without an ingest pipeline (its External Alerts rule promotes any document with
//! `event.kind: alert`, reading `event.severity`, `event.risk_score` and `message`).
//!
//! ```text
//! {...,"rule":{"id":...,"name":...,"reference":...,"ruleset":"trailtag"},
//!      "threat":{"framework":"MITRE ATT&CK","tactic":{"id":[...],"name":[...],"reference":[...]},
//!                "technique":{"id":[...],...,"subtechnique":{"id":[...],...}}},
//!      "event":{<the producer's members>,"kind":"alert","severity":47,"risk_score":47.0,...},
//!      "tags":[<the producer's tags>,"trailtag","trailtag:<rule id>"],
//!      "@timestamp":...,"message":...,"cloud":{...},"user":{...},"source":{...},"user_agent":{...}}
//! ```
//!
//! Three kinds of members, so that the record may already be an ECS document (Elastic's AWS
//! integration writes `event`, `tags`, `cloud`, `source`, `user` ...):
//! - **owned**, `rule` and `threat`: this pass's claim that a rule matched. Removed from every
//!   record that arrives with them, like a foreign `trailtag` member, and written on a match.
//! - **merged**, `event` and `tags`: the producer's, with ours merged in. On a match `event`
//!   gets the four members this format sets (`kind`, `severity`, `risk_score`,
//!   `risk_score_norm`), then the producer's other members (bytes as they came), then `action`,
//!   `provider` and `id` where the producer has none; `tags` keeps the producer's tags except
//!   those that claim to be ours (`trailtag`, `trailtag:*`), and ours follow.
//! - **filled**, `@timestamp`, `message`, `cloud`, `user`, `source`, `user_agent`: the
//!   producer's value when the record has one (a mapped document's own values win), ours
//!   otherwise.
//!
//! On a match the merged and filled members move after the owned ones, at the end of the
//! record, so that tagging twice gives the bytes of tagging once; records that match nothing
//! keep them untouched, where they were.
//!
//! `rule.*` is single-valued in ECS, so it describes the primary detection (highest severity,
//! then risk score, first in rule order); every matching rule is named in `tags`, and `threat.*`
//! (arrays in ECS) joins every matching rule's ATT&CK mappings, each id once, in rule order.
//! `docs/tag-formats.md` has the field table.

use serde::Serialize;

use super::TagWriter;
use super::fields::{EventFields, context_string, highest, is_ip, primary};
use super::splice::{Members, member_key};
use crate::findings::Detection;
use crate::rule::{RuleFormat, RuleMeta, Severity, Threat};
use crate::scan::bytes::{object_members, skip_ws};

/// The members this format owns.
pub const OWNED_KEYS: &[&str] = &["rule", "threat"];

/// The producer's members this format merges into, or keeps in place of its own.
pub const MERGED_KEYS: &[&str] = &[
    "event",
    "tags",
    "@timestamp",
    "message",
    "cloud",
    "user",
    "source",
    "user_agent",
];

/// The `event` members this format sets, replacing the producer's.
const SET_EVENT_KEYS: &[&str] = &["kind", "severity", "risk_score", "risk_score_norm"];

/// The tag every ECS alert of trailtag's carries; each rule adds `trailtag:<id>`.
pub const TAG: &str = "trailtag";

/// `event.severity` for each severity: the values Elastic's External Alerts rule maps to its
/// own low, medium, high and critical; Elastic has no informational severity, so informational
/// detections are low there (their `event.risk_score` stays below 21).
pub fn event_severity(severity: Severity) -> i64 {
    match severity {
        Severity::Informational | Severity::Low => 21,
        Severity::Medium => 47,
        Severity::High => 73,
        Severity::Critical => 99,
    }
}

/// The ECS writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct EcsTag;

impl TagWriter for EcsTag {
    fn owned_keys(&self) -> &[&str] {
        OWNED_KEYS
    }

    fn merged_keys(&self) -> &[&str] {
        MERGED_KEYS
    }

    fn write_members(&self, record: &[u8], detection: &Detection<'_>, out: &mut Members<'_>) {
        let Some(rule) = primary(detection) else {
            return;
        };
        let existing = Existing::of(record);
        let event = EventFields::read(record);
        out.serialized("rule", &EcsRule::of(rule));
        if let Some(threat) = EcsThreat::of(detection) {
            out.serialized("threat", &threat);
        }
        out.member("event", |o| {
            write_event(existing.get("event"), &event, detection, o)
        });
        out.member("tags", |o| write_tags(existing.get("tags"), detection, o));
        write_filled(&existing, &event, detection, out);
    }
}

/// The producer's values of the merged members (the first of each name), as bytes.
struct Existing<'r> {
    values: Vec<(&'static str, &'r [u8])>,
}

impl<'r> Existing<'r> {
    fn of(record: &'r [u8]) -> Self {
        let mut values: Vec<(&'static str, &'r [u8])> = Vec::new();
        for member in object_members(record) {
            let Some(key) = member_key(record, &member) else {
                continue;
            };
            let Some(&merged) = MERGED_KEYS.iter().find(|k| **k == key) else {
                continue;
            };
            if values.iter().all(|(k, _)| *k != merged) {
                let colon = skip_ws(record, member.key_end);
                values.push((merged, &record[skip_ws(record, colon + 1)..member.end]));
            }
        }
        Existing { values }
    }

    fn get(&self, key: &str) -> Option<&'r [u8]> {
        self.values.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

#[derive(Serialize)]
struct EcsRule<'m> {
    id: &'m str,
    name: &'m str,
    #[serde(skip_serializing_if = "str::is_empty")]
    description: &'m str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'m str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    author: &'m [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    license: Option<&'m str>,
    ruleset: &'static str,
}

impl<'m> EcsRule<'m> {
    fn of(meta: &'m RuleMeta) -> Self {
        Self {
            id: &meta.id,
            name: &meta.name,
            description: meta.description.trim(),
            reference: meta.references.first().map(String::as_str),
            author: &meta.author,
            license: meta.license.as_deref(),
            ruleset: match meta.format {
                RuleFormat::Native => "trailtag",
                RuleFormat::Sigma => "sigma",
                RuleFormat::Elastic => "elastic",
            },
        }
    }
}

/// Parallel arrays of ids, names and references, each id once.
#[derive(Serialize, Default)]
struct Entries<'m> {
    id: Vec<&'m str>,
    name: Vec<&'m str>,
    reference: Vec<&'m str>,
}

impl<'m> Entries<'m> {
    fn add(&mut self, id: &'m str, name: &'m str, reference: &'m str) {
        if !self.id.contains(&id) {
            self.id.push(id);
            self.name.push(name);
            self.reference.push(reference);
        }
    }
}

#[derive(Serialize)]
struct EcsTechnique<'m> {
    #[serde(flatten)]
    entries: Entries<'m>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subtechnique: Option<Entries<'m>>,
}

#[derive(Serialize)]
struct EcsThreat<'m> {
    framework: &'m str,
    tactic: Entries<'m>,
    #[serde(skip_serializing_if = "Option::is_none")]
    technique: Option<EcsTechnique<'m>>,
}

impl<'m> EcsThreat<'m> {
    /// Every matching rule's mappings joined; `None` when no rule has any.
    fn of(detection: &Detection<'m>) -> Option<Self> {
        let threats: Vec<&'m Threat> = detection.rules().flat_map(|r| &r.threat).collect();
        let framework = threats.first()?.framework.as_str();
        let (mut tactic, mut technique, mut sub) = Default::default();
        for threat in threats {
            add_threat(threat, &mut tactic, &mut technique, &mut sub);
        }
        Some(Self {
            framework,
            tactic,
            technique: (!technique.id.is_empty()).then(|| EcsTechnique {
                entries: technique,
                subtechnique: (!sub.id.is_empty()).then_some(sub),
            }),
        })
    }
}

fn add_threat<'m>(
    threat: &'m Threat,
    tactic: &mut Entries<'m>,
    technique: &mut Entries<'m>,
    sub: &mut Entries<'m>,
) {
    let t = &threat.tactic;
    tactic.add(&t.id, &t.name, &t.reference);
    for tech in &threat.technique {
        technique.add(&tech.id, &tech.name, &tech.reference);
        for s in &tech.subtechnique {
            sub.add(&s.id, &s.name, &s.reference);
        }
    }
}

/// `event`: the producer's members but the ones set here, then ours, then the event's own
/// fields the producer's lacks.
fn write_event(
    producer: Option<&[u8]>,
    event: &EventFields,
    detection: &Detection<'_>,
    out: &mut Vec<u8>,
) {
    let (severity, risk) = highest(detection);
    let risk = f64::from(risk);
    out.push(b'{');
    let mut members = Members::new(out, false);
    members.serialized("kind", &"alert");
    members.serialized("severity", &event_severity(severity));
    members.serialized("risk_score", &risk);
    members.serialized("risk_score_norm", &risk);
    let mut kept = Vec::new();
    if let Some(object) = producer.filter(|v| v.first() == Some(&b'{')) {
        for member in object_members(object) {
            let key = member_key(object, &member).unwrap_or_default();
            if !SET_EVENT_KEYS.contains(&key.as_str()) {
                members.raw(&object[member.start..member.end]);
                kept.push(key);
            }
        }
    }
    let own = [
        ("action", &event.name),
        ("provider", &event.source),
        ("id", &event.id),
    ];
    for (key, value) in own {
        if let Some(value) = value.as_ref().filter(|_| !kept.iter().any(|k| k == key)) {
            members.serialized(key, value);
        }
    }
    out.push(b'}');
}

/// `tags`: the producer's, less any that claim to be ours, then ours.
fn write_tags(producer: Option<&[u8]>, detection: &Detection<'_>, out: &mut Vec<u8>) {
    let mut tags: Vec<serde_json::Value> = match producer.map(serde_json::from_slice) {
        Some(Ok(serde_json::Value::Array(items))) => items,
        Some(Ok(single @ serde_json::Value::String(_))) => vec![single],
        _ => Vec::new(),
    };
    tags.retain(|tag| !tag.as_str().is_some_and(claims_to_be_ours));
    tags.push(TAG.into());
    tags.extend(detection.rules().map(|r| format!("{TAG}:{}", r.id).into()));
    // Serialising plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &tags);
}

fn claims_to_be_ours(tag: &str) -> bool {
    tag == TAG
        || tag
            .strip_prefix(TAG)
            .is_some_and(|rest| rest.starts_with(':'))
}

#[derive(Serialize)]
struct Cloud {
    provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Id>,
}

#[derive(Serialize)]
struct Id {
    id: String,
}

#[derive(Serialize)]
struct Name {
    name: String,
}

#[derive(Serialize)]
struct Source {
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
}

#[derive(Serialize)]
struct UserAgent {
    original: String,
}

/// The members written only where the record has none of that name.
fn write_filled(
    existing: &Existing<'_>,
    event: &EventFields,
    detection: &Detection<'_>,
    out: &mut Members<'_>,
) {
    let context = |name| context_string(detection, name);
    let mut fill = |key: &str, ours: Option<serde_json::Value>| match (existing.get(key), ours) {
        (Some(producer), _) => out.member(key, |o| o.extend_from_slice(producer)),
        (None, Some(ours)) => out.serialized(key, &ours),
        (None, None) => {}
    };
    fill("@timestamp", event.time.clone().map(Into::into));
    let names: Vec<&str> = detection.rules().map(|r| r.name.as_str()).collect();
    fill("message", Some(names.join("; ").into()));
    let (region, account) = (context("region"), context("account_id"));
    let cloud = (region.is_some() || account.is_some()).then(|| Cloud {
        provider: "aws",
        region,
        account: account.map(|id| Id { id }),
    });
    fill("cloud", cloud.and_then(to_value));
    fill(
        "user",
        context("user_name")
            .map(|name| Name { name })
            .and_then(to_value),
    );
    let source = context("source_ip").map(|address| Source {
        ip: is_ip(&address).then(|| address.clone()),
        address,
    });
    fill("source", source.and_then(to_value));
    let agent = context("user_agent").map(|original| UserAgent { original });
    fill("user_agent", agent.and_then(to_value));
}

fn to_value(value: impl Serialize) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}
