//! Elastic's rules read ECS names; this resolver turns a test on an ECS field into IR over the
//! raw record, with the semantics of the ECS document's field types (`crate::ecs` says where
//! each field comes from).
//!
//! - Values are **keyword text**: a JSON number or boolean is tested as its text (`true`,
//!   `21`), and the values the pipeline's clean-up removes (`null`, `""`, `"-"`, `"none"`) are
//!   no value ([`TextTest`] with placeholders dropped). A boolean literal is its text; a number
//!   literal reads the field's text as a number.
//! - **Arrays** are entered, and a test holds when any element satisfies it
//!   ([`Quantifier::AnyElement`]), as Elasticsearch treats multi-valued fields.
//! - `Missing` ("no value") and `Exists` follow the same view: an absent field, `null`, a
//!   placeholder or an empty list is no value.
//! - A **constant** field is decided now; a **categorisation** field becomes a set of
//!   `eventName`s (which the scan can pin); a **computed** field reads the derived `@ecs.…`
//!   field; a **flattened** path reads the raw payload's leaves, when the pipeline makes the
//!   copy.
//! - An **unavailable** field (GeoIP, user-agent parsing) has no value: every test on it is false
//!   except `Missing`; the rule is marked partial with the reason ([`EcsFields::notes`]).
//! - An unknown name is an error: Elasticsearch would silently treat it as unmapped, which is how
//!   a misspelt field makes a rule that never fires.

use std::cell::RefCell;

use crate::ecs::{self, Computed, Source, categories};
use crate::frontend::fields::{FieldKind, Fields};
use crate::ir::{Case, Expr, Leaf, Quantifier, StringSet, Test, TextTest};
use crate::json::Json;
use crate::path::FieldPath;

/// The ECS resolver; it remembers why a rule would be partial.
#[derive(Debug, Default)]
pub struct EcsFields {
    notes: RefCell<Vec<String>>,
}

impl EcsFields {
    /// What the rules compiled with this resolver cannot see, one note per unavailable field.
    pub fn notes(&self) -> Vec<String> {
        self.notes.borrow().clone()
    }

    fn note(&self, field: &str, why: &str) {
        let note = format!("{field} needs {why}, which trailtag does not have: it has no value");
        let mut notes = self.notes.borrow_mut();
        if !notes.contains(&note) {
            notes.push(note);
        }
    }
}

impl Fields for EcsFields {
    fn test(&self, field: &FieldPath, test: Test) -> Result<Expr, String> {
        let name = field.segments().join(".");
        let source = ecs::source(&name).ok_or_else(|| {
            format!("`{name}` is not a field of the ECS view of a CloudTrail record (`trailtag ecs FILE` shows the fields a record has)")
        })?;
        Ok(match source {
            Source::Constant(value) => constant(value, &test),
            Source::Raw(path) => keyword_leaf(raw_path(path), test),
            Source::Category => by_action(&test, |row| row.map_or(&[][..], |r| r.categories)),
            Source::Type => by_action(&test, |row| {
                row.map_or(categories::DEFAULT_TYPES, |r| r.types)
            }),
            Source::Computed(computed) => keyword_leaf(computed.path(), test),
            Source::Flattened(payload, rest) => {
                let copy_made = Expr::Leaf(Leaf {
                    field: Computed::FlattenedCopy(payload).path(),
                    quantifier: Quantifier::Value,
                    test: Test::Exists,
                });
                let alternatives: Vec<Expr> = key_groupings(&rest)
                    .into_iter()
                    .map(|keys| {
                        let mut segments = vec![payload.raw_key().to_owned()];
                        segments.extend(keys);
                        keyword_leaf(FieldPath::new(segments), test.clone())
                    })
                    .collect();
                let leaf = match test {
                    Test::Missing => Expr::All(alternatives),
                    _ => Expr::Any(alternatives),
                };
                flattened(copy_made, leaf, &test)
            }
            Source::Unavailable(why) => {
                self.note(&name, why);
                if matches!(test, Test::Missing) {
                    Expr::always()
                } else {
                    Expr::never()
                }
            }
        })
    }

    fn kind(&self, field: &FieldPath) -> FieldKind {
        match field.segments().join(".").as_str() {
            "source.ip" => FieldKind::Ip,
            "aws.cloudtrail.read_only"
            | "aws.cloudtrail.console_login.additional_eventdata.mfa_used"
            | "aws.cloudtrail.console_login.additional_eventdata.mobile_version" => {
                FieldKind::Boolean
            }
            _ => FieldKind::Keyword,
        }
    }
}

fn raw_path(dotted: &str) -> FieldPath {
    FieldPath::new(dotted.split('.').map(str::to_owned).collect())
}

/// A test on a field seen as keyword text (module docs).
fn keyword_leaf(field: FieldPath, test: Test) -> Expr {
    let leaf = |test| {
        Expr::Leaf(Leaf {
            field: field.clone(),
            quantifier: Quantifier::AnyElement,
            test,
        })
    };
    match test {
        Test::Missing => leaf(text(Test::Exists)).negate(),
        Test::FieldRef { .. } | Test::FieldContains { .. } => leaf(test),
        Test::Bool(b) => leaf(text(Test::StringIn(StringSet::new(
            Case::Sensitive,
            [b.to_string()],
        )))),
        Test::Text(inner) => leaf(Test::Text(TextTest::new(*inner.inner, true))),
        test => leaf(text(test)),
    }
}

/// Longest flattened path (after the payload) whose every grouping into keys is tried: 2^(n-1)
/// paths for n segments. Longer paths are read as nested objects only.
const MAX_GROUPED_SEGMENTS: usize = 6;

/// Every way the dotted path `segments` can be keys of nested objects: Elasticsearch's
/// `flattened` type joins the keys of every level with dots, so `a.b.c` finds `{"a":{"b":{"c"}}}`,
/// `{"a.b":{"c"}}`, `{"a":{"b.c"}}` and `{"a.b.c"}` alike (GuardDuty's finding criteria have
/// keys such as `resource.resourceType`). The nested reading comes first.
fn key_groupings(segments: &[String]) -> Vec<Vec<String>> {
    if segments.len() <= 1 || segments.len() > MAX_GROUPED_SEGMENTS {
        return vec![segments.to_vec()];
    }
    let gaps = segments.len() - 1;
    (0..1u32 << gaps)
        .map(|joined| {
            let mut keys = vec![segments[0].clone()];
            for (gap, segment) in segments[1..].iter().enumerate() {
                if joined & (1 << gap) != 0 {
                    if let Some(last) = keys.last_mut() {
                        last.push('.');
                        last.push_str(segment);
                    }
                } else {
                    keys.push(segment.clone());
                }
            }
            keys
        })
        .collect()
}

fn text(test: Test) -> Test {
    Test::Text(TextTest::new(test, true))
}

/// A flattened leaf counts only when the pipeline made the copy; "no value" holds too when it
/// did not.
fn flattened(copy_made: Expr, leaf: Expr, test: &Test) -> Expr {
    match test {
        Test::Missing => Expr::Any(vec![copy_made.negate(), leaf]),
        _ => Expr::All(vec![leaf, copy_made]),
    }
}

/// A test on a constant string, decided now.
fn constant(value: &str, test: &Test) -> Expr {
    let holds = match test {
        Test::Missing => false,
        Test::Exists => true,
        Test::Bool(_) => false,
        test => text(test.clone()).holds(&Json::String(value.into())),
    };
    if holds { Expr::always() } else { Expr::never() }
}

/// A test on `event.category` or `event.type`: the `eventName`s whose row's values satisfy it,
/// and, if the values of a record outside the table do, every other `eventName`.
fn by_action(
    test: &Test,
    values_of: impl Fn(Option<&categories::Row>) -> &'static [&'static str],
) -> Expr {
    let holds_for = |values: &[&str]| match test {
        Test::Missing => values.is_empty(),
        Test::Exists => !values.is_empty(),
        test => {
            let test = text(test.clone());
            values
                .iter()
                .any(|v| test.holds(&Json::String((*v).into())))
        }
    };
    let actions: Vec<String> = categories::TABLE
        .iter()
        .filter(|row| holds_for(values_of(Some(row))))
        .flat_map(|row| row.actions.iter().map(|a| (*a).to_owned()))
        .collect();
    let event_name = raw_path("eventName");
    let in_table = |set: Vec<String>| {
        Expr::Leaf(Leaf {
            field: event_name.clone(),
            quantifier: Quantifier::Value,
            test: Test::StringIn(StringSet::new(Case::Sensitive, set)),
        })
    };
    let mut branches = Vec::new();
    if !actions.is_empty() {
        branches.push(in_table(actions));
    }
    if holds_for(values_of(None)) {
        let every: Vec<String> = categories::all_actions().map(str::to_owned).collect();
        branches.push(in_table(every).negate());
    }
    Expr::Any(branches)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(field: &str, test: Test, record: &str) -> bool {
        let fields = EcsFields::default();
        let expr = fields
            .test(&FieldPath::parse_dotted(field).unwrap(), test)
            .unwrap();
        expr.matches(&Json::parse(record.as_bytes()).unwrap())
    }

    fn eq(value: &str) -> Test {
        Test::StringIn(StringSet::new(Case::Sensitive, [value.to_owned()]))
    }

    #[test]
    fn renamed_fields_are_keyword_text() {
        assert!(holds(
            "event.action",
            eq("CreateGroup"),
            r#"{"eventName":"CreateGroup"}"#
        ));
        assert!(!holds(
            "event.action",
            eq("CreateGroup"),
            r#"{"eventName":"creategroup"}"#
        ));
        assert!(holds(
            "aws.cloudtrail.read_only",
            Test::Bool(false),
            r#"{"readOnly":false}"#
        ));
        assert!(holds(
            "aws.cloudtrail.management_event",
            eq("true"),
            r#"{"managementEvent":true}"#
        ));
        assert!(holds(
            "aws.cloudtrail.error_code",
            Test::Missing,
            r#"{"errorCode":"-"}"#
        ));
        assert!(!holds(
            "aws.cloudtrail.error_code",
            Test::Exists,
            r#"{"errorCode":""}"#
        ));
        assert!(holds(
            "aws.cloudtrail.resources.arn",
            eq("b"),
            r#"{"resources":[{"ARN":"a"},{"ARN":"b"}]}"#
        ));
    }

    #[test]
    fn constants_and_categories_are_decided_from_the_name() {
        let dataset = EcsFields::default()
            .test(
                &FieldPath::parse_dotted("data_stream.dataset").unwrap(),
                eq("aws.cloudtrail"),
            )
            .unwrap();
        assert!(dataset.is_always());
        assert!(holds(
            "event.category",
            eq("iam"),
            r#"{"eventName":"CreateGroup"}"#
        ));
        assert!(!holds(
            "event.category",
            eq("iam"),
            r#"{"eventName":"CreateTrustAnchor"}"#
        ));
        assert!(holds(
            "event.type",
            eq("info"),
            r#"{"eventName":"CreateTrustAnchor"}"#
        ));
        assert!(holds("event.type", eq("info"), "{}"));
        assert!(!holds(
            "event.type",
            eq("info"),
            r#"{"eventName":"CreateGroup"}"#
        ));
        assert!(holds(
            "event.type",
            Test::Missing,
            r#"{"eventName":"Publish"}"#
        ));
        assert!(holds(
            "event.category",
            Test::Missing,
            r#"{"eventName":"CreateTrustAnchor"}"#
        ));
    }

    #[test]
    fn computed_and_flattened_fields() {
        let record = r#"{"eventName":"X","requestParameters":{"ipPermissions":{"items":[{"fromPort":21},{"fromPort":22}]}}}"#;
        assert!(holds("event.outcome", eq("success"), record));
        assert!(holds(
            "aws.cloudtrail.flattened.request_parameters.ipPermissions.items.fromPort",
            eq("22"),
            record
        ));
        assert!(!holds(
            "aws.cloudtrail.flattened.request_parameters.ipPermissions.items.fromPort",
            eq("23"),
            record
        ));
        assert!(holds(
            "aws.cloudtrail.request_parameters",
            Test::Exists,
            record
        ));
    }

    #[test]
    fn unavailable_fields_have_no_value_and_are_noted() {
        let fields = EcsFields::default();
        let field = FieldPath::parse_dotted("source.as.organization.name").unwrap();
        assert!(fields.test(&field, eq("Amazon")).unwrap().is_never());
        assert!(fields.test(&field, Test::Missing).unwrap().is_always());
        assert_eq!(fields.notes().len(), 1);
        assert!(fields.notes()[0].contains("GeoIP"));
        let unknown = FieldPath::parse_dotted("event.actoin").unwrap();
        assert!(
            fields
                .test(&unknown, eq("x"))
                .unwrap_err()
                .contains("event.actoin")
        );
    }
}
