//! What detection produces, apart from how it is written: findings and unreadable records.
//!
//! The detector decides a record and leaves its [`Findings`] in the caller's scratch space: the
//! rules that matched (indexes into the detector's rules), the context values (JSON text), and
//! whether the record arrived with a tag of its own. Writers (`crate::output`) turn findings
//! into bytes in a format; counters and hosts read them directly, so nobody has to parse a
//! tagged record to learn what matched.
//!
//! A record the engine cannot read is not an error but an outcome with a typed [`Reason`],
//! counted per reason.

use std::fmt;
use std::ops::Range;

use crate::rule::{Rule, RuleMeta};

/// The top-level member a tag is written under. The scan looks for it so that a record that
/// arrives with one (a forged tag, or one from an earlier pass) can be found and cleaned.
pub const TAG_KEY: &str = "trailtag";

/// Why a record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// Valid JSON, or text shaped otherwise, but not a JSON object.
    NotAnObject,
    /// Bytes that are not UTF-8.
    InvalidUtf8,
    /// The record ends before its JSON does.
    Truncated,
    /// Nested deeper than [`MAX_NESTING`] levels.
    TooDeep,
    /// Any other JSON syntax error (a number beyond `f64` included).
    InvalidJson,
    /// An envelope (`crate::envelope`) whose record cannot be taken out: base64 or gzip that
    /// does not decode, a string that is not one, nesting past the limit.
    BadEnvelope,
}

/// Objects and arrays may nest this deep (`serde_json`'s recursion limit protects the stack).
pub const MAX_NESTING: usize = 127;

impl Reason {
    /// Every reason, in the order of counters.
    pub const ALL: [Reason; 6] = [
        Reason::NotAnObject,
        Reason::InvalidUtf8,
        Reason::Truncated,
        Reason::TooDeep,
        Reason::InvalidJson,
        Reason::BadEnvelope,
    ];

    /// The stable name used in reports and counters.
    pub fn code(self) -> &'static str {
        match self {
            Reason::NotAnObject => "not_an_object",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::Truncated => "truncated",
            Reason::TooDeep => "too_deep",
            Reason::InvalidJson => "invalid_json",
            Reason::BadEnvelope => "bad_envelope",
        }
    }

    /// The reason with this code.
    pub fn from_code(code: &str) -> Option<Reason> {
        Reason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Its position in [`Reason::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short description for people.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::NotAnObject => "not a JSON object",
            Reason::InvalidUtf8 => "not UTF-8",
            Reason::Truncated => "truncated JSON",
            Reason::TooDeep => "nested too deeply",
            Reason::InvalidJson => "invalid JSON",
            Reason::BadEnvelope => "an envelope that cannot be opened",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A record that could not be read: why, and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The typed reason.
    pub reason: Reason,
    /// What exactly is wrong (the parser's message, with its position in the record).
    pub detail: String,
}

impl Unreadable {
    /// An unreadable record with only a reason.
    pub fn new(reason: Reason) -> Self {
        Self {
            reason,
            detail: reason.describe().to_owned(),
        }
    }
}

impl fmt::Display for Unreadable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// What the detector found in the last record it decided.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    pub(crate) matched: Vec<u32>,
    /// `(name, value)` ranges into `text`, in output order.
    pub(crate) context: Vec<(Range<usize>, Range<usize>)>,
    pub(crate) text: Vec<u8>,
    pub(crate) foreign_tags: usize,
}

impl Findings {
    pub(crate) fn clear(&mut self) {
        self.matched.clear();
        self.context.clear();
        self.text.clear();
        self.foreign_tags = 0;
    }

    /// Indexes (into the detector's rules) of the rules that matched, ascending.
    pub fn matched(&self) -> &[u32] {
        &self.matched
    }

    /// The context: `(name, value as JSON text)`, in output order.
    pub fn context(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.context.iter().map(|(name, value)| {
            let name = std::str::from_utf8(&self.text[name.clone()]).unwrap_or_default();
            (name, &self.text[value.clone()])
        })
    }

    /// How many top-level tag members the record arrived with (0 when it was not looked at:
    /// the scan said it had none).
    pub fn foreign_tags(&self) -> usize {
        self.foreign_tags
    }

    /// Records a context value: the name, then whatever `write` appends as the JSON value.
    pub(crate) fn push_context(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>) -> bool) {
        let name_start = self.text.len();
        self.text.extend_from_slice(name.as_bytes());
        let value_start = self.text.len();
        if write(&mut self.text) {
            self.context
                .push((name_start..value_start, value_start..self.text.len()));
        } else {
            self.text.truncate(name_start);
        }
    }

    /// Whether a context value of this name was recorded.
    pub(crate) fn has_context(&self, name: &str) -> bool {
        self.context
            .iter()
            .any(|(n, _)| &self.text[n.clone()] == name.as_bytes())
    }
}

/// A decided record as writers see it: findings and the rules they refer to.
#[derive(Debug, Clone, Copy)]
pub struct Detection<'a> {
    rules: &'a [Rule],
    findings: &'a Findings,
}

impl<'a> Detection<'a> {
    pub(crate) fn new(rules: &'a [Rule], findings: &'a Findings) -> Self {
        Self { rules, findings }
    }

    /// Whether any rule matched.
    pub fn is_match(&self) -> bool {
        !self.findings.matched.is_empty()
    }

    /// The matching rules' metadata, in rule order.
    pub fn rules(&self) -> impl Iterator<Item = &'a RuleMeta> + 'a {
        let rules = self.rules;
        self.findings
            .matched
            .iter()
            .filter_map(move |&i| rules.get(i as usize).map(Rule::meta))
    }

    /// The findings themselves.
    pub fn findings(&self) -> &'a Findings {
        self.findings
    }
}

/// Classifies a parse failure of `record` without reading the parser's message text.
pub(crate) fn classify(record: &[u8], error: &serde_json::Error) -> Unreadable {
    let reason = if std::str::from_utf8(record).is_err() {
        Reason::InvalidUtf8
    } else if nesting_depth(record) > MAX_NESTING {
        Reason::TooDeep
    } else if error.is_eof() {
        Reason::Truncated
    } else {
        Reason::InvalidJson
    };
    let detail = match reason {
        Reason::InvalidJson => format!("invalid JSON: {error}"),
        _ => format!("invalid JSON ({}): {error}", reason.describe()),
    };
    Unreadable { reason, detail }
}

/// The deepest nesting of objects and arrays outside strings (a cheap bound, not a validation).
fn nesting_depth(record: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &byte in record {
        match (in_string, escaped, byte) {
            (true, true, _) => escaped = false,
            (true, false, b'\\') => escaped = true,
            (true, false, b'"') => in_string = false,
            (true, false, _) => {}
            (false, _, b'"') => in_string = true,
            (false, _, b'{' | b'[') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, _, b'}' | b']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(record: &[u8]) -> Reason {
        let error = crate::json::Json::parse(record).unwrap_err();
        classify(record, &error).reason
    }

    #[test]
    fn parse_failures_get_typed_reasons() {
        assert_eq!(reason(b"{\"a\":\"\xff\"}"), Reason::InvalidUtf8);
        assert_eq!(reason(b"{\"a\":[1,2"), Reason::Truncated);
        assert_eq!(reason(b"{\"a\":1,}"), Reason::InvalidJson);
        assert_eq!(reason(b"{\"\":7e770}"), Reason::InvalidJson);
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(reason(deep.as_bytes()), Reason::TooDeep);
    }

    #[test]
    fn codes_round_trip() {
        for reason in Reason::ALL {
            assert_eq!(Reason::from_code(reason.code()), Some(reason));
            assert_eq!(Reason::ALL[reason.index()], reason);
        }
    }
}
