//! One codec for every document that crosses the module boundary.
//!
//! The configuration document, the statistics block, the unreadable-line report, the results
//! document and the rules document (`docs/abi.md` sections 3, 5 and 6) are encoded and decoded
//! here and nowhere else: the guest shells encode what hosts decode, the `trailtag` CLI decodes
//! with the same functions, and the JavaScript build reads its configuration through the same
//! [`Config`]. Guest and host cannot drift, and a round-trip property test holds every pair of
//! functions to each other.
//!
//! - [`Config`]: what a host sends to configure the module (JSON object, unknown keys refused).
//! - Statistics block ([`encode_stats`]): little-endian `u64` slots ([`crate::contract::stats`]).
//! - Unreadable report ([`encode_unreadable`]): `<line>\t<message>\n` per unreadable record.
//! - Results document ([`encode_results`]): JSON with what the two v1 documents above do not
//!   say: the records written, every tagged line with its rules, each unreadable line's reason
//!   code, and the lines that lost a foreign tag.
//! - [`decode_report`] joins the three back into the engine's [`BatchReport`].
//! - Rules document ([`encode_rules`], [`decode_rules`]): the loaded rules' metadata.
//! - Load report ([`encode_load_report`], [`decode_load_report`]): the rule files skipped.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use trailtag_engine::envelope::Shape;
use trailtag_engine::output::{FormatWriter, TagFormat};
use trailtag_engine::{
    BatchReport, Counts, Detector, Error, Options, Placeholders, Reason, RuleSource, TaggedLine,
    UnreadableLine,
};

use crate::contract::stats;

/// A document from the other side that does not follow the ABI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

fn malformed(what: impl Into<String>) -> CodecError {
    CodecError(what.into())
}

// ---- configuration ----------------------------------------------------------------------------

/// The configuration document (`docs/abi.md` section 3). Every key is optional; unknown keys
/// are refused. JavaScript callers may spell the keys in camelCase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Load the rules built into the module.
    #[serde(default = "yes", alias = "builtinRules")]
    pub builtin_rules: bool,
    /// Extra rule files.
    #[serde(default)]
    pub rules: Vec<RuleFile>,
    /// Write only tagged records.
    #[serde(default, alias = "onlyMatches")]
    pub only_matches: bool,
    /// Parse every record, so that malformed JSON the scan rules out is reported too.
    #[serde(default)]
    pub validate: bool,
    /// Leave a `trailtag` member a record arrived with when it matches nothing.
    #[serde(default, alias = "keepForeignTags")]
    pub keep_foreign_tags: bool,
    /// Write the records inside an envelope one per line instead of the envelope tagged inside.
    #[serde(default)]
    pub unwrap: bool,
    /// Read every record as this shape (`record` or an envelope's code, docs/ingest.md) instead
    /// of recognising it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "inputShape",
        with = "shape_code"
    )]
    pub input_shape: Option<Shape>,
    /// How a match is written: `trailtag` (the default), `ecs` or `ocsf`.
    #[serde(
        default,
        skip_serializing_if = "is_default_format",
        alias = "tagFormat"
    )]
    pub tag_format: TagFormat,
    /// Skip (and report in the load report) a rule file that cannot be loaded, instead of
    /// refusing the whole configuration.
    #[serde(default, alias = "skipInvalidRules")]
    pub skip_invalid_rules: bool,
    /// The values Sigma's `expand` modifier stands for: placeholder name (without `%`) to its
    /// values. A rule expanding a placeholder not given here does not load.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        alias = "sigmaPlaceholders"
    )]
    pub sigma_placeholders: BTreeMap<String, Vec<String>>,
    /// Test hooks (section 8); absent means off.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "faultInjection"
    )]
    pub fault_injection: Option<FaultInjection>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            builtin_rules: true,
            rules: Vec::new(),
            only_matches: false,
            validate: false,
            keep_foreign_tags: false,
            unwrap: false,
            input_shape: None,
            tag_format: TagFormat::Trailtag,
            skip_invalid_rules: false,
            sigma_placeholders: BTreeMap::new(),
            fault_injection: None,
        }
    }
}

fn yes() -> bool {
    true
}

fn is_default_format(format: &TagFormat) -> bool {
    *format == TagFormat::default()
}

/// `input_shape` as its code.
mod shape_code {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};
    use trailtag_engine::envelope::Shape;

    pub fn serialize<S: Serializer>(
        shape: &Option<Shape>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match shape {
            Some(shape) => serializer.serialize_str(shape.code()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Shape>, D::Error> {
        let Some(code) = Option::<String>::deserialize(deserializer)? else {
            return Ok(None);
        };
        Shape::forced(&code).map(Some).ok_or_else(|| {
            D::Error::custom(format!(
                "input_shape {code:?} is none of {}",
                Shape::forced_codes().join(", ")
            ))
        })
    }
}

/// One rule file in the configuration document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// Shown in messages; its extension selects the format.
    pub name: String,
    /// The file's contents.
    pub text: String,
}

/// Markers that make a call trap, spin or allocate without end (section 8).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultInjection {
    /// Input containing this traps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trap: Option<String>,
    /// Input containing this loops until the host interrupts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spin: Option<String>,
    /// Input containing this allocates until memory cannot grow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grow: Option<String>,
}

impl Config {
    /// Reads a configuration document, which must be a JSON object.
    pub fn decode(document: &[u8]) -> Result<Config, CodecError> {
        // serde would also accept an array, by position: insist on an object first.
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(document).map_err(|e| malformed(e.to_string()))?;
        serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|e| malformed(e.to_string()))
    }

    /// The document a host sends.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// The per-record options it sets.
    pub fn options(&self) -> Options {
        Options {
            only_matches: self.only_matches,
            validate: self.validate,
            keep_foreign_tags: self.keep_foreign_tags,
            unwrap: self.unwrap,
            input_shape: self.input_shape,
            encoded_by_fluent_bit: false,
        }
    }

    /// Compiles the rules it names.
    pub fn detector(&self) -> Result<Detector, Error> {
        let sources = self
            .rules
            .iter()
            .map(|r| RuleSource::new(r.name.clone(), r.text.clone()));
        let mut placeholders = Placeholders::new();
        for (name, values) in &self.sigma_placeholders {
            placeholders.insert(name.clone(), values.iter().cloned());
        }
        Detector::builder()
            .builtin(self.builtin_rules)
            .skip_invalid(self.skip_invalid_rules)
            .placeholders(placeholders)
            .tag_keys(self.tag_format.owned_keys())
            .sources(sources)
            .build()
    }

    /// The writer of its tag format, for `detector`'s rules.
    pub fn writer(&self, detector: &Detector) -> FormatWriter {
        self.tag_format.writer(detector.rules())
    }
}

// ---- load report ------------------------------------------------------------------------------

/// The load report (`docs/abi.md` section 6): what the last configuration loaded besides its
/// rules. Today, the rule files skipped under `skip_invalid_rules`, each with its problems.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Problems of skipped rule files, in file order.
    pub skipped: Vec<SkippedRule>,
}

/// One problem of a skipped rule file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRule {
    /// The file, as named in the configuration.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The rule's id, when known.
    pub rule_id: Option<String>,
    /// `syntax`, `query`, `metadata`, `duplicate_id` or `unsupported`.
    pub kind: String,
    /// What is wrong.
    pub message: String,
}

/// The load report of a detector.
pub fn encode_load_report(detector: &Detector) -> Vec<u8> {
    let skipped = detector
        .skipped()
        .iter()
        .map(|e| SkippedRule {
            file: e.file.clone(),
            line: e.line,
            column: e.column,
            rule_id: e.rule_id.clone(),
            kind: kind_name(e.kind).to_owned(),
            message: e.message.clone(),
        })
        .collect();
    serde_json::to_vec(&LoadReport { skipped }).unwrap_or_else(|_| b"{}".to_vec())
}

fn kind_name(kind: trailtag_engine::RuleErrorKind) -> &'static str {
    use trailtag_engine::RuleErrorKind as K;
    match kind {
        K::Syntax => "syntax",
        K::Query => "query",
        K::Metadata => "metadata",
        K::DuplicateId => "duplicate_id",
        K::Unsupported => "unsupported",
    }
}

/// Reads the load report.
pub fn decode_load_report(document: &[u8]) -> Result<LoadReport, CodecError> {
    serde_json::from_slice(document).map_err(|e| malformed(format!("load report: {e}")))
}

// ---- statistics block -------------------------------------------------------------------------

/// The statistics block: see [`crate::contract::stats`].
pub fn encode_stats(counts: &Counts) -> Vec<u8> {
    let mut slots = vec![0u64; stats::FIRST_RULE + counts.per_rule.len()];
    slots[stats::RECORDS_IN] = counts.records_in;
    slots[stats::LINES_OUT] = counts.lines_out;
    slots[stats::TAGGED] = counts.tagged;
    slots[stats::UNREADABLE] = counts.unreadable;
    slots[stats::BLANK] = counts.blank;
    slots[stats::RULE_COUNT] = counts.per_rule.len() as u64;
    slots[stats::FIRST_RULE..].copy_from_slice(&counts.per_rule);
    slots.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Reads a statistics block. The counts it cannot carry (records written, per reason, foreign
/// tags) are left for [`decode_report`] to fill from the results document.
pub fn decode_stats(block: &[u8]) -> Result<Counts, CodecError> {
    let bad = || {
        malformed(format!(
            "statistics block of {} bytes is malformed",
            block.len()
        ))
    };
    if !block.len().is_multiple_of(8) {
        return Err(bad());
    }
    let slots: Vec<u64> = block
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    let rule_count =
        usize::try_from(*slots.get(stats::RULE_COUNT).ok_or_else(bad)?).map_err(|_| bad())?;
    if slots.len() != stats::FIRST_RULE.saturating_add(rule_count) {
        return Err(bad());
    }
    Ok(Counts {
        records_in: slots[stats::RECORDS_IN],
        lines_out: slots[stats::LINES_OUT],
        tagged: slots[stats::TAGGED],
        unreadable: slots[stats::UNREADABLE],
        blank: slots[stats::BLANK],
        per_rule: slots[stats::FIRST_RULE..].to_vec(),
        ..Counts::default()
    })
}

// ---- unreadable report ------------------------------------------------------------------------

/// `<0-based line>\t<message>\n` per unreadable record; messages hold no tab or newline.
pub fn encode_unreadable(lines: &[UnreadableLine]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        let message = line.message.replace(['\t', '\n', '\r'], " ");
        out.extend_from_slice(format!("{}\t{message}\n", line.line).as_bytes());
    }
    out
}

/// Reads an unreadable report into `(line, message)` pairs.
pub fn decode_unreadable(report: &[u8]) -> Result<Vec<(u64, String)>, CodecError> {
    let text = std::str::from_utf8(report)
        .map_err(|e| malformed(format!("unreadable report is not UTF-8: {e}")))?;
    text.lines()
        .map(|line| {
            let (index, message) = line
                .split_once('\t')
                .ok_or_else(|| malformed(format!("unreadable report line {line:?}")))?;
            let index = index
                .parse()
                .map_err(|_| malformed(format!("unreadable report line {line:?}")))?;
            Ok((index, message.to_owned()))
        })
        .collect()
}

// ---- results document -------------------------------------------------------------------------

/// The results document (section 5): what the statistics block and the unreadable report do
/// not carry. Keys may be added, never removed, within one ABI version.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Results {
    records_out: u64,
    /// `[line, [rule, ...]]` per tagged line.
    tagged: Vec<(u64, Vec<u32>)>,
    /// `[line, reason code]` per unreadable line.
    unreadable: Vec<(u64, String)>,
    /// Lines that lost a foreign `trailtag` member.
    foreign_tags: Vec<u64>,
    /// What was inside envelopes (absent from modules before envelopes were read).
    #[serde(default)]
    events: Events,
}

/// The results document's `events` member: records decided, bare or inside envelopes.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Events {
    decided: u64,
    tagged: u64,
    cloudtrail: u64,
    /// Envelopes per shape code (only shapes seen).
    envelopes: BTreeMap<String, u64>,
    /// `[line, reason code, message]` per document inside an envelope that could not be read.
    unreadable_inside: Vec<(u64, String, String)>,
}

impl Events {
    fn of(report: &BatchReport) -> Self {
        let counts = &report.counts;
        Self {
            decided: counts.events,
            tagged: counts.events_tagged,
            cloudtrail: counts.cloudtrail_events,
            envelopes: counts
                .envelopes_by_shape()
                .into_iter()
                .map(|(code, n)| (code.to_owned(), n))
                .collect(),
            unreadable_inside: report
                .unreadable_inside
                .iter()
                .map(|u| (u.line, u.reason.code().to_owned(), u.message.clone()))
                .collect(),
        }
    }

    fn into_report(self, report: &mut BatchReport) -> Result<(), CodecError> {
        let counts = &mut report.counts;
        counts.events = self.decided;
        counts.events_tagged = self.tagged;
        counts.cloudtrail_events = self.cloudtrail;
        for (code, n) in self.envelopes {
            let index = Shape::from_code(&code)
                .and_then(Shape::index)
                .ok_or_else(|| malformed(format!("results document: envelope shape {code:?}")))?;
            counts.envelopes[index] = n;
        }
        counts.unreadable_inside = self.unreadable_inside.len() as u64;
        for (line, code, message) in self.unreadable_inside {
            let reason = Reason::from_code(&code)
                .ok_or_else(|| malformed(format!("results document: reason {code:?}")))?;
            report.unreadable_inside.push(UnreadableLine {
                line,
                reason,
                message,
            });
        }
        Ok(())
    }
}

/// The results document of one call.
pub fn encode_results(report: &BatchReport) -> Vec<u8> {
    let results = Results {
        records_out: report.counts.records_out,
        tagged: report
            .tagged
            .iter()
            .map(|t| (t.line, t.rules.clone()))
            .collect(),
        unreadable: report
            .unreadable
            .iter()
            .map(|u| (u.line, u.reason.code().to_owned()))
            .collect(),
        foreign_tags: report.foreign_tags.clone(),
        events: Events::of(report),
    };
    serde_json::to_vec(&results).unwrap_or_default()
}

/// Joins a call's statistics block, unreadable report and results document into the engine's
/// report, checking that they agree with each other.
pub fn decode_report(
    stats_block: &[u8],
    unreadable_report: &[u8],
    results_document: &[u8],
) -> Result<BatchReport, CodecError> {
    let mut counts = decode_stats(stats_block)?;
    let messages = decode_unreadable(unreadable_report)?;
    let results: Results = serde_json::from_slice(results_document)
        .map_err(|e| malformed(format!("results document: {e}")))?;
    counts.records_out = results.records_out;
    counts.foreign_tags_removed = results.foreign_tags.len() as u64;
    let unreadable = join_unreadable(messages, &results.unreadable)?;
    for line in &unreadable {
        counts.unreadable_by_reason[line.reason.index()] += 1;
    }
    let tagged: Vec<TaggedLine> = results
        .tagged
        .into_iter()
        .map(|(line, rules)| TaggedLine { line, rules })
        .collect();
    check_agreement(&counts, &tagged, &unreadable)?;
    let mut report = BatchReport {
        counts,
        unreadable,
        tagged,
        foreign_tags: results.foreign_tags,
        unreadable_inside: Vec::new(),
    };
    results.events.into_report(&mut report)?;
    Ok(report)
}

fn join_unreadable(
    messages: Vec<(u64, String)>,
    codes: &[(u64, String)],
) -> Result<Vec<UnreadableLine>, CodecError> {
    if messages.len() != codes.len() {
        return Err(malformed(format!(
            "{} unreadable lines reported, {} in the results document",
            messages.len(),
            codes.len()
        )));
    }
    messages
        .into_iter()
        .zip(codes)
        .map(|((line, message), (coded_line, code))| {
            let reason = Reason::from_code(code)
                .filter(|_| line == *coded_line)
                .ok_or_else(|| malformed(format!("unreadable line {line}: reason {code:?}")))?;
            Ok(UnreadableLine {
                line,
                reason,
                message,
            })
        })
        .collect()
}

fn check_agreement(
    counts: &Counts,
    tagged: &[TaggedLine],
    unreadable: &[UnreadableLine],
) -> Result<(), CodecError> {
    let mut per_rule = vec![0u64; counts.per_rule.len()];
    for line in tagged {
        for &rule in &line.rules {
            let slot = per_rule
                .get_mut(rule as usize)
                .ok_or_else(|| malformed(format!("line {}: no rule {rule}", line.line)))?;
            *slot += 1;
        }
    }
    let agrees = per_rule == counts.per_rule
        && tagged.len() as u64 == counts.tagged
        && unreadable.len() as u64 == counts.unreadable
        && counts.records_out <= counts.lines_out;
    if agrees {
        Ok(())
    } else {
        Err(malformed(
            "the statistics block and the results document disagree",
        ))
    }
}

// ---- rules document ---------------------------------------------------------------------------

/// The rules document (section 6): every loaded rule's metadata, in rule order.
pub fn encode_rules(detector: &Detector) -> Vec<u8> {
    let metas: Vec<_> = detector.rules().iter().map(|r| r.meta()).collect();
    serde_json::to_vec(&metas).unwrap_or_else(|_| b"[]".to_vec())
}

/// What hosts read of a rule in the rules document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Stable id.
    pub id: String,
    /// Title.
    pub name: String,
    /// Severity.
    pub severity: String,
    /// Risk score.
    pub risk_score: u8,
    /// The file it came from.
    pub source: String,
    /// `native`, `sigma` or `elastic` (absent from modules before the key was added).
    #[serde(default = "native")]
    pub format: String,
    /// The status its source gives it.
    #[serde(default)]
    pub status: Option<String>,
    /// What a partial rule leaves out.
    #[serde(default)]
    pub partial: Option<String>,
}

fn native() -> String {
    "native".to_owned()
}

/// Reads the rules document.
pub fn decode_rules(document: &[u8]) -> Result<Vec<RuleInfo>, CodecError> {
    serde_json::from_slice(document).map_err(|e| malformed(format!("rules document: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;
    use proptest::prelude::*;

    fn report() -> impl Strategy<Value = BatchReport> {
        let lines = proptest::collection::btree_map(0u64..200, 0usize..3, 0..12);
        (lines, 1usize..4).prop_map(|(lines, rule_count)| {
            let mut report = BatchReport::for_rules(rule_count);
            for (line, kind) in lines {
                report.counts.records_in += 1;
                report.counts.records_out += 1;
                report.counts.lines_out += 1;
                match kind {
                    0 => {
                        let rules: Vec<u32> = (0..rule_count as u32)
                            .filter(|r| (line + u64::from(*r)) % 2 == 0)
                            .collect();
                        for &r in &rules {
                            report.counts.per_rule[r as usize] += 1;
                        }
                        report.counts.tagged += 1;
                        report.tagged.push(TaggedLine { line, rules });
                    }
                    1 => {
                        let reason = Reason::ALL[(line % 5) as usize];
                        report.counts.unreadable += 1;
                        report.counts.unreadable_by_reason[reason.index()] += 1;
                        report.unreadable.push(UnreadableLine {
                            line,
                            reason,
                            message: format!("why\t{line}"),
                        });
                    }
                    _ => {
                        report.counts.foreign_tags_removed += 1;
                        report.foreign_tags.push(line);
                    }
                }
            }
            report
        })
    }

    proptest! {
        #[test]
        fn a_report_survives_the_boundary(report in report()) {
            let decoded = decode_report(
                &encode_stats(&report.counts),
                &encode_unreadable(&report.unreadable),
                &encode_results(&report),
            ).unwrap();
            let mut expected = report;
            for line in &mut expected.unreadable {
                line.message = line.message.replace('\t', " ");
            }
            prop_assert_eq!(decoded, expected);
        }
    }

    #[test]
    fn the_configuration_is_an_object_of_known_keys_in_either_spelling() {
        assert!(Config::decode(b"[false]").is_err());
        let typo = Config::decode(br#"{"only_matches":true,"typo":1}"#).unwrap_err();
        assert!(typo.0.contains("typo"), "{typo}");
        let js = Config::decode(br#"{"builtinRules":false,"onlyMatches":true}"#).unwrap();
        assert!(!js.builtin_rules && js.only_matches);
        let config = Config {
            keep_foreign_tags: true,
            fault_injection: Some(FaultInjection {
                trap: Some("T".into()),
                ..FaultInjection::default()
            }),
            ..Config::default()
        };
        assert_eq!(Config::decode(&config.encode()).unwrap(), config);
        let ecs = Config::decode(br#"{"tagFormat":"ecs"}"#).unwrap();
        assert_eq!(ecs.tag_format, TagFormat::Ecs);
        let ocsf = Config::decode(br#"{"tag_format":"ocsf"}"#).unwrap();
        assert_eq!(Config::decode(&ocsf.encode()).unwrap(), ocsf);
        assert!(Config::decode(br#"{"tag_format":"splunk"}"#).is_err());
        assert!(
            !String::from_utf8(Config::default().encode())
                .unwrap()
                .contains("tag_format")
        );
    }

    #[test]
    fn documents_that_disagree_are_refused() {
        let mut report = BatchReport::for_rules(1);
        report.counts.tagged = 1;
        let stats = encode_stats(&report.counts);
        assert!(decode_report(&stats, b"", &encode_results(&report)).is_err());
        assert!(decode_stats(&stats[..stats.len() - 8]).is_err());
        assert!(decode_unreadable(b"x\ty\n").is_err());
    }
}
