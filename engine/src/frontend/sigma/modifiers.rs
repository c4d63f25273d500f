//! A detection key, `field|modifier|modifier`: the field name and what the modifiers ask for.
//!
//! Modifiers are of three sorts (the specification's appendix, v2.1):
//! - **transformations** of the value, applied in the order written ([`Transform`]:
//!   `contains`, `startswith`, `endswith`, `windash`, `base64`, `base64offset`, `utf16le`,
//!   `utf16be`, `utf16`, `wide`), and `expand` (placeholders);
//! - **types**, which say how the value is compared ([`Kind`]: `re` with its flags `i`, `m`,
//!   `s`; `cidr`; `exists`; `fieldref`; `lt`, `lte`, `gt`, `gte`), at most one;
//! - **flags**: `all` (a list is AND), `cased` (case-sensitive), `neq` (none of the values).
//!
//! Combinations that mean nothing are errors at the modifier that makes them so: a type with a
//! transformation (`re|contains`), two placements, `cased` on a type that has no case, a UTF-16
//! encoding that base64 does not follow, a placement before base64 (its wildcard could not be
//! encoded). The time modifiers (`minute` ... `year`) are understood and unsupported: trailtag
//! does not read dates. Any other name is an unknown modifier.

use super::values::{Transform, Utf16};
use crate::error::RuleErrorKind;
use crate::ir::Cmp;

/// How a value is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// As text, with wildcards (the default).
    Plain,
    /// `re`: a regular expression searched in the text.
    Regex {
        insensitive: bool,
        multi_line: bool,
        dot_matches_new_line: bool,
    },
    /// `cidr`: an IP network.
    Cidr,
    /// `exists`: whether the field is there.
    Exists,
    /// `fieldref`: equal to another field.
    FieldRef,
    /// `lt`, `lte`, `gt`, `gte`: a number ordered against the value.
    Compare(Cmp),
}

/// Everything a key's modifiers ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Modifiers {
    pub transforms: Vec<Transform>,
    pub kind: Kind,
    pub all: bool,
    pub cased: bool,
    pub neq: bool,
    pub expand: bool,
    /// The modifiers as written, with the offset (in characters) of each within the key.
    written: Vec<(String, usize)>,
}

/// A mistake in a key, `offset` characters into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KeyError {
    pub offset: usize,
    pub kind: RuleErrorKind,
    pub message: String,
}

const KNOWN: &str = "contains, startswith, endswith, all, cased, neq, re (with i, m, s), cidr, exists, fieldref, lt, lte, gt, gte, windash, base64, base64offset, utf16le, utf16be, utf16, wide, expand";

const TIME_MODIFIERS: [&str; 6] = ["minute", "hour", "day", "week", "month", "year"];

impl Modifiers {
    /// Whether the key has no modifier at all.
    pub fn is_empty(&self) -> bool {
        self.written.is_empty()
    }

    /// The first modifier written, with its offset.
    pub fn first(&self) -> Option<(&str, usize)> {
        self.written.first().map(|(n, o)| (n.as_str(), *o))
    }

    /// The offset of the modifier `name`, if written.
    pub fn offset_of(&self, name: &str) -> Option<usize> {
        self.written
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, o)| *o)
    }

    /// The placement (`contains`, `startswith`, `endswith`), if any.
    pub fn placement(&self) -> Option<Transform> {
        self.transforms.iter().copied().find(|t| {
            matches!(
                t,
                Transform::Contains | Transform::StartsWith | Transform::EndsWith
            )
        })
    }
}

/// Splits `key` into its field name and modifiers, and checks they make sense together.
pub(super) fn parse_key(key: &str) -> Result<(&str, Modifiers), KeyError> {
    let mut pieces = key.split('|');
    let field = pieces.next().unwrap_or_default();
    let mut modifiers = Modifiers {
        transforms: Vec::new(),
        kind: Kind::Plain,
        all: false,
        cased: false,
        neq: false,
        expand: false,
        written: Vec::new(),
    };
    let mut offset = field.chars().count() + 1;
    for name in pieces {
        add(&mut modifiers, name, offset)?;
        modifiers.written.push((name.to_owned(), offset));
        offset += name.chars().count() + 1;
    }
    check_combinations(&modifiers)?;
    Ok((field, modifiers))
}

fn add(modifiers: &mut Modifiers, name: &str, offset: usize) -> Result<(), KeyError> {
    let error = |message: String| KeyError {
        offset,
        kind: RuleErrorKind::Query,
        message,
    };
    if modifiers.written.iter().any(|(n, _)| n == name) {
        return Err(error(format!("the modifier `{name}` is given twice")));
    }
    let transform = match name {
        "contains" => Some(Transform::Contains),
        "startswith" => Some(Transform::StartsWith),
        "endswith" => Some(Transform::EndsWith),
        "windash" => Some(Transform::Windash),
        "base64" => Some(Transform::Base64),
        "base64offset" => Some(Transform::Base64Offset),
        "utf16le" | "wide" => Some(Transform::Encode(Utf16::Le)),
        "utf16be" => Some(Transform::Encode(Utf16::Be)),
        "utf16" => Some(Transform::Encode(Utf16::WithBom)),
        _ => None,
    };
    if let Some(transform) = transform {
        modifiers.transforms.push(transform);
        return Ok(());
    }
    match name {
        "all" => modifiers.all = true,
        "cased" => modifiers.cased = true,
        "neq" => modifiers.neq = true,
        "expand" => modifiers.expand = true,
        "i" | "m" | "s" => regex_flag(modifiers, name).map_err(error)?,
        _ => {
            let kind = kind(name).ok_or_else(|| unknown(name, offset))?;
            if let Some((other, _)) = modifiers.written.iter().find(|(n, _)| is_kind(n)) {
                return Err(error(format!(
                    "`{name}` cannot be combined with `{other}`: a value is compared one way"
                )));
            }
            modifiers.kind = kind;
        }
    }
    Ok(())
}

fn kind(name: &str) -> Option<Kind> {
    Some(match name {
        "re" => Kind::Regex {
            insensitive: false,
            multi_line: false,
            dot_matches_new_line: false,
        },
        "cidr" => Kind::Cidr,
        "exists" => Kind::Exists,
        "fieldref" => Kind::FieldRef,
        "lt" => Kind::Compare(Cmp::Lt),
        "lte" => Kind::Compare(Cmp::Le),
        "gt" => Kind::Compare(Cmp::Gt),
        "gte" => Kind::Compare(Cmp::Ge),
        _ => return None,
    })
}

fn is_kind(name: &str) -> bool {
    kind(name).is_some()
}

fn unknown(name: &str, offset: usize) -> KeyError {
    if TIME_MODIFIERS.contains(&name) {
        return KeyError {
            offset,
            kind: RuleErrorKind::Unsupported,
            message: format!(
                "the time modifier `{name}` (a part of a date) is not supported: trailtag does not read dates"
            ),
        };
    }
    let message = if name.is_empty() {
        "an empty modifier (`||`, or a `|` at the end of the key)".to_owned()
    } else {
        format!("unknown modifier `{name}` (Sigma's modifiers are {KNOWN})")
    };
    KeyError {
        offset,
        kind: RuleErrorKind::Query,
        message,
    }
}

fn regex_flag(modifiers: &mut Modifiers, flag: &str) -> Result<(), String> {
    let Kind::Regex {
        insensitive,
        multi_line,
        dot_matches_new_line,
    } = &mut modifiers.kind
    else {
        return Err(format!(
            "`{flag}` is a flag of the `re` modifier and must follow it (`re|{flag}`)"
        ));
    };
    match flag {
        "i" => *insensitive = true,
        "m" => *multi_line = true,
        _ => *dot_matches_new_line = true,
    }
    Ok(())
}

fn check_combinations(modifiers: &Modifiers) -> Result<(), KeyError> {
    check_type_alone(modifiers)?;
    check_placements(modifiers)?;
    check_encodings(modifiers)?;
    check_flags(modifiers)
}

/// A type modifier takes no transformation.
fn check_type_alone(modifiers: &Modifiers) -> Result<(), KeyError> {
    let Some(type_name) = modifiers.written.iter().find(|(n, _)| is_kind(n)) else {
        return Ok(());
    };
    let transform = modifiers
        .written
        .iter()
        .find(|(n, _)| transform_named(n) || n == "expand");
    match transform {
        Some((name, offset)) => Err(conflict(name, &type_name.0, *offset)),
        None => Ok(()),
    }
}

fn transform_named(name: &str) -> bool {
    matches!(
        name,
        "contains"
            | "startswith"
            | "endswith"
            | "windash"
            | "base64"
            | "base64offset"
            | "utf16le"
            | "utf16be"
            | "utf16"
            | "wide"
    )
}

/// One placement at most, and none before a base64 modifier.
fn check_placements(modifiers: &Modifiers) -> Result<(), KeyError> {
    let placements: Vec<&(String, usize)> = modifiers
        .written
        .iter()
        .filter(|(n, _)| matches!(n.as_str(), "contains" | "startswith" | "endswith"))
        .collect();
    if let [first, second, ..] = placements.as_slice() {
        return Err(conflict(&second.0, &first.0, second.1));
    }
    let base64 = modifiers
        .written
        .iter()
        .find(|(n, _)| n.starts_with("base64"));
    match (placements.first(), base64) {
        (Some(placement), Some(base64)) if placement.1 < base64.1 => Err(KeyError {
            offset: placement.1,
            kind: RuleErrorKind::Query,
            message: format!(
                "`{}` must come after `{}`: the wildcard it adds cannot be encoded",
                placement.0, base64.0
            ),
        }),
        _ => Ok(()),
    }
}

/// A UTF-16 encoding must be followed directly by a base64 modifier.
fn check_encodings(modifiers: &Modifiers) -> Result<(), KeyError> {
    for (i, (name, offset)) in modifiers.written.iter().enumerate() {
        if !matches!(name.as_str(), "utf16le" | "utf16be" | "utf16" | "wide") {
            continue;
        }
        let next = modifiers.written.get(i + 1).map(|(n, _)| n.as_str());
        if !matches!(next, Some("base64" | "base64offset")) {
            return Err(KeyError {
                offset: *offset,
                kind: RuleErrorKind::Query,
                message: format!(
                    "`{name}` makes bytes, not text: it must be followed by `base64` or `base64offset`"
                ),
            });
        }
    }
    Ok(())
}

/// `cased`, `neq` and `all` only where they mean something.
fn check_flags(modifiers: &Modifiers) -> Result<(), KeyError> {
    let type_name = modifiers
        .written
        .iter()
        .find(|(n, _)| is_kind(n))
        .map(|(n, _)| n.as_str());
    let caseless = matches!(
        modifiers.kind,
        Kind::Regex { .. } | Kind::Cidr | Kind::Exists | Kind::Compare(_)
    );
    if let (true, Some(offset), Some(type_name)) =
        (caseless, modifiers.offset_of("cased"), type_name)
    {
        let hint = match modifiers.kind {
            Kind::Regex { .. } => ": `re` is case-sensitive unless `re|i` is given",
            _ => "",
        };
        return Err(KeyError {
            offset,
            kind: RuleErrorKind::Query,
            message: format!("`cased` cannot be combined with `{type_name}`{hint}"),
        });
    }
    let exclusive = matches!(modifiers.kind, Kind::Exists | Kind::Compare(_));
    for flag in ["neq", "all"] {
        if let (true, Some(offset), Some(type_name)) =
            (exclusive, modifiers.offset_of(flag), type_name)
        {
            return Err(conflict(flag, type_name, offset));
        }
    }
    Ok(())
}

fn conflict(name: &str, other: &str, offset: usize) -> KeyError {
    KeyError {
        offset,
        kind: RuleErrorKind::Query,
        message: format!("`{name}` cannot be combined with `{other}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(key: &str) -> KeyError {
        parse_key(key).unwrap_err()
    }

    #[test]
    fn fields_and_modifiers_are_split_in_order() {
        let (field, m) = parse_key("CommandLine|utf16le|base64offset|contains").unwrap();
        assert_eq!(field, "CommandLine");
        assert_eq!(
            m.transforms,
            [
                Transform::Encode(Utf16::Le),
                Transform::Base64Offset,
                Transform::Contains
            ]
        );
        assert_eq!(m.placement(), Some(Transform::Contains));
        let (field, m) = parse_key("|all").unwrap();
        assert_eq!(field, "");
        assert!(m.all && m.transforms.is_empty());
        assert!(parse_key("eventName").unwrap().1.is_empty());
        let (_, m) = parse_key("a|re|i|s").unwrap();
        assert_eq!(
            m.kind,
            Kind::Regex {
                insensitive: true,
                multi_line: false,
                dot_matches_new_line: true
            }
        );
        assert_eq!(
            parse_key("a|fieldref|neq|cased").unwrap().1.kind,
            Kind::FieldRef
        );
        assert_eq!(parse_key("a|gte").unwrap().1.kind, Kind::Compare(Cmp::Ge));
    }

    #[test]
    fn unknown_and_unsupported_modifiers_are_named_where_written() {
        let e = error("eventName|contians");
        assert_eq!(e.offset, 10);
        assert!(
            e.message.contains("unknown modifier `contians`"),
            "{}",
            e.message
        );
        let e = error("eventTime|hour");
        assert_eq!(e.kind, RuleErrorKind::Unsupported);
        assert!(error("a||contains").message.contains("empty modifier"));
        assert!(error("a|contains|contains").message.contains("twice"));
    }

    #[test]
    fn combinations_that_mean_nothing_are_errors() {
        for (key, offset, words) in [
            (
                "a|re|contains",
                5,
                "`contains` cannot be combined with `re`",
            ),
            (
                "a|contains|re",
                2,
                "`contains` cannot be combined with `re`",
            ),
            (
                "a|cidr|contains",
                7,
                "`contains` cannot be combined with `cidr`",
            ),
            ("a|re|cidr", 5, "`cidr` cannot be combined with `re`"),
            (
                "a|contains|startswith",
                11,
                "`startswith` cannot be combined with `contains`",
            ),
            ("a|re|cased", 5, "`re|i`"),
            ("a|exists|all", 9, "`all` cannot be combined with `exists`"),
            ("a|gt|neq", 5, "`neq` cannot be combined with `gt`"),
            ("a|i", 2, "must follow it"),
            ("a|utf16le|contains", 2, "must be followed by `base64`"),
            ("a|wide", 2, "must be followed by `base64`"),
            ("a|contains|base64", 2, "must come after `base64`"),
            ("a|re|expand", 5, "`expand` cannot be combined with `re`"),
        ] {
            let e = error(key);
            assert!(e.message.contains(words), "{key}: {}", e.message);
            assert_eq!(e.offset, offset, "{key}");
        }
        assert!(parse_key("a|base64offset|contains").is_ok());
        assert!(parse_key("a|windash|contains|cased|all|neq").is_ok());
    }
}
