// The shared test data through the JavaScript build: the 100 labelled cases, record by record
// (as strings and as objects), and the real corpus, batch by batch. The data lives in
// `../shared` beside the repository; when it is missing these tests fail, they never skip.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import test from 'node:test';

import { Trailtag } from 'trailtag';

const CLOUDTRAIL = fileURLToPath(new URL('../../../../shared/data/cloudtrail/', import.meta.url));

/** A file of the shared CloudTrail data, or a failure saying where it was looked for. */
function shared(path) {
  const full = CLOUDTRAIL + path;
  assert.ok(existsSync(full), `the shared test data is missing: expected ${full}`);
  return full;
}

function loadCases() {
  const text = readFileSync(shared('fixtures/cases.jsonl'), 'utf8');
  return text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
}

function loadCorpus() {
  const dir = shared('corpus');
  const files = readdirSync(dir).filter((name) => name.endsWith('.ndjson.gz')).sort();
  assert.equal(files.length, 3, `expected the 3 corpus files in ${dir}`);
  return files.map((name) => gunzipSync(readFileSync(`${dir}/${name}`)));
}

const detectionIds = (tagged) => tagged.trailtag.detections.map((d) => d.id).sort();

const CORPUS_MATCHES = {
  iam_group_created: 2,
  iam_group_deleted: 1,
  roles_anywhere_activity: 7,
  roles_anywhere_profile_created: 1,
  roles_anywhere_trust_anchor_external_ca: 1,
};

test('the 100 labelled cases, each record as a JSON string', async (t) => {
  const cases = loadCases();
  assert.equal(cases.length, 100);
  const tagger = new Trailtag();
  for (const c of cases) {
    await t.test(c.id, () => {
      const text = JSON.stringify(c.record);
      const out = tagger.tagRecord(text);
      if (c.expect.length === 0) {
        assert.equal(out, text, 'a record that matches nothing comes back unchanged');
        return;
      }
      const tagged = JSON.parse(out);
      assert.deepEqual(detectionIds(tagged), c.expect);
      assert.ok(out.startsWith(text.slice(0, -1)), 'the tag is spliced in before the last brace');
      delete tagged.trailtag;
      assert.deepEqual(tagged, c.record, 'nothing but the tag is added');
    });
  }
});

test('the 100 labelled cases, each record as an object', async (t) => {
  const tagger = new Trailtag();
  for (const c of loadCases()) {
    await t.test(c.id, () => {
      const before = structuredClone(c.record);
      const out = tagger.tagRecord(c.record);
      assert.deepEqual(c.record, before, 'the argument is not modified');
      if (c.expect.length === 0) {
        assert.equal(out, c.record, 'a record that matches nothing comes back as it is');
        return;
      }
      assert.notEqual(out, c.record);
      assert.deepEqual(detectionIds(out), c.expect);
      const { trailtag, ...rest } = out;
      assert.equal(trailtag.version, 1);
      assert.deepEqual(rest, c.record);
    });
  }
});

test('the labelled cases counted by summary()', () => {
  const cases = loadCases();
  const tagger = new Trailtag();
  const expected = Object.fromEntries(tagger.rules().map((r) => [r.id, 0]));
  for (const c of cases) {
    tagger.tagRecord(c.record);
    for (const id of c.expect) expected[id] += 1;
  }
  const summary = tagger.summary();
  assert.deepEqual(summary.perRule, expected);
  assert.equal(summary.recordsIn, 100);
  assert.equal(summary.recordsOut, 100);
  assert.equal(summary.tagged, cases.filter((c) => c.expect.length > 0).length);
});

test('the real corpus: expected matches per rule, every other line unchanged', () => {
  const tagger = new Trailtag();
  let lines = 0;
  for (const input of loadCorpus()) {
    const output = Buffer.from(tagger.tagBatch(input));
    const ins = input.toString('utf8').split('\n');
    const outs = output.toString('utf8').split('\n');
    if (ins.at(-1) !== '') ins.push('');
    assert.equal(outs.length, ins.length, 'one output line per input line');
    for (let i = 0; i < ins.length; i += 1) {
      if (outs[i] !== ins[i]) assert.ok(outs[i].startsWith(ins[i].trimEnd().slice(0, -1)));
    }
    lines += ins.length - 1;
  }
  const summary = tagger.summary();
  assert.deepEqual(summary.perRule, CORPUS_MATCHES);
  assert.deepEqual(
    [summary.recordsIn, summary.recordsOut, summary.tagged, summary.unreadable, summary.blank],
    [lines, lines, 10, 0, 0],
  );
  assert.equal(lines, 3027);
});

test('the real corpus: strings, bytes and batches cut at any newline give the same bytes', () => {
  const input = Buffer.concat(loadCorpus());
  const whole = Buffer.from(new Trailtag().tagBatch(input));
  assert.equal(new Trailtag().tagBatch(input.toString('utf8')), whole.toString('utf8'));
  const tagger = new Trailtag();
  const pieces = [];
  let start = 0;
  for (let n = 1; start < input.length; n += 1) {
    const newline = input.indexOf(0x0a, Math.min(start + n * 997, input.length - 1));
    const end = newline === -1 ? input.length : newline + 1;
    pieces.push(Buffer.from(tagger.tagBatch(input.subarray(start, end))));
    start = end;
  }
  assert.ok(pieces.length > 10);
  assert.ok(Buffer.concat(pieces).equals(whole));
  assert.deepEqual(tagger.summary().perRule, CORPUS_MATCHES);
});

test('the real corpus with onlyMatches: exactly the tagged lines', () => {
  const input = Buffer.concat(loadCorpus());
  const all = Buffer.from(new Trailtag().tagBatch(input)).toString('utf8').split('\n');
  const tagger = new Trailtag({ onlyMatches: true });
  const only = Buffer.from(tagger.tagBatch(input)).toString('utf8');
  const expected = all.filter((line) => line.includes('"trailtag":{'));
  assert.equal(expected.length, 10);
  assert.equal(only, `${expected.join('\n')}\n`);
  assert.equal(tagger.summary().recordsOut, 10);
});
