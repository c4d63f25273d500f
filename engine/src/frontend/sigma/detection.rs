//! Selections (the search identifiers under `detection`) lowered to IR.
//!
//! - A **map** is the AND of its entries; each entry, `field|modifiers: value(s)`, is one
//!   condition on one field.
//! - A **list** is the OR of its items: maps, and plain values, which are keywords.
//! - A plain value (or a list of them) as the whole selection is a **keyword search**.
//! - Under one key, a **list of values** is the OR of the values (AND with `all`); a value that
//!   a modifier expands (`windash`, `base64offset`, placeholders) is the OR of its variants.
//!
//! Every value test reads its field with [`Quantifier::AnyLeaf`]: arrays along the path are
//! entered, and an object or array at its end is searched for any scalar that matches (the
//! spec survey's decision 3). Values compare as text ([`TextTest`]: `'true'` matches JSON `true`,
//! `'42'` matches `42`), case-insensitively unless `cased`. `null` is [`Test::Missing`] and
//! `exists` [`Test::Exists`], both with [`Quantifier::AnyElement`]: they ask about the field,
//! not about leaves under it.
//!
//! A keyword search reads every scalar of the record (an empty path with `AnyLeaf`) and matches
//! when one **contains** the keyword, wildcards inside it still working: the full-text reading
//! that Sigma's keyword lists have in the backends pySigma targets (`"*value*"`). A key with an
//! empty field name (`'|all':`) is a keyword search with modifiers, which may be `all`, `cased`,
//! `contains`, `re`, `windash`, the encodings and `expand`.
//!
//! Equalities of one key become one set, and substrings of one kind one set of needles, here
//! rather than in the optimiser (which does not look inside text views), so that a rule gives
//! the same pins optimised or not.

use super::modifiers::{Kind, Modifiers, parse_key};
use super::values::{Transform, expand, parse};
use super::yaml::{Entry, Node, Value};
use super::{Placeholders, Problem};
use crate::ir::wildcard::wildcard_test;
use crate::ir::{Case, Expr, IpNetwork, Leaf, Pattern, Quantifier, Test, TextTest};
use crate::path::FieldPath;

/// Lowers one selection, `name: definition`.
pub(super) fn selection(entry: &Entry, placeholders: &Placeholders) -> Result<Expr, Vec<Problem>> {
    if entry.value.value == Value::Null {
        return Err(vec![empty(&entry.key, &entry.key_node)]);
    }
    definition(&entry.key, &entry.value, placeholders)
}

/// A selection's definition (`name` is for messages).
fn definition(name: &str, node: &Node, placeholders: &Placeholders) -> Result<Expr, Vec<Problem>> {
    match &node.value {
        Value::Map(entries) if entries.is_empty() => Err(vec![empty(name, node)]),
        Value::Map(entries) => {
            let terms = collect(entries.iter().map(|e| entry(e, placeholders)))?;
            Ok(Expr::All(terms))
        }
        Value::List(items) if items.is_empty() => Err(vec![empty(name, node)]),
        Value::List(items) => list(name, items, placeholders),
        Value::Null => Err(vec![empty(name, node)]),
        _ => keywords(&[node], node, placeholders).map_err(|p| vec![p]),
    }
}

fn empty(name: &str, node: &Node) -> Problem {
    Problem::query(
        node.pos,
        format!("the selection `{name}` is empty: give it field conditions or keywords"),
    )
}

/// Keeps every success, or returns every problem.
fn collect<T>(
    results: impl Iterator<Item = Result<T, Vec<Problem>>>,
) -> Result<Vec<T>, Vec<Problem>> {
    let mut ok = Vec::new();
    let mut problems = Vec::new();
    for result in results {
        match result {
            Ok(value) => ok.push(value),
            Err(mut p) => problems.append(&mut p),
        }
    }
    if problems.is_empty() {
        Ok(ok)
    } else {
        Err(problems)
    }
}

/// A list under a selection: the OR of its maps and keywords.
fn list(name: &str, items: &[Node], placeholders: &Placeholders) -> Result<Expr, Vec<Problem>> {
    let keyword_nodes: Vec<&Node> = items
        .iter()
        .filter(|i| !matches!(i.value, Value::Map(_)))
        .collect();
    let mut terms = collect(
        items
            .iter()
            .filter(|i| matches!(i.value, Value::Map(_)))
            .map(|map| definition(name, map, placeholders)),
    )?;
    if let Some(first) = keyword_nodes.first() {
        terms.push(keywords(&keyword_nodes, first, placeholders).map_err(|p| vec![p])?);
    }
    Ok(Expr::Any(terms))
}

fn keywords(values: &[&Node], at: &Node, placeholders: &Placeholders) -> Result<Expr, Problem> {
    let modifiers = parse_key("")
        .map_err(|e| Problem::query(at.pos, e.message))?
        .1;
    Condition::new(Target::Keywords, modifiers, placeholders).lower(values, false)
}

/// One `field|modifiers: value(s)` entry.
fn entry(entry: &Entry, placeholders: &Placeholders) -> Result<Expr, Vec<Problem>> {
    entry_condition(entry, placeholders).map_err(|p| vec![p])
}

fn entry_condition(entry: &Entry, placeholders: &Placeholders) -> Result<Expr, Problem> {
    let key = &entry.key_node;
    let (field, modifiers) = parse_key(&entry.key).map_err(|e| Problem {
        pos: key.at(e.offset),
        kind: e.kind,
        message: e.message,
    })?;
    let target = target(field, key)?;
    let (values, is_list) = match &entry.value.value {
        Value::List(items) if items.is_empty() => {
            return Err(Problem::query(
                entry.value.pos,
                format!("`{}` has an empty list of values", entry.key),
            ));
        }
        Value::List(items) => (items.iter().collect::<Vec<_>>(), true),
        _ => (vec![&entry.value], false),
    };
    if let (Some(offset), false) = (modifiers.offset_of("all"), is_list) {
        return Err(Problem::query(
            key.at(offset),
            "`all` needs a list of values (on one value it changes nothing: drop it)",
        ));
    }
    let condition = Condition::new(target, modifiers, placeholders);
    condition.check_keyword_modifiers(key)?;
    condition.lower(&values, is_list)
}

/// What an entry's key names.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A field of the record.
    Field(FieldPath),
    /// Every scalar of the record (a keyword search).
    Keywords,
}

fn target(field: &str, key: &Node) -> Result<Target, Problem> {
    if field.is_empty() {
        return Ok(Target::Keywords);
    }
    FieldPath::parse_dotted(field)
        .map(Target::Field)
        .ok_or_else(|| {
            Problem::query(
                key.pos,
                format!(
                    "`{field}` is not a field name: a dotted name is a path into the record, with no empty part (`userIdentity.arn`)"
                ),
            )
        })
}

/// One key's modifiers, ready to lower its values.
struct Condition<'p> {
    target: Target,
    modifiers: Modifiers,
    placeholders: &'p Placeholders,
}

impl<'p> Condition<'p> {
    fn new(target: Target, mut modifiers: Modifiers, placeholders: &'p Placeholders) -> Self {
        let implied_contains = target == Target::Keywords
            && modifiers.kind == Kind::Plain
            && modifiers.placement().is_none();
        if implied_contains {
            modifiers.transforms.push(Transform::Contains);
        }
        Self {
            target,
            modifiers,
            placeholders,
        }
    }

    fn case(&self) -> Case {
        if self.modifiers.cased {
            Case::Sensitive
        } else {
            Case::Insensitive
        }
    }

    fn path(&self) -> FieldPath {
        match &self.target {
            Target::Field(path) => path.clone(),
            Target::Keywords => FieldPath::new(Vec::new()),
        }
    }

    fn leaf(&self, quantifier: Quantifier, test: Test) -> Expr {
        Expr::Leaf(Leaf {
            field: self.path(),
            quantifier,
            test,
        })
    }

    /// A keyword search takes string modifiers only.
    fn check_keyword_modifiers(&self, key: &Node) -> Result<(), Problem> {
        if self.target != Target::Keywords {
            return Ok(());
        }
        let wrong = match self.modifiers.kind {
            Kind::Plain | Kind::Regex { .. } => ["neq", "startswith", "endswith"]
                .into_iter()
                .find_map(|m| self.modifiers.offset_of(m).map(|o| (m, o))),
            _ => self.modifiers.first(),
        };
        match wrong {
            Some((name, offset)) => Err(Problem::query(
                key.at(offset),
                format!(
                    "`{name}` needs a field: a key without a field name is a keyword search, which takes `all`, `cased`, `contains`, `re`, `windash`, the encodings and `expand`"
                ),
            )),
            None => Ok(()),
        }
    }

    /// The condition the values ask for.
    fn lower(&self, values: &[&Node], is_list: bool) -> Result<Expr, Problem> {
        if let Some(null) = values.iter().find(|v| v.value == Value::Null) {
            return self.null(null, is_list);
        }
        if let Some(nested) = values
            .iter()
            .find(|v| matches!(v.value, Value::List(_) | Value::Map(_)))
        {
            return Err(Problem::query(
                nested.pos,
                format!(
                    "a value must be a string, a number or a boolean, not {}",
                    nested.describe()
                ),
            ));
        }
        if self.modifiers.kind == Kind::Exists {
            return self.exists(values, is_list);
        }
        let condition = self.values(values)?;
        Ok(if self.modifiers.neq {
            condition.negate()
        } else {
            condition
        })
    }

    fn null(&self, null: &Node, is_list: bool) -> Result<Expr, Problem> {
        let message = if is_list {
            "`null` cannot be part of a list of values: give `field: null` a selection of its own"
        } else if self.target == Target::Keywords {
            "a keyword cannot be `null`"
        } else if !self.modifiers.is_empty() {
            "`null` takes no modifiers (`field: null` means the field is absent or null)"
        } else {
            return Ok(self.leaf(Quantifier::AnyElement, Test::Missing));
        };
        Err(Problem::query(null.pos, message))
    }

    fn exists(&self, values: &[&Node], is_list: bool) -> Result<Expr, Problem> {
        let value = match (values, is_list) {
            ([value], false) => value,
            _ => {
                return Err(Problem::query(
                    values[0].pos,
                    "`exists` takes one value, `true` or `false`, not a list",
                ));
            }
        };
        let Value::Bool(present) = value.value else {
            return Err(Problem::query(
                value.pos,
                format!(
                    "`exists` takes `true` or `false` (unquoted), not {}",
                    value.describe()
                ),
            ));
        };
        let exists = self.leaf(Quantifier::AnyElement, Test::Exists);
        Ok(if present { exists } else { exists.negate() })
    }

    /// OR of every value's tests, or with `all` the AND over values of each one's OR.
    fn values(&self, values: &[&Node]) -> Result<Expr, Problem> {
        let mut per_value = Vec::with_capacity(values.len());
        for value in values {
            per_value.push(self.tests(value)?);
        }
        if self.modifiers.all {
            let terms = per_value.into_iter().map(|tests| self.any(tests)).collect();
            return Ok(Expr::All(terms));
        }
        Ok(self.any(per_value.concat()))
    }

    fn any(&self, tests: Vec<Test>) -> Expr {
        Expr::Any(
            merge(tests)
                .into_iter()
                .map(|test| self.leaf(Quantifier::AnyLeaf, test))
                .collect(),
        )
    }

    /// The tests one value stands for (several when a modifier expands it).
    fn tests(&self, value: &Node) -> Result<Vec<Test>, Problem> {
        let problem = |message: String| Problem::query(value.pos, message);
        let text = value.scalar_text().unwrap_or_default();
        match self.modifiers.kind {
            Kind::Plain => self.text_tests(&text).map_err(problem),
            Kind::Regex {
                insensitive,
                multi_line,
                dot_matches_new_line,
            } => {
                let flags: String = [(multi_line, 'm'), (dot_matches_new_line, 's')]
                    .iter()
                    .filter_map(|(on, flag)| on.then_some(*flag))
                    .collect();
                let source = match flags.is_empty() {
                    true => text.into_owned(),
                    false => format!("(?{flags}){text}"),
                };
                let case = if insensitive {
                    Case::Insensitive
                } else {
                    Case::Sensitive
                };
                let pattern = Pattern::new(&source, case).map_err(problem)?;
                Ok(vec![text_view(Test::Pattern(pattern))])
            }
            Kind::Cidr => {
                let network = IpNetwork::parse(&text).map_err(problem)?;
                Ok(vec![Test::Cidr(vec![network])])
            }
            Kind::FieldRef => {
                let field = FieldPath::parse_dotted(&text).ok_or_else(|| {
                    problem(format!(
                        "`fieldref` names a field, and `{text}` is not a field name"
                    ))
                })?;
                Ok(vec![Test::FieldRef {
                    field,
                    case: self.case(),
                }])
            }
            Kind::Compare(cmp) => match value.value {
                Value::Number(number, _) => Ok(vec![text_view(Test::NumberCmp(cmp, number))]),
                _ => Err(problem(format!(
                    "`{}` compares numbers: the value must be a number (unquoted), not {}",
                    self.modifiers.first().map_or("", |(n, _)| n),
                    value.describe()
                ))),
            },
            Kind::Exists => Ok(Vec::new()),
        }
    }

    /// A plain value, after the transformation modifiers: one text test per variant.
    fn text_tests(&self, text: &str) -> Result<Vec<Test>, String> {
        let parts = parse(text, self.modifiers.expand);
        let patterns = expand(parts, &self.modifiers.transforms, self.placeholders)?;
        patterns
            .iter()
            .map(|parts| wildcard_test(parts, self.case()).map(text_view))
            .collect()
    }
}

/// Sigma compares scalars as text: JSON `true` is the text `true`, `42` the text `42`.
fn text_view(test: Test) -> Test {
    Test::Text(TextTest::new(test, false))
}

/// Tests of one field united where they can be: equalities into one set, substrings of one kind
/// into one set of needles, networks into one list.
fn merge(tests: Vec<Test>) -> Vec<Test> {
    let mut out: Vec<Test> = Vec::with_capacity(tests.len());
    for test in tests {
        match out.iter_mut().find_map(|t| union(t, &test).map(|u| (t, u))) {
            Some((slot, united)) => *slot = united,
            None => out.push(test),
        }
    }
    out
}

fn union(a: &Test, b: &Test) -> Option<Test> {
    match (a, b) {
        (Test::Text(x), Test::Text(y)) if x.drop_placeholders == y.drop_placeholders => {
            union(&x.inner, &y.inner).map(|t| Test::Text(TextTest::new(t, x.drop_placeholders)))
        }
        (Test::StringIn(x), Test::StringIn(y)) if x.case() == y.case() => {
            Some(Test::StringIn(x.union(y)))
        }
        (Test::Substring(x), Test::Substring(y))
            if (x.case(), x.kind()) == (y.case(), y.kind()) =>
        {
            Some(Test::Substring(x.union(y)))
        }
        (Test::Cidr(x), Test::Cidr(y)) => Some(Test::Cidr([x.as_slice(), y].concat())),
        _ => None,
    }
}
