//! Properties of the KQL front end over queries generated from its grammar.
//!
//! Trees are generated directly (fields, quoted and bare values with spaces, escapes, keywords
//! and wildcards in them, value lists with `and`/`or`/`not`, `not`, groups, ranges), printed,
//! and parsed again. For each tree and a few records:
//! - the printed text parses back into the same tree, and each clause's span is its own text;
//! - the lowered condition decides each record as a direct reading of the tree does
//!   (Elastic's evaluator, `lib/kql/kql/evaluator.py`, over raw JSON: some value matches);
//! - the lowered condition decides each record alike before and after optimising.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use proptest::prelude::*;
use serde_json::Value as JsonValue;
use trailtag_engine::FieldPath;
use trailtag_engine::frontend::fields::RawFields;
use trailtag_engine::frontend::kql::{
    self, Field, KqlAst, Piece, Span, Value, ValueKind, ValueList,
};
use trailtag_engine::ir::optimise::optimise;
use trailtag_engine::ir::{Cmp, Quantifier};
use trailtag_engine::json::Json;

const RAW: RawFields = RawFields {
    quantifier: Quantifier::AnyElement,
};

const FIELDS: &[&[&str]] = &[
    &["a"],
    &["b", "c"],
    &["event", "action"],
    &["not"],
    &["or", "x"],
    &["we ird"],
    &["x-amz-acl"],
];

/// Text for values and records: keywords, specials, spaces, case pairs, escapes' lookalikes.
const WORDS: &[&str] = &[
    "CreateKey",
    "createkey",
    "x",
    "",
    " ",
    "a b",
    "or",
    "AND",
    "not",
    "Not x",
    "ot",
    "\n",
    "\t",
    ":",
    "(",
    ")",
    "\\",
    "\"",
    "*",
    "{}",
    "<=",
    "é",
    "Amazon.com, Inc.",
    "_",
];

fn word() -> impl Strategy<Value = String> {
    proptest::sample::select(WORDS).prop_map(str::to_owned)
}

fn field() -> impl Strategy<Value = Field> {
    proptest::sample::select(FIELDS).prop_map(|segments| Field {
        span: Span::default(),
        path: FieldPath::new(segments.iter().map(|s| (*s).to_owned()).collect()),
    })
}

/// Pieces in the parser's normal form: adjacent texts merged, no empty text, not empty.
fn pieces(allow_stars: bool) -> impl Strategy<Value = Vec<Piece>> {
    let piece = prop_oneof![3 => word().prop_map(Piece::Text), 1 => Just(Piece::Star)].prop_map(
        move |piece| match piece {
            Piece::Star if !allow_stars => Piece::Text("x".into()),
            piece => piece,
        },
    );
    proptest::collection::vec(piece, 1..5)
        .prop_map(|raw| {
            let mut out: Vec<Piece> = Vec::new();
            for piece in raw {
                match (out.last_mut(), piece) {
                    (_, Piece::Text(t)) if t.is_empty() => {}
                    (Some(Piece::Text(last)), Piece::Text(t)) => last.push_str(&t),
                    (_, piece) => out.push(piece),
                }
            }
            out
        })
        .prop_filter("a bare value is never empty", |p| !p.is_empty())
}

fn value(allow_stars: bool) -> impl Strategy<Value = Value> {
    prop_oneof![
        proptest::collection::vec(word(), 0..3).prop_map(|w| ValueKind::Quoted(w.concat())),
        pieces(allow_stars).prop_map(ValueKind::Bare),
    ]
    .prop_map(|kind| Value {
        span: Span::default(),
        kind,
    })
}

fn value_list() -> impl Strategy<Value = ValueList> {
    value(true)
        .prop_map(ValueList::Value)
        .prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 2..4).prop_map(ValueList::Or),
                proptest::collection::vec(inner.clone(), 2..4).prop_map(ValueList::And),
                inner.prop_map(|i| ValueList::Not(Box::new(i))),
            ]
        })
}

fn clause() -> impl Strategy<Value = KqlAst> {
    let op = proptest::sample::select(vec![Cmp::Lt, Cmp::Le, Cmp::Gt, Cmp::Ge]);
    prop_oneof![
        4 => (field(), value_list()).prop_map(|(field, values)| KqlAst::Match {
            span: Span::default(),
            field,
            values,
        }),
        1 => (field(), op, value(false)).prop_map(|(field, op, value)| KqlAst::Range {
            span: Span::default(),
            field,
            op,
            value,
        }),
    ]
}

fn query() -> impl Strategy<Value = KqlAst> {
    clause().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 2..4).prop_map(KqlAst::Or),
            proptest::collection::vec(inner.clone(), 2..4).prop_map(KqlAst::And),
            inner.prop_map(|i| KqlAst::Not(Box::new(i))),
        ]
    })
}

/// Strings a record may hold: instances of the query's own values (stars filled in), their
/// case variants and neighbours, and the common words; so that records often match.
fn samples(ast: &KqlAst) -> Vec<String> {
    let mut out: Vec<String> = WORDS.iter().map(|w| (*w).to_owned()).collect();
    for value in values(ast) {
        let fill = |star: &str| match &value.kind {
            ValueKind::Quoted(text) => text.clone(),
            ValueKind::Bare(pieces) => pieces
                .iter()
                .map(|piece| match piece {
                    Piece::Text(text) => text.as_str(),
                    Piece::Star => star,
                })
                .collect(),
        };
        for instance in [fill(""), fill("q Z")] {
            out.push(instance.to_ascii_uppercase());
            out.push(instance.to_ascii_lowercase());
            out.push(format!("{instance}x"));
            out.push(format!("x{instance}"));
            out.push(instance);
        }
    }
    out
}

fn values(ast: &KqlAst) -> Vec<&Value> {
    fn of_list<'a>(list: &'a ValueList, out: &mut Vec<&'a Value>) {
        match list {
            ValueList::Or(items) | ValueList::And(items) => {
                items.iter().for_each(|item| of_list(item, out));
            }
            ValueList::Not(inner) => of_list(inner, out),
            ValueList::Value(value) => out.push(value),
        }
    }
    let mut out = Vec::new();
    for clause in clauses(ast) {
        match clause {
            KqlAst::Match { values, .. } => of_list(values, &mut out),
            KqlAst::Range { value, .. } => out.push(value),
            _ => {}
        }
    }
    out
}

fn json_value(samples: Vec<String>) -> impl Strategy<Value = JsonValue> {
    let text = move || proptest::sample::select(samples.clone()).prop_map(JsonValue::from);
    prop_oneof![
        4 => text(),
        1 => (0u32..3).prop_map(JsonValue::from),
        1 => Just(JsonValue::Null),
        1 => Just(JsonValue::Bool(true)),
        2 => proptest::collection::vec(prop_oneof![text(), Just(JsonValue::Null)], 0..3)
            .prop_map(JsonValue::from),
    ]
}

/// A query and records over its fields, holding values like its own.
fn query_and_records() -> impl Strategy<Value = (KqlAst, Vec<JsonValue>)> {
    query().prop_flat_map(|ast| {
        let fields: Vec<Vec<String>> = clauses(&ast)
            .into_iter()
            .map(|clause| match clause {
                KqlAst::Match { field, .. } | KqlAst::Range { field, .. } => {
                    field.path.segments().to_vec()
                }
                _ => Vec::new(),
            })
            .collect();
        let pair = (proptest::sample::select(fields), json_value(samples(&ast)));
        let record = proptest::collection::vec(pair, 0..5).prop_map(|pairs| {
            let mut root = serde_json::json!({});
            for (segments, value) in pairs {
                insert(&mut root, &segments, value);
            }
            root
        });
        (Just(ast), proptest::collection::vec(record, 1..6))
    })
}

fn insert(node: &mut JsonValue, segments: &[String], value: JsonValue) {
    let Some(object) = node.as_object_mut() else {
        return;
    };
    match segments {
        [] => {}
        [last] => {
            object.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let child = object
                .entry(first.clone())
                .or_insert_with(|| serde_json::json!({}));
            insert(child, rest, value);
        }
    }
}

/// The tree with every span zeroed, for comparing structure.
fn strip(ast: &KqlAst) -> KqlAst {
    let field = |f: &Field| Field {
        span: Span::default(),
        path: f.path.clone(),
    };
    match ast {
        KqlAst::Or(terms) => KqlAst::Or(terms.iter().map(strip).collect()),
        KqlAst::And(terms) => KqlAst::And(terms.iter().map(strip).collect()),
        KqlAst::Not(inner) => KqlAst::Not(Box::new(strip(inner))),
        KqlAst::Match {
            field: f, values, ..
        } => KqlAst::Match {
            span: Span::default(),
            field: field(f),
            values: strip_values(values),
        },
        KqlAst::Range {
            field: f,
            op,
            value,
            ..
        } => KqlAst::Range {
            span: Span::default(),
            field: field(f),
            op: *op,
            value: strip_value(value),
        },
    }
}

fn strip_values(list: &ValueList) -> ValueList {
    match list {
        ValueList::Or(items) => ValueList::Or(items.iter().map(strip_values).collect()),
        ValueList::And(items) => ValueList::And(items.iter().map(strip_values).collect()),
        ValueList::Not(inner) => ValueList::Not(Box::new(strip_values(inner))),
        ValueList::Value(value) => ValueList::Value(strip_value(value)),
    }
}

fn strip_value(value: &Value) -> Value {
    Value {
        span: Span::default(),
        kind: value.kind.clone(),
    }
}

/// Every clause of a tree, depth first.
fn clauses(ast: &KqlAst) -> Vec<&KqlAst> {
    match ast {
        KqlAst::Or(terms) | KqlAst::And(terms) => terms.iter().flat_map(clauses).collect(),
        KqlAst::Not(inner) => clauses(inner),
        clause => vec![clause],
    }
}

/// The values at a path, arrays entered at every step and at the end (nulls included).
fn terms<'v>(node: &'v JsonValue, path: &[String], out: &mut Vec<&'v JsonValue>) {
    match (node, path) {
        (JsonValue::Array(items), _) => items.iter().for_each(|item| terms(item, path, out)),
        (_, []) => out.push(node),
        (JsonValue::Object(map), [key, rest @ ..]) => {
            if let Some(child) = map.get(key) {
                terms(child, rest, out);
            }
        }
        _ => {}
    }
}

/// Whether `s` matches the whole of `pieces` (`*` any run).
fn glob(pieces: &[Piece], s: &str) -> bool {
    match pieces.split_first() {
        None => s.is_empty(),
        Some((Piece::Text(text), rest)) => s
            .strip_prefix(text.as_str())
            .is_some_and(|tail| glob(rest, tail)),
        Some((Piece::Star, rest)) => s
            .char_indices()
            .map(|(i, _)| i)
            .chain([s.len()])
            .any(|i| glob(rest, &s[i..])),
    }
}

fn strings<'v>(values: &[&'v JsonValue]) -> impl Iterator<Item = &'v str> {
    values.iter().filter_map(|v| v.as_str())
}

/// Elastic's evaluator, read off the tree: each value "some value of the field matches".
fn reference(ast: &KqlAst, record: &JsonValue) -> bool {
    let values_of = |field: &Field| {
        let mut out = Vec::new();
        terms(record, field.path.segments(), &mut out);
        out
    };
    match ast {
        KqlAst::Or(terms) => terms.iter().any(|t| reference(t, record)),
        KqlAst::And(terms) => terms.iter().all(|t| reference(t, record)),
        KqlAst::Not(inner) => !reference(inner, record),
        KqlAst::Match { field, values, .. } => reference_values(values, &values_of(field)),
        KqlAst::Range {
            field, op, value, ..
        } => {
            let literal = value.literal().unwrap();
            strings(&values_of(field)).any(|s| op.holds(s.cmp(literal.as_str())))
        }
    }
}

fn reference_values(list: &ValueList, values: &[&JsonValue]) -> bool {
    match list {
        ValueList::Or(items) => items.iter().any(|i| reference_values(i, values)),
        ValueList::And(items) => items.iter().all(|i| reference_values(i, values)),
        ValueList::Not(inner) => !reference_values(inner, values),
        ValueList::Value(value) if value.is_exists() => !values.is_empty(),
        ValueList::Value(Value {
            kind: ValueKind::Quoted(text),
            ..
        }) => strings(values).any(|s| s == text),
        ValueList::Value(Value {
            kind: ValueKind::Bare(pieces),
            ..
        }) => strings(values).any(|s| glob(pieces, s)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn printed_trees_parse_back_into_themselves(ast in query()) {
        let printed = ast.to_string();
        let parsed = kql::parse(&printed)
            .map_err(|e| TestCaseError::fail(format!("{printed:?}: {e:?}")))?;
        prop_assert_eq!(strip(&parsed), ast, "{:?}", printed);
        prop_assert_eq!(&parsed.to_string(), &printed);
        for clause in clauses(&parsed) {
            let (KqlAst::Match { span, .. } | KqlAst::Range { span, .. }) = clause else {
                unreachable!("clauses are matches and ranges")
            };
            let text = &printed[span.start..span.end];
            let alone = kql::parse(text)
                .map_err(|e| TestCaseError::fail(format!("{text:?}: {e:?}")))?;
            prop_assert_eq!(strip(&alone), strip(clause), "{:?} in {:?}", text, printed);
        }
    }

    #[test]
    fn lowered_queries_decide_as_the_tree_reads_and_as_optimised(
        (ast, records) in query_and_records(),
    ) {
        let expr = kql::lower(&ast, &RAW).unwrap();
        let optimised = optimise(expr.clone());
        for record in &records {
            let bytes = serde_json::to_vec(record).unwrap();
            let json = Json::parse(&bytes).unwrap();
            let expected = reference(&ast, record);
            prop_assert_eq!(expr.matches(&json), expected, "{} on {}", ast, record);
            prop_assert_eq!(optimised.matches(&json), expected, "optimised {} on {}", ast, record);
        }
    }
}

#[test]
fn the_reference_reads_values_as_elastic_does() {
    let record = serde_json::json!({"a": ["x y", null], "b": {"c": "CreateKey"}});
    let check = |query: &str| reference(&kql::parse(query).unwrap(), &record);
    assert!(check("a: x*"));
    assert!(check("a: (*y and not z)"));
    assert!(!check("a: X*"));
    assert!(check("b.c: *Key and not b.c: createkey"));
    assert!(check("not missing: *"));
    assert!(check("b.c > Create"));
}
