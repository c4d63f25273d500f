// What the playground is built on: rules pasted as text in every format, explain() with its
// clauses and near misses, the ECS view, and check() giving rule problems at their line and
// column instead of throwing.
import assert from 'node:assert/strict';
import test from 'node:test';

import { Trailtag } from 'trailtag';

const SIGMA = `title: Roles Anywhere profile created
id: 8F6D1C2A-3B4E-4F50-9A61-7C8D9E0F1A2B
logsource:
  product: aws
  service: cloudtrail
detection:
  service:
    eventSource: rolesanywhere.amazonaws.com
  creation:
    eventName: CreateProfile
  condition: service and creation
level: medium
`;
const SIGMA_ID = '8f6d1c2a-3b4e-4f50-9a61-7c8d9e0f1a2b';

const ELASTIC = `[metadata]
maturity = "production"

[rule]
rule_id = "3c1f9e2d-5a4b-4c6d-8e7f-0a1b2c3d4e5f"
name = "AWS Console Login Without MFA"
type = "query"
language = "kuery"
severity = "medium"
risk_score = 47
query = '''
event.provider: "signin.amazonaws.com" and event.action: "ConsoleLogin"
  and aws.cloudtrail.console_login.additional_eventdata.mfa_used: false
'''
`;
const ELASTIC_ID = '3c1f9e2d-5a4b-4c6d-8e7f-0a1b2c3d4e5f';

const CREATE_PROFILE = { eventSource: 'rolesanywhere.amazonaws.com', eventName: 'CreateProfile' };
const UPDATE_PROFILE = { eventSource: 'rolesanywhere.amazonaws.com', eventName: 'UpdateProfile' };
const LOGIN = {
  eventSource: 'signin.amazonaws.com',
  eventName: 'ConsoleLogin',
  responseElements: { ConsoleLogin: 'Success' },
  additionalEventData: { MFAUsed: 'No' },
};

function tagger(name, text) {
  return new Trailtag({ builtinRules: false, rules: [{ name, text }] });
}

const ids = (tagged) => JSON.parse(tagged).trailtag.detections.map((d) => d.id);

test('a Sigma rule pasted as text tags the record it describes', () => {
  const sigma = tagger('pasted.yml', SIGMA);
  assert.deepEqual(ids(sigma.tagRecord(JSON.stringify(CREATE_PROFILE))), [SIGMA_ID]);
  const other = JSON.stringify(UPDATE_PROFILE);
  assert.equal(sigma.tagRecord(other), other);
  assert.equal(sigma.rules()[0].format, 'sigma');
});

test('an Elastic KQL rule pasted as text tags the record through the ECS view', () => {
  const elastic = tagger('pasted.toml', ELASTIC);
  assert.deepEqual(ids(elastic.tagRecord(JSON.stringify(LOGIN))), [ELASTIC_ID]);
  const withMfa = JSON.stringify({ ...LOGIN, additionalEventData: { MFAUsed: 'Yes' } });
  assert.equal(elastic.tagRecord(withMfa), withMfa);
  assert.equal(elastic.rules()[0].format, 'elastic');
});

test('explain: a match holds every clause, a near miss names the clause and test that failed', () => {
  const sigma = tagger('pasted.yml', SIGMA);
  const [hit] = sigma.explain(JSON.stringify(CREATE_PROFILE)).rules;
  assert.deepEqual(
    { ...hit, clauses: undefined },
    { rule: 0, id: SIGMA_ID, name: 'Roles Anywhere profile created', format: 'sigma', matched: true, candidate: true, nearMiss: false, clauses: undefined },
  );
  assert.deepEqual(hit.clauses.map((c) => [c.text, c.held, c.failedTest]), [
    ['service', true, null],
    ['creation', true, null],
  ]);
  const [near] = sigma.explain(UPDATE_PROFILE).rules;
  assert.equal(near.matched, false);
  assert.equal(near.nearMiss, true);
  assert.deepEqual(near.clauses.map((c) => [c.text, c.held]), [['service', true], ['creation', false]]);
  assert.match(near.clauses[1].failedTest, /^eventName .*"CREATEPROFILE"/);
  const [far] = sigma.explain({ eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances' }).rules;
  assert.equal(far.nearMiss, false);
  assert.equal(far.candidate, false, 'the cheap scan rules the record out');
});

test('explain: Elastic clauses are the KQL terms as written, the failed test as the IR reads it', () => {
  const elastic = tagger('pasted.toml', ELASTIC);
  const [near] = elastic.explain({ ...LOGIN, additionalEventData: { MFAUsed: 'Yes' } }).rules;
  assert.equal(near.nearMiss, true);
  const failed = near.clauses.filter((c) => !c.held);
  assert.deepEqual(failed.map((c) => c.text), ['aws.cloudtrail.console_login.additional_eventdata.mfa_used: false']);
  assert.match(failed[0].failedTest, /mfa_used == "false"/);
});

test('explain and ecs refuse what is not a JSON object, as tagRecord reports it under validate', () => {
  const sigma = new Trailtag({ builtinRules: false, rules: [{ name: 'pasted.yml', text: SIGMA }], validate: true });
  for (const record of ['[1]', '{"a":', 'not json', '{"a":1,}']) {
    sigma.tagRecord(record);
    const [{ reason }] = sigma.lastUnreadable();
    assert.throws(() => sigma.explain(record), { name: 'Error', message: reason });
  }
  assert.throws(() => Trailtag.ecs('[1]'), { message: 'not a JSON object' });
  assert.throws(() => Trailtag.ecs('{"a":'), /^Error: invalid JSON/);
  assert.throws(() => Trailtag.ecs(42), { message: 'ecs takes a JSON string or an object' });
});

test('ecs: the document Elastic rules read, from a string or an object', () => {
  const doc = Trailtag.ecs(JSON.stringify(LOGIN));
  assert.equal(doc.event.provider, 'signin.amazonaws.com');
  assert.equal(doc.event.action, 'ConsoleLogin');
  assert.equal(doc.event.outcome, 'success');
  assert.equal(doc.data_stream.dataset, 'aws.cloudtrail');
  assert.equal(doc.aws.cloudtrail.console_login.additional_eventdata.mfa_used, false);
  assert.deepEqual(Trailtag.ecs(LOGIN), doc);
});

test('check: a bad rule gives its file, line, column, rule id and message', () => {
  const bad = SIGMA.replace('eventName:', 'eventName|contians:');
  const problems = Trailtag.check({ builtinRules: false, rules: [{ name: 'pasted.yml', text: bad }] });
  assert.equal(problems.length, 1);
  const [problem] = problems;
  assert.deepEqual({ ...problem, message: undefined }, {
    file: 'pasted.yml', line: 10, column: 15, ruleId: SIGMA_ID, message: undefined,
  });
  assert.match(problem.message, /^unknown modifier `contians`/);
  assert.equal(bad.split('\n')[9].slice(14, 22), 'contians');
  // The same problem, thrown by the constructor, says the same.
  assert.throws(() => tagger('pasted.yml', bad), /pasted\.yml:10:15: rule 8f6d1c2a-.*: unknown modifier/);
});

test('check: every problem of every file, none when the rules load, throws on a bad configuration', () => {
  const native = '[rule]\nid = "r"\nname = "n"\ndescription = "d"\nseverity = "low"\nrisk_score = 5\nquery = \'eventName = "A"\'\n';
  const problems = Trailtag.check({ rules: [{ name: 'a.toml', text: native }, { name: 'b.json', text: '{}' }] });
  assert.deepEqual(problems.map((p) => [p.file, p.line, p.column, p.ruleId]), [
    ['a.toml', 7, 20, 'r'],
    ['b.json', 1, 1, null],
  ]);
  assert.deepEqual(Trailtag.check({ rules: [{ name: 'pasted.yml', text: SIGMA }] }), []);
  assert.deepEqual(Trailtag.check(), []);
  const skipped = Trailtag.check({ rules: [{ name: 'a.toml', text: native }], skipInvalidRules: true });
  assert.deepEqual(skipped.map((p) => p.file), ['a.toml'], 'under skipInvalidRules: the files skipped');
  assert.throws(() => Trailtag.check({ bogus: true }), /^Error: invalid configuration: unknown field `bogus`/);
});
