//! The document interface: how rules read fields, whatever stands behind them.
//!
//! Rules never walk a JSON tree themselves; every leaf and every context field asks a
//! [`Document`] for the values at a path. The raw CloudTrail record is one implementation
//! ([`Json`] itself); an inner record (an EventBridge event's `detail`) is just a [`Json`] node;
//! later views (an ECS document computed lazily from a raw record, a record written with dotted
//! keys) implement the same method, so the IR, its evaluation and the rules do not change.
//!
//! One method, in the style of tau-engine's `Document`: visit the values at a path under a
//! [`Quantifier`], stopping at the first visit that returns `true`. Absence is simply "no value
//! visited".
//!
//! A contract the cheap scan relies on (`crate::ir::pins`): a document answers a path only from
//! members of the record named by the path's segments, so a value reached through the path
//! `a.b` appears in the raw bytes as a member `"b": value`. A view that computes values or reads
//! dotted keys must come with its own pins.
//!
//! The one exception is a **derived field**, a path whose first segment is `@ecs`: its values
//! are computed from the record ([`crate::ecs::Computed`]: the ECS outcome, the
//! `request_parameters` string …) when a rule reaches the test, and the pins never use it.

use crate::ecs::Computed;
use crate::ir::Quantifier;
use crate::json::Json;
use crate::path::FieldPath;

/// Something rules can read fields from.
pub trait Document {
    /// Calls `visit` with the values at `field` under `quantifier`, in document order, until a
    /// call returns `true`; returns whether one did. With [`Quantifier::Value`] at most one value
    /// is visited (the value at the path, following objects only); with
    /// [`Quantifier::AnyElement`] arrays along the path are entered and an array at its end is
    /// visited element by element (nested arrays flattened); with [`Quantifier::AnyLeaf`] an
    /// object or array at the end is entered too and every scalar under it visited.
    fn any_value(
        &self,
        field: &FieldPath,
        quantifier: Quantifier,
        visit: &mut dyn FnMut(&Json<'_>) -> bool,
    ) -> bool;
}

impl Document for Json<'_> {
    fn any_value(
        &self,
        field: &FieldPath,
        quantifier: Quantifier,
        visit: &mut dyn FnMut(&Json<'_>) -> bool,
    ) -> bool {
        if field.is_derived() {
            return derived_values(self, field).iter().any(visit);
        }
        match quantifier {
            Quantifier::Value => field.resolve(self).is_some_and(visit),
            Quantifier::AnyElement => any_element(self, field.segments(), visit),
            Quantifier::AnyLeaf => any_element(self, field.segments(), &mut |node| {
                any_scalar_under(node, visit)
            }),
        }
    }
}

/// The values of a derived field (`@ecs.…`), computed from the record `root`; none for a derived
/// name the engine does not know.
fn derived_values(root: &Json<'_>, field: &FieldPath) -> Vec<Json<'static>> {
    Computed::from_path(field)
        .map(|computed| computed.values(root))
        .unwrap_or_default()
}

/// Walks `segments` from `node`, entering arrays at every step and at the end.
fn any_element(
    node: &Json<'_>,
    segments: &[String],
    visit: &mut dyn FnMut(&Json<'_>) -> bool,
) -> bool {
    match (node, segments) {
        (Json::Array(items), _) => items.iter().any(|item| any_element(item, segments, visit)),
        (_, []) => visit(node),
        (Json::Object(_), [key, rest @ ..]) => node
            .get(key)
            .is_some_and(|child| any_element(child, rest, visit)),
        _ => false,
    }
}

/// Visits every scalar under `node` (objects and arrays entered), in document order.
fn any_scalar_under(node: &Json<'_>, visit: &mut dyn FnMut(&Json<'_>) -> bool) -> bool {
    match node {
        Json::Object(members) => members.iter().any(|(_, v)| any_scalar_under(v, visit)),
        Json::Array(items) => items.iter().any(|v| any_scalar_under(v, visit)),
        scalar => visit(scalar),
    }
}

/// The first value at `field` (objects only) for which `keep` holds, copied as JSON text.
pub fn first_value_json(
    document: &dyn Document,
    field: &FieldPath,
    keep: impl Fn(&Json<'_>) -> bool,
    out: &mut Vec<u8>,
) -> bool {
    document.any_value(field, Quantifier::Value, &mut |value| {
        if !keep(value) {
            return false;
        }
        value.to_json_bytes(out);
        true
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(doc: &str, path: &str, quantifier: Quantifier) -> Vec<String> {
        let doc = Json::parse(doc.as_bytes()).unwrap();
        let mut seen = Vec::new();
        doc.any_value(
            &FieldPath::parse_dotted(path).unwrap(),
            quantifier,
            &mut |v| {
                let mut text = Vec::new();
                v.to_json_bytes(&mut text);
                seen.push(String::from_utf8(text).unwrap());
                false
            },
        );
        seen
    }

    #[test]
    fn a_value_follows_objects_only() {
        assert_eq!(
            values(r#"{"a":{"b":[1,2]}}"#, "a.b", Quantifier::Value),
            ["[1,2]"]
        );
        assert!(values(r#"{"a":[{"b":1}]}"#, "a.b", Quantifier::Value).is_empty());
    }

    #[test]
    fn any_element_enters_arrays_everywhere() {
        let doc = r#"{"a":[{"b":[1,[2]]},{"b":3},{"c":4},5]}"#;
        assert_eq!(values(doc, "a.b", Quantifier::AnyElement), ["1", "2", "3"]);
        assert!(values(r#"{"a":[]}"#, "a", Quantifier::AnyElement).is_empty());
    }

    #[test]
    fn any_leaf_enters_objects_at_the_end() {
        let doc = r#"{"a":[{"b":{"c":"x","d":[1,{"e":null}]}},{"b":true}]}"#;
        assert_eq!(
            values(doc, "a.b", Quantifier::AnyLeaf),
            ["\"x\"", "1", "null", "true"]
        );
    }
}
