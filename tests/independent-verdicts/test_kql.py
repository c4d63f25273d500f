"""Elastic KQL: trailtag's verdicts against this folder's own KQL evaluator (kql_eval.py)."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import elastic  # noqa: E402
import kql_eval  # noqa: E402

# No known difference: every record gets the same verdict from both.
ALLOWED = {}
# Rules that match no record in either implementation, and why.
GEOIP = (
    "needs source.as.* (GeoIP's autonomous-system fields), which Elastic's pipeline adds from a "
    "MaxMind database and trailtag's ECS view does not have: no record can match, in either"
)
SILENT = {
    "ae32268b-bfd0-4c35-b002-13461b5830ca": GEOIP,
    "b2f8c4e1-6a73-4f1e-9c2d-8e5b0a1d3f7c": GEOIP,
    "c8cc8192-f4f5-4ed3-8368-544ca738d506": GEOIP,
    "c8e4f1a2-9b3d-4c5e-a6f7-8b9c0d1e2f3a": GEOIP,
    "e3c7a891-4b2d-4e8c-a1f0-9d8e7c6b5a4d": GEOIP,
}


class KqlAgainstKqlReader(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        common.require_inputs()
        cls.rules = elastic.load(common.ELASTIC_RULES, "kuery")
        cls.queries = [(rule, kql_eval.Query(rule.query)) for rule in cls.rules]
        cls.records = common.corpus()
        cls.unsynthesized = []
        for rule, query in cls.queries:
            made = elastic.records_for(rule, elastic.kql_tree(query.tree), case=True,
                                        long=True)
            if not made:
                cls.unsynthesized.append(rule.rule_id)
            for label, record in made:
                cls.records.add(label, record)
        with elastic.RuleDir(cls.rules) as rules_dir:
            cls.tagged = common.run_trailtag_tag(cls.records, rules_dir, skip_invalid=True)
        docs = common.run_trailtag_ecs(cls.records)
        pairs = [(rule.rule_id, rule.name) for rule, _ in cls.queries]
        cls.comparison = common.Comparison(cls.records.labels, pairs)
        for rule, query in cls.queries:
            ours = {i for i, ids in enumerate(cls.tagged.matched) if rule.rule_id in ids}
            theirs = {i for i, doc in enumerate(docs) if query.matches(doc)}
            cls.comparison.add(rule.rule_id, ours, theirs)
        print("\n" + cls.comparison.summary("KQL vs kql_eval.py", len(cls.records), ALLOWED))
        print(f"  rules matching no record in either ({len(SILENT)}): {GEOIP}")

    def test_every_rule_loads_in_both(self):
        self.assertEqual(len(self.rules), 139)
        self.assertEqual(self.tagged.skipped_files, 0)
        self.assertEqual(self.tagged.loaded, {r for r, _ in self.comparison.rules})

    def test_verdicts_agree(self):
        extra, stale = self.comparison.unexplained(ALLOWED)
        self.assertEqual(extra, [], "differences not in ALLOWED")
        self.assertEqual(stale, [], "ALLOWED differences that no longer occur")

    def test_every_rule_fires(self):
        """Every rule matches some record in both, but the ones no record can make match."""
        self.assertEqual(self.comparison.silent_rules(), sorted(SILENT))
        self.assertEqual(sorted(self.unsynthesized), sorted(SILENT))


if __name__ == "__main__":
    unittest.main()
