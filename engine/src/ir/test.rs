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
            (Test::Bool(b), Json::Bool(v)) => v == b,
            (Test::NumberEq(n), Json::Number(v)) => v.equals(*n),
            (Test::NumberCmp(op, n), Json::Number(v)) => {
                v.as_f64().partial_cmp(n).is_some_and(|o| op.holds(o))
            }
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
            Test::Missing | Test::Bool(_) | Test::NumberEq(_) | Test::NumberCmp(..) => false,
        }
    }

    /// A rough cost of one evaluation, for ordering tests (cheapest first).
    pub fn cost(&self) -> u32 {
        match self {
            Test::Missing | Test::Bool(_) | Test::NumberEq(_) | Test::NumberCmp(..) => 1,
            Test::StringCmp(..) => 2,
            Test::StringIn(set) => 2 + u32::from(set.values.len() > 8),
            Test::Substring(s) => 4 + u32::try_from(s.needles.len() / 8).unwrap_or(u32::MAX),
            Test::Pattern(_) => 16,
        }
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

    /// The case rule.
    pub fn case(&self) -> Case {
        self.case
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
