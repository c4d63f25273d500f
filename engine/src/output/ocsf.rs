//! OCSF Detection Findings (class 2004, OCSF 1.1.0, the version Amazon Security Lake speaks) for
//! Security Lake consumers.
//!
//! A matching record gains one member, `detection_findings`: an array with one Detection Finding
//! per matching rule, in rule order, each a complete OCSF event that validates against the
//! schema of class 2004 on its own (with the `cloud` profile it declares).
//!
//! ```text
//! {...,"detection_findings":[{"activity_id":1,"category_uid":2,"class_uid":2004,"type_uid":200401,
//!     "severity_id":3,"status_id":1,"time":1714566896000,
//!     "metadata":{"version":"1.1.0","product":{"name":"trailtag",...},"profiles":["cloud"]},
//!     "finding_info":{"uid":"<eventID>:<rule id>","title":...,"analytic":{...},"attacks":[...]},
//!     "cloud":{"provider":"AWS",...},"api":{"operation":...},"evidences":[{"actor":...}]}]}
//! ```
//!
//! Why a member and not a record replaced by the finding: the record stays where every other
//! format leaves it (in place, inside whatever envelope carried it, byte for byte but for the
//! added member), records that match nothing are untouched, and the finding refers to its
//! evidence by being beside it rather than by copying it into `raw_data`. A consumer that
//! wants stand-alone findings takes the member's elements (`docs/tag-formats.md` shows how).
//! The member is owned: a record that arrives with one loses it.

use serde::Serialize;

use super::TagWriter;
use super::fields::{EventFields, context_string, epoch_millis, is_ip};
use super::splice::Members;
use crate::findings::Detection;
use crate::rule::{RuleMeta, Severity, Threat};

/// The member the findings are written under.
pub const FINDINGS_KEY: &str = "detection_findings";

/// The OCSF version the findings follow.
pub const OCSF_VERSION: &str = "1.1.0";

/// The OCSF writer.
#[derive(Debug, Clone, Copy, Default)]
pub struct OcsfTag;

impl TagWriter for OcsfTag {
    fn owned_keys(&self) -> &[&str] {
        &[FINDINGS_KEY]
    }

    fn write_members(&self, record: &[u8], detection: &Detection<'_>, out: &mut Members<'_>) {
        let event = EventFields::read(record);
        let shared = Shared::of(&event, detection);
        let findings: Vec<Finding<'_>> = detection
            .rules()
            .map(|rule| Finding::of(rule, &event, &shared))
            .collect();
        out.serialized(FINDINGS_KEY, &findings);
    }
}

/// `severity_id` and `severity` (OCSF: 1 Informational ... 5 Critical).
pub fn severity_id(severity: Severity) -> (u8, &'static str) {
    match severity {
        Severity::Informational => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

/// `risk_level_id` and `risk_level` (OCSF: 0 Info ... 4 Critical).
fn risk_level(severity: Severity) -> (u8, &'static str) {
    match severity {
        Severity::Informational => (0, "Info"),
        Severity::Low => (1, "Low"),
        Severity::Medium => (2, "Medium"),
        Severity::High => (3, "High"),
        Severity::Critical => (4, "Critical"),
    }
}

/// What every finding of one record shares: the event, its actor and its place.
struct Shared {
    time: i64,
    cloud: Cloud,
    api: Option<Api>,
    evidence: Option<Evidence>,
}

impl Shared {
    fn of(event: &EventFields, detection: &Detection<'_>) -> Self {
        let context = |name| context_string(detection, name);
        let account = context("account_id").map(Account::aws);
        let user = User {
            uid: context("actor_arn"),
            name: context("user_name"),
            r#type: context("actor_type"),
            credential_uid: context("access_key_id"),
            account: account.clone(),
        };
        let src_endpoint = context("source_ip").map(Endpoint::of);
        let has_user = user.uid.is_some() || user.name.is_some() || user.credential_uid.is_some();
        let evidence = (has_user || src_endpoint.is_some()).then(|| Evidence {
            actor: has_user.then_some(Actor { user }),
            src_endpoint,
        });
        Self {
            time: event.time.as_deref().and_then(epoch_millis).unwrap_or(0),
            cloud: Cloud {
                provider: "AWS",
                region: context("region"),
                account,
            },
            api: event.name.clone().map(|operation| Api {
                operation,
                service: event.source.clone().map(|name| Service { name }),
            }),
            evidence,
        }
    }
}

#[derive(Serialize)]
struct Finding<'a> {
    activity_id: u8,
    activity_name: &'static str,
    category_uid: u8,
    category_name: &'static str,
    class_uid: u32,
    class_name: &'static str,
    type_uid: u32,
    type_name: &'static str,
    severity_id: u8,
    severity: &'static str,
    status_id: u8,
    status: &'static str,
    time: i64,
    message: &'a str,
    risk_score: u8,
    risk_level_id: u8,
    risk_level: &'static str,
    metadata: Metadata,
    finding_info: FindingInfo<'a>,
    cloud: &'a Cloud,
    #[serde(skip_serializing_if = "Option::is_none")]
    api: Option<&'a Api>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    evidences: &'a [Evidence],
}

impl<'a> Finding<'a> {
    fn of(rule: &'a RuleMeta, event: &EventFields, shared: &'a Shared) -> Self {
        let (severity_id, severity) = severity_id(rule.severity);
        let (risk_level_id, risk_level) = risk_level(rule.severity);
        Self {
            activity_id: 1,
            activity_name: "Create",
            category_uid: 2,
            category_name: "Findings",
            class_uid: 2004,
            class_name: "Detection Finding",
            type_uid: 200_401,
            type_name: "Detection Finding: Create",
            severity_id,
            severity,
            status_id: 1,
            status: "New",
            time: shared.time,
            message: &rule.name,
            risk_score: rule.risk_score,
            risk_level_id,
            risk_level,
            metadata: Metadata::new(event.time.clone()),
            finding_info: FindingInfo::of(rule, event),
            cloud: &shared.cloud,
            api: shared.api.as_ref(),
            evidences: shared.evidence.as_slice(),
        }
    }
}

#[derive(Serialize)]
struct Metadata {
    version: &'static str,
    product: Product,
    profiles: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    original_time: Option<String>,
}

impl Metadata {
    fn new(original_time: Option<String>) -> Self {
        Self {
            version: OCSF_VERSION,
            product: Product {
                name: "trailtag",
                vendor_name: "trailtag",
                version: env!("CARGO_PKG_VERSION"),
            },
            profiles: ["cloud"],
            original_time,
        }
    }
}

#[derive(Serialize)]
struct Product {
    name: &'static str,
    vendor_name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct FindingInfo<'a> {
    uid: String,
    title: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    desc: &'a str,
    analytic: Analytic<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    attacks: Vec<Attack<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_url: Option<&'a str>,
    data_sources: [&'static str; 1],
}

impl<'a> FindingInfo<'a> {
    fn of(rule: &'a RuleMeta, event: &EventFields) -> Self {
        Self {
            uid: match &event.id {
                Some(id) => format!("{id}:{}", rule.id),
                None => rule.id.clone(),
            },
            title: &rule.name,
            desc: rule.description.trim(),
            analytic: Analytic {
                uid: &rule.id,
                name: &rule.name,
                type_id: 1,
                r#type: "Rule",
            },
            attacks: rule.threat.iter().flat_map(attacks).collect(),
            src_url: rule.references.first().map(String::as_str),
            data_sources: ["AWS CloudTrail"],
        }
    }
}

#[derive(Serialize)]
struct Analytic<'a> {
    uid: &'a str,
    name: &'a str,
    type_id: u8,
    r#type: &'static str,
}

/// An ATT&CK tactic, technique or sub-technique.
#[derive(Serialize)]
struct AttackEntry<'a> {
    uid: &'a str,
    name: &'a str,
    src_url: &'a str,
}

#[derive(Serialize)]
struct Attack<'a> {
    tactic: AttackEntry<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    technique: Option<AttackEntry<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub_technique: Option<AttackEntry<'a>>,
}

/// One OCSF attack per (tactic, technique, sub-technique) of a mapping.
fn attacks(threat: &Threat) -> Vec<Attack<'_>> {
    fn entry<'a>(uid: &'a str, name: &'a str, src_url: &'a str) -> AttackEntry<'a> {
        AttackEntry { uid, name, src_url }
    }
    let tactic = || {
        entry(
            &threat.tactic.id,
            &threat.tactic.name,
            &threat.tactic.reference,
        )
    };
    if threat.technique.is_empty() {
        return vec![Attack {
            tactic: tactic(),
            technique: None,
            sub_technique: None,
        }];
    }
    let mut all = Vec::new();
    for tech in &threat.technique {
        let technique = || Some(entry(&tech.id, &tech.name, &tech.reference));
        if tech.subtechnique.is_empty() {
            all.push(Attack {
                tactic: tactic(),
                technique: technique(),
                sub_technique: None,
            });
        }
        for sub in &tech.subtechnique {
            all.push(Attack {
                tactic: tactic(),
                technique: technique(),
                sub_technique: Some(entry(&sub.id, &sub.name, &sub.reference)),
            });
        }
    }
    all
}

#[derive(Serialize)]
struct Cloud {
    provider: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Account>,
}

#[derive(Serialize, Clone)]
struct Account {
    uid: String,
    type_id: u8,
    r#type: &'static str,
}

impl Account {
    fn aws(uid: String) -> Self {
        Self {
            uid,
            type_id: 10,
            r#type: "AWS Account",
        }
    }
}

#[derive(Serialize)]
struct Api {
    operation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<Service>,
}

#[derive(Serialize)]
struct Service {
    name: String,
}

#[derive(Serialize)]
struct Evidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    actor: Option<Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    src_endpoint: Option<Endpoint>,
}

#[derive(Serialize)]
struct Actor {
    user: User,
}

#[derive(Serialize)]
struct User {
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credential_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<Account>,
}

/// Where the call came from: `ip` for an address, `svc_name` for the service names CloudTrail
/// also writes there (`cloudformation.amazonaws.com`, `AWS Internal`; OCSF 1.1.0 does not accept
/// an endpoint with only a `domain`).
#[derive(Serialize)]
struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    svc_name: Option<String>,
}

impl Endpoint {
    fn of(address: String) -> Self {
        match is_ip(&address) {
            true => Self {
                ip: Some(address),
                svc_name: None,
            },
            false => Self {
                ip: None,
                svc_name: Some(address),
            },
        }
    }
}
