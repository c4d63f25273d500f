// The JavaScript API: loading as an ES module, records as strings and objects, batches as
// strings and bytes, options, errors, summary() and rules().
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import test from 'node:test';

import trailtag, { Trailtag } from 'trailtag';

const CREATE_GROUP = {
  eventSource: 'iam.amazonaws.com',
  eventName: 'CreateGroup',
  requestParameters: { groupName: 'ops' },
};
const DESCRIBE = { eventSource: 'ec2.amazonaws.com', eventName: 'DescribeInstances' };
const BUILTIN_IDS = [
  'iam_group_created',
  'iam_group_deleted',
  'roles_anywhere_activity',
  'roles_anywhere_profile_created',
  'roles_anywhere_trust_anchor_external_ca',
];

/** A rule file whose query has a mistake on line 9 (column 19) when `broken`. */
function ruleFile(broken) {
  return `[rule]
id = "my_rule"
name = "My rule"
description = "Group creation in a test account."
severity = "high"
risk_score = 73
query = """
eventSource == "iam.amazonaws.com"
  and eventName ${broken ? '===' : '=='} "CreateGroup"
"""
`;
}

test('import gives the class, as a named and a default export, shared with require', () => {
  assert.equal(typeof Trailtag, 'function');
  assert.equal(trailtag.Trailtag, Trailtag);
  assert.equal(createRequire(import.meta.url)('trailtag').Trailtag, Trailtag);
});

test('a JSON string in, a string out: tagged, or the very same string', () => {
  const tagger = new Trailtag();
  const text = JSON.stringify(CREATE_GROUP);
  const out = tagger.tagRecord(text);
  assert.equal(typeof out, 'string');
  assert.ok(out.startsWith(`${text.slice(0, -1)},"trailtag":{`));
  const tag = JSON.parse(out).trailtag;
  assert.deepEqual(tag.detections.map((d) => d.id), ['iam_group_created']);
  assert.equal(tag.context.group_name, 'ops');
  const plain = JSON.stringify(DESCRIBE);
  assert.equal(tagger.tagRecord(plain), plain);
  const pretty = JSON.stringify(CREATE_GROUP, null, 2);
  assert.equal(JSON.parse(tagger.tagRecord(pretty)).trailtag.detections.length, 1);
});

test('an object in, an object out: a new tagged object, or the same object', () => {
  const tagger = new Trailtag();
  const record = structuredClone(CREATE_GROUP);
  const out = tagger.tagRecord(record);
  assert.notEqual(out, record);
  assert.deepEqual(record, CREATE_GROUP, 'the argument is not modified');
  assert.deepEqual(Object.keys(out), [...Object.keys(CREATE_GROUP), 'trailtag']);
  assert.equal(out.trailtag.severity, 'low');
  assert.equal(out.trailtag.detections[0].id, 'iam_group_created');
  const untouched = structuredClone(DESCRIBE);
  assert.equal(tagger.tagRecord(untouched), untouched);
});

test('records that are not JSON objects pass through and are reported', () => {
  const tagger = new Trailtag();
  assert.equal(tagger.tagRecord('not json'), 'not json');
  assert.deepEqual(tagger.lastUnreadable(), [{ line: 0, reason: 'not a JSON object', code: 'not_an_object' }]);
  const array = [1, 2];
  assert.equal(tagger.tagRecord(array), array);
  const broken = '{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup",}';
  assert.equal(tagger.tagRecord(broken), broken);
  assert.match(tagger.lastUnreadable()[0].reason, /^invalid JSON/);
  tagger.tagRecord(JSON.stringify(DESCRIBE));
  assert.deepEqual(tagger.lastUnreadable(), []);
  assert.equal(tagger.summary().unreadable, 3);
});

test('tagRecord refuses other types, and objects JSON cannot represent', () => {
  const tagger = new Trailtag();
  for (const value of [42, undefined, null, true]) {
    assert.throws(() => tagger.tagRecord(value), {
      name: 'Error',
      message: 'tagRecord takes a JSON string or an object',
    });
  }
  const cycle = {};
  cycle.self = cycle;
  assert.throws(() => tagger.tagRecord(cycle), TypeError);
  assert.throws(() => tagger.tagRecord({ n: 1n }), TypeError);
});

test('tagBatch: a string gives a string, bytes give bytes, line for line', () => {
  const tagger = new Trailtag();
  const input = `${JSON.stringify(DESCRIBE)}\r\n\n${JSON.stringify(CREATE_GROUP)}\nnot json`;
  const out = tagger.tagBatch(input);
  assert.equal(typeof out, 'string');
  const lines = out.split('\n');
  assert.deepEqual(lines.length, 5, 'every line ends with a newline, the last one too');
  assert.equal(lines[0], `${JSON.stringify(DESCRIBE)}\r`);
  assert.equal(lines[1], '');
  assert.equal(JSON.parse(lines[2]).trailtag.detections[0].id, 'iam_group_created');
  assert.equal(lines[3], 'not json');
  assert.deepEqual(tagger.lastUnreadable(), [{ line: 3, reason: 'not a JSON object', code: 'not_an_object' }]);
  const bytes = tagger.tagBatch(new TextEncoder().encode(input));
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(bytes), out);
  const fromBuffer = tagger.tagBatch(Buffer.from(input));
  assert.ok(Buffer.from(fromBuffer).equals(Buffer.from(out)));
  assert.equal(tagger.tagBatch(''), '');
  assert.throws(() => tagger.tagBatch([1, 2]), /tagBatch takes a string or a Uint8Array/);
});

test('tagBatch keeps bytes that are not UTF-8', () => {
  const input = Buffer.from([0x7b, 0xff, 0x7d, 0x0a, 0xc3, 0x28]);
  const out = new Trailtag({ validate: true }).tagBatch(input);
  assert.ok(Buffer.from(out).equals(Buffer.concat([input, Buffer.from('\n')])));
});

test('onlyMatches: untagged records give null, batches keep tagged lines only', () => {
  const tagger = new Trailtag({ onlyMatches: true });
  assert.equal(tagger.tagRecord(DESCRIBE), null);
  assert.equal(tagger.tagRecord(JSON.stringify(DESCRIBE)), null);
  assert.equal(tagger.tagRecord(CREATE_GROUP).trailtag.detections.length, 1);
  const out = tagger.tagBatch(`${JSON.stringify(DESCRIBE)}\n\n${JSON.stringify(CREATE_GROUP)}\n`);
  assert.equal(out.split('\n').length, 2);
  const summary = tagger.summary();
  assert.equal(summary.recordsIn, 5);
  assert.equal(summary.recordsOut, 2);
  assert.equal(summary.blank, 1);
});

test('validate: malformed records the cheap scan rules out are reported too', () => {
  const broken = '{"eventSource":"ec2.amazonaws.com",}';
  const quick = new Trailtag();
  quick.tagBatch(broken);
  assert.equal(quick.summary().unreadable, 0);
  const thorough = new Trailtag({ validate: true });
  thorough.tagBatch(broken);
  assert.equal(thorough.summary().unreadable, 1);
  assert.match(thorough.lastUnreadable()[0].reason, /^invalid JSON/);
});

test('summary: counts since creation, per rule id in rule order', () => {
  const tagger = new Trailtag();
  const zero = tagger.summary();
  const noReasons = {
    bad_envelope: 0, invalid_json: 0, invalid_utf8: 0, not_an_object: 0, too_deep: 0, truncated: 0,
  };
  const noEvents = { events: 0, eventsTagged: 0, cloudtrailEvents: 0, envelopes: {}, unreadableInside: 0 };
  assert.deepEqual(zero, {
    recordsIn: 0,
    recordsOut: 0,
    tagged: 0,
    unreadable: 0,
    blank: 0,
    foreignTagsRemoved: 0,
    perRule: Object.fromEntries(BUILTIN_IDS.map((id) => [id, 0])),
    unreadableByReason: noReasons,
    ...noEvents,
  });
  tagger.tagRecord(CREATE_GROUP);
  tagger.tagRecord(DESCRIBE);
  const roles = { eventSource: 'rolesanywhere.amazonaws.com', eventName: 'CreateProfile' };
  tagger.tagBatch(`${JSON.stringify(roles)}\n\n[]\n${JSON.stringify(CREATE_GROUP)}\n`);
  const summary = tagger.summary();
  assert.deepEqual(Object.keys(summary.perRule), BUILTIN_IDS);
  // Records out counts records, as records in does: the blank line is counted apart (it was
  // counted as a record out before, so "5 in, 6 out" compared two different things).
  assert.deepEqual(summary, {
    recordsIn: 5,
    recordsOut: 5,
    tagged: 3,
    unreadable: 1,
    blank: 1,
    foreignTagsRemoved: 0,
    unreadableByReason: { ...noReasons, not_an_object: 1 },
    events: 4,
    eventsTagged: 3,
    cloudtrailEvents: 4,
    envelopes: {},
    unreadableInside: 0,
    perRule: {
      iam_group_created: 2,
      iam_group_deleted: 0,
      roles_anywhere_activity: 1,
      roles_anywhere_profile_created: 1,
      roles_anywhere_trust_anchor_external_ca: 0,
    },
  });
});

test('rules(): the built-in rules metadata, sorted by id', () => {
  const rules = new Trailtag().rules();
  assert.deepEqual(rules.map((r) => r.id), BUILTIN_IDS);
  const anchor = rules.find((r) => r.id === 'roles_anywhere_trust_anchor_external_ca');
  assert.equal(anchor.severity, 'medium');
  assert.equal(anchor.risk_score, 47);
  assert.equal(anchor.source, 'roles_anywhere_trust_anchor_external_ca.toml');
  for (const rule of rules) {
    assert.equal(typeof rule.name, 'string');
    assert.ok(Array.isArray(rule.threat));
  }
});

test('rules from text, with or without the built-in ones', () => {
  const mine = [{ name: 'my_rule.toml', text: ruleFile(false) }];
  const own = new Trailtag({ builtinRules: false, rules: mine });
  assert.deepEqual(own.rules().map((r) => r.id), ['my_rule']);
  const tag = own.tagRecord(CREATE_GROUP).trailtag;
  assert.deepEqual([tag.severity, tag.risk_score], ['high', 73]);
  assert.deepEqual(tag.detections.map((d) => d.id), ['my_rule']);
  const both = new Trailtag({ rules: mine });
  assert.deepEqual(both.rules().map((r) => r.id), [...BUILTIN_IDS, 'my_rule'].sort());
  assert.deepEqual(new Trailtag({ builtinRules: false }).rules(), []);
});

test('a bad rule throws an Error naming the file, line and column', () => {
  const config = { rules: [{ name: 'my_rule.toml', text: ruleFile(true) }] };
  assert.throws(() => new Trailtag(config), (error) => {
    assert.ok(error instanceof Error);
    assert.match(error.message, /my_rule\.toml:9:19: rule my_rule: use `==` to compare/);
    return true;
  });
  const text = ruleFile(false).replace('my_rule', 'iam_group_created');
  assert.throws(
    () => new Trailtag({ rules: [{ name: 'mine.toml', text }] }),
    /mine\.toml:1:1: rule iam_group_created: the id is also used/,
  );
  assert.throws(() => new Trailtag({ rules: [{ name: 'rule.yml', text: '' }] }), /rule\.yml:1:1: /);
});

test('a bad configuration throws an Error saying what is wrong', () => {
  assert.throws(() => new Trailtag({ onlyMatch: true }), {
    name: 'Error',
    message: /^invalid configuration: unknown field `onlyMatch`/,
  });
  assert.throws(
    () => new Trailtag({ rules: [{ name: 'x.toml' }] }),
    /invalid configuration: missing field `text`/,
  );
  assert.throws(() => new Trailtag({ validate: 'yes' }), /invalid configuration: invalid type/);
  assert.throws(() => new Trailtag('builtin'), /invalid configuration/);
  assert.equal(new Trailtag(null).rules().length, 5);
  assert.equal(new Trailtag({}).rules().length, 5);
});

test('each object keeps its own state', () => {
  const a = new Trailtag();
  const b = new Trailtag({ builtinRules: false });
  a.tagRecord(CREATE_GROUP);
  assert.equal(b.tagRecord(CREATE_GROUP), CREATE_GROUP);
  assert.equal(a.summary().tagged, 1);
  assert.equal(b.summary().tagged, 0);
  a.free();
  assert.throws(() => a.summary());
});
