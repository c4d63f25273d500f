"""What `--tag-format ecs` and `--tag-format ocsf` write, checked against the real schemas.

ECS: every field trailtag writes (`rule`, `threat`, `event`, `tags` and the context it fills)
must be an ECS field of ECS's own definitions (Elastic's @elastic/ecs, dumped to JSON by
`validate`), with a value of the field's type, an array only where ECS allows one, and one of
the allowed values where ECS lists them (`event.kind`).

OCSF: every element of `detection_findings` must validate against the JSON Schema that
ocsf-json-schema generates from the OCSF 1.1.0 schema for class 2004 (Detection Finding) with
the `cloud` profile the findings declare.

Inputs: the 100 labelled cases tagged by the CLI (built-in and SigmaHQ AWS rules) and the
golden files of engine/tests/tag_formats.rs. Each checker is also shown documents it must
reject, so that a check that accepts everything fails here.
"""

import ipaddress
import json
import os
import re
import unittest
from datetime import datetime
from pathlib import Path

import jsonschema
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

ROOT = Path(__file__).resolve().parents[2]
WORK = Path(os.environ.get("TAG_FORMATS_WORK", ROOT / "target" / "tag-formats"))
GOLDEN = ROOT / "engine" / "tests" / "golden"

# The top-level members the ECS writer writes on a match (engine/src/output/ecs.rs).
ECS_MEMBERS = ("rule", "threat", "event", "tags", "@timestamp", "message", "cloud", "user",
               "source", "user_agent")

TEXT_TYPES = {"keyword", "constant_keyword", "wildcard", "text", "match_only_text"}
NUMBER_TYPES = {"float", "half_float", "scaled_float", "double"}
INTEGER_TYPES = {"long", "integer", "short", "byte", "unsigned_long"}


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def ecs_fields():
    with open(WORK / "ecs_flat.json", encoding="utf-8") as f:
        return json.load(f)


def leaves(value, path=""):
    """(dotted path, value, in_array) for every scalar under `value`."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for item in value:
            for leaf_path, leaf, _ in leaves(item, path):
                yield leaf_path, leaf, True
    else:
        yield path, value, False


def type_ok(field_type, value):
    if field_type in TEXT_TYPES:
        return isinstance(value, str)
    if field_type in INTEGER_TYPES:
        return isinstance(value, int) and not isinstance(value, bool)
    if field_type in NUMBER_TYPES:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if field_type == "boolean":
        return isinstance(value, bool)
    if field_type == "date":
        return isinstance(value, str) and is_iso8601(value)
    if field_type == "ip":
        try:
            ipaddress.ip_address(value)
            return True
        except (ValueError, TypeError):
            return False
    return False


def is_iso8601(text):
    try:
        datetime.fromisoformat(re.sub(r"Z$", "+00:00", text))
        return True
    except ValueError:
        return False


def ecs_problems(document, fields):
    """Every way `document`'s ECS members disagree with ECS's field definitions."""
    problems = []
    for member in ECS_MEMBERS:
        if member not in document:
            continue
        for path, value, in_array in leaves({member: document[member]}):
            field = fields.get(path)
            if field is None:
                problems.append(f"{path}: not an ECS field")
                continue
            if not type_ok(field["type"], value):
                problems.append(f"{path}: {value!r} is not of type {field['type']}")
            if in_array and "array" not in field.get("normalize", []):
                problems.append(f"{path}: an array, which ECS does not allow here")
            allowed = [v["name"] for v in field.get("allowed_values") or []]
            if allowed and value not in allowed:
                problems.append(f"{path}: {value!r} is not one of {allowed}")
    return problems


class EcsOutput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ecs = ecs_fields()
        cls.fields = cls.ecs["fields"]
        cls.documents = read_lines(WORK / "cases.ecs.ndjson") + [
            d for d in read_lines(GOLDEN / "tag-format-ecs.ndjson") if "rule" in d
        ]

    def test_the_definitions_are_ecs_own(self):
        self.assertRegex(self.ecs["version"], r"^\d+\.\d+\.\d+")
        self.assertEqual(self.fields["event.severity"]["type"], "long")
        self.assertIn("alert", [v["name"] for v in self.fields["event.kind"]["allowed_values"]])

    def test_there_are_alerts_to_check(self):
        self.assertGreaterEqual(len(self.documents), 40)
        self.assertTrue(any("threat" in d for d in self.documents))
        self.assertTrue(any("subtechnique" in d.get("threat", {}).get("technique", {})
                            for d in self.documents))

    def test_every_alert_follows_ecs_field_definitions(self):
        for document in self.documents:
            with self.subTest(rule=document["rule"]["id"]):
                self.assertEqual(ecs_problems(document, self.fields), [])

    def test_every_alert_is_an_alert_elastic_shows(self):
        for document in self.documents:
            event = document["event"]
            self.assertEqual(event["kind"], "alert")
            self.assertIn(event["severity"], (21, 47, 73, 99))
            self.assertIsInstance(event["risk_score"], float)
            self.assertIn("trailtag", document["tags"])
            self.assertIn(f"trailtag:{document['rule']['id']}", document["tags"])

    def test_the_checker_rejects_what_ecs_does_not_allow(self):
        good = self.documents[0]
        bad = [
            {**good, "event": {**good["event"], "kind": "alrt"}},
            {**good, "event": {**good["event"], "severity": "high"}},
            {**good, "rule": {**good["rule"], "id": ["a", "b"]}},
            {**good, "rule": {**good["rule"], "not_a_field": "x"}},
            {**good, "source": {"ip": "cloudformation.amazonaws.com"}},
            {**good, "@timestamp": "yesterday"},
        ]
        for document in bad:
            self.assertNotEqual(ecs_problems(document, self.fields), [], document)


def finding_validator(version):
    schema = OcsfJsonSchemaEmbedded(get_ocsf_schema(version)).get_class_schema(
        "detection_finding", ["cloud"])
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def findings(documents):
    return [f for d in documents for f in d.get("detection_findings", [])]


class OcsfOutput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.validator = finding_validator("1.1.0")
        cls.findings = findings(read_lines(WORK / "cases.ocsf.ndjson")) + findings(
            read_lines(GOLDEN / "tag-format-ocsf.ndjson"))

    def problems(self, finding, validator=None):
        validator = validator or self.validator
        return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(finding)]

    def test_there_are_findings_to_check(self):
        self.assertGreaterEqual(len(self.findings), 60)
        self.assertTrue(any(f["finding_info"].get("attacks") for f in self.findings))

    def test_every_finding_validates_against_class_2004(self):
        for finding in self.findings:
            with self.subTest(uid=finding["finding_info"]["uid"]):
                self.assertEqual(self.problems(finding), [])

    def test_every_finding_is_a_detection_finding_of_the_version_it_declares(self):
        for finding in self.findings:
            self.assertEqual(finding["class_uid"], 2004)
            self.assertEqual(finding["category_uid"], 2)
            self.assertEqual(finding["type_uid"], finding["class_uid"] * 100 + finding["activity_id"])
            self.assertEqual(finding["metadata"]["version"], "1.1.0")
            self.assertEqual(finding["metadata"]["profiles"], ["cloud"])

    def test_the_findings_also_validate_against_the_newest_packaged_release(self):
        newest = finding_validator("1.8.0")
        for finding in self.findings:
            with self.subTest(uid=finding["finding_info"]["uid"]):
                self.assertEqual(self.problems(finding, newest), [])

    def test_the_validator_rejects_what_the_schema_does_not_allow(self):
        good = self.findings[0]
        missing = {k: v for k, v in good.items() if k != "finding_info"}
        bad = [
            missing,
            {**good, "severity_id": 7},
            {**good, "time": "2024-05-01T00:00:00Z"},
            {**good, "not_an_attribute": 1},
            {**good, "finding_info": {"title": "no uid"}},
        ]
        for finding in bad:
            self.assertNotEqual(self.problems(finding), [], finding)


if __name__ == "__main__":
    unittest.main()
