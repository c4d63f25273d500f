"""KQL corners no Elastic AWS rule uses, where Kibana's grammar (which kql_eval.py follows) and
trailtag's reading (docs/kql.md) part: each query runs as a rule in trailtag and in kql_eval.py
over the same records, and each corner states which side says what, so a change on either side
shows."""

import shutil
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import kql_eval  # noqa: E402

RULE = '''[metadata]
maturity = "production"

[rule]
author = ["independent-verdicts"]
description = "a KQL corner"
name = "{name}"
rule_id = "{rule_id}"
risk_score = 21
severity = "low"
type = "query"
language = "kuery"
query = \'\'\'
{query}
\'\'\'
'''

AGENTS = ["not", "ot", "a b", "x", "x\t", "ABC", "cannot find", "S3 Browser 1", "Cyberduck/7",
          "C:\\x", "\\u0041BC"]

# name -> (query, user agents trailtag matches or "rejected", user agents kql_eval.py matches
# or "rejected", why they differ or None)
CORNERS = {
    "wildcards_and_spaces": ("user_agent.original: (*S3 Browser* or Cyberduck*)",
                             ["S3 Browser 1", "Cyberduck/7"], ["S3 Browser 1", "Cyberduck/7"],
                             None),
    "quoted_backslash": ('user_agent.original: "C:\\x"', ["C:\\x"], ["C:\\x"], None),
    "escaped_not": (
        "user_agent.original: \\not", ["not"], ["ot"],
        "Kibana's grammar tries `\\t` `\\r` `\\n` before an escaped keyword, so `\\not` is a "
        "newline and `ot` (then trimmed to `ot`); trailtag reads the word `not`"),
    "escaped_space": (
        "user_agent.original: a\\ b", ["a b"], "rejected",
        "Kibana's grammar has no `\\ ` escape (only `\\t` `\\r` `\\n`, the special characters, "
        "`\\u` and the keywords), so the query is a syntax error; trailtag reads a space"),
    "trailing_escaped_tab": (
        "user_agent.original: x\\t", ["x\t"], ["x"],
        "Kibana trims the whole unquoted value with JavaScript's trim, escaped whitespace "
        "included, so `x\\t` is `x`; trailtag keeps the escaped tab"),
    "unicode_escape": (
        "user_agent.original: \\u0041BC", "rejected", ["ABC"],
        "Kibana's grammar reads `\\uXXXX` in an unquoted value; trailtag rejects the escape"),
    "not_inside_a_value": (
        "user_agent.original: cannot find", ["cannot find"], "rejected",
        "Kibana's `Not` keyword is `not` plus whitespace wherever it starts, so an unquoted "
        "value stops inside `cannot` and the query is a syntax error; trailtag reads the value "
        "`cannot find`"),
}


class KqlReadingCorners(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        common.require_inputs()
        cls.records = common.Records()
        for agent in AGENTS:
            cls.records.add(f"agent:{agent!r}", {"eventVersion": "1.08", "eventName": "X",
                                                  "eventSource": "s3.amazonaws.com",
                                                  "userAgent": agent})
        rules_dir = Path(tempfile.mkdtemp(prefix="trailtag-kql-corners-"))
        try:
            cls.ids = {}
            for i, (name, (query, *_)) in enumerate(CORNERS.items()):
                rule_id = f"00000000-0000-4000-8000-{i:012d}"
                cls.ids[name] = rule_id
                (rules_dir / f"{name}.toml").write_text(
                    RULE.format(name=name, rule_id=rule_id, query=query), encoding="utf-8")
            cls.tagged = common.run_trailtag_tag(cls.records, rules_dir, skip_invalid=True)
        finally:
            shutil.rmtree(rules_dir, ignore_errors=True)
        cls.docs = common.run_trailtag_ecs(cls.records)
        parted = sum(1 for *_, why in CORNERS.values() if why)
        print(f"\nKQL corners: {len(CORNERS)} queries over {len(AGENTS)} records; "
              f"{parted} where Kibana's grammar and trailtag's reading part (README.md)")

    def trailtag_says(self, name):
        rule_id = self.ids[name]
        if rule_id not in self.tagged.loaded:
            return "rejected"
        return [AGENTS[i] for i, ids in enumerate(self.tagged.matched) if rule_id in ids]

    def reader_says(self, name):
        try:
            query = kql_eval.Query(CORNERS[name][0])
        except kql_eval.KqlSyntaxError:
            return "rejected"
        return [AGENTS[i] for i, doc in enumerate(self.docs) if query.matches(doc)]

    def test_each_corner_as_stated(self):
        for name, (_, trailtag, reader, _why) in CORNERS.items():
            with self.subTest(name):
                self.assertEqual(self.trailtag_says(name), trailtag, "trailtag")
                self.assertEqual(self.reader_says(name), reader, "kql_eval.py")


if __name__ == "__main__":
    unittest.main()
