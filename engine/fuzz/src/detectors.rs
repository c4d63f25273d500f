//! The detectors the record targets run: the built-in rules, and the built-in rules plus rules
//! written to give the cheap scan shapes the built-in ones lack.

use std::sync::OnceLock;

use trailtag_engine::{Detector, RuleSource};

/// Rules whose pins differ from the built-in ones: a pinned key other than `eventName` /
/// `eventSource` made of `-`, `.` and `@` too (a new first byte for the word scanner), `or`
/// groups pinned on one key, pinned values holding a quote, non-ASCII text or nothing at all.
/// Every one is pinned, so that the cheap scan still rules most records out.
const EXTRA_RULES: &[(&str, &str)] = &[
    (
        "fz_odd_key.toml",
        r#"[rule]
id = "fz_odd_key"
name = "fuzz: a pinned key with punctuation"
description = "Pins a top-level key that is neither eventName nor eventSource."
severity = "medium"
risk_score = 47
query = '''
`request-id.x@y` == "fz-1" and stringContains~(userAgent, "Boto")
'''

[rule.context]
fz_first = { from = ["requestParameters.a", "userAgent"], default = "none" }
"#,
    ),
    (
        "fz_union.toml",
        r#"[rule]
id = "fz_union"
name = "fuzz: or groups pinned on one key"
description = "Each branch pins eventName; the scan unites the values."
severity = "high"
risk_score = 73
query = '''
(eventName == "FzA" and n > 1.5)
  or (eventName in ("FzB", "Fz\"C") and not x.y == null)
  or eventName == "Fzé✓"
'''
"#,
    ),
    (
        "fz_source.toml",
        r#"[rule]
id = "fz_source"
name = "fuzz: a pinned eventSource and patterns"
description = "Pins eventSource; the rest are patterns and a regex."
severity = "low"
risk_score = 21
query = '''
eventSource == "fz.amazonaws.com"
  and requestParameters.a like~ ("*x?y*", "z")
  and not errorCode regex "Access.*"
  and eventName != ""
'''
"#,
    ),
    (
        "fz_empty.toml",
        r#"[rule]
id = "fz_empty"
name = "fuzz: an empty pinned value"
description = "Pins eventName to the empty string."
severity = "critical"
risk_score = 99
query = '''
eventName == "" and (errorCode == null or endsWith(errorCode, "Exception"))
'''
"#,
    ),
];

/// Matches every JSON object (a comparison on an absent field is false, so its negation holds):
/// every record is a candidate and every readable one is tagged.
const CATCH_ALL: (&str, &str) = (
    "fz_catch_all.toml",
    r#"[rule]
id = "fz_catch_all"
name = "fuzz: every record"
description = "Tags every JSON object."
severity = "informational"
risk_score = 0
query = 'not fz_absent == "x"'
"#,
);

/// The built-in rules.
pub fn builtin() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(|| build(&[]))
}

/// The built-in rules and [`EXTRA_RULES`].
pub fn extended() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(|| build(EXTRA_RULES))
}

/// The built-in rules, [`EXTRA_RULES`] and a rule that tags every record.
pub fn tag_everything() -> &'static Detector {
    static DETECTOR: OnceLock<Detector> = OnceLock::new();
    DETECTOR.get_or_init(|| {
        let mut rules = EXTRA_RULES.to_vec();
        rules.push(CATCH_ALL);
        build(&rules)
    })
}

fn build(extra: &[(&str, &str)]) -> Detector {
    let sources = extra
        .iter()
        .map(|(name, text)| RuleSource::new(*name, *text));
    match Detector::builder().sources(sources).build() {
        Ok(detector) => detector,
        Err(e) => panic!("the fuzz rules must load: {e}"),
    }
}
