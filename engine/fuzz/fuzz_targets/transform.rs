//! The NDJSON batch transform on any bytes, with every combination of options.
//!
//! Input: one byte choosing the detector (built-in rules, plus rules with other pins, plus a
//! rule that tags every object), then the batch. Properties:
//!
//! - conservation: without `only_matches`, one output line per input line, every line ending
//!   in `\n`; an untagged line is its input line byte for byte; a tagged one is its input (less
//!   any top-level `trailtag` member) with one `"trailtag"` member inserted, and the counts say so;
//! - `validate` changes counts, never bytes; with it, exactly the lines that are not JSON objects
//!   are unreadable; without it, a subset of them;
//! - `only_matches` writes exactly the tagged lines;
//! - tagging is idempotent: transforming the output again gives the output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trailtag_engine::json::Json;
use trailtag_engine::{
    BatchReport, Detector, Options, Scratch, TAG_KEY, TAG_SCHEMA_VERSION, lines,
};
use trailtag_engine_fuzz::detectors;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, input)) = data.split_first() else {
        return;
    };
    let detector = match choice % 3 {
        0 => detectors::builtin(),
        1 => detectors::extended(),
        _ => detectors::tag_everything(),
    };
    let (out, report) = transform(detector, input, false, false);
    let tagged = check_conservation(input, &out, &report);
    let (validated_out, validated) = transform(detector, input, false, true);
    assert!(validated_out == out, "validate changed the output");
    check_unreadable(input, &report, &validated);
    for validate in [false, true] {
        let (only, only_report) = transform(detector, input, true, validate);
        assert!(
            only == tagged,
            "only_matches wrote other lines than the tagged ones"
        );
        assert_eq!(only_report.counts.tagged, report.counts.tagged);
        assert_eq!(only_report.counts.per_rule, report.counts.per_rule);
    }
    let (again, _) = transform(detector, &out, false, false);
    assert!(again == out, "tagging the output again changed it");
});

fn transform(
    detector: &Detector,
    input: &[u8],
    only_matches: bool,
    validate: bool,
) -> (Vec<u8>, BatchReport) {
    let options = Options {
        only_matches,
        validate,
        ..Options::default()
    };
    let mut out = Vec::new();
    let report = detector.transform_ndjson(input, &options, &mut Scratch::default(), &mut out);
    (out, report)
}

/// Checks the line-for-line correspondence and the counts; returns the tagged lines.
fn check_conservation(input: &[u8], out: &[u8], report: &BatchReport) -> Vec<u8> {
    let input_lines: Vec<&[u8]> = lines(input).collect();
    let output_lines: Vec<&[u8]> = lines(out).collect();
    assert_eq!(output_lines.len(), input_lines.len(), "line count");
    assert!(
        out.is_empty() || out.ends_with(b"\n"),
        "unterminated last line"
    );
    let counts = &report.counts;
    assert_eq!(counts.lines_out, input_lines.len() as u64);
    assert_eq!(counts.records_out, counts.records_in);
    assert_eq!(counts.records_in + counts.blank, input_lines.len() as u64);
    assert_eq!(counts.unreadable, report.unreadable.len() as u64);
    assert_eq!(counts.tagged, report.tagged.len() as u64);
    assert!(counts.per_rule.iter().sum::<u64>() >= counts.tagged);
    let tagged_lines: Vec<u64> = report.tagged.iter().map(|t| t.line).collect();
    let mut tagged = Vec::new();
    for (index, (input_line, output_line)) in (0u64..).zip(input_lines.iter().zip(&output_lines)) {
        if tagged_lines.contains(&index) {
            check_tagged(input_line, output_line);
            tagged.extend_from_slice(output_line);
            tagged.push(b'\n');
        } else if input_line != output_line {
            assert!(
                report.foreign_tags.contains(&index),
                "an untagged line changed"
            );
            check_stripped(input_line, output_line);
        }
    }
    tagged
}

/// `output` is `input` (less its top-level `trailtag` members) with a tag member added.
fn check_tagged(input: &[u8], output: &[u8]) {
    let parsed = Json::parse(input);
    let Ok(Json::Object(members)) = &parsed else {
        panic!("a record that is not a JSON object was changed: {parsed:?}");
    };
    let mut before = unbounded_value(input);
    let mut after = unbounded_value(output);
    let (Some(before), Some(after)) = (before.as_object_mut(), after.as_object_mut()) else {
        panic!("a tagged record is not an object");
    };
    before.remove(TAG_KEY);
    check_tag(after.remove(TAG_KEY));
    assert!(before == after, "tagging changed other members");
    if members.iter().all(|(key, _)| key != TAG_KEY) {
        check_insertion(input, output);
    }
}

/// A record that matched nothing but arrived with a tag: the same members, less the tag.
fn check_stripped(input: &[u8], output: &[u8]) {
    let mut before = unbounded_value(input);
    let after = unbounded_value(output);
    let (Some(before), Some(after)) = (before.as_object_mut(), after.as_object()) else {
        panic!("a stripped record is not an object");
    };
    assert!(before.remove(TAG_KEY).is_some(), "nothing to strip");
    assert!(!after.contains_key(TAG_KEY), "a foreign tag survived");
    assert!(before == after, "stripping changed other members");
}

/// Without an old tag to remove, the output is the input with one member inserted in one place.
fn check_insertion(input: &[u8], output: &[u8]) {
    assert!(output.len() > input.len());
    let at = input.iter().zip(output).take_while(|(a, b)| a == b).count();
    let inserted = output.len() - input.len();
    assert!(
        output[at + inserted..] == input[at..],
        "bytes after the tag moved"
    );
    let member = &output[at..at + inserted];
    let member = member.strip_prefix(b",").unwrap_or(member);
    let Some(tag) = member.strip_prefix(format!("\"{TAG_KEY}\":").as_bytes()) else {
        panic!("the insertion is not a trailtag member");
    };
    check_tag(Some(unbounded_value(tag)));
}

fn check_tag(tag: Option<Value>) {
    let Some(tag) = tag else {
        panic!("no trailtag member");
    };
    assert_eq!(tag["version"], TAG_SCHEMA_VERSION);
    assert!(tag["severity"].is_string() && tag["risk_score"].is_u64());
    assert!(tag["context"].is_object());
    let detections = tag["detections"].as_array().map_or(&[][..], Vec::as_slice);
    assert!(!detections.is_empty(), "a tag without detections");
    assert!(detections.iter().all(|d| d["id"].is_string()));
}

/// Parses JSON without serde_json's recursion limit: a tag copies record values one level deeper.
fn unbounded_value(bytes: &[u8]) -> Value {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.disable_recursion_limit();
    match serde::Deserialize::deserialize(&mut de).and_then(|v: Value| de.end().map(|()| v)) {
        Ok(value) => value,
        Err(e) => panic!("a tagged record is not valid JSON: {e}"),
    }
}

/// With `validate`, exactly the non-blank lines that are not JSON objects are unreadable; without
/// it, some of those.
fn check_unreadable(input: &[u8], plain: &BatchReport, validated: &BatchReport) {
    let expected: Vec<u64> = (0u64..)
        .zip(lines(input))
        .filter(|(_, line)| !is_blank(line) && !matches!(Json::parse(line), Ok(Json::Object(_))))
        .map(|(index, _)| index)
        .collect();
    let validated: Vec<u64> = validated.unreadable.iter().map(|u| u.line).collect();
    assert_eq!(validated, expected, "validated unreadable lines");
    let plain: Vec<u64> = plain.unreadable.iter().map(|u| u.line).collect();
    assert!(plain.iter().all(|line| expected.contains(line)));
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}
