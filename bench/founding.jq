# founding.jq: trailtag's five founding rules (rules/*.toml) as one jq program, for the
# side-by-side benchmark (bench/compare, bench/README.md).
#
#   jq -c -f bench/founding.jq FILE.ndjson > OUT.ndjson                            # every record
#   FOUNDING_ONLY_MATCHES=1 jq -c -f bench/founding.jq FILE.ndjson > OUT.ndjson    # matches only
#
# For every input value it does what `trailtag tag` does with a record: decide the five rules
# and, if any matches, add a `trailtag` member (same schema as docs/tag-schema.md: version,
# severity, risk_score, detections with the rules' metadata, context) as the record's last member,
# replacing a `trailtag` member the record already had. Every record is written, tagged or not
# (only the tagged ones with FOUNDING_ONLY_MATCHES=1, like `trailtag tag --only-matches`). A
# value that is not an object is written as it is. bench/conformance holds it to trailtag record
# by record (rule examples, labelled fixtures, bench/edge-cases.ndjson): no difference.
#
# Semantics reproduced from docs/rules.md:
# - comparisons are exact, case-sensitive and typed (jq's `==` is typed: "200" != 200);
# - paths follow objects only (`get` below): an array or a string where an object is expected
#   makes the rest of the path absent, as in trailtag (jq's own `.a.b` would raise an error);
# - absent and JSON null are both `null`, so `errorCode == null` is EQL's "absent or null", and
#   a test on an absent field is false, so `not (...)` of it is true (the trust-anchor rule
#   fires when no source type is recorded);
# - duplicate keys: the last occurrence wins (jq's parser keeps the last value);
# - escaped strings compare decoded ("Create\u0047roup" == "CreateGroup").
#
# Where the output differs from trailtag's in bytes (not in meaning): jq parses and re-serialises
# every record, so `jq -c` writes its own spelling: no whitespace, `\/` and `\u00e9` escapes
# decoded, DEL written as \u007f, a duplicated key written once (at its first position, with the
# last value), and every number through an IEEE double (jq 1.6): 1.0 -> 1, 1e2 -> 100, integers
# beyond 2^53 rounded (12345678901234567890 -> 12345678901234567000). trailtag leaves untagged
# records byte for byte and adds the tag to the original bytes of a tagged one. jq also reads
# any whitespace-separated JSON text (blank lines vanish, a pretty-printed object becomes one
# line) and stops at the first line that is not JSON, where trailtag passes it through.

# .[$k] when . is an object, else null (absent): paths follow objects only.
def get($k): if type == "object" then .[$k] else null end;
def at($path): reduce $path[] as $k (.; get($k));

# Success: errorCode absent, null or "".
def success: .errorCode == null or .errorCode == "";

# -- The five rules, one predicate each (queries as in rules/*.toml) ----------------------------

def iam_group_created:
  .eventSource == "iam.amazonaws.com"
  and .eventName == "CreateGroup"
  and success;

def iam_group_deleted:
  .eventSource == "iam.amazonaws.com"
  and .eventName == "DeleteGroup"
  and success;

def roles_anywhere_activity:
  .eventSource == "rolesanywhere.amazonaws.com";

def roles_anywhere_profile_created:
  .eventSource == "rolesanywhere.amazonaws.com"
  and .eventName == "CreateProfile"
  and success;

def roles_anywhere_trust_anchor_external_ca:
  .eventSource == "rolesanywhere.amazonaws.com"
  and .eventName == "CreateTrustAnchor"
  and success
  and ((at(["requestParameters", "source", "sourceType"]) == "AWS_ACM_PCA"
        or (at(["requestParameters", "source", "sourceType"]) == null
            and at(["responseElements", "trustAnchor", "source", "sourceType"]) == "AWS_ACM_PCA"))
       | not);

# The ids of the matching rules, in rule order (sorted by id, as trailtag orders detections).
def matched_ids:
  (select(iam_group_created) | "iam_group_created"),
  (select(iam_group_deleted) | "iam_group_deleted"),
  (select(roles_anywhere_activity) | "roles_anywhere_activity"),
  (select(roles_anywhere_profile_created) | "roles_anywhere_profile_created"),
  (select(roles_anywhere_trust_anchor_external_ca) | "roles_anywhere_trust_anchor_external_ca");

# -- The tag ----------------------------------------------------------------------------------

# Each rule's entry in `detections` (the metadata of rules/*.toml, in trailtag's member order)
# and its own context fields ([rule.context], in name order as trailtag loads them):
# [name, [path, ...], default?]; a field takes the first path whose value is present, not null
# and not "".
def rules_meta: {
  "iam_group_created": {
    "detection": {"id":"iam_group_created","name":"AWS IAM Group Creation","severity":"low","risk_score":21,"threat":[{"framework":"MITRE ATT&CK","tactic":{"id":"TA0003","name":"Persistence","reference":"https://attack.mitre.org/tactics/TA0003/"},"technique":[{"id":"T1136","name":"Create Account","reference":"https://attack.mitre.org/techniques/T1136/","subtechnique":[{"id":"T1136.003","name":"Cloud Account","reference":"https://attack.mitre.org/techniques/T1136/003/"}]}]}],"references":["https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateGroup.html","https://awscli.amazonaws.com/v2/documentation/api/latest/reference/iam/create-group.html"]},
    "context": [["group_arn",[["responseElements","group","arn"]]],["group_name",[["requestParameters","groupName"],["responseElements","group","groupName"]]],["group_path",[["requestParameters","path"]]]]
  },
  "iam_group_deleted": {
    "detection": {"id":"iam_group_deleted","name":"AWS IAM Group Deletion","severity":"low","risk_score":21,"threat":[{"framework":"MITRE ATT&CK","tactic":{"id":"TA0040","name":"Impact","reference":"https://attack.mitre.org/tactics/TA0040/"},"technique":[{"id":"T1531","name":"Account Access Removal","reference":"https://attack.mitre.org/techniques/T1531/"}]}],"references":["https://docs.aws.amazon.com/IAM/latest/APIReference/API_DeleteGroup.html","https://awscli.amazonaws.com/v2/documentation/api/latest/reference/iam/delete-group.html"]},
    "context": [["group_name",[["requestParameters","groupName"]]]]
  },
  "roles_anywhere_activity": {
    "detection": {"id":"roles_anywhere_activity","name":"AWS IAM Roles Anywhere Activity","severity":"informational","risk_score":0,"threat":[],"references":["https://docs.aws.amazon.com/rolesanywhere/latest/userguide/cloudtrail-logging.html","https://docs.aws.amazon.com/rolesanywhere/latest/userguide/authentication-create-session.html"]},
    "context": [["duration_seconds",[["requestParameters","durationSeconds"]]],["profile_arn",[["requestParameters","profileArn"]]],["role_arn",[["requestParameters","roleArn"]]],["trust_anchor_arn",[["requestParameters","trustAnchorArn"]]]]
  },
  "roles_anywhere_profile_created": {
    "detection": {"id":"roles_anywhere_profile_created","name":"AWS IAM Roles Anywhere Profile Creation","severity":"low","risk_score":21,"threat":[{"framework":"MITRE ATT&CK","tactic":{"id":"TA0003","name":"Persistence","reference":"https://attack.mitre.org/tactics/TA0003/"},"technique":[{"id":"T1098","name":"Account Manipulation","reference":"https://attack.mitre.org/techniques/T1098/","subtechnique":[{"id":"T1098.003","name":"Additional Cloud Roles","reference":"https://attack.mitre.org/techniques/T1098/003/"}]}]},{"framework":"MITRE ATT&CK","tactic":{"id":"TA0004","name":"Privilege Escalation","reference":"https://attack.mitre.org/tactics/TA0004/"},"technique":[{"id":"T1098","name":"Account Manipulation","reference":"https://attack.mitre.org/techniques/T1098/","subtechnique":[{"id":"T1098.003","name":"Additional Cloud Roles","reference":"https://attack.mitre.org/techniques/T1098/003/"}]}]}],"references":["https://docs.aws.amazon.com/rolesanywhere/latest/APIReference/API_CreateProfile.html","https://docs.aws.amazon.com/rolesanywhere/latest/userguide/introduction.html"]},
    "context": [["duration_seconds",[["requestParameters","durationSeconds"],["responseElements","profile","durationSeconds"]]],["profile_arn",[["responseElements","profile","profileArn"]]],["profile_name",[["requestParameters","name"],["responseElements","profile","name"]]],["role_arns",[["requestParameters","roleArns"],["responseElements","profile","roleArns"]]]]
  },
  "roles_anywhere_trust_anchor_external_ca": {
    "detection": {"id":"roles_anywhere_trust_anchor_external_ca","name":"AWS IAM Roles Anywhere Trust Anchor Created with External CA","severity":"medium","risk_score":47,"threat":[{"framework":"MITRE ATT&CK","tactic":{"id":"TA0003","name":"Persistence","reference":"https://attack.mitre.org/tactics/TA0003/"},"technique":[{"id":"T1098","name":"Account Manipulation","reference":"https://attack.mitre.org/techniques/T1098/","subtechnique":[{"id":"T1098.003","name":"Additional Cloud Roles","reference":"https://attack.mitre.org/techniques/T1098/003/"}]},{"id":"T1556","name":"Modify Authentication Process","reference":"https://attack.mitre.org/techniques/T1556/"}]}],"references":["https://docs.aws.amazon.com/rolesanywhere/latest/APIReference/API_CreateTrustAnchor.html","https://docs.aws.amazon.com/rolesanywhere/latest/userguide/trust-model.html"]},
    "context": [["source_type",[["requestParameters","source","sourceType"],["responseElements","trustAnchor","source","sourceType"]],"unknown"],["trust_anchor_arn",[["responseElements","trustAnchor","trustAnchorArn"]]],["trust_anchor_name",[["requestParameters","name"],["responseElements","trustAnchor","name"]]]]
  }
};

# The base context every tag carries, in output order.
def base_context: [
  ["actor_arn", [["userIdentity", "arn"]]],
  ["actor_type", [["userIdentity", "type"]]],
  ["user_name", [["userIdentity", "userName"], ["userIdentity", "sessionContext", "sessionIssuer", "userName"]]],
  ["access_key_id", [["userIdentity", "accessKeyId"]]],
  ["account_id", [["userIdentity", "accountId"], ["recipientAccountId"]]],
  ["source_ip", [["sourceIPAddress"]]],
  ["user_agent", [["userAgent"]]],
  ["region", [["awsRegion"]]]
];

def severity_rank: {"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}[.];

# The context of record `.` for the matched rules $rules: base fields, then each rule's fields;
# a name already written is skipped (the first field with a value wins).
def context($rules):
  . as $rec
  | reduce (base_context[], $rules[].context[]) as $f ({};
      if has($f[0]) then .
      else [$f[1][] as $p | $rec | at($p) | select(. != null and . != "")] as $values
        | if ($values | length) > 0 then . + {($f[0]): $values[0]}
          elif ($f | length) > 2 then . + {($f[0]): $f[2]}
          else . end
      end);

def tag($ids):
  rules_meta as $meta
  | [$ids[] | $meta[.]] as $rules
  | {
      version: 1,
      severity: ($rules | map(.detection.severity) | max_by(severity_rank)),
      risk_score: ($rules | map(.detection.risk_score) | max),
      detections: [$rules[].detection],
      context: context($rules)
    };

# -- Main: every record out, the matching ones tagged -------------------------------------------
# With FOUNDING_ONLY_MATCHES=1 in the environment, only the tagged records are written (what
# `trailtag tag --only-matches` does; values that are not objects are dropped too).

($ENV.FOUNDING_ONLY_MATCHES == "1") as $only_matches
| if type == "object" then
    [matched_ids] as $ids
    | if $ids != [] then del(.trailtag) + {trailtag: tag($ids)}
      elif $only_matches then empty
      else . end
  elif $only_matches then empty
  else . end
