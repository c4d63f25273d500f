"""Elastic EQL: trailtag's verdicts against Elastic's legacy Python `eql` library."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
import elastic  # noqa: E402

# Known semantic differences between Elasticsearch's EQL (which trailtag follows) and the legacy
# library: (rule id, record label, trailtag's verdict) -> why. Each must keep occurring (the
# test fails when one stops), so the list cannot rot.
WILDCARD = (
    "stringContains: Elasticsearch runs stringContains(field, text) on a keyword field as the "
    "wildcard query *text*, so `*` in the text is a wildcard and `\\*` a literal star (the rule "
    "authors rely on it: `masterUserPassword=*`, `valuesToAdd=[*]`, `principal=\\\\*`); the "
    "legacy library compares the text literally"
)
NULL_NOT = (
    "a test on a missing field under `not`: the legacy library makes `f == x` (and `:`, "
    "`regex~`) null when f is missing, and `not null` is null, so the rule does not match; "
    "Elasticsearch runs `not` as must_not, which a document without the field satisfies "
    "(docs/rules.md: every test on an absent field is false, so its `not` is true)"
)
MULTI_VALUED = (
    "a multi-valued field: with two resources, aws.cloudtrail.resources.arn has two values "
    "(trailtag's ECS view holds them as an array); Elasticsearch matches when any value "
    "matches, the legacy library walks the path only through objects and finds no string"
)
FIELD_SCRIPT = (
    "a field compared with a field under `not`: Elasticsearch runs stringContains(a, b) with a "
    "field b as a script, null when b is missing, and `not null` matches nothing, so trailtag "
    "(docs/elastic.md) does not match a record without recipientAccountId; the legacy library "
    "reads the missing field as not contained, and its `not` as true"
)
LAMBDA_ANY = "persistence_lambda_backdoor_invoke_function_for_any_principal"


def _allowed():
    entries = [
        # the Stratus Red Team Lambda backdoor (AddPermission with principal=*), a real record
        ("151d8f72-0747-11ef-a0c2-f661ea17fbcc", "corpus:invictus-ir_aws_dataset:2493", True),
        ("8f985da6-66e8-4838-a63e-21636eb9adc5", "corpus:invictus-ir_aws_dataset:2493", False),
        ("151d8f72-0747-11ef-a0c2-f661ea17fbcc", f"synth:{LAMBDA_ANY}:match0", False),
        ("151d8f72-0747-11ef-a0c2-f661ea17fbcc", f"synth:{LAMBDA_ANY}:lucene", True),
        ("8f985da6-66e8-4838-a63e-21636eb9adc5", f"synth:{LAMBDA_ANY}:match0", True),
        ("8f985da6-66e8-4838-a63e-21636eb9adc5", f"synth:{LAMBDA_ANY}:lucene", False),
        # the Stratus Red Team RDS snapshot share (valuesToAdd=[193672423079]), a real record
        ("4577ef08-61d1-4458-909f-25a4b10c87fe", "corpus:invictus-ir_aws_dataset:2301", True),
        ("4577ef08-61d1-4458-909f-25a4b10c87fe",
         "synth:exfiltration_rds_snapshot_shared_with_another_account:lucene", True),
        ("618bb351-00f0-467b-8956-8cace8b81f07",
         "synth:exfiltration_s3_bucket_policy_added_for_public_access:match0", False),
        ("618bb351-00f0-467b-8956-8cace8b81f07",
         "synth:exfiltration_s3_bucket_policy_added_for_public_access:lucene", True),
        ("f2015527-7c46-4bb9-80db-051657ddfb69",
         "synth:persistence_rds_db_instance_password_modified:lucene", True),
    ]
    allowed = {entry: WILDCARD for entry in entries}
    for rule_id, stem, field in [
        ("53bb8f53-3550-4805-b6bd-728ded8d5564", "persistence_lambda_function_url_public_access",
         "aws.cloudtrail.user_identity.arn"),
        ("53bb8f53-3550-4805-b6bd-728ded8d5564", "persistence_lambda_function_url_public_access",
         "user_agent.original"),
        ("713e0f5f-caf7-4dc2-88a7-3561f61f262a", "impact_ec2_ebs_snapshot_access_removed",
         "source.address"),
        ("7fda9bb2-fd28-11ee-85f9-f661ea17fbce",
         "impact_s3_bucket_object_uploaded_with_ransom_keyword", "aws.cloudtrail.user_identity.type"),
        ("e4feea34-3b62-4c83-b77f-018fbef48c00", "persistence_aws_attempt_to_register_virtual_mfa_device",
         "aws.cloudtrail.session_credential_from_console"),
    ]:
        allowed[(rule_id, f"synth:{stem}:negated:{field}:absent", True)] = NULL_NOT
    for i in range(3):
        allowed[("e8c9ff14-fd1e-11ee-a0df-f661ea17fbce",
                 f"synth:exfiltration_s3_bucket_policy_added_for_external_account_access:match{i}",
                 False)] = FIELD_SCRIPT
    allowed[("7fda9bb2-fd28-11ee-85f9-f661ea17fbce",
             "synth:impact_s3_bucket_object_uploaded_with_ransom_keyword:shape:resources",
             True)] = MULTI_VALUED
    return allowed


ALLOWED = _allowed()


class EqlAgainstLegacyEql(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        common.require_inputs()
        cls.rules = elastic.load(common.ELASTIC_RULES, "eql")
        cls.queries = [elastic.EqlQuery(rule) for rule in cls.rules]
        cls.records = common.corpus()
        for query in cls.queries:
            tree = elastic.eql_tree(query.parsed.first.query)
            for label, record in elastic.records_for(query.rule, tree):
                cls.records.add(label, record)
        with elastic.RuleDir(cls.rules) as rules_dir:
            cls.tagged = common.run_trailtag_tag(cls.records, rules_dir, skip_invalid=True)
        docs = common.run_trailtag_ecs(cls.records)
        pairs = [(q.rule.rule_id, q.rule.name) for q in cls.queries]
        cls.comparison = common.Comparison(cls.records.labels, pairs)
        for query in cls.queries:
            rule_id = query.rule.rule_id
            ours = {i for i, ids in enumerate(cls.tagged.matched) if rule_id in ids}
            theirs = {i for i, doc in enumerate(docs) if query.matches(doc)}
            cls.comparison.add(rule_id, ours, theirs)
        print("\n" + cls.comparison.summary("EQL vs legacy eql", len(cls.records), ALLOWED))

    def test_every_rule_loads_in_both(self):
        self.assertEqual(len(self.rules), 26)
        self.assertEqual(self.tagged.skipped_files, 0)
        self.assertEqual(self.tagged.loaded, {r for r, _ in self.comparison.rules})

    def test_verdicts_agree(self):
        extra, stale = self.comparison.unexplained(ALLOWED)
        self.assertEqual(extra, [], "differences not in ALLOWED")
        self.assertEqual(stale, [], "ALLOWED differences that no longer occur")

    def test_every_rule_fires(self):
        self.assertEqual(self.comparison.silent_rules(), [])


if __name__ == "__main__":
    unittest.main()
