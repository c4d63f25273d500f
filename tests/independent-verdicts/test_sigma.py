"""Sigma: trailtag's verdicts against pySigma's SQLite backend run by SQLite."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import sigma_sql  # noqa: E402
import synth_sigma  # noqa: E402

# Known semantic differences: (rule id, record label, trailtag's verdict) -> why. Each must keep
# occurring (the test fails when one stops), so the list cannot rot.
OBJECT_AS_JSON_TEXT = (
    "a test on a whole object: trailtag tests each string inside requestParameters, where the "
    "embedded policy's quotes are plain \"; the SQL column holds the object's JSON text, where "
    "they are escaped (\\\"s3:GetObject\\\"), so LIKE '%\"s3:GetObject\"%' cannot match "
    "(docs/sigma.md gives this rule as the reason trailtag matches leaves)"
)
EMPTY_LIST = (
    "an empty list: trailtag reads `requestParameters.layers|contains: '*'` as 'some element "
    "matches' and [] has none; the SQL column holds the text '[]', which LIKE '%' matches"
)
ALLOWED = {
    ("db014773-7375-4f4e-b83b-133337c0ffee",
     "synth:aws_iam_s3browser_templated_s3_bucket_policy_creation:shape", True): OBJECT_AS_JSON_TEXT,
    ("97fbabf8-8e1b-47a2-b7d5-a418d2b95e3d",
     "synth:aws_new_lambda_layer_attached:shape:requestParameters.layers:empty", False): EMPTY_LIST,
}


class SigmaAgainstPySigmaSqlite(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        common.require_inputs()
        cls.rules = sigma_sql.load_rules(common.SIGMA_RULES)
        cls.records = common.corpus()
        for stem, rule, _ in cls.rules:
            for label, record in synth_sigma.records_for(stem, rule):
                cls.records.add(label, record)
        cls.tagged = common.run_trailtag_tag(cls.records, common.SIGMA_RULES)
        table = sigma_sql.Table(cls.records.records, sigma_sql.referenced_fields(cls.rules))
        pairs = [(str(rule.id).lower(), rule.title) for _, rule, _ in cls.rules]
        cls.comparison = common.Comparison(cls.records.labels, pairs)
        for (_, rule, query), (rule_id, _) in zip(cls.rules, pairs):
            ours = {i for i, ids in enumerate(cls.tagged.matched) if rule_id in ids}
            cls.comparison.add(rule_id, ours, table.matches(query))
        print("\n" + cls.comparison.summary("Sigma vs pySigma + SQLite", len(cls.records), ALLOWED))

    def test_every_rule_loads_in_both(self):
        self.assertEqual(len(self.rules), 57)
        self.assertEqual(self.tagged.loaded, {r for r, _ in self.comparison.rules})

    def test_verdicts_agree(self):
        extra, stale = self.comparison.unexplained(ALLOWED)
        self.assertEqual(extra, [], "differences not in ALLOWED")
        self.assertEqual(stale, [], "ALLOWED differences that no longer occur")

    def test_every_rule_fires(self):
        self.assertEqual(self.comparison.silent_rules(), [])


if __name__ == "__main__":
    unittest.main()
