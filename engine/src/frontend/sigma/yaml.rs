//! Loading a Sigma file's YAML into a small tree whose every node knows where it was written.
//!
//! The tree is built from `saphyr-parser`'s events rather than through a generic YAML value
//! type, for three reasons:
//! - **positions**: every node, map keys included, keeps its line and column, so that an error
//!   in a rule is reported where the author wrote the mistake;
//! - **duplicate keys** are an error (a generic map would keep the last value silently, and a
//!   second `selection:` would replace the first without a word);
//! - **scalar types** follow the YAML 1.2 core schema, and quoting decides them: `null`, `~` and
//!   an empty plain value are null, `true`/`false` (any of their three spellings) booleans, plain
//!   integers (decimal, `0o`, `0x`) and floats numbers, and everything quoted or in a block is a
//!   string. YAML 1.1's `yes`, `no`, `on` and `off` are strings (PyYAML, which pySigma uses, reads
//!   them as booleans; SigmaHQ quotes such values, `'NO'`, so both read them alike).
//!
//! Aliases (`*name`) are rejected: Sigma rules do not use them, and expanding them is how a small
//! file becomes a huge tree. Anchors are ignored. A tag other than the core schema's is rejected;
//! `!!str` makes a plain value a string. Nesting is limited to [`MAX_DEPTH`].

use std::borrow::Cow;

use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};

/// How deeply collections may nest (a rule needs five levels).
pub(super) const MAX_DEPTH: usize = 64;

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    fn of(marker: &Marker) -> Self {
        Self {
            line: marker.line().max(1),
            column: marker.col() + 1,
        }
    }
}

/// One YAML node and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub value: Value,
    /// Where the node starts (for a quoted scalar, its opening quote).
    pub pos: Pos,
    /// For a scalar written on one line: the columns between `pos` and its first character (1
    /// for a quote), so that a position inside the text can be given. `None` otherwise.
    inline: Option<usize>,
}

/// A node's value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Null,
    Bool(bool),
    /// A number: its value, and its text as trailtag writes numbers (`42`, `1.5`).
    Number(f64, String),
    String(String),
    List(Vec<Node>),
    Map(Vec<Entry>),
}

/// A map entry: its key (a scalar's text) and its value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub key: String,
    pub key_node: Node,
    pub value: Node,
}

/// Why a file is not YAML the loader accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct YamlError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    /// The position of the `chars`-th character of a one-line scalar's text (the node's own
    /// position when the scalar spans lines; escapes before the character make it approximate).
    pub fn at(&self, chars: usize) -> Pos {
        match self.inline {
            Some(skip) => Pos {
                line: self.pos.line,
                column: self.pos.column + skip + chars,
            },
            None => self.pos,
        }
    }

    /// The entry under `key`, when this is a map.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    /// The text of a string, number or boolean (numbers and booleans as their text).
    pub fn scalar_text(&self) -> Option<Cow<'_, str>> {
        match &self.value {
            Value::String(s) => Some(Cow::Borrowed(s)),
            Value::Number(_, text) => Some(Cow::Borrowed(text)),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Value::Null | Value::List(_) | Value::Map(_) => None,
        }
    }

    /// What the node is, in a rule author's words.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(..) => "a number",
            Value::String(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// Every document of a YAML stream (an empty document is a `Null` node).
pub(super) fn load(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
    };
    loader.stream()
}

struct Loader<'input> {
    parser: Parser<'input, StrInput<'input>>,
}

impl<'input> Loader<'input> {
    fn next(&mut self) -> Result<(Event<'input>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(scan_error(&e)),
            None => Err(YamlError {
                pos: Pos { line: 1, column: 1 },
                message: "the YAML ends unexpectedly".into(),
            }),
        }
    }

    fn stream(&mut self) -> Result<Vec<Node>, YamlError> {
        let mut documents = Vec::new();
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => return Ok(documents),
                Event::DocumentStart(_) => {
                    let (event, span) = self.next()?;
                    documents.push(self.node(event, span, 0)?);
                }
                _ => return Err(unexpected(&span)),
            }
        }
    }

    fn node(&mut self, event: Event<'input>, span: Span, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(at(
                &span,
                format!("the YAML nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        match event {
            Event::Scalar(text, style, _, tag) => scalar(&text, style, tag.as_deref(), &span),
            Event::SequenceStart(_, tag) => {
                check_collection_tag(tag.as_deref(), &span)?;
                self.sequence(span, depth)
            }
            Event::MappingStart(_, tag) => {
                check_collection_tag(tag.as_deref(), &span)?;
                self.mapping(span, depth)
            }
            Event::Alias(_) => Err(at(
                &span,
                "YAML aliases (`*name`) are not supported in Sigma rules: write the value out",
            )),
            _ => Err(unexpected(&span)),
        }
    }

    fn sequence(&mut self, start: Span, depth: usize) -> Result<Node, YamlError> {
        let mut items = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::SequenceEnd) {
                return Ok(collection(Value::List(items), &start));
            }
            items.push(self.node(event, span, depth + 1)?);
        }
    }

    fn mapping(&mut self, start: Span, depth: usize) -> Result<Node, YamlError> {
        let mut entries: Vec<Entry> = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                return Ok(collection(Value::Map(entries), &start));
            }
            let key_node = self.node(event, span, depth + 1)?;
            let Some(key) = key_node.scalar_text().map(Cow::into_owned) else {
                return Err(YamlError {
                    pos: key_node.pos,
                    message: format!("a key must be a name, not {}", key_node.describe()),
                });
            };
            if let Some(first) = entries.iter().find(|e| e.key == key) {
                return Err(YamlError {
                    pos: key_node.pos,
                    message: format!(
                        "duplicate key `{key}` (first given at line {})",
                        first.key_node.pos.line
                    ),
                });
            }
            let (event, span) = self.next()?;
            let value = self.node(event, span, depth + 1)?;
            entries.push(Entry {
                key,
                key_node,
                value,
            });
        }
    }
}

fn collection(value: Value, start: &Span) -> Node {
    Node {
        value,
        pos: Pos::of(&start.start),
        inline: None,
    }
}

fn scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: &Span,
) -> Result<Node, YamlError> {
    let forced_string = match tag {
        None => false,
        Some(tag) if tag.is_yaml_core_schema() => tag.suffix == "str",
        Some(tag) => return Err(at(span, format!("the YAML tag `{tag}` is not supported"))),
    };
    let quote = usize::from(matches!(
        style,
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
    ));
    let one_line = span.start.line() == span.end.line()
        && !matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
    let value = if style == ScalarStyle::Plain && !forced_string {
        core_schema(text)
    } else {
        Value::String(text.to_owned())
    };
    Ok(Node {
        value,
        pos: Pos::of(&span.start),
        inline: one_line.then_some(quote),
    })
}

/// A plain scalar's type under the YAML 1.2 core schema.
fn core_schema(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Some(value) = core_integer(text) {
        return Value::Number(value as f64, value.to_string());
    }
    match core_float(text) {
        Some(value) => Value::Number(value, value.to_string()),
        None => Value::String(text.to_owned()),
    }
}

/// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`.
fn core_integer(text: &str) -> Option<i128> {
    let radix = |prefix: &str, radix: u32| {
        text.strip_prefix(prefix)
            .filter(|digits| !digits.is_empty() && !digits.starts_with(['+', '-']))
            .and_then(|digits| i128::from_str_radix(digits, radix).ok())
    };
    if let Some(value) = radix("0o", 8).or_else(|| radix("0x", 16)) {
        return Some(value);
    }
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let decimal = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    decimal.then(|| text.parse().ok()).flatten()
}

/// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, `[-+]?.inf`, `.nan`.
fn core_float(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let negative = text.starts_with('-');
    match unsigned {
        ".inf" | ".Inf" | ".INF" => {
            return Some(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        ".nan" | ".NaN" | ".NAN" if unsigned.len() == text.len() => return Some(f64::NAN),
        _ => {}
    }
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (unsigned, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty())
        }
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    (mantissa_ok && exponent_ok)
        .then(|| text.parse().ok())
        .flatten()
}

fn check_collection_tag(tag: Option<&Tag>, span: &Span) -> Result<(), YamlError> {
    match tag {
        Some(tag) if !tag.is_yaml_core_schema() => {
            Err(at(span, format!("the YAML tag `{tag}` is not supported")))
        }
        _ => Ok(()),
    }
}

fn scan_error(error: &ScanError) -> YamlError {
    YamlError {
        pos: Pos::of(error.marker()),
        message: format!("not valid YAML: {}", error.info()),
    }
}

fn unexpected(span: &Span) -> YamlError {
    at(span, "unexpected YAML structure")
}

fn at(span: &Span, message: impl Into<String>) -> YamlError {
    YamlError {
        pos: Pos::of(&span.start),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let mut documents = load(text).unwrap();
        assert_eq!(documents.len(), 1, "{text}");
        documents.remove(0)
    }

    fn value_of(text: &str) -> Value {
        one(&format!("k: {text}\n"))
            .get("k")
            .unwrap()
            .value
            .value
            .clone()
    }

    #[test]
    fn plain_scalars_follow_the_core_schema_and_quotes_make_strings() {
        assert_eq!(value_of("null"), Value::Null);
        assert_eq!(value_of("~"), Value::Null);
        assert_eq!(value_of(""), Value::Null);
        assert_eq!(value_of("'null'"), Value::String("null".into()));
        assert_eq!(value_of("True"), Value::Bool(true));
        assert_eq!(value_of("'true'"), Value::String("true".into()));
        assert_eq!(value_of("no"), Value::String("no".into()));
        assert_eq!(value_of("42"), Value::Number(42.0, "42".into()));
        assert_eq!(value_of("-7"), Value::Number(-7.0, "-7".into()));
        assert_eq!(value_of("0x1F"), Value::Number(31.0, "31".into()));
        assert_eq!(value_of("0o17"), Value::Number(15.0, "15".into()));
        assert_eq!(value_of("1.50"), Value::Number(1.5, "1.5".into()));
        assert_eq!(value_of("1e3"), Value::Number(1000.0, "1000".into()));
        assert_eq!(value_of("'42'"), Value::String("42".into()));
        assert_eq!(value_of("!!str 42"), Value::String("42".into()));
        assert_eq!(value_of("1.2.3"), Value::String("1.2.3".into()));
        assert_eq!(value_of("0x"), Value::String("0x".into()));
        assert_eq!(value_of("."), Value::String(".".into()));
        assert_eq!(value_of("1_000"), Value::String("1_000".into()));
    }

    #[test]
    fn nodes_know_their_positions() {
        let doc = one("a:\n    b: 'xy'\n    c:\n        - d\n");
        let a = doc.get("a").unwrap();
        assert_eq!(a.key_node.pos, Pos { line: 1, column: 1 });
        let b = a.value.get("b").unwrap();
        assert_eq!(b.key_node.pos, Pos { line: 2, column: 5 });
        assert_eq!(b.value.pos, Pos { line: 2, column: 8 });
        assert_eq!(
            b.value.at(1),
            Pos {
                line: 2,
                column: 10
            },
            "after the quote"
        );
        let Value::List(items) = &a.value.get("c").unwrap().value.value else {
            panic!("a list")
        };
        assert_eq!(
            items[0].pos,
            Pos {
                line: 4,
                column: 11
            }
        );
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_one() {
        let error = load("a: 1\nb:\n  x: 1\n  x: 2\n").unwrap_err();
        assert_eq!(error.pos, Pos { line: 4, column: 3 });
        assert!(
            error.message.contains("duplicate key `x`"),
            "{}",
            error.message
        );
        assert!(error.message.contains("line 3"), "{}", error.message);
    }

    #[test]
    fn syntax_errors_aliases_and_tags_are_reported_with_positions() {
        let error = load("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(
            error.message.starts_with("not valid YAML"),
            "{}",
            error.message
        );
        let alias = load("a: &x 1\nb: *x\n").unwrap_err();
        assert_eq!(alias.pos.line, 2);
        assert!(alias.message.contains("aliases"));
        assert!(
            load("a: !custom 1\n")
                .unwrap_err()
                .message
                .contains("`!custom`")
        );
        let deep = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(load(&deep).unwrap_err().message.contains("levels deep"));
    }

    #[test]
    fn a_stream_holds_every_document() {
        let documents = load("a: 1\n---\nb: 2\n---\n").unwrap();
        assert_eq!(documents.len(), 3);
        assert_eq!(documents[2].value, Value::Null);
        assert!(load("").unwrap().is_empty());
    }
}
