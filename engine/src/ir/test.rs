//! The typed tests a leaf applies to a value, and how each one decides.

use std::cmp::Ordering;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use regex::{Regex, RegexBuilder};

use super::Case;
use super::fold::{cmp_ascii_folded, fold_str};
use crate::json::{Json, Number};

/// The largest compiled program one pattern may produce (bytes); bounds a hostile rule's memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// What a leaf checks about a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Absent or JSON `null`.
    Missing,
    /// Some value is there, whatever it is (`null` included; an empty array has no value).
    /// Under a text view: some scalar, not a dropped placeholder.
    Exists,
    /// JSON `true` / `false`.
    Bool(bool),
    /// A JSON number equal to this one (integers exactly, otherwise as `f64`).
    NumberEq(Number),
    /// A JSON number ordered against this one.
    NumberCmp(Cmp, f64),
    /// A JSON string ordered bytewise against this one.
    StringCmp(Cmp, String),
    /// A JSON string equal to one of a set.
    StringIn(StringSet),
    /// A JSON string containing, starting or ending with one of a set of needles.
    Substring(Substring),
    /// A JSON string a regular expression matches.
    Pattern(Pattern),
    /// A JSON string that is an IP address inside one of these networks.
    Cidr(Vec<IpNetwork>),
    /// The value seen as text (see [`TextTest`]), tested by a string test.
    Text(TextTest),
    /// The value, as text, equals (under `case`) some value of another field. Evaluated with the
    /// document at hand (`ir::eval`); on its own it holds for nothing.
    FieldRef {
        /// The other field.
        field: crate::path::FieldPath,
        /// How the two compare.
        case: Case,
    },
    /// The value, as text, contains (under `case`) the text of some value of another field
    /// (EQL's `stringContains(a, b)` with a field as its second argument). Evaluated with the
    /// document at hand, like [`Test::FieldRef`].
    FieldContains {
        /// The other field.
        field: crate::path::FieldPath,
        /// How the two compare.
        case: Case,
    },
}

/// A string test applied to a value's text: strings as they are, numbers and booleans as JSON
/// writes them (`true`, `42`, `1.5`). With `drop_placeholders`, the values Elastic's pipeline
/// removes before indexing (`""`, `"-"`, `"none"`) are no value at all: the test is false on them.
/// A number test ([`Test::NumberEq`], [`Test::NumberCmp`]) under a text view reads the text as a
/// number (`"900"` is 900), so that Sigma's `gte` holds for a number written as a string.
#[derive(Debug, Clone, PartialEq)]
pub struct TextTest {
    /// The string test.
    pub inner: Box<Test>,
    /// Whether `""`, `"-"` and `"none"` count as absent.
    pub drop_placeholders: bool,
}

/// An IPv4 or IPv6 network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    address: std::net::IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Parses `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a network of one).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let address: std::net::IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP network (a.b.c.d/n)"))?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("{text:?}: the prefix length must be 0 to {bits}"))?,
            None => bits,
        };
        Ok(Self { address, prefix })
    }

    /// Whether `address` lies in the network (an IPv4 address never lies in an IPv6 network).
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let (a, b, bits) = match (self.address, address) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
                (u128::from(u32::from(n)), u128::from(u32::from(a)), 32)
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => {
                (u128::from(n), u128::from(a), 128)
            }
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (a >> shift) == (b >> shift)
    }
}

impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// The text a scalar is seen as; `None` for objects, arrays and `null`. A fractional number is
/// written as JSON writes it, shortest form that reads back to it (`0.0`, `1.5`, `1e20`), which
/// is the record's own text for the numbers AWS writes: Elasticsearch indexes a number in a
/// keyword or `flattened` field as its source text, and `0.0` must not become `0`.
pub fn scalar_text<'v>(value: &'v Json<'_>) -> Option<std::borrow::Cow<'v, str>> {
    use std::borrow::Cow;
    match value {
        Json::String(s) => Some(Cow::Borrowed(s.as_ref())),
        Json::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Json::Number(Number::Unsigned(n)) => Some(Cow::Owned(n.to_string())),
        Json::Number(Number::Signed(n)) => Some(Cow::Owned(n.to_string())),
        Json::Number(Number::Float(f)) => Some(Cow::Owned(
            serde_json::Number::from_f64(*f).map_or_else(|| f.to_string(), |n| n.to_string()),
        )),
        Json::Null | Json::Array(_) | Json::Object(_) => None,
    }
}

/// Whether Elastic's pipeline drops `value` as a placeholder (`""`, `"-"`, `"none"`).
pub fn is_placeholder(value: &str) -> bool {
    matches!(value, "" | "-" | "none")
}

/// An ordering comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Cmp {
    /// Whether `ordering` (value compared with the literal) satisfies this comparison.
    pub fn holds(self, ordering: Ordering) -> bool {
        match self {
            Cmp::Lt => ordering.is_lt(),
            Cmp::Le => ordering.is_le(),
            Cmp::Gt => ordering.is_gt(),
            Cmp::Ge => ordering.is_ge(),
        }
    }

    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

impl Test {
    /// Whether the test holds for one (present) value.
    pub fn holds(&self, value: &Json<'_>) -> bool {
        match (self, value) {
            (Test::Missing, Json::Null) => true,
            (Test::Exists, _) => true,
            (Test::Bool(b), Json::Bool(v)) => v == b,
            (Test::NumberEq(n), Json::Number(v)) => v.equals(*n),
            (Test::NumberCmp(op, n), Json::Number(v)) => {
                v.as_f64().partial_cmp(n).is_some_and(|o| op.holds(o))
            }
            (Test::Text(text), value) => text.holds(value),
            (_, Json::String(s)) => self.holds_for_str(s),
            _ => false,
        }
    }

    fn holds_for_str(&self, s: &str) -> bool {
        match self {
            Test::StringCmp(op, v) => op.holds(s.cmp(v.as_str())),
            Test::StringIn(set) => set.contains(s),
            Test::Substring(substring) => substring.matches(s),
            Test::Pattern(pattern) => pattern.regex.is_match(s),
            Test::Cidr(networks) => s
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| networks.iter().any(|n| n.contains(ip))),
            Test::Missing
            | Test::Exists
            | Test::Bool(_)
            | Test::NumberEq(_)
            | Test::NumberCmp(..)
            | Test::Text(_)
            | Test::FieldRef { .. }
            | Test::FieldContains { .. } => false,
        }
    }

    /// A rough cost of one evaluation, for ordering tests (cheapest first).
    pub fn cost(&self) -> u32 {
        match self {
            Test::Missing
            | Test::Exists
            | Test::Bool(_)
            | Test::NumberEq(_)
            | Test::NumberCmp(..) => 1,
            Test::StringCmp(..) => 2,
            Test::StringIn(set) => 2 + u32::from(set.values.len() > 8),
            Test::Substring(s) => 4 + u32::try_from(s.needles.len() / 8).unwrap_or(u32::MAX),
            Test::Pattern(_) => 16,
            Test::Cidr(_) => 8,
            Test::Text(text) => 1 + text.inner.cost(),
            Test::FieldRef { .. } | Test::FieldContains { .. } => 12,
        }
    }
}

impl TextTest {
    /// A text view of `inner` (a string test).
    pub fn new(inner: Test, drop_placeholders: bool) -> Self {
        Self {
            inner: Box::new(inner),
            drop_placeholders,
        }
    }

    /// Whether the value's text satisfies the inner test.
    pub fn holds(&self, value: &Json<'_>) -> bool {
        let Some(text) = scalar_text(value) else {
            return false;
        };
        if self.drop_placeholders && is_placeholder(&text) {
            return false;
        }
        match self.inner.as_ref() {
            Test::NumberEq(_) | Test::NumberCmp(..) => {
                number_of(value).is_some_and(|n| self.inner.holds(&Json::Number(n)))
            }
            inner => inner.holds(&Json::String(std::borrow::Cow::Borrowed(text.as_ref()))),
        }
    }
}

/// The number a scalar is under a text view: a JSON number, or a string that is one as JSON
/// writes it (`"900"`, `"1.5e3"`; not `"0x10"` or `"inf"`).
fn number_of(value: &Json<'_>) -> Option<Number> {
    match value {
        Json::Number(n) => Some(*n),
        Json::String(s) => match Json::parse(s.as_bytes()) {
            Ok(Json::Number(n)) => Some(n),
            _ => None,
        },
        _ => None,
    }
}

/// A set of strings a value must equal, with its case rule.
///
/// The values are kept sorted and without repeats; an insensitive set keeps them folded
/// (see [`super::fold_char`]), so that lookups never need the original spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringSet {
    case: Case,
    values: Vec<String>,
}

impl StringSet {
    /// A set of `values` compared with `case`.
    pub fn new(case: Case, values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = match case {
            Case::Sensitive => values.into_iter().collect(),
            Case::Insensitive => values
                .into_iter()
                .map(|v| fold_str(&v).into_owned())
                .collect(),
        };
        values.sort();
        values.dedup();
        Self { case, values }
    }

    /// The case rule.
    pub fn case(&self) -> Case {
        self.case
    }

    /// The values: as written when case-sensitive, folded when not.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// This set and `other` (same case rule) as one set.
    pub fn union(&self, other: &StringSet) -> StringSet {
        StringSet::new(self.case, self.values.iter().chain(&other.values).cloned())
    }

    /// Whether `s` is in the set under its case rule.
    pub fn contains(&self, s: &str) -> bool {
        match self.case {
            Case::Sensitive => self.values.binary_search_by(|v| v.as_str().cmp(s)).is_ok(),
            Case::Insensitive if s.is_ascii() => self
                .values
                .binary_search_by(|v| cmp_ascii_folded(s, v).reverse())
                .is_ok(),
            Case::Insensitive => {
                let folded = fold_str(s);
                self.values
                    .binary_search_by(|v| v.as_str().cmp(&folded))
                    .is_ok()
            }
        }
    }
}

/// Where a needle must occur in the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubstringKind {
    /// Anywhere.
    Contains,
    /// At the start.
    StartsWith,
    /// At the end.
    EndsWith,
}

/// Needles that must occur in a value (any one of them), with a case rule.
#[derive(Debug, Clone)]
pub struct Substring {
    kind: SubstringKind,
    case: Case,
    /// Sorted, unique; folded when insensitive.
    needles: Vec<String>,
    /// For `Contains` with several needles, or insensitive ASCII needles: one automaton.
    automaton: Option<AhoCorasick>,
}

impl PartialEq for Substring {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, self.case, &self.needles) == (other.kind, other.case, &other.needles)
    }
}

impl Substring {
    /// A test that holds when the value has one of `needles` at the place `kind` says.
    pub fn new(kind: SubstringKind, case: Case, needles: impl IntoIterator<Item = String>) -> Self {
        let set = StringSet::new(case, needles);
        let needles = set.values;
        let ascii = needles.iter().all(|n| n.is_ascii());
        let wants_automaton = kind == SubstringKind::Contains
            && (needles.len() > 1 || case == Case::Insensitive)
            && (case == Case::Sensitive || ascii);
        let automaton = wants_automaton
            .then(|| {
                AhoCorasickBuilder::new()
                    .ascii_case_insensitive(case == Case::Insensitive)
                    .build(&needles)
                    .ok()
            })
            .flatten();
        Self {
            kind,
            case,
            needles,
            automaton,
        }
    }

    /// Where the needles must occur.
    pub fn kind(&self) -> SubstringKind {
        self.kind
    }

    /// The case rule.
    pub fn case(&self) -> Case {
        self.case
    }

    /// The needles (folded when insensitive).
    pub fn needles(&self) -> &[String] {
        &self.needles
    }

    /// This test and `other` (same kind and case) as one.
    pub fn union(&self, other: &Substring) -> Substring {
        Substring::new(
            self.kind,
            self.case,
            self.needles.iter().chain(&other.needles).cloned(),
        )
    }

    fn matches(&self, s: &str) -> bool {
        let ascii_fast_path = self.case == Case::Sensitive
            || (s.is_ascii() && self.needles.iter().all(|n| n.is_ascii()));
        if !ascii_fast_path {
            let folded = fold_str(s);
            return self
                .needles
                .iter()
                .any(|n| self.occurs(&folded, n, Case::Sensitive));
        }
        if let (SubstringKind::Contains, Some(automaton)) = (self.kind, &self.automaton) {
            return automaton.is_match(s);
        }
        self.needles.iter().any(|n| self.occurs(s, n, self.case))
    }

    /// One needle in `s`; with `Insensitive` both are ASCII.
    fn occurs(&self, s: &str, needle: &str, case: Case) -> bool {
        let (s, n) = (s.as_bytes(), needle.as_bytes());
        let eq = |a: &[u8]| match case {
            Case::Sensitive => a == n,
            Case::Insensitive => a.eq_ignore_ascii_case(n),
        };
        match self.kind {
            SubstringKind::StartsWith => s.get(..n.len()).is_some_and(eq),
            SubstringKind::EndsWith => s.len() >= n.len() && eq(&s[s.len() - n.len()..]),
            SubstringKind::Contains => n.is_empty() || s.windows(n.len()).any(eq),
        }
    }
}

/// A regular expression (Rust `regex` syntax), matched against string values.
#[derive(Debug, Clone)]
pub struct Pattern {
    source: String,
    case: Case,
    regex: Regex,
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        (&self.source, self.case) == (&other.source, other.case)
    }
}

impl Pattern {
    /// Compiles `source` as written: it matches anywhere unless it anchors itself.
    pub fn new(source: &str, case: Case) -> Result<Self, String> {
        let regex = RegexBuilder::new(source)
            .case_insensitive(case == Case::Insensitive)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("invalid pattern: {e}"))?;
        Ok(Self {
            source: source.to_owned(),
            case,
            regex,
        })
    }

    /// A pattern that must match the whole value: one of `alternatives` (regex sources).
    pub fn whole_value(alternatives: &[String], case: Case) -> Result<Self, String> {
        let joined: Vec<String> = alternatives.iter().map(|a| format!("(?:{a})")).collect();
        Self::new(&format!("(?s)^(?:{})$", joined.join("|")), case)
    }

    /// The regex source.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The longest literal text every match contains (at least three bytes), for the cheap
    /// scan: a literal that is a required piece of the pattern's top-level sequence
    /// (`.+:assumed-role/aws:.+` always contains `:assumed-role/aws:`). `None` when there is
    /// none, or the pattern sets flags inline (which could change how a literal matches).
    pub fn required_literal(&self) -> Option<String> {
        // Non-capturing groups and the dot-all flag the wildcard translation writes are
        // harmless; any other inline flag (`(?i)`, `(?-s)`) is not judged.
        if self
            .source
            .replacen("(?s)", "", 1)
            .replace("(?:", "")
            .contains("(?")
        {
            return None;
        }
        let hir = regex_syntax::ParserBuilder::new()
            .dot_matches_new_line(true)
            .build()
            .parse(&self.source)
            .ok()?;
        longest_required_literal(&hir)
            .filter(|l| l.len() >= 3)
            .and_then(|l| String::from_utf8(l).ok())
    }

    /// The case rule.
    pub fn case(&self) -> Case {
        self.case
    }
}

/// The longest literal that every match of `hir` contains.
fn longest_required_literal(hir: &regex_syntax::hir::Hir) -> Option<Vec<u8>> {
    use regex_syntax::hir::HirKind;
    match hir.kind() {
        HirKind::Literal(literal) => Some(literal.0.to_vec()),
        HirKind::Capture(capture) => longest_required_literal(&capture.sub),
        HirKind::Concat(parts) => parts
            .iter()
            .filter_map(longest_required_literal)
            .max_by_key(Vec::len),
        HirKind::Repetition(repetition) if repetition.min >= 1 => {
            longest_required_literal(&repetition.sub)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_literals_are_pieces_every_match_has() {
        let literal = |source: &str| {
            Pattern::new(source, Case::Sensitive)
                .unwrap()
                .required_literal()
        };
        assert_eq!(
            literal(".+:assumed-role/aws:.+").as_deref(),
            Some(":assumed-role/aws:")
        );
        assert_eq!(
            literal("(?s)^(?:.*S3 Browser.*x)$").as_deref(),
            Some("S3 Browser")
        );
        assert_eq!(literal("abc|def"), None, "an alternation requires neither");
        assert_eq!(
            literal("(abcd)?x"),
            None,
            "an optional group requires nothing"
        );
        assert_eq!(literal("(?i)abcd"), None, "inline flags");
        assert_eq!(literal("a.b"), None, "too short");
    }

    fn s(v: &str) -> Json<'static> {
        Json::String(v.to_owned().into())
    }

    #[test]
    fn string_sets_compare_by_case_rule() {
        let exact = StringSet::new(Case::Sensitive, ["b".into(), "a".into(), "a".into()]);
        assert_eq!(exact.values(), ["a", "b"]);
        assert!(exact.contains("a") && !exact.contains("A"));
        let folded = StringSet::new(Case::Insensitive, ["CreateKey".into(), "x".into()]);
        assert!(folded.contains("createkey") && folded.contains("CREATEKEY"));
        assert!(
            folded.contains("Create\u{212A}ey"),
            "Kelvin sign folds to K"
        );
        assert!(!folded.contains("CreateKeys"));
    }

    #[test]
    fn substrings_in_every_place_and_case() {
        let contains = Substring::new(
            SubstringKind::Contains,
            Case::Insensitive,
            ["boto".into(), "CLI".into()],
        );
        assert!(contains.matches("aws-cli/2") && contains.matches("Boto3/1"));
        assert!(!contains.matches("terraform"));
        assert!(
            contains.matches("\u{17F}dk-cli"),
            "non-ASCII haystack folds"
        );
        let starts = Substring::new(SubstringKind::StartsWith, Case::Sensitive, ["AWS-".into()]);
        assert!(starts.matches("AWS-x") && !starts.matches("aws-x") && !starts.matches("AW"));
        let ends = Substring::new(
            SubstringKind::EndsWith,
            Case::Insensitive,
            ["/ADMIN".into()],
        );
        assert!(ends.matches("role/admin") && !ends.matches("admin/x"));
    }

    #[test]
    fn typed_tests_hold_only_for_their_type() {
        assert!(Test::Bool(true).holds(&Json::Bool(true)));
        assert!(!Test::Bool(true).holds(&s("true")));
        assert!(Test::NumberCmp(Cmp::Ge, 900.0).holds(&Json::Number(Number::Unsigned(900))));
        assert!(!Test::NumberEq(Number::Unsigned(1)).holds(&s("1")));
        assert!(Test::StringCmp(Cmp::Gt, "b".into()).holds(&s("c")));
        let pattern = Pattern::whole_value(&["a.c.*".into()], Case::Sensitive).unwrap();
        assert!(Test::Pattern(pattern.clone()).holds(&s("abc.d(e)")));
        assert!(!Test::Pattern(pattern).holds(&s("xabc")));
        assert!(Pattern::new("(", Case::Sensitive).is_err());
    }

    #[test]
    fn number_tests_under_a_text_view_read_strings_as_numbers() {
        let ge = Test::Text(TextTest::new(Test::NumberCmp(Cmp::Ge, 900.0), false));
        assert!(ge.holds(&Json::Number(Number::Unsigned(900))));
        assert!(ge.holds(&s("901.5")) && ge.holds(&s("1e3")));
        assert!(!ge.holds(&s("899")) && !ge.holds(&s("many")) && !ge.holds(&s("inf")));
        assert!(!ge.holds(&Json::Bool(true)));
        let eq = Test::Text(TextTest::new(Test::NumberEq(Number::Unsigned(42)), false));
        assert!(eq.holds(&s("42")) && !eq.holds(&s("42x")));
    }
}
