//! Sigma's value strings: wildcards and their escapes, placeholders, and the modifiers that
//! transform a value into the strings it stands for.
//!
//! A value is parsed once into [`Part`]s ([`parse`]), following the specification's escape
//! rules exactly: `*` is any run of characters and `?` one character; a backslash escapes only
//! `*`, `?` and itself (`\*` is a star, `\\*` a backslash and a wildcard, `\\\*` a backslash and
//! a star); before any other character, and at the end, a backslash is itself (`\x` is `\x`, and
//! three or four backslashes before a letter are two). With the `expand` modifier `%name%` is a
//! placeholder and `\%` a plain percent sign.
//!
//! The transformation modifiers then work on the parsed value, in the order the key gives them
//! (the specification's rule), each turning one value into one or more alternatives (a value
//! stands for the OR of its alternatives):
//! - `contains`, `startswith`, `endswith` add `*` around, after or before it;
//! - `windash` gives every combination of `-`, `/`, `–`, `—` and `―` for each `-` or `/` at the
//!   start of a word (pySigma's `\B[-/]\b`, applied to each run of plain characters);
//! - `utf16le`/`wide`, `utf16be` and `utf16` (a byte-order mark, then little-endian) encode the
//!   value's characters as bytes, which only base64 can turn back into text, so one of the
//!   base64 modifiers must follow;
//! - `base64` encodes the value (its UTF-8 bytes, or the UTF-16 bytes), with padding;
//!   `base64offset` gives pySigma's three variants, one per alignment of the value inside a
//!   longer encoded text: for `i` in 0..3, `b64(i spaces + value)[(0, 2, 3)[i] ..
//!   end]`, where the end drops `(0, 3, 2)[(len + i) % 3]` characters (`len` counted in bytes,
//!   which is pySigma's character count for the ASCII values it accepts);
//! - placeholders are replaced last, by each of their configured values (parsed with the
//!   wildcard rules, as pySigma's value-list placeholders are), every combination.
//!
//! Wildcards and placeholders cannot be encoded: `base64` of a value with `*` is an error (put
//! `contains` after it). A value may not expand into more than [`MAX_ALTERNATIVES`] strings.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Placeholders;
use crate::ir::wildcard::GlobPart;

/// The most strings one value may stand for after `windash` and placeholders.
pub(super) const MAX_ALTERNATIVES: usize = 4096;

/// The characters `windash` puts where a `-` or `/` starts a word.
pub(super) const WINDASH_CHARACTERS: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// One piece of a parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Part {
    /// Characters that must appear as they are.
    Literal(String),
    /// `*`
    AnyRun,
    /// `?`
    AnyChar,
    /// `%name%` under `expand`.
    Placeholder(String),
}

/// A UTF-16 encoding modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Utf16 {
    /// `utf16le`, `wide`
    Le,
    /// `utf16be`
    Be,
    /// `utf16`: a byte-order mark, then little-endian.
    WithBom,
}

/// A modifier that transforms values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transform {
    Contains,
    StartsWith,
    EndsWith,
    Windash,
    Base64,
    Base64Offset,
    Encode(Utf16),
}

impl Transform {
    /// The modifier's name as written.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Contains => "contains",
            Transform::StartsWith => "startswith",
            Transform::EndsWith => "endswith",
            Transform::Windash => "windash",
            Transform::Base64 => "base64",
            Transform::Base64Offset => "base64offset",
            Transform::Encode(Utf16::Le) => "utf16le",
            Transform::Encode(Utf16::Be) => "utf16be",
            Transform::Encode(Utf16::WithBom) => "utf16",
        }
    }
}

/// Parses a value under Sigma's wildcard and escape rules (`expand`: placeholders too).
pub(super) fn parse(value: &str, expand: bool) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        let special = match c {
            '\\' => match chars.peek() {
                Some(&next @ ('*' | '?' | '\\')) => {
                    chars.next();
                    literal.push(next);
                    continue;
                }
                Some('%') if expand => {
                    chars.next();
                    literal.push('%');
                    continue;
                }
                _ => {
                    literal.push('\\');
                    continue;
                }
            },
            '*' => Part::AnyRun,
            '?' => Part::AnyChar,
            '%' if expand => match placeholder_name(chars.clone()) {
                Some(name) => {
                    chars.nth(name.chars().count());
                    Part::Placeholder(name)
                }
                None => {
                    literal.push('%');
                    continue;
                }
            },
            c => {
                literal.push(c);
                continue;
            }
        };
        if !literal.is_empty() {
            parts.push(Part::Literal(std::mem::take(&mut literal)));
        }
        parts.push(special);
    }
    if !literal.is_empty() {
        parts.push(Part::Literal(literal));
    }
    parts
}

/// The name of a placeholder whose opening `%` was just read: word characters, then `%`.
fn placeholder_name(rest: impl Iterator<Item = char>) -> Option<String> {
    let mut name = String::new();
    for c in rest {
        match c {
            '%' if !name.is_empty() => return Some(name),
            c if c.is_alphanumeric() || c == '_' => name.push(c),
            _ => return None,
        }
    }
    None
}

/// A value on its way through the modifiers: strings with wildcards, or encoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    Text(Vec<Vec<Part>>),
    Bytes(Vec<Vec<u8>>),
}

/// Runs `value` through `transforms` and the placeholders: the glob patterns it stands for.
pub(super) fn expand(
    value: Vec<Part>,
    transforms: &[Transform],
    placeholders: &Placeholders,
) -> Result<Vec<Vec<GlobPart>>, String> {
    let mut stage = Stage::Text(vec![value]);
    for &transform in transforms {
        stage = apply(stage, transform)?;
    }
    match stage {
        Stage::Text(alternatives) => substitute(alternatives, placeholders),
        Stage::Bytes(_) => {
            Err("a UTF-16 modifier must be followed by `base64` or `base64offset`".into())
        }
    }
}

fn apply(stage: Stage, transform: Transform) -> Result<Stage, String> {
    match (stage, transform) {
        (Stage::Text(alternatives), Transform::Contains) => Ok(Stage::Text(
            alternatives
                .into_iter()
                .map(|a| surround(a, true, true))
                .collect(),
        )),
        (Stage::Text(alternatives), Transform::StartsWith) => Ok(Stage::Text(
            alternatives
                .into_iter()
                .map(|a| surround(a, false, true))
                .collect(),
        )),
        (Stage::Text(alternatives), Transform::EndsWith) => Ok(Stage::Text(
            alternatives
                .into_iter()
                .map(|a| surround(a, true, false))
                .collect(),
        )),
        (Stage::Text(alternatives), Transform::Windash) => windash(&alternatives).map(Stage::Text),
        (Stage::Text(alternatives), Transform::Encode(encoding)) => {
            let bytes = plain_texts(&alternatives, transform)?;
            Ok(Stage::Bytes(
                bytes.iter().map(|t| utf16(t, encoding)).collect(),
            ))
        }
        (Stage::Text(alternatives), Transform::Base64 | Transform::Base64Offset) => {
            let texts = plain_texts(&alternatives, transform)?;
            let bytes: Vec<Vec<u8>> = texts.into_iter().map(String::into_bytes).collect();
            Ok(encode(&bytes, transform))
        }
        (Stage::Bytes(bytes), Transform::Base64 | Transform::Base64Offset) => {
            Ok(encode(&bytes, transform))
        }
        (Stage::Bytes(_), other) => Err(format!(
            "`{}` cannot follow a UTF-16 modifier: `base64` or `base64offset` must",
            other.name()
        )),
    }
}

/// `*` before (`start`) and after (`end`) the value, unless one is there already.
fn surround(mut parts: Vec<Part>, start: bool, end: bool) -> Vec<Part> {
    if start && parts.first() != Some(&Part::AnyRun) {
        parts.insert(0, Part::AnyRun);
    }
    if end && parts.last() != Some(&Part::AnyRun) {
        parts.push(Part::AnyRun);
    }
    parts
}

/// The text of each alternative, which must hold no wildcard or placeholder.
fn plain_texts(alternatives: &[Vec<Part>], transform: Transform) -> Result<Vec<String>, String> {
    alternatives
        .iter()
        .map(|parts| {
            parts
                .iter()
                .map(|part| match part {
                    Part::Literal(s) => Ok(s.as_str()),
                    Part::AnyRun | Part::AnyChar => Err(format!(
                        "`{}` cannot encode a wildcard: escape it (`\\*`, `\\?`), or put `contains`, `startswith` or `endswith` after `{}`",
                        transform.name(),
                        transform.name()
                    )),
                    Part::Placeholder(name) => Err(format!(
                        "`{}` cannot encode the placeholder `%{name}%`",
                        transform.name()
                    )),
                })
                .collect::<Result<String, String>>()
        })
        .collect()
}

fn utf16(text: &str, encoding: Utf16) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() * 2 + 2);
    if encoding == Utf16::WithBom {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for unit in text.encode_utf16() {
        match encoding {
            Utf16::Be => out.extend_from_slice(&unit.to_be_bytes()),
            Utf16::Le | Utf16::WithBom => out.extend_from_slice(&unit.to_le_bytes()),
        }
    }
    out
}

fn encode(values: &[Vec<u8>], transform: Transform) -> Stage {
    let texts = values.iter().flat_map(|bytes| match transform {
        Transform::Base64Offset => base64_offsets(bytes).to_vec(),
        _ => vec![STANDARD.encode(bytes)],
    });
    Stage::Text(texts.map(|t| vec![Part::Literal(t)]).collect())
}

/// pySigma's `base64offset`: the stable middle of `value` encoded at each of three alignments.
pub(super) fn base64_offsets(value: &[u8]) -> [String; 3] {
    const START: [usize; 3] = [0, 2, 3];
    const END_TRIM: [usize; 3] = [0, 3, 2];
    std::array::from_fn(|i| {
        let mut shifted = vec![b' '; i];
        shifted.extend_from_slice(value);
        let encoded = STANDARD.encode(&shifted);
        let end = encoded
            .len()
            .saturating_sub(END_TRIM[(value.len() + i) % 3]);
        encoded.get(START[i]..end).unwrap_or_default().to_owned()
    })
}

fn windash(alternatives: &[Vec<Part>]) -> Result<Vec<Vec<Part>>, String> {
    let word_start_dash = regex::Regex::new(r"\B[-/]\b").map_err(|e| e.to_string())?;
    let mut out: Vec<Vec<Part>> = Vec::new();
    for parts in alternatives {
        let mut variants: Vec<Vec<Part>> = vec![Vec::new()];
        for part in parts {
            let choices = match part {
                Part::Literal(s) => dash_variants(s, &word_start_dash),
                other => vec![other.clone()],
            };
            variants = product(&variants, &choices)?;
        }
        out.extend(variants);
        check_count(out.len(), "`windash`")?;
    }
    Ok(out)
}

/// Every spelling of `s` with each word-starting `-` or `/` replaced by each windash character.
fn dash_variants(s: &str, word_start_dash: &regex::Regex) -> Vec<Part> {
    let mut variants = vec![String::new()];
    let mut last = 0;
    for found in word_start_dash.find_iter(s) {
        let before = &s[last..found.start()];
        variants = variants
            .iter()
            .flat_map(|v| {
                WINDASH_CHARACTERS
                    .iter()
                    .map(move |c| format!("{v}{before}{c}"))
            })
            .collect();
        last = found.end();
        if variants.len() > MAX_ALTERNATIVES {
            break;
        }
    }
    variants
        .into_iter()
        .map(|v| Part::Literal(v + &s[last..]))
        .collect()
}

/// Every variant followed by every choice.
fn product(variants: &[Vec<Part>], choices: &[Part]) -> Result<Vec<Vec<Part>>, String> {
    check_count(variants.len().saturating_mul(choices.len()), "`windash`")?;
    Ok(variants
        .iter()
        .flat_map(|v| {
            choices.iter().map(move |c| {
                let mut next = v.clone();
                next.push(c.clone());
                next
            })
        })
        .collect())
}

fn check_count(count: usize, what: &str) -> Result<(), String> {
    if count > MAX_ALTERNATIVES {
        return Err(format!(
            "{what} makes more than {MAX_ALTERNATIVES} variants of this value"
        ));
    }
    Ok(())
}

/// Replaces every placeholder by each of its values; the result as glob patterns.
fn substitute(
    alternatives: Vec<Vec<Part>>,
    placeholders: &Placeholders,
) -> Result<Vec<Vec<GlobPart>>, String> {
    let mut out = Vec::new();
    for parts in alternatives {
        let mut variants: Vec<Vec<GlobPart>> = vec![Vec::new()];
        for part in parts {
            let choices: Vec<Vec<GlobPart>> = match part {
                Part::Literal(s) => vec![vec![GlobPart::Literal(s)]],
                Part::AnyRun => vec![vec![GlobPart::AnyRun]],
                Part::AnyChar => vec![vec![GlobPart::AnyChar]],
                Part::Placeholder(name) => placeholder_values(&name, placeholders)?,
            };
            check_count(
                variants.len().saturating_mul(choices.len()),
                "the placeholders",
            )?;
            variants = variants
                .iter()
                .flat_map(|v| choices.iter().map(move |c| [v.as_slice(), c].concat()))
                .collect();
        }
        out.extend(variants);
        check_count(out.len(), "the placeholders")?;
    }
    Ok(out)
}

fn placeholder_values(
    name: &str,
    placeholders: &Placeholders,
) -> Result<Vec<Vec<GlobPart>>, String> {
    let values = placeholders.get(name).ok_or_else(|| {
        format!(
            "the placeholder `%{name}%` has no values: configure the values it stands for (a placeholder named `{name}`), or remove `expand`"
        )
    })?;
    Ok(values
        .iter()
        .map(|v| parse(v, false).into_iter().map(to_glob).collect())
        .collect())
}

fn to_glob(part: Part) -> GlobPart {
    match part {
        Part::Literal(s) => GlobPart::Literal(s),
        Part::AnyRun => GlobPart::AnyRun,
        Part::AnyChar => GlobPart::AnyChar,
        Part::Placeholder(name) => GlobPart::Literal(format!("%{name}%")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Part {
        Part::Literal(s.to_owned())
    }

    #[test]
    fn backslashes_escape_only_wildcards_and_themselves() {
        assert_eq!(parse(r"a\*b", false), [lit("a*b")]);
        assert_eq!(parse(r"a\?b", false), [lit("a?b")]);
        assert_eq!(parse(r"a\\*", false), [lit(r"a\"), Part::AnyRun]);
        assert_eq!(parse(r"a\\\*", false), [lit(r"a\*")]);
        assert_eq!(parse(r"C:\x", false), [lit(r"C:\x")]);
        assert_eq!(parse(r"C:\\x", false), [lit(r"C:\x")]);
        assert_eq!(
            parse(r"\\\x", false),
            [lit(r"\\x")],
            "three before a letter are two"
        );
        assert_eq!(
            parse(r"\\\\x", false),
            [lit(r"\\x")],
            "four before a letter are two"
        );
        assert_eq!(
            parse(r"end\", false),
            [lit(r"end\")],
            "a trailing backslash is itself"
        );
        assert_eq!(parse(r"\\", false), [lit(r"\")]);
        assert_eq!(
            parse("a*b?c", false),
            [lit("a"), Part::AnyRun, lit("b"), Part::AnyChar, lit("c")]
        );
        assert!(parse("", false).is_empty());
    }

    #[test]
    fn placeholders_are_parts_only_under_expand() {
        assert_eq!(parse("%admins%", false), [lit("%admins%")]);
        assert_eq!(
            parse("%admins%", true),
            [Part::Placeholder("admins".into())]
        );
        assert_eq!(
            parse(r"\%plain%name%", true),
            [lit("%plain"), Part::Placeholder("name".into())]
        );
        assert_eq!(parse("100% sure", true), [lit("100% sure")]);
        assert_eq!(parse(r"\%x", false), [lit(r"\%x")]);
    }

    fn strings(value: &str, transforms: &[Transform]) -> Result<Vec<String>, String> {
        let placeholders = Placeholders::default()
            .with("admins", ["root", "adm*"])
            .with("none", Vec::<String>::new());
        let patterns = expand(parse(value, true), transforms, &placeholders)?;
        Ok(patterns
            .iter()
            .map(|parts| {
                parts
                    .iter()
                    .map(|p| match p {
                        GlobPart::Literal(s) => s.clone(),
                        GlobPart::AnyRun => "*".into(),
                        GlobPart::AnyChar => "?".into(),
                    })
                    .collect()
            })
            .collect())
    }

    #[test]
    fn placement_modifiers_add_wildcards_and_keep_inner_ones() {
        use Transform::*;
        assert_eq!(strings("a?b", &[Contains]).unwrap(), ["*a?b*"]);
        assert_eq!(strings("*ab", &[Contains]).unwrap(), ["*ab*"]);
        assert_eq!(strings("ab", &[StartsWith]).unwrap(), ["ab*"]);
        assert_eq!(strings("ab", &[EndsWith]).unwrap(), ["*ab"]);
    }

    #[test]
    fn base64offset_gives_pysigmas_three_variants() {
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
        assert_eq!(
            base64_offsets(b"http://"),
            ["aHR0cDovL", "h0dHA6Ly", "odHRwOi8v"]
        );
        assert_eq!(
            strings("/bin/bash", &[Transform::Base64Offset, Transform::Contains]).unwrap(),
            ["*L2Jpbi9iYXNo*", "*9iaW4vYmFza*", "*vYmluL2Jhc2*"]
        );
        assert_eq!(strings("cmd", &[Transform::Base64]).unwrap(), ["Y21k"]);
        assert_eq!(strings("cmd1", &[Transform::Base64]).unwrap(), ["Y21kMQ=="]);
    }

    #[test]
    fn utf16_encodings_then_base64() {
        use Transform::*;
        assert_eq!(
            strings("cmd", &[Encode(Utf16::Le), Base64]).unwrap(),
            ["YwBtAGQA"]
        );
        assert_eq!(
            strings("cmd", &[Encode(Utf16::Be), Base64]).unwrap(),
            ["AGMAbQBk"]
        );
        assert_eq!(
            strings("cmd", &[Encode(Utf16::WithBom), Base64]).unwrap(),
            ["//5jAG0AZAA="]
        );
        assert_eq!(
            strings("ping", &[Encode(Utf16::Le), Base64Offset]).unwrap(),
            ["cABpAG4AZw", "AAaQBuAGcA", "wAGkAbgBnA"]
        );
        assert!(
            strings("cmd", &[Encode(Utf16::Le)])
                .unwrap_err()
                .contains("must be followed")
        );
        assert!(strings("cmd", &[Encode(Utf16::Le), Contains]).is_err());
        assert!(
            strings("a*", &[Base64])
                .unwrap_err()
                .contains("cannot encode a wildcard")
        );
        assert!(strings("x", &[Contains, Base64]).is_err());
    }

    #[test]
    fn windash_varies_every_dash_that_starts_a_word() {
        let variants = strings(" -enc /c a-b", &[Transform::Windash]).unwrap();
        assert_eq!(
            variants.len(),
            25,
            "two word-starting dashes, five characters each"
        );
        assert!(variants.contains(&" -enc /c a-b".to_owned()));
        assert!(variants.contains(&" /enc \u{2013}c a-b".to_owned()));
        assert!(variants.contains(&" \u{2015}enc \u{2014}c a-b".to_owned()));
        assert!(
            variants.iter().all(|v| v.ends_with(" a-b")),
            "a-b is inside a word"
        );
        assert_eq!(strings("-x", &[Transform::Windash]).unwrap().len(), 5);
        assert_eq!(
            strings("*-x", &[Transform::Windash]).unwrap()[1],
            "*/x",
            "each run of characters on its own"
        );
        let many = "-a ".repeat(8);
        assert!(
            strings(&many, &[Transform::Windash])
                .unwrap_err()
                .contains("variants")
        );
    }

    #[test]
    fn placeholders_take_each_configured_value() {
        assert_eq!(
            strings("user/%admins%", &[]).unwrap(),
            ["user/root", "user/adm*"]
        );
        assert!(strings("%none%", &[]).unwrap().is_empty());
        let missing = strings("%servers%", &[]).unwrap_err();
        assert!(
            missing.contains("`%servers%`") && missing.contains("configure"),
            "{missing}"
        );
    }
}
