//! The native tag: one `trailtag` member whose schema `docs/tag-schema.md` documents.
//!
//! ```text
//! "trailtag":{"version":1,"severity":"medium","risk_score":47,
//!             "detections":[{"id":...,"name":...,"severity":...,"risk_score":...,
//!                            "threat":[...],"references":[...]}],
//!             "context":{"actor_arn":...,...}}
//! ```
//!
//! `severity` and `risk_score` are the highest among the detections, which are in rule order;
//! `context` holds the findings' context values in their order.

use serde::Serialize;

use super::TagWriter;
use super::fields::highest;
use super::splice::Members;
use crate::findings::{Detection, TAG_KEY};
use crate::json::write_json_string;
use crate::rule::{Rule, RuleFormat, RuleMeta, Severity, Threat};

/// The version of the tag's schema; bumped on any incompatible change.
pub const TAG_SCHEMA_VERSION: u32 = 1;

/// The native `trailtag` member.
///
/// Built for a rule set ([`TrailtagTag::for_rules`]), it renders each rule's `detections` entry
/// once and copies it into every tag; without one ([`TrailtagTag::default`]) it renders the
/// entries of each match as it writes them. Both write the same bytes.
#[derive(Debug, Clone, Default)]
pub struct TrailtagTag {
    /// Each rule's `detections` entry, by rule index (empty: render on the fly).
    entries: Vec<Box<str>>,
}

impl TrailtagTag {
    /// A writer that renders every rule's entry now, once.
    pub fn for_rules(rules: &[Rule]) -> Self {
        let entries = rules
            .iter()
            .map(|rule| {
                let mut entry = Vec::new();
                write_detection(rule.meta(), &mut entry);
                String::from_utf8(entry)
                    .unwrap_or_default()
                    .into_boxed_str()
            })
            .collect();
        Self { entries }
    }

    fn write_entry(&self, index: u32, meta: &RuleMeta, out: &mut Vec<u8>) {
        match self.entries.get(index as usize) {
            Some(entry) => out.extend_from_slice(entry.as_bytes()),
            None => write_detection(meta, out),
        }
    }
}

impl TagWriter for TrailtagTag {
    fn owned_keys(&self) -> &[&str] {
        &[TAG_KEY]
    }

    fn write_members(&self, _record: &[u8], detection: &Detection<'_>, out: &mut Members<'_>) {
        out.member(TAG_KEY, |out| self.write_value(detection, out));
    }
}

impl TrailtagTag {
    /// Writes the member's value for a matching record.
    fn write_value(&self, detection: &Detection<'_>, out: &mut Vec<u8>) {
        let (severity, risk) = highest(detection);
        out.extend_from_slice(
            format!("{{\"version\":{TAG_SCHEMA_VERSION},\"severity\":").as_bytes(),
        );
        write_json_string(severity.as_str(), out);
        out.extend_from_slice(format!(",\"risk_score\":{risk},\"detections\":[").as_bytes());
        let indexes = detection.findings().matched();
        for (i, (rule, &index)) in detection.rules().zip(indexes).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            self.write_entry(index, rule, out);
        }
        out.extend_from_slice(b"],\"context\":{");
        for (i, (name, value)) in detection.findings().context().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_json_string(name, out);
            out.push(b':');
            out.extend_from_slice(value);
        }
        out.extend_from_slice(b"}}");
    }
}

/// A rule's entry in `detections`, members in schema order. An imported rule (Sigma, Elastic)
/// also names its format, its authors and its licence (their licences ask for attribution), and
/// a partial one says what it leaves out; native entries carry none of these.
#[derive(Serialize)]
struct DetectionEntry<'m> {
    id: &'m str,
    name: &'m str,
    severity: Severity,
    risk_score: u8,
    threat: &'m [Threat],
    references: &'m [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<RuleFormat>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    author: &'m [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    license: Option<&'m str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    partial: Option<&'m str>,
}

fn write_detection(meta: &RuleMeta, out: &mut Vec<u8>) {
    let imported = meta.format != RuleFormat::Native;
    let entry = DetectionEntry {
        id: &meta.id,
        name: &meta.name,
        severity: meta.severity,
        risk_score: meta.risk_score,
        threat: &meta.threat,
        references: &meta.references,
        format: imported.then_some(meta.format),
        author: if imported { &meta.author } else { &[] },
        license: meta.license.as_deref().filter(|_| imported),
        partial: meta.partial.as_deref(),
    };
    // Serialising plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &entry);
}
