//! A valid rule header around a fuzzed query, example record and context path (left out when
//! empty). Loading never panics; a rule that loads has its example checked, and the fast path
//! must be exact on the record under the fuzzed rule (alone, or beside a pinned neighbour: the
//! built-in rules would cost a hundred times more per input than the fuzzed rule itself).
//!
//! Input: one flags byte, then the query, the record and the context path separated by NUL bytes.
//! Flags: bit 0 writes the query as an escaped basic string instead of a `'''` literal (which
//! exercises other offsets), bit 1 is the example's `matches`, bit 2 adds [`NEIGHBOUR`], bit 3
//! leaves the example out (an example must be valid JSON; without it any record is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trailtag_engine::{Detector, RuleSource};
use trailtag_engine_fuzz::fast_path::assert_fast_path_is_exact;
use trailtag_engine_fuzz::text;

/// A rule pinned on both keys the built-in rules use, so that the fuzzed rule's pins share the
/// scan's index with another rule's.
const NEIGHBOUR: &str = r#"[rule]
id = "fz_neighbour"
name = "neighbour"
description = "a pinned rule beside the fuzzed one"
severity = "low"
risk_score = 1
query = 'eventSource == "iam.amazonaws.com" and eventName in ("CreateGroup", "FzA")'
"#;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == 0).map(text);
    let query = parts.next().unwrap_or_default();
    let record = parts.next().unwrap_or_default();
    let context = parts.next().unwrap_or_default();
    let file = rule_file(flags, &query, &record, &context);
    let mut builder = Detector::builder().builtin(false);
    if flags & 4 != 0 {
        builder = builder.source(RuleSource::new("neighbour.toml", NEIGHBOUR));
    }
    let Ok(detector) = builder.source(RuleSource::new("fuzz.toml", file)).build() else {
        return;
    };
    let _ = detector.check_examples();
    assert_fast_path_is_exact(&detector, record.as_bytes());
});

fn rule_file(flags: u8, query: &str, record: &str, context: &str) -> String {
    let query = if flags & 1 == 0 {
        format!("'''\n{query}\n'''")
    } else {
        basic_string(query)
    };
    format!(
        r#"[rule]
id = "fz_rule"
name = "fuzzed"
description = "a fuzzed query"
severity = "medium"
risk_score = 50
query = {query}
{context}{example}"#,
        context = context_section(context),
        example = example(flags, record),
    )
}

/// A `[rule.context]` with one field from the fuzzed path; none when the path is empty (the
/// input then reaches the query and the example without being rejected for its context).
fn context_section(path: &str) -> String {
    if path.is_empty() {
        return String::new();
    }
    format!("\n[rule.context]\nfz = {}\n", basic_string(path))
}

fn example(flags: u8, record: &str) -> String {
    if flags & 8 != 0 {
        return String::new();
    }
    format!(
        "\n[[example]]\nname = \"fuzzed record\"\nmatches = {}\nrecord = {}\n",
        flags & 2 != 0,
        basic_string(record)
    )
}

/// `s` as a TOML basic string: quotes, backslashes and control characters escaped.
fn basic_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
