//! A Sigma rule's metadata, read into [`RuleMeta`].
//!
//! | Sigma | trailtag |
//! |---|---|
//! | `title` (required) | `name` |
//! | `id` (required here; optional in Sigma) | `id`, lower-cased, `[a-z0-9_-]+` |
//! | `status` | `status` (one of the specification's five) |
//! | `description` | `description` |
//! | `level` | `severity`, and the risk score Elastic gives the level: informational 0, low 21, medium 47, high 73, critical 99; no level is `medium` (47) |
//! | `references` | `references` |
//! | `author` | `author`: the whole string, one entry (a list gives one entry per item) |
//! | `license` | `license`, `DRL-1.1` when the rule names none (SigmaHQ's licence) |
//! | `falsepositives` | `false_positives` |
//! | `tags` | `attack.<tactic>` and `attack.tNNNN[.NNN]` become ATT&CK `threat` entries (`crate::attack`: a technique named without its tactic takes the tactics ATT&CK gives it); every other tag stays in `tags` |
//!
//! trailtag needs an `id` because every count and tag is keyed by it. Other keys (`date`,
//! `modified`, `related`, `fields`, custom attributes) are allowed and not read.

use super::Problem;
use super::yaml::{Node, Value};
use crate::attack;
use crate::rule::{Severity, Threat, ThreatEntry};

/// The statuses the specification defines.
const STATUSES: [&str; 5] = [
    "stable",
    "test",
    "experimental",
    "deprecated",
    "unsupported",
];

/// The licence of SigmaHQ's rules, assumed when a rule names none.
pub(super) const DEFAULT_LICENSE: &str = "DRL-1.1";

/// The severity a level names, and its risk score.
pub(super) fn level(node: Option<&Node>) -> Result<(Severity, u8), Problem> {
    let Some(node) = node else {
        return Ok((Severity::Medium, 47));
    };
    let text = string(node, "level")?;
    Ok(match text.to_ascii_lowercase().as_str() {
        "informational" => (Severity::Informational, 0),
        "low" => (Severity::Low, 21),
        "medium" => (Severity::Medium, 47),
        "high" => (Severity::High, 73),
        "critical" => (Severity::Critical, 99),
        _ => {
            return Err(Problem::metadata(
                node.pos,
                format!(
                    "`level` must be informational, low, medium, high or critical, not {text:?}"
                ),
            ));
        }
    })
}

/// The rule's id, lower-cased and checked.
pub(super) fn id(node: &Node) -> Result<String, Problem> {
    let id = string(node, "id")?.to_ascii_lowercase();
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid {
        return Err(Problem::metadata(
            node.pos,
            format!("`id` must be letters, digits, `-` and `_` (a UUID), not {id:?}"),
        ));
    }
    Ok(id)
}

/// The status, checked against the specification's list.
pub(super) fn status(node: &Node) -> Result<String, Problem> {
    let status = string(node, "status")?;
    if !STATUSES.contains(&status.as_str()) {
        return Err(Problem::metadata(
            node.pos,
            format!(
                "`status` must be one of {}, not {status:?}",
                STATUSES.join(", ")
            ),
        ));
    }
    Ok(status)
}

/// A string (a number or boolean written where text belongs is its text).
pub(super) fn string(node: &Node, key: &str) -> Result<String, Problem> {
    match &node.value {
        Value::List(_) | Value::Map(_) | Value::Null => Err(Problem::metadata(
            node.pos,
            format!("`{key}` must be text, not {}", node.describe()),
        )),
        _ => Ok(node.scalar_text().unwrap_or_default().into_owned()),
    }
}

/// A list of strings; a single string is a list of one.
pub(super) fn strings(node: &Node, key: &str) -> Result<Vec<String>, Problem> {
    match &node.value {
        Value::List(items) => items.iter().map(|item| string(item, key)).collect(),
        Value::Null => Ok(Vec::new()),
        _ => string(node, key).map(|s| vec![s]),
    }
}

/// ATT&CK entries from the `attack.*` tags, and the other tags.
pub(super) fn tags(tags: &[String]) -> (Vec<Threat>, Vec<String>) {
    let mut tactics: Vec<ThreatEntry> = Vec::new();
    let mut techniques: Vec<String> = Vec::new();
    let mut others = Vec::new();
    for tag in tags {
        let lower = tag.to_ascii_lowercase();
        let name = lower.strip_prefix("attack.");
        if let Some(technique) = name.and_then(technique_id) {
            if !techniques.contains(&technique) {
                techniques.push(technique);
            }
        } else if let Some(tactic) = name.and_then(attack::tactic_by_tag) {
            if !tactics.iter().any(|t| t.id == tactic.id) {
                tactics.push(tactic);
            }
        } else {
            others.push(tag.clone());
        }
    }
    if tactics.is_empty() && techniques.is_empty() {
        return (Vec::new(), others);
    }
    let (threats, _unknown) = attack::threats(&tactics, &techniques);
    (threats, others)
}

/// `t1078` or `t1078.004` as `T1078` / `T1078.004`.
fn technique_id(name: &str) -> Option<String> {
    let digits = name.strip_prefix('t')?;
    let (main, sub) = match digits.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (digits, None),
    };
    let numeric = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    (numeric(main, 4) && sub.is_none_or(|s| numeric(s, 3))).then(|| name.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags_of(list: &[&str]) -> (Vec<Threat>, Vec<String>) {
        tags(&list.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn attack_tags_become_threat_entries_and_the_rest_stay_tags() {
        let (threats, others) = tags_of(&[
            "attack.persistence",
            "attack.t1098",
            "attack.t1098.003",
            "attack.g0016",
            "detection.threat-hunting",
            "cve.2021-44228",
        ]);
        assert_eq!(
            others,
            ["attack.g0016", "detection.threat-hunting", "cve.2021-44228"]
        );
        assert_eq!(threats.len(), 1);
        assert_eq!(threats[0].tactic.id, "TA0003");
        assert_eq!(threats[0].technique[0].id, "T1098");
        assert_eq!(threats[0].technique[0].subtechnique[0].id, "T1098.003");
        assert!(threats.iter().all(|t| t.validate().is_ok()));
    }

    #[test]
    fn techniques_without_tactics_take_attacks_tactics() {
        let (threats, _) = tags_of(&["attack.t1078.004"]);
        let tactics: Vec<&str> = threats.iter().map(|t| t.tactic.id.as_str()).collect();
        assert_eq!(tactics, ["TA0001", "TA0003", "TA0004", "TA0005"]);
        let (threats, _) = tags_of(&["attack.stealth", "attack.defense-evasion"]);
        assert_eq!(threats.len(), 1, "one tactic id, named once");
        assert!(tags_of(&[]).0.is_empty());
    }

    #[test]
    fn technique_ids_are_checked_for_shape() {
        assert_eq!(technique_id("t1098.003").as_deref(), Some("T1098.003"));
        assert_eq!(technique_id("t109"), None);
        assert_eq!(technique_id("t1098.03"), None);
        assert_eq!(technique_id("ta0001"), None);
    }
}
