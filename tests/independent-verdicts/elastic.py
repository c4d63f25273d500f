"""Elastic rules: loading them, the legacy `eql` library as the EQL evaluator, and reading EQL and
KQL queries into the witness builder's tree."""

import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import eql
from eql import ast

import ecs_synth
import kql_eval
import witness
from witness import MULTI, SINGLE, Test


@dataclass
class ElasticRule:
    path: Path
    rule_id: str
    name: str
    language: str
    query: str
    category_field: str  # what `<category> where` tests: event.category or the override


def load(directory, language):
    """The rules of `language` (`eql` without `sequence`, or `kuery`), by file name."""
    rules = []
    for path in sorted(Path(directory).glob("*.toml")):
        rule = tomllib.loads(path.read_text(encoding="utf-8"))["rule"]
        if rule.get("language") != language:
            continue
        if language == "eql" and rule["query"].lstrip().startswith("sequence"):
            continue
        rules.append(ElasticRule(path, rule["rule_id"].lower(), rule["name"], language,
                                 rule["query"], rule.get("event_category_override",
                                                         "event.category")))
    return rules


class RuleDir:
    """A temporary directory holding copies of some rule files, for `--rules`."""

    def __init__(self, rules):
        self.dir = Path(tempfile.mkdtemp(prefix="trailtag-verdicts-"))
        for rule in rules:
            shutil.copyfile(rule.path, self.dir / rule.path.name)

    def __enter__(self):
        return self.dir

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


# -- EQL through the legacy library

def parse_eql(text):
    """The library's parse of an Elastic EQL query (Elasticsearch syntax: `:`, `regex~`)."""
    with eql.parser.elasticsearch_syntax, eql.parser.ignore_missing_functions:
        return eql.parse_query(text)


class EqlQuery:
    """An EQL query evaluated by the library's Python engine, one document at a time.

    The event category (`iam where`) is the library's own event-type filter; Elasticsearch
    reads it from `event.category` (or the rule's `event_category_override`), an array in ECS,
    so the document is offered once per category value and matches when one of them does.
    """

    def __init__(self, rule):
        self.rule = rule
        self.parsed = parse_eql(rule.query)
        self.callback = eql.PythonEngine().convert(self.parsed.first)
        self.any = self.parsed.first.event_type == "any"

    def matches(self, doc):
        categories = kql_eval.field_values(doc, self.rule.category_field)
        if self.any:
            categories = categories[:1] or ["any"]
        return any(self.callback(eql.Event(str(c), 0, doc)) for c in categories)


def _field(node):
    if not isinstance(node, ast.Field):
        raise NotImplementedError(f"no synthesis for {node}")
    return ".".join([node.base, *map(str, node.path)])


def _literal_glob(text):
    return (MULTI, text, MULTI)


def _lucene_glob(text):
    """`stringContains(f, text)` as Elasticsearch runs it, a wildcard query `*text*`: `*` and
    `?` are wildcards, a backslash escapes the next character."""
    parts, run, i = [MULTI], [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            run.append(text[i + 1])
            i += 2
            continue
        if char in "*?":
            if run:
                parts.append("".join(run))
                run = []
            parts.append(MULTI if char == "*" else SINGLE)
        else:
            run.append(char)
        i += 1
    if run:
        parts.append("".join(run))
    return tuple(parts) + (MULTI,)


def eql_tree(node):
    """An EQL condition as a `witness` tree (the values Elasticsearch compares, case kept)."""
    if isinstance(node, ast.And):
        return ("and", [eql_tree(t) for t in node.terms])
    if isinstance(node, ast.Or):
        return ("or", [eql_tree(t) for t in node.terms])
    if isinstance(node, ast.Not):
        return ("not", eql_tree(node.term))
    if isinstance(node, ast.Comparison) and isinstance(node.right, ast.String):
        test = ("test", Test(_field(node.left), "glob", parts=(node.right.value,), cased=True))
        if node.comparator == "==":
            return test
        if node.comparator == "!=":
            return ("not", test)
    if isinstance(node, ast.InSet):
        name = _field(node.expression)
        return ("or", [("test", Test(name, "glob", parts=(v.value,), cased=True))
                       for v in node.container])
    if isinstance(node, ast.IsNull):
        return ("test", Test(_field(node.expr), "null"))
    if isinstance(node, ast.IsNotNull):
        return ("test", Test(_field(node.expr), "exists"))
    if isinstance(node, ast.FunctionCall):
        return _function_tree(node)
    raise NotImplementedError(f"no synthesis for {node}")


def _function_tree(node):
    name, args = node.name, node.arguments
    source = _field(args[0])
    if name == "wildcard":
        return ("or", [("test", Test(source, "glob", parts=_split_stars(a.value)))
                       for a in args[1:]])
    if name == "match":
        return ("or", [("test", Test(source, "regex", pattern=f"^(?:{a.value})$"))
                       for a in args[1:]])
    if name == "stringContains" and isinstance(args[1], ast.Field):
        return ("test", Test(source, "contains_field", other=_field(args[1])))
    if name == "stringContains":
        text = args[1].value
        lucene = _lucene_glob(text)
        alt = lucene if lucene != _literal_glob(text) else ()
        return ("test", Test(source, "glob", parts=_literal_glob(text), cased=True,
                             alt_parts=alt))
    if name == "startsWith":
        return ("test", Test(source, "glob", parts=(args[1].value, MULTI), cased=True))
    raise NotImplementedError(f"no synthesis for {name}()")


def _split_stars(pattern):
    parts = []
    for i, piece in enumerate(pattern.split("*")):
        if i:
            parts.append(MULTI)
        if piece:
            parts.append(piece)
    return tuple(parts)


# -- KQL into the witness tree

def kql_tree(node):
    """A parsed KQL query as a `witness` tree."""
    kind = node[0]
    if kind in ("and", "or"):
        return (kind, [kql_tree(n) for n in node[1]])
    if kind == "not":
        return ("not", kql_tree(node[1]))
    return _kql_values(node[1], node[2])


def _kql_values(name, node):
    kind = node[0]
    if kind in ("and", "or"):
        return (kind, [_kql_values(name, n) for n in node[1]])
    if kind == "not":
        return ("not", _kql_values(name, node[1]))
    value = node[1]
    if value.is_exists:
        return ("test", Test(name, "exists"))
    parts = tuple(MULTI if p is kql_eval.WILD else p for p in value.parts)
    return ("test", Test(name, "glob", parts=parts, cased=True))


# -- synthesized records

def _resource_pair(fields):
    if fields.get("aws.cloudtrail.resources.arn") is None:
        return []
    return [("shape:resources", ecs_synth.raw_record(fields, resources=2))]


def _too_long(fields):
    """`long:<field>`: the rendered payload string padded past its `ignore_above` (8,191)."""
    made = []
    for name, limit in kql_eval.IGNORE_ABOVE.items():
        if isinstance(fields.get(name), str):
            padded = {**fields, name: "x" * limit + fields[name]}
            made.append((f"long:{name}", ecs_synth.raw_record(padded)))
    return made


def records_for(rule, tree, case=False, long=False):
    """[(label, record)] for one Elastic rule, labelled `synth:<file stem>:<variant>`: the
    `witness.variants`, negated fields filled; `shape:resources` when a resource ARN is
    tested: `match0` with the object's ARN beside its bucket's, as S3 data events have it;
    with `long`, `long:<field>` (`_too_long`)."""
    made = witness.variants(tree, ecs_synth.raw_record, fill_negated=True, case=case,
                            keep_value=ecs_synth.UNCHANGEABLE, keep_field=ecs_synth.UNREMOVABLE,
                            writable=ecs_synth.writable,
                            more=lambda f: _resource_pair(f) + (_too_long(f) if long else []))
    return [(f"synth:{rule.path.stem}:{label}", record) for label, record in made]
