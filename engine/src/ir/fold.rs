//! Case folding: one canonical form per character, so that insensitive tests agree everywhere.
//!
//! Two characters are equal ignoring case when they fold to the same canonical character: the
//! smallest character of their Unicode simple case-folding orbit (the equivalence the `regex`
//! crate's `(?i)` uses, taken from `regex-syntax`'s tables, so that wildcards, regexes and
//! equality agree). For ASCII that is the upper-case letter: the orbit of `k` is `K`, `k` and
//! the Kelvin sign U+212A, whose smallest member is `K`. A consequence the fast paths rely on:
//! two ASCII strings are equal under this folding exactly when they are equal ignoring ASCII
//! case, and an ASCII string can equal a non-ASCII one (`sk` and `ſK`), so only a pair of ASCII
//! strings may take the ASCII shortcut.

use std::borrow::Cow;
use std::cmp::Ordering;

use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};

/// The canonical case-folded form of `c`.
pub fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_uppercase();
    }
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    class.case_fold_simple();
    class.ranges().first().map_or(c, ClassUnicodeRange::start)
}

/// `s` with every character folded (borrowed when nothing changes).
pub fn fold_str(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_lowercase()) {
            return Cow::Owned(s.to_ascii_uppercase());
        }
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(fold_char).collect())
}

/// Compares an ASCII string, folded on the fly, with an already folded string.
pub(crate) fn cmp_ascii_folded(ascii: &str, folded: &str) -> Ordering {
    ascii
        .bytes()
        .map(|b| b.to_ascii_uppercase())
        .cmp(folded.bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_folds_to_upper_case_and_orbits_share_one_form() {
        assert_eq!(fold_char('a'), 'A');
        assert_eq!(fold_char('1'), '1');
        assert_eq!(fold_char('\u{212A}'), 'K', "Kelvin sign");
        assert_eq!(fold_char('k'), 'K');
        assert_eq!(fold_char('ſ'), 'S', "long s");
        assert_eq!(fold_char('é'), fold_char('É'));
        assert_eq!(fold_str("Create\u{212A}ey"), "CREATEKEY");
        assert!(matches!(fold_str("ABC"), Cow::Borrowed(_)));
    }

    #[test]
    fn folding_agrees_with_the_regex_crate() {
        for (a, b) in [
            ("k", "\u{212A}"),
            ("ß", "ẞ"),
            ("Σ", "ς"),
            ("é", "É"),
            ("i", "İ"),
        ] {
            let regex = regex::RegexBuilder::new(&format!("^{}$", regex::escape(a)))
                .case_insensitive(true)
                .build()
                .unwrap();
            assert_eq!(
                regex.is_match(b),
                fold_str(a) == fold_str(b),
                "{a:?} vs {b:?}"
            );
        }
    }
}
