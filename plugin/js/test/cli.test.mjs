// bin/trailtag-tag.mjs: stdin to stdout through tagBatch, options, exit statuses.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'node:test';

import { Trailtag } from 'trailtag';

const BIN = fileURLToPath(new URL('../bin/trailtag-tag.mjs', import.meta.url));

function run(args, input) {
  return spawnSync(process.execPath, [BIN, ...args], { input, maxBuffer: 1 << 28 });
}

const GROUP = '{"eventSource":"iam.amazonaws.com","eventName":"CreateGroup"}';
const OTHER = '{"eventSource":"s3.amazonaws.com","eventName":"GetObject"}';

test('the output is tagBatch over the whole input, also across batch boundaries', () => {
  const lines = [];
  for (let i = 0; i < 40000; i += 1) {
    lines.push(i % 1000 === 0 ? GROUP : OTHER, '', 'x'.repeat(i % 7));
  }
  lines.push(`{"long":"${'y'.repeat(3 << 20)}"}`, GROUP);
  const input = Buffer.from(lines.join('\r\n'));
  assert.ok(input.length > 5 << 20, 'several batches');
  const result = run([], input);
  assert.equal(result.status, 0, result.stderr.toString());
  assert.ok(result.stdout.equals(Buffer.from(new Trailtag().tagBatch(input))));
});

test('--only-matches and --summary', () => {
  const result = run(['--only-matches', '--summary'], `${OTHER}\n${GROUP}\n`);
  assert.equal(result.status, 0);
  assert.equal(result.stdout.toString().split('\n').length, 2);
  const summary = JSON.parse(result.stderr.toString());
  assert.equal(summary.recordsIn, 2);
  assert.equal(summary.perRule.iam_group_created, 1);
});

test('--rules loads a file; a bad one exits 1 with the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trailtag-'));
  const good = join(dir, 'get_object.toml');
  const rule = `[rule]
id = "get_object"
name = "GetObject"
description = "S3 reads."
severity = "low"
risk_score = 5
query = 'eventName == "GetObject"'
`;
  writeFileSync(good, rule);
  const args = ['--no-builtin-rules', '--rules', good, '--only-matches'];
  const tagged = run(args, `${OTHER}\n${GROUP}\n`);
  assert.equal(tagged.status, 0, tagged.stderr.toString());
  assert.equal(JSON.parse(tagged.stdout.toString()).trailtag.detections[0].id, 'get_object');
  const bad = join(dir, 'bad.toml');
  writeFileSync(bad, rule.replace("'eventName", "'eventName =="));
  const failed = run(['--rules', bad], '');
  assert.equal(failed.status, 1);
  assert.match(failed.stderr.toString(), new RegExp(`${bad.replaceAll('.', '\\.')}:7:`));
});

test('a usage error exits 2', () => {
  const result = run(['--bogus'], '');
  assert.equal(result.status, 2);
  assert.match(result.stderr.toString(), /usage: trailtag-tag/);
});
