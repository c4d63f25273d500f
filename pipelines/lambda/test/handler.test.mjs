// The Lambda handlers on payloads shaped as AWS delivers them: the shared envelope fixtures
// (a CloudWatch Logs subscription event exactly as Lambda receives it, its decoded payload,
// EventBridge events) and the real corpus, wrapped as Kinesis Data Firehose transformation
// events. Records in equal records out, the expected tags, nothing lost.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

import { createHandlers } from '../handler.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const envelopes = join(repo, '..', 'shared', 'data', 'cloudtrail', 'fixtures', 'envelopes');
const corpusDir = join(repo, '..', 'shared', 'data', 'cloudtrail', 'corpus');

const fixture = (name) => readFileSync(join(envelopes, name));
const expectations = JSON.parse(fixture('expectations.json'));
const ids = (text) => JSON.parse(text).trailtag?.detections.map((d) => d.id).sort() ?? [];

function firehoseEvent(datas) {
  return {
    invocationId: 'invocationIdExample',
    deliveryStreamArn: 'arn:aws:firehose:us-east-1:123456789012:deliverystream/cloudtrail',
    region: 'us-east-1',
    records: datas.map((data, i) => ({
      recordId: `4954698668313554428650745793632162567570019247115678515${i}`,
      approximateArrivalTimestamp: 1495072949453 + i,
      data: Buffer.from(data).toString('base64'),
    })),
  };
}

const decode = (record) => Buffer.from(record.data, 'base64');

function quiet() {
  const lines = [];
  return { lines, log: (line) => lines.push(line) };
}

test('a CloudWatch Logs subscription event is tagged message by message, the matches logged', async () => {
  const { lines, log } = quiet();
  const { handler } = createHandlers({}, log);
  const event = JSON.parse(fixture('cloudwatch_logs_subscription_lambda_event.json'));
  const counts = await handler(event);
  const expected = expectations['cloudwatch_logs_subscription_lambda_event.json']['logEvents[].message'];
  assert.deepEqual(counts, { messageType: 'DATA_MESSAGE', records: 3, tagged: 3, unreadable: 0 });
  assert.deepEqual(lines.map(ids), expected.map((e) => [...e].sort()));
});

test('TRAILTAG_LOG=all logs every record, tagged or not, byte for byte when untouched', async () => {
  const { lines, log } = quiet();
  const { handler } = createHandlers({ TRAILTAG_LOG: 'all' }, log);
  const payload = JSON.parse(fixture('cloudwatch_logs_subscription_decoded.json'));
  const untouched = '{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}';
  payload.logEvents.push({ id: 'x', timestamp: 1, message: untouched }, { id: 'y', timestamp: 2, message: 'not json' });
  const event = { awslogs: { data: gzipSync(JSON.stringify(payload)).toString('base64') } };
  const counts = await handler(event);
  assert.deepEqual(counts, { messageType: 'DATA_MESSAGE', records: 5, tagged: 3, unreadable: 1 });
  assert.equal(lines.length, 5);
  assert.equal(lines[3], untouched);
  assert.equal(lines[4], 'not json');
});

test('a CloudWatch Logs control message is counted as nothing and logs nothing', async () => {
  const { lines, log } = quiet();
  const { handler } = createHandlers({}, log);
  const control = { messageType: 'CONTROL_MESSAGE', owner: 'CloudwatchLogs', logGroup: '', logStream: '', subscriptionFilters: [], logEvents: [{ id: '', timestamp: 1, message: 'CWL CONTROL MESSAGE: Checking health of destination Firehose.' }] };
  const counts = await handler({ awslogs: { data: gzipSync(JSON.stringify(control)).toString('base64') } });
  assert.deepEqual(counts, { messageType: 'CONTROL_MESSAGE', records: 0, tagged: 0, unreadable: 0 });
  assert.deepEqual(lines, []);
});

test('Firehose: every record answered in order, tagged where the record sits, re-encoded as it came', async () => {
  const { handler } = createHandlers({}, quiet().log);
  const logsPayload = fixture('cloudwatch_logs_subscription_decoded.json');
  const control = JSON.stringify({ messageType: 'CONTROL_MESSAGE', logEvents: [] });
  const eventbridge = fixture('eventbridge_iam_CreateGroup.json');
  const pca = fixture('eventbridge_rolesanywhere_CreateTrustAnchor_acm_pca.json');
  const plain = '{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}\n';
  const event = firehoseEvent([
    gzipSync(logsPayload), gzipSync(control), eventbridge, pca, plain, 'not json\n', Buffer.from([0x1f, 0x8b, 1, 2, 3]),
  ]);
  const { records } = await handler(event);
  assert.deepEqual(records.map((r) => r.recordId), event.records.map((r) => r.recordId));
  assert.deepEqual(records.map((r) => r.result), ['Ok', 'Dropped', 'Ok', 'Ok', 'Ok', 'Ok', 'ProcessingFailed']);

  const logs = JSON.parse(gunzipSync(decode(records[0])));
  const original = JSON.parse(logsPayload);
  assert.deepEqual({ ...logs, logEvents: undefined }, { ...original, logEvents: undefined }, 'the envelope as it was');
  assert.deepEqual(logs.logEvents.map((e) => ids(e.message)),
    expectations['cloudwatch_logs_subscription_decoded.json']['logEvents[].message'].map((e) => [...e].sort()));
  logs.logEvents.forEach((e, i) => {
    const { trailtag, ...rest } = JSON.parse(e.message);
    assert.ok(trailtag);
    assert.deepEqual(rest, JSON.parse(original.logEvents[i].message), 'the record, plus its tag');
  });

  const bridged = JSON.parse(decode(records[2]));
  assert.deepEqual(ids(JSON.stringify(bridged.detail)), expectations['eventbridge_iam_CreateGroup.json'].detail);
  assert.equal(bridged['detail-type'], 'AWS API Call via CloudTrail');
  assert.deepEqual(ids(JSON.stringify(JSON.parse(decode(records[3])).detail)),
    expectations['eventbridge_rolesanywhere_CreateTrustAnchor_acm_pca.json'].detail);
  for (const i of [1, 4, 5, 6]) assert.equal(records[i].data, event.records[i].data, `record ${i} unchanged`);
});

test('Firehose with TRAILTAG_ONLY_MATCHES drops the records that match nothing, and only those', async () => {
  const { handler } = createHandlers({ TRAILTAG_ONLY_MATCHES: '1' }, quiet().log);
  const event = firehoseEvent([fixture('eventbridge_iam_CreateGroup.json'), '{"eventName":"GetObject"}']);
  const { records } = await handler(event);
  assert.deepEqual(records.map((r) => r.result), ['Ok', 'Dropped']);
});

test('Firehose over the whole real corpus, one record per Firehose record: the corpus tags, nothing lost', async () => {
  const { handler } = createHandlers({}, quiet().log);
  const lines = readdirSync(corpusDir).filter((f) => f.endsWith('.ndjson.gz')).sort()
    .flatMap((f) => gunzipSync(readFileSync(join(corpusDir, f))).toString('utf8').split('\n'))
    .filter((l) => l.trim() !== '');
  assert.equal(lines.length, 3027);
  const { records } = await handler(firehoseEvent(lines));
  assert.equal(records.length, lines.length);
  assert.ok(records.every((r) => r.result === 'Ok'));
  const perRule = {};
  records.forEach((r, i) => {
    const out = decode(r).toString('utf8');
    const found = ids(out);
    for (const id of found) perRule[id] = (perRule[id] ?? 0) + 1;
    if (found.length === 0) assert.equal(out, lines[i], `record ${i} byte for byte`);
  });
  assert.deepEqual(perRule, {
    iam_group_created: 2, iam_group_deleted: 1, roles_anywhere_activity: 7,
    roles_anywhere_profile_created: 1, roles_anywhere_trust_anchor_external_ca: 1,
  });
});

test('rules bundled with the function load; a rules folder without rules refuses to start', () => {
  const sigma = join(repo, '..', 'shared', 'rules', 'sigma-aws');
  const { tagger } = createHandlers({ TRAILTAG_RULES_DIR: sigma, TRAILTAG_NO_BUILTIN_RULES: '1' }, quiet().log);
  assert.equal(tagger.rules().length, 57);
  assert.throws(() => createHandlers({ TRAILTAG_RULES_DIR: here }, quiet().log), /holds no rule file/);
  assert.throws(() => createHandlers({ TRAILTAG_LOG: 'some' }, quiet().log), /TRAILTAG_LOG/);
});

test('an event of another shape is an error, not silence', async () => {
  const { handler } = createHandlers({}, quiet().log);
  await assert.rejects(handler({ Records: [] }), /not a Kinesis Data Firehose/);
});
