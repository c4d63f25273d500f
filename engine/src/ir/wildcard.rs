//! Wildcard patterns, lowered to the cheapest equivalent test.
//!
//! Rule languages spell "any run of characters" and "any one character" differently (`*`/`?`
//! in EQL and Sigma, with different escapes), so front ends parse their syntax into
//! [`GlobPart`]s and [`wildcard_test`] picks the test: a pattern without wildcards is an
//! equality (which the cheap scan can pin), `x*` a prefix, `*x` a suffix, `*x*` a substring;
//! anything else becomes an anchored regex whose cost is linear in the value.

use super::{Case, Pattern, StringSet, Substring, SubstringKind, Test};

/// One piece of a wildcard pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobPart {
    /// Characters that must appear as they are (subject to the test's case rule).
    Literal(String),
    /// `*`: any run of characters, the empty one included.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
}

/// Parses a pattern in which `*` and `?` are always wildcards and nothing escapes (EQL's
/// `like` and `:`).
pub fn parse_plain(pattern: &str) -> Vec<GlobPart> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    for c in pattern.chars() {
        let wildcard = match c {
            '*' => GlobPart::AnyRun,
            '?' => GlobPart::AnyChar,
            c => {
                literal.push(c);
                continue;
            }
        };
        if !literal.is_empty() {
            parts.push(GlobPart::Literal(std::mem::take(&mut literal)));
        }
        parts.push(wildcard);
    }
    if !literal.is_empty() {
        parts.push(GlobPart::Literal(literal));
    }
    parts
}

/// The cheapest test equivalent to matching the whole value against `parts`.
pub fn wildcard_test(parts: &[GlobPart], case: Case) -> Result<Test, String> {
    let parts = collapse_runs(parts);
    let literal = |p: &GlobPart| match p {
        GlobPart::Literal(s) => Some(s.clone()),
        _ => None,
    };
    let substring =
        |kind, needle: String| Ok(Test::Substring(Substring::new(kind, case, [needle])));
    match parts.as_slice() {
        [] => Ok(Test::StringIn(StringSet::new(case, [String::new()]))),
        [GlobPart::Literal(s)] => Ok(Test::StringIn(StringSet::new(case, [s.clone()]))),
        [GlobPart::AnyRun] => substring(SubstringKind::Contains, String::new()),
        [GlobPart::AnyRun, middle, GlobPart::AnyRun] if literal(middle).is_some() => {
            substring(SubstringKind::Contains, literal(middle).unwrap_or_default())
        }
        [first, GlobPart::AnyRun] if literal(first).is_some() => substring(
            SubstringKind::StartsWith,
            literal(first).unwrap_or_default(),
        ),
        [GlobPart::AnyRun, last] if literal(last).is_some() => {
            substring(SubstringKind::EndsWith, literal(last).unwrap_or_default())
        }
        _ => Pattern::whole_value(&[to_regex(&parts)], case).map(Test::Pattern),
    }
}

fn collapse_runs(parts: &[GlobPart]) -> Vec<GlobPart> {
    let mut out: Vec<GlobPart> = Vec::with_capacity(parts.len());
    for part in parts {
        match (out.last_mut(), part) {
            (Some(GlobPart::AnyRun), GlobPart::AnyRun) => {}
            (Some(GlobPart::Literal(prev)), GlobPart::Literal(next)) => prev.push_str(next),
            (_, GlobPart::Literal(s)) if s.is_empty() => {}
            _ => out.push(part.clone()),
        }
    }
    out
}

fn to_regex(parts: &[GlobPart]) -> String {
    parts
        .iter()
        .map(|part| match part {
            GlobPart::Literal(s) => regex::escape(s),
            GlobPart::AnyRun => ".*".to_owned(),
            GlobPart::AnyChar => ".".to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::Json;

    fn test(pattern: &str) -> Test {
        wildcard_test(&parse_plain(pattern), Case::Insensitive).unwrap()
    }

    fn holds(pattern: &str, value: &str) -> bool {
        test(pattern).holds(&Json::String(value.to_owned().into()))
    }

    #[test]
    fn simple_shapes_become_cheap_tests() {
        assert!(matches!(test("CreateUser"), Test::StringIn(_)));
        assert!(
            matches!(test("*boto*"), Test::Substring(s) if s.kind() == SubstringKind::Contains)
        );
        assert!(
            matches!(test("aws-cli/*"), Test::Substring(s) if s.kind() == SubstringKind::StartsWith)
        );
        assert!(
            matches!(test("**/admin"), Test::Substring(s) if s.kind() == SubstringKind::EndsWith)
        );
        assert!(matches!(test("a?c*"), Test::Pattern(_)));
    }

    #[test]
    fn every_shape_matches_the_whole_value_like_the_regex_would() {
        for (pattern, value, expected) in [
            ("CreateUser", "createuser", true),
            ("CreateUser", "CreateUsers", false),
            ("*boto*", "x Boto3/1.2", true),
            ("*", "", true),
            ("aws-cli/*", "AWS-CLI/2.0", true),
            ("*/admin", "role/Admin", true),
            ("*/admin", "role/admin/x", false),
            ("a?c*", "abc.d(e)", true),
            ("a.c", "abc", false),
            ("line*", "line1\nline2", true),
        ] {
            assert_eq!(holds(pattern, value), expected, "{pattern:?} on {value:?}");
            let regex = Pattern::whole_value(&[to_regex(&parse_plain(pattern))], Case::Insensitive)
                .unwrap();
            assert_eq!(
                Test::Pattern(regex).holds(&Json::String(value.to_owned().into())),
                expected,
                "regex form of {pattern:?}"
            );
        }
    }
}
