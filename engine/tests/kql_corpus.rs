//! Every `kuery` query of Elastic's AWS rules (`shared/rules/elastic-aws/*.toml`) parses and
//! lowers against raw fields; the constructs they use are counted against the survey in
//! `shared/spec/rules-and-fields.md` §3, and a few rules are run on ECS-shaped records.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]

use std::collections::BTreeMap;

use trailtag_conformance as data;
use trailtag_engine::frontend::fields::RawFields;
use trailtag_engine::frontend::kql::{self, KqlAst, Piece, Value, ValueKind, ValueList};
use trailtag_engine::ir::{Expr, Quantifier};
use trailtag_engine::json::Json;

const RAW: RawFields = RawFields {
    quantifier: Quantifier::AnyElement,
};

/// `(file name, query)` of every rule whose language is `kuery`, sorted by file.
fn kuery_queries() -> Vec<(String, String)> {
    let dir = data::shared_dir().join("rules/elastic-aws");
    let mut queries: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .filter_map(|path| {
            let text = String::from_utf8(data::read(&path)).unwrap();
            let file: toml::Table = text.parse().unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let rule = file.get("rule")?.as_table()?;
            (rule.get("language")?.as_str()? == "kuery").then(|| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, rule["query"].as_str().unwrap().to_owned())
            })
        })
        .collect();
    queries.sort();
    queries
}

fn compiled(file: &str) -> Expr {
    let queries = kuery_queries();
    let (_, query) = queries
        .iter()
        .find(|(name, _)| name == file)
        .unwrap_or_else(|| panic!("no kuery rule {file}"));
    kql::compile(query, &RAW).unwrap()
}

fn record(text: &str) -> Json<'_> {
    Json::parse(text.as_bytes()).unwrap()
}

#[test]
fn every_kuery_query_parses_and_lowers() {
    let queries = kuery_queries();
    assert_eq!(
        queries.len(),
        139,
        "85 query + 49 new_terms + 5 threshold rules"
    );
    let failures: Vec<String> = queries
        .iter()
        .filter_map(|(name, query)| {
            kql::compile(query, &RAW)
                .err()
                .map(|errors| format!("{name}: {errors:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_kuery_query_prints_back_to_the_same_tree() {
    for (name, query) in kuery_queries() {
        let ast = kql::parse(&query).unwrap();
        let printed = ast.to_string();
        let reparsed = kql::parse(&printed).unwrap_or_else(|e| panic!("{name}: {printed}: {e:?}"));
        assert_eq!(reparsed.to_string(), printed, "{name}");
        assert_eq!(
            kql::lower(&reparsed, &RAW).unwrap(),
            kql::lower(&ast, &RAW).unwrap(),
            "{name}"
        );
    }
}

/// What a query uses, each counted once per rule (the survey counts rules).
#[derive(Default)]
struct Uses(BTreeMap<&'static str, bool>);

impl Uses {
    fn mark(&mut self, construct: &'static str) {
        self.0.insert(construct, true);
    }

    fn query(&mut self, ast: &KqlAst) {
        match ast {
            KqlAst::Or(terms) => {
                self.mark("or between clauses");
                terms.iter().for_each(|t| self.query(t));
            }
            KqlAst::And(terms) => {
                self.mark("and between clauses");
                terms.iter().for_each(|t| self.query(t));
            }
            KqlAst::Not(inner) => {
                self.mark("not before a clause");
                self.query(inner);
            }
            KqlAst::Match { values, .. } => self.values(values),
            KqlAst::Range { .. } => self.mark("range"),
        }
    }

    fn values(&mut self, list: &ValueList) {
        match list {
            ValueList::Or(items) => {
                self.mark("or inside a list");
                items.iter().for_each(|i| self.values(i));
            }
            ValueList::And(items) => {
                self.mark("and inside a list");
                items.iter().for_each(|i| self.values(i));
            }
            ValueList::Not(inner) => {
                self.mark("not inside a list");
                self.values(inner);
            }
            ValueList::Value(value) => self.value(value),
        }
    }

    fn value(&mut self, value: &Value) {
        match &value.kind {
            ValueKind::Quoted(_) => self.mark("quoted value"),
            ValueKind::Bare(_) if value.is_exists() => self.mark("exists"),
            ValueKind::Bare(pieces) if pieces.contains(&Piece::Star) => self.mark("wildcard"),
            ValueKind::Bare(_) => {
                let text = value.literal().unwrap_or_default();
                if text == "true" || text == "false" {
                    self.mark("boolean literal");
                } else if text.parse::<f64>().is_ok() {
                    self.mark("numeric literal");
                } else {
                    self.mark("bare word without wildcard");
                }
            }
        }
    }
}

#[test]
fn constructs_are_used_as_the_survey_counts_them() {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, query) in kuery_queries() {
        let mut uses = Uses::default();
        uses.query(&kql::parse(&query).unwrap());
        for construct in uses.0.keys() {
            *counts.entry(construct).or_default() += 1;
        }
    }
    let expected = BTreeMap::from([
        ("and between clauses", 139),
        ("quoted value", 108),
        ("bare word without wildcard", 39),
        ("or inside a list", 69),
        ("and inside a list", 6),
        ("not inside a list", 5),
        ("not before a clause", 35),
        ("or between clauses", 6),
        ("wildcard", 36),
        ("exists", 15),
        ("boolean literal", 5),
        ("numeric literal", 2),
    ]);
    assert_eq!(counts, expected);
}

#[test]
fn a_rule_with_bare_values_matches_its_event() {
    let expr = compiled("persistence_iam_group_creation.toml");
    let event = r#"{"data_stream":{"dataset":"aws.cloudtrail"},
        "event":{"provider":"iam.amazonaws.com","action":"CreateGroup","outcome":"success"}}"#;
    assert!(expr.matches(&record(event)));
    assert!(!expr.matches(&record(&event.replace("success", "failure"))));
    assert!(!expr.matches(&record(&event.replace("CreateGroup", "creategroup"))));
}

#[test]
fn a_rule_with_exclusions_in_a_value_list() {
    let expr = compiled("persistence_new_terms_ec2_create_keypair_unusual_source_as.toml");
    let event = |source: &str| {
        format!(
            r#"{{"event":{{"dataset":"aws.cloudtrail","provider":"ec2.amazonaws.com",
            "action":"CreateKeyPair","outcome":"success"}}{source}}}"#
        )
    };
    let org = |name: &str| format!(r#","source":{{"as":{{"organization":{{"name":{name:?}}}}}}}"#);
    assert!(expr.matches(&record(&event(&org("Evil Hosting Ltd")))));
    assert!(!expr.matches(&record(&event(&org("AMAZON-AES")))));
    assert!(!expr.matches(&record(&event(&org("Google LLC")))));
    assert!(!expr.matches(&record(&event(""))), "`*` needs a value");
}

#[test]
fn a_rule_with_escaped_colons_and_a_negated_wildcard() {
    let expr = compiled("privilege_escalation_iam_customer_managed_policy_attached_to_role.toml");
    let event = |entity: &str| {
        format!(
            r#"{{"data_stream":{{"dataset":"aws.cloudtrail"}},
            "event":{{"provider":"iam.amazonaws.com","action":"AttachRolePolicy","outcome":"success"}},
            "related":{{"entity":{entity}}}}}"#
        )
    };
    assert!(expr.matches(&record(&event(r#"["arn:aws:iam::123:policy/mine"]"#))));
    assert!(!expr.matches(&record(&event(
        r#"["role", "arn:aws:iam::aws:policy/ReadOnlyAccess"]"#
    ))));
    assert!(expr.matches(&record(&event("[]"))), "not holds on no value");
}
