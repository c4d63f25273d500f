"""Sigma rules run the way pySigma's SQLite backend means them to run: each rule converted to
one SQL query, evaluated by SQLite over a table of flattened records.

The table is built the way the backend's own comments say its queries expect (Zircolite's
layout): one `TEXT COLLATE NOCASE` column per dotted field path, so `=` ignores ASCII case as
Sigma asks and `LIKE` does anyway; a missing field is `NULL`; JSON `true`/`false` are the
strings `'true'`/`'false'`; and `REGEXP` is Python's `re.search` (SQLite has no regex of its
own). How a record becomes a row:

- a dotted path that ends on a string holds that string; on a number its JSON text (`42`);
  on a boolean `true`/`false`; on JSON `null` (or nowhere) `NULL`;
- a path that ends on an object or an array holds its compact JSON text, so
  `requestParameters|contains: 'Suspended'` searches the object's JSON text;
- a path that goes *through* an array (`requestParameters.containerDefinitions.command`,
  where `containerDefinitions` is a list) holds the JSON text of the list of every value
  found under the elements, or `NULL` when there is none.

So equality never looks inside an array, and a substring test on an object or array sees
JSON syntax (quotes escaped as `\\"`), not the values one by one; README.md lists what that
changes. Only the columns the rules read are created (a table with every path of the corpus
would pass SQLite's 2,000-column limit); each is computed from the record by exact path.
"""

import json
import re
import sqlite3
from pathlib import Path

from sigma.backends.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionFieldEqualsValueExpression
from sigma.types import SigmaFieldReference

INDEX = "_record_index"
_MISSING = object()


def load_rules(directory):
    """[(file stem, SigmaRule, SQL query)] for every `.yml` rule in `directory`, by name."""
    backend = sqliteBackend()
    rules = []
    for path in sorted(Path(directory).glob("*.yml")):
        collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
        for rule in collection.rules:
            queries = backend.convert_rule(rule)
            if len(queries) != 1:
                raise ValueError(f"{path.name}: {len(queries)} queries, expected one")
            rules.append((path.stem, rule, queries[0]))
    return rules


def walk(condition):
    """Every node of a parsed condition, depth first."""
    yield condition
    for arg in getattr(condition, "args", ()):
        yield from walk(arg)


def referenced_fields(rules):
    """The field names any rule's condition reads (fieldref targets included)."""
    fields = set()
    for _, rule, _ in rules:
        for condition in rule.detection.parsed_condition:
            for node in walk(condition.parsed):
                if isinstance(node, ConditionFieldEqualsValueExpression):
                    fields.add(node.field)
                    if isinstance(node.value, SigmaFieldReference):
                        fields.add(node.value.field)
    return sorted(fields)


def _values(value, keys):
    """The values at `keys` under `value`, and whether the walk went through an array."""
    if not keys:
        return [value], False
    if isinstance(value, dict):
        if keys[0] not in value:
            return [], False
        return _values(value[keys[0]], keys[1:])
    if isinstance(value, list):
        found = []
        for element in value:
            found.extend(_values(element, keys)[0])
        return found, True
    return [], False


def _text(value):
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def column_value(record, path):
    """The text stored for dotted `path` of `record` (see the module docs), or None."""
    found, through_array = _values(record, path.split("."))
    if through_array:
        return _text(found) if found else None
    return _text(found[0]) if found else None


def _regexp(pattern, value):
    return value is not None and re.search(pattern, value) is not None


class Table:
    """An in-memory SQLite table `logs` holding `records`, one row each."""

    def __init__(self, records, fields):
        self.db = sqlite3.connect(":memory:")
        self.db.create_function("REGEXP", 2, _regexp, deterministic=True)
        columns = ", ".join(f'"{f}" TEXT COLLATE NOCASE' for f in fields)
        self.db.execute(f'CREATE TABLE logs ("{INDEX}" INTEGER, {columns})')
        marks = ", ".join("?" for _ in range(len(fields) + 1))
        rows = ([i] + [column_value(r, f) for f in fields] for i, r in enumerate(records))
        self.db.executemany(f"INSERT INTO logs VALUES ({marks})", rows)

    def matches(self, query):
        """The record indices `query` (a backend's `SELECT * FROM logs WHERE ...`) returns."""
        sql = f'SELECT "{INDEX}" FROM ({query})'
        return {row[0] for row in self.db.execute(sql)}
