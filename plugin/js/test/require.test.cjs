// Loading as a CommonJS module: `require('trailtag')` works and is the same module `import` gives.
const assert = require('node:assert/strict');
const test = require('node:test');

const { Trailtag } = require('trailtag');

test('require gives the class, and import gives the same one', async () => {
  assert.equal(typeof Trailtag, 'function');
  const imported = await import('trailtag');
  assert.equal(imported.Trailtag, Trailtag);
  assert.equal(imported.default.Trailtag, Trailtag);
});

test('a CommonJS caller tags a record', () => {
  const record = { eventSource: 'iam.amazonaws.com', eventName: 'DeleteGroup' };
  const out = new Trailtag().tagRecord(record);
  assert.deepEqual(
    out.trailtag.detections.map((d) => d.id),
    ['iam_group_deleted'],
  );
});

test('the package describes both entry points', () => {
  const manifest = require('trailtag/package.json');
  assert.equal(manifest.exports['.'].require, './pkg/trailtag.js');
  assert.equal(manifest.exports['.'].import, './index.mjs');
});
