//! MITRE ATT&CK names and pages for the ids rule formats mention, so that a finding carries
//! them whatever the rule's format says.
//!
//! Elastic rules carry full `[[rule.threat]]` blocks; Sigma rules only tags such as
//! `attack.persistence` and `attack.t1098.003`. This table turns the tags into the same threat
//! entries: a tactic's id and name from its Sigma name, a technique's name from its id, and each
//! technique's tactics for a rule that names techniques but no tactic. Pages follow
//! `https://attack.mitre.org/tactics/TA0003/` and `https://attack.mitre.org/techniques/T1098/003/`.
//!
//! Contents: the 15 Enterprise tactics of ATT&CK v19 (which split Defense Evasion into Stealth,
//! still `TA0005`, and Defense Impairment, `TA0112`; the older Sigma name `defense-evasion` keeps
//! its meaning), and every technique named by the Elastic and SigmaHQ AWS corpora and our own
//! rules: names as the Elastic corpus writes them, and for the ones only SigmaHQ uses, the names
//! of ATT&CK v19. An id missing here still becomes an entry, named after itself, and
//! `trailtag rules check` says so.

use crate::rule::{Technique, Threat, ThreatEntry};

/// Tactics: the Sigma tag name, the id, the name.
pub const TACTICS: &[(&str, &str, &str)] = &[
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("stealth", "TA0005", "Stealth"),
    ("defense-impairment", "TA0112", "Defense Impairment"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// Techniques and sub-techniques: id, name, the tactics they serve.
pub const TECHNIQUES: &[(&str, &str, &[&str])] = &[
    ("T1003", "OS Credential Dumping", &["TA0006"]),
    ("T1005", "Data from Local System", &["TA0009"]),
    ("T1020", "Automated Exfiltration", &["TA0010"]),
    ("T1021", "Remote Services", &["TA0008"]),
    ("T1021.004", "SSH", &["TA0008"]),
    ("T1021.007", "Cloud Services", &["TA0008"]),
    ("T1033", "System Owner/User Discovery", &["TA0007"]),
    ("T1040", "Network Sniffing", &["TA0006", "TA0007"]),
    ("T1041", "Exfiltration Over C2 Channel", &["TA0010"]),
    ("T1059", "Command and Scripting Interpreter", &["TA0002"]),
    ("T1059.001", "PowerShell", &["TA0002"]),
    ("T1059.003", "Windows Command Shell", &["TA0002"]),
    ("T1059.004", "Unix Shell", &["TA0002"]),
    ("T1059.009", "Cloud API", &["TA0002"]),
    ("T1069", "Permission Groups Discovery", &["TA0007"]),
    ("T1069.003", "Cloud Groups", &["TA0007"]),
    ("T1070", "Indicator Removal", &["TA0005"]),
    ("T1074", "Data Staged", &["TA0009"]),
    ("T1074.002", "Remote Data Staging", &["TA0009"]),
    (
        "T1078",
        "Valid Accounts",
        &["TA0001", "TA0003", "TA0004", "TA0005"],
    ),
    (
        "T1078.002",
        "Domain Accounts",
        &["TA0001", "TA0003", "TA0004", "TA0005"],
    ),
    (
        "T1078.004",
        "Cloud Accounts",
        &["TA0001", "TA0003", "TA0004", "TA0005"],
    ),
    ("T1087", "Account Discovery", &["TA0007"]),
    ("T1087.004", "Cloud Account", &["TA0007"]),
    ("T1098", "Account Manipulation", &["TA0003", "TA0004"]),
    (
        "T1098.001",
        "Additional Cloud Credentials",
        &["TA0003", "TA0004"],
    ),
    ("T1098.003", "Additional Cloud Roles", &["TA0003", "TA0004"]),
    ("T1098.004", "SSH Authorized Keys", &["TA0003", "TA0004"]),
    ("T1098.005", "Device Registration", &["TA0003"]),
    (
        "T1098.006",
        "Additional Container Cluster Roles",
        &["TA0003", "TA0004"],
    ),
    ("T1102", "Web Service", &["TA0011"]),
    ("T1102.003", "One-Way Communication", &["TA0011"]),
    ("T1110", "Brute Force", &["TA0006"]),
    ("T1110.001", "Password Guessing", &["TA0006"]),
    ("T1119", "Automated Collection", &["TA0009"]),
    ("T1133", "External Remote Services", &["TA0001", "TA0003"]),
    ("T1136", "Create Account", &["TA0003"]),
    ("T1136.003", "Cloud Account", &["TA0003"]),
    ("T1190", "Exploit Public-Facing Application", &["TA0001"]),
    ("T1213", "Data from Information Repositories", &["TA0009"]),
    ("T1213.006", "Databases", &["TA0009"]),
    (
        "T1484",
        "Domain or Tenant Policy Modification",
        &["TA0004", "TA0005"],
    ),
    ("T1484.002", "Trust Modification", &["TA0004", "TA0005"]),
    ("T1485", "Data Destruction", &["TA0040"]),
    ("T1485.001", "Lifecycle-Triggered Deletion", &["TA0040"]),
    ("T1486", "Data Encrypted for Impact", &["TA0040"]),
    ("T1489", "Service Stop", &["TA0040"]),
    ("T1490", "Inhibit System Recovery", &["TA0040"]),
    ("T1491", "Defacement", &["TA0040"]),
    ("T1491.002", "External Defacement", &["TA0040"]),
    ("T1496", "Resource Hijacking", &["TA0040"]),
    ("T1496.004", "Cloud Service Hijacking", &["TA0040"]),
    ("T1505", "Server Software Component", &["TA0003"]),
    ("T1518", "Software Discovery", &["TA0007"]),
    ("T1525", "Implant Internal Image", &["TA0003"]),
    ("T1526", "Cloud Service Discovery", &["TA0007"]),
    ("T1530", "Data from Cloud Storage", &["TA0009"]),
    ("T1531", "Account Access Removal", &["TA0040"]),
    ("T1534", "Internal Spearphishing", &["TA0008"]),
    ("T1537", "Transfer Data to Cloud Account", &["TA0010"]),
    ("T1538", "Cloud Service Dashboard", &["TA0007"]),
    ("T1539", "Steal Web Session Cookie", &["TA0006"]),
    ("T1546", "Event Triggered Execution", &["TA0003"]),
    ("T1548", "Abuse Elevation Control Mechanism", &["TA0004"]),
    ("T1548.005", "Temporary Elevated Cloud Access", &["TA0004"]),
    (
        "T1550",
        "Use Alternate Authentication Material",
        &["TA0005", "TA0008"],
    ),
    (
        "T1550.001",
        "Application Access Token",
        &["TA0005", "TA0008"],
    ),
    ("T1552", "Unsecured Credentials", &["TA0006"]),
    ("T1552.001", "Credentials In Files", &["TA0006"]),
    ("T1552.004", "Private Keys", &["TA0006"]),
    ("T1552.005", "Cloud Instance Metadata API", &["TA0006"]),
    ("T1555", "Credentials from Password Stores", &["TA0006"]),
    ("T1555.006", "Cloud Secrets Management Stores", &["TA0006"]),
    (
        "T1556",
        "Modify Authentication Process",
        &["TA0003", "TA0005"],
    ),
    (
        "T1556.006",
        "Multi-Factor Authentication",
        &["TA0003", "TA0005"],
    ),
    ("T1556.009", "Conditional Access Policies", &["TA0003"]),
    ("T1557", "Adversary-in-the-Middle", &["TA0009"]),
    ("T1562", "Impair Defenses", &["TA0005"]),
    ("T1562.001", "Disable or Modify Tools", &["TA0005"]),
    ("T1562.006", "Indicator Blocking", &["TA0005"]),
    ("T1562.007", "Disable or Modify Cloud Firewall", &["TA0005"]),
    ("T1562.008", "Disable or Modify Cloud Logs", &["TA0005"]),
    ("T1565", "Data Manipulation", &["TA0040"]),
    ("T1565.001", "Stored Data Manipulation", &["TA0040"]),
    ("T1566", "Phishing", &["TA0001"]),
    ("T1566.002", "Spearphishing Link", &["TA0001"]),
    ("T1567", "Exfiltration Over Web Service", &["TA0010"]),
    ("T1567.002", "Exfiltration to Cloud Storage", &["TA0010"]),
    ("T1578", "Modify Cloud Compute Infrastructure", &["TA0005"]),
    ("T1578.002", "Create Cloud Instance", &["TA0005"]),
    ("T1578.004", "Revert Cloud Instance", &["TA0005"]),
    (
        "T1578.005",
        "Modify Cloud Compute Configurations",
        &["TA0005"],
    ),
    ("T1580", "Cloud Infrastructure Discovery", &["TA0007"]),
    ("T1583", "Acquire Infrastructure", &["TA0042"]),
    ("T1583.001", "Domains", &["TA0042"]),
    ("T1584", "Compromise Infrastructure", &["TA0042"]),
    ("T1584.001", "Domains", &["TA0042"]),
    ("T1608", "Stage Capabilities", &["TA0042"]),
    ("T1608.003", "Install Digital Certificate", &["TA0042"]),
    ("T1619", "Cloud Storage Object Discovery", &["TA0007"]),
    ("T1648", "Serverless Execution", &["TA0002"]),
    ("T1651", "Cloud Administration Command", &["TA0002"]),
    ("T1657", "Financial Theft", &["TA0040"]),
    ("T1685", "Disable or Modify Tools", &["TA0112"]),
    ("T1685.002", "Disable or Modify Cloud Log", &["TA0112"]),
    ("T1686", "Disable or Modify System Firewall", &["TA0112"]),
    ("T1686.001", "Cloud Firewall", &["TA0112"]),
];

/// The tactic a Sigma tag names (`persistence`), if it is one.
pub fn tactic_by_tag(tag: &str) -> Option<ThreatEntry> {
    TACTICS
        .iter()
        .find(|(slug, _, _)| *slug == tag)
        .map(|&(_, id, name)| tactic_entry(id, name))
}

fn tactic_entry(id: &str, name: &str) -> ThreatEntry {
    ThreatEntry {
        id: id.to_owned(),
        name: name.to_owned(),
        reference: format!("https://attack.mitre.org/tactics/{id}/"),
    }
}

/// A technique's name, if the table knows it.
pub fn technique_name(id: &str) -> Option<&'static str> {
    TECHNIQUES
        .iter()
        .find(|(tid, _, _)| *tid == id)
        .map(|(_, name, _)| *name)
}

/// The page of a technique or sub-technique (`T1098.003` → `.../techniques/T1098/003/`).
pub fn technique_reference(id: &str) -> String {
    format!(
        "https://attack.mitre.org/techniques/{}/",
        id.replace('.', "/")
    )
}

/// Threat entries for a set of tactics and technique ids (upper case, `T1098` or `T1098.003`):
/// one entry per tactic, each holding every technique (sub-techniques under their parent).
/// Techniques with no tactic given take their tactics from the table. Returns the ids the table
/// does not know, too.
pub fn threats(tactics: &[ThreatEntry], technique_ids: &[String]) -> (Vec<Threat>, Vec<String>) {
    let mut unknown: Vec<String> = technique_ids
        .iter()
        .filter(|id| technique_name(id).is_none())
        .cloned()
        .collect();
    let techniques = group_techniques(technique_ids);
    let mut tactics = tactics.to_vec();
    if tactics.is_empty() {
        for id in technique_ids {
            let served = TECHNIQUES
                .iter()
                .find(|(tid, _, _)| tid == id)
                .map(|(_, _, t)| *t)
                .unwrap_or_default();
            for tactic_id in served {
                if let Some(&(_, tid, name)) = TACTICS.iter().find(|(_, t, _)| t == tactic_id)
                    && !tactics.iter().any(|t| t.id == tid)
                {
                    tactics.push(tactic_entry(tid, name));
                }
            }
        }
    }
    unknown.dedup();
    let threats = tactics
        .into_iter()
        .map(|tactic| Threat {
            framework: "MITRE ATT&CK".to_owned(),
            tactic,
            technique: techniques.clone(),
        })
        .collect();
    (threats, unknown)
}

/// Techniques with their sub-techniques nested, in the order first named.
fn group_techniques(ids: &[String]) -> Vec<Technique> {
    let mut out: Vec<Technique> = Vec::new();
    for id in ids {
        let parent = id.split('.').next().unwrap_or(id);
        let index = match out.iter().position(|t| t.id == parent) {
            Some(i) => i,
            None => {
                out.push(Technique {
                    id: parent.to_owned(),
                    name: technique_name(parent).unwrap_or(parent).to_owned(),
                    reference: technique_reference(parent),
                    subtechnique: Vec::new(),
                });
                out.len() - 1
            }
        };
        if id != parent && !out[index].subtechnique.iter().any(|s| s.id == *id) {
            out[index].subtechnique.push(ThreatEntry {
                id: id.clone(),
                name: technique_name(id).unwrap_or(id).to_owned(),
                reference: technique_reference(id),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_threat_entries_with_names_and_pages() {
        let tactic = tactic_by_tag("persistence").unwrap();
        let (threats, unknown) = threats(&[tactic], &["T1098".into(), "T1098.003".into()]);
        assert!(unknown.is_empty());
        assert_eq!(threats.len(), 1);
        assert_eq!(threats[0].tactic.id, "TA0003");
        let technique = &threats[0].technique[0];
        assert_eq!(
            (technique.id.as_str(), technique.name.as_str()),
            ("T1098", "Account Manipulation")
        );
        assert_eq!(
            technique.subtechnique[0].reference,
            "https://attack.mitre.org/techniques/T1098/003/"
        );
        assert!(threats[0].validate().is_ok());
    }

    #[test]
    fn a_technique_without_a_tactic_takes_the_tables_and_unknown_ids_are_named() {
        let (threats, unknown) = threats(&[], &["T1685.002".into(), "T9999".into()]);
        assert_eq!(threats[0].tactic.name, "Defense Impairment");
        assert_eq!(unknown, ["T9999"]);
        assert_eq!(tactic_by_tag("stealth").unwrap().id, "TA0005");
    }

    #[test]
    fn every_sub_technique_has_its_parent_in_the_table() {
        for (id, _, tactics) in TECHNIQUES {
            if let Some((parent, _)) = id.split_once('.') {
                assert!(technique_name(parent).is_some(), "{id}: no {parent}");
            }
            for tactic in *tactics {
                assert!(
                    TACTICS.iter().any(|(_, t, _)| t == tactic),
                    "{id}: {tactic}"
                );
            }
        }
    }
}
