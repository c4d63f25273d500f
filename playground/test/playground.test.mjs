// The playground in headless Chromium, driven as a person would: paste a rule and a record,
// read what the page shows. Run by scripts/test-playground, which serves the page and says where
// everything is (PLAYGROUND_URL, PLAYGROUND_DEPS, CHROMIUM, PLAYGROUND_SCREENSHOT). Any page
// error, console error or failed request fails the test it happens in.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, afterEach, before, test } from 'node:test';

function setting(name) {
  const value = process.env[name];
  assert.ok(value, `${name} is not set: run this through scripts/test-playground`);
  return value;
}

const URL = setting('PLAYGROUND_URL');
const puppeteer = createRequire(`${setting('PLAYGROUND_DEPS')}/package.json`)('puppeteer-core');

const SIGMA = `title: Trust anchor created
id: 0d6c4a2e-9b1f-4e3a-8c5d-7f2e1a0b9c3d
logsource:
  product: aws
  service: cloudtrail
detection:
  service:
    eventSource: rolesanywhere.amazonaws.com
  creation:
    eventName: CreateTrustAnchor
  condition: service and creation
level: high
`;
const SIGMA_ID = '0d6c4a2e-9b1f-4e3a-8c5d-7f2e1a0b9c3d';

const ELASTIC = `[metadata]
maturity = "production"

[rule]
rule_id = "a7e0c9d1-2b3f-4a5e-9c6d-8e7f6a5b4c3d"
name = "Console login from the root user"
type = "query"
language = "kuery"
severity = "high"
risk_score = 73
query = '''
event.provider: signin.amazonaws.com and event.action: ConsoleLogin
  and aws.cloudtrail.user_identity.type: Root and event.outcome: success
'''
`;
const ELASTIC_ID = 'a7e0c9d1-2b3f-4a5e-9c6d-8e7f6a5b4c3d';

const record = (fields) => JSON.stringify({ eventVersion: '1.10', awsRegion: 'eu-west-1', ...fields }, null, 2);
const CREATE_ANCHOR = record({ eventSource: 'rolesanywhere.amazonaws.com', eventName: 'CreateTrustAnchor' });
const DELETE_ANCHOR = record({ eventSource: 'rolesanywhere.amazonaws.com', eventName: 'DeleteTrustAnchor' });
const ROOT_LOGIN = record({
  eventSource: 'signin.amazonaws.com',
  eventName: 'ConsoleLogin',
  userIdentity: { type: 'Root', principalId: '111122223333', arn: 'arn:aws:iam::111122223333:root' },
  responseElements: { ConsoleLogin: 'Success' },
});

let browser;
let page;
const problems = [];

before(async () => {
  browser = await puppeteer.launch({
    executablePath: setting('CHROMIUM'),
    headless: true,
    // Chromium's sandbox refuses to run as root, which CI is.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 1000 });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
  page.on('response', (response) => {
    if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  await page.goto(URL, { waitUntil: 'load' });
  await page.waitForSelector('body[data-state="ready"], body[data-state="failed"]');
});

afterEach(() => {
  assert.deepEqual(problems.splice(0), [], 'the page reported problems');
});

after(async () => {
  await browser?.close();
});

const text = (selector) => page.$eval(selector, (node) => node.textContent);

/** Types nothing: sets the text areas as a paste would, then waits for the page's next run. */
async function paste({ rule, ruleFormat = 'auto', record: recordText, builtin = false }) {
  const runs = await page.$eval('body', (body) => Number(body.dataset.runs));
  await page.evaluate((values) => {
    const set = (id, key, value) => {
      if (value !== undefined) document.getElementById(id)[key] = value;
    };
    set('rule', 'value', values.rule);
    set('format', 'value', values.ruleFormat);
    set('record', 'value', values.record);
    set('builtin', 'checked', values.builtin);
    document.getElementById('rule').dispatchEvent(new Event('input', { bubbles: true }));
  }, { rule, ruleFormat, record: recordText, builtin });
  await page.waitForFunction((n) => Number(document.body.dataset.runs) > n, {}, runs);
}

test('the page loads the engine and runs its first example at once', async () => {
  assert.equal(await page.$eval('body', (body) => body.dataset.state), 'ready', await text('#status'));
  assert.equal(await page.title(), 'trailtag playground');
  assert.ok(Number(await page.$eval('body', (body) => body.dataset.runs)) >= 1);
  assert.match(await text('#verdict'), /^Tagged by /);
});

test('a pasted Sigma rule tags the record it describes', async () => {
  await paste({ rule: SIGMA, record: CREATE_ANCHOR });
  assert.equal(await text('#detected'), 'Sigma YAML: read as playground.yml');
  assert.equal(await text('#verdict'), `Tagged by ${SIGMA_ID}.`);
  const tagged = JSON.parse(await text('#tagged'));
  assert.deepEqual(tagged.trailtag.detections.map((d) => d.id), [SIGMA_ID]);
  assert.equal(await page.$eval(`tr[data-rule="${SIGMA_ID}"]`, (row) => row.className), 'matched');
  assert.deepEqual(await page.$$eval('#errors li', (items) => items.length), 0);
});

test('a record that nearly matches shows the near miss and the clause that failed', async () => {
  await paste({ rule: SIGMA, record: DELETE_ANCHOR });
  assert.match(await text('#verdict'), /^No rule matched/);
  const row = `tr[data-rule="${SIGMA_ID}"]`;
  assert.equal(await page.$eval(row, (r) => r.className), 'near-miss');
  assert.equal(await text(`${row} td.verdict`), 'near miss1 of 2 clauses held');
  const failed = await page.$$eval(`${row} li.failed`, (items) => items.map((i) => i.textContent));
  assert.equal(failed.length, 1);
  assert.match(failed[0], /^✗ creationfailed: eventName .*"CREATETRUSTANCHOR"/);
  assert.deepEqual(
    await page.$$eval(`${row} li.held code`, (items) => items.map((i) => i.textContent)),
    ['service'],
  );
});

test('a broken rule shows its error at line:column, with the line and a caret', async () => {
  const broken = SIGMA.replace('eventName:', 'eventName|contians:');
  await paste({ rule: broken, record: CREATE_ANCHOR });
  const errors = await page.$$eval('#errors li', (items) =>
    items.map((i) => ({ line: i.dataset.line, column: i.dataset.column, text: i.textContent })));
  assert.equal(errors.length, 1, JSON.stringify(errors));
  assert.deepEqual([errors[0].line, errors[0].column], ['10', '15']);
  assert.match(errors[0].text, new RegExp(`^playground\\.yml:10:15 rule ${SIGMA_ID}: unknown modifier \`contians\``));
  assert.match(errors[0].text, / {4}eventName\|contians: CreateTrustAnchor\n {14}\^$/);
  assert.equal(await page.$eval('#no-errors', (p) => p.hidden), true);
  assert.match(await text('#verdict'), /^No rule matched/, 'the broken rule is skipped');
  // Clicking the error selects its line in the rule.
  await page.click('#errors li');
  const selected = await page.$eval('#rule', (t) => t.value.slice(t.selectionStart, t.selectionEnd));
  assert.equal(selected, '    eventName|contians: CreateTrustAnchor');
});

test('an Elastic KQL rule matches through the ECS view, which the page shows', async () => {
  await paste({ rule: ELASTIC, record: ROOT_LOGIN });
  assert.equal(await text('#detected'), 'Elastic TOML: read as playground.toml');
  assert.equal(await text('#verdict'), `Tagged by ${ELASTIC_ID}.`);
  const row = `tr[data-rule="${ELASTIC_ID}"]`;
  assert.equal(await page.$eval(row, (r) => r.className), 'matched');
  assert.match(await text(row), /elastic, yours/);
  const ecs = JSON.parse(await text('#ecs'));
  assert.equal(ecs.event.provider, 'signin.amazonaws.com');
  assert.equal(ecs.event.outcome, 'success');
  assert.equal(ecs.aws.cloudtrail.user_identity.type, 'Root');
  const failedLogin = ROOT_LOGIN.replace('"Success"', '"Failure"');
  await paste({ rule: ELASTIC, record: failedLogin });
  assert.equal(await page.$eval(row, (r) => r.className), 'near-miss');
  assert.match(await text(`${row} li.failed`), /event\.outcome: success/);
});

test('built-in rules join when asked, and a record that is not JSON is reported', async () => {
  const group = record({ eventSource: 'iam.amazonaws.com', eventName: 'CreateGroup' });
  await paste({ rule: '', record: group, builtin: true });
  assert.equal(await text('#verdict'), 'Tagged by iam_group_created.');
  await paste({ rule: '', record: '{"eventName": "CreateGroup",}', builtin: true });
  assert.equal(await text('#errors li.record'), 'record invalid JSON: trailing comma at line 1 column 29');
  assert.equal(await text('#tagged'), '');
});

test('every example rule loads, and every example record is readable', async () => {
  for (const select of ['record-sample', 'rule-sample']) {
    const names = await page.$$eval(`#${select} option`, (options) => options.map((o) => o.value).filter(Boolean));
    assert.ok(names.length >= 3, `${select}: ${names}`);
    for (const name of names) {
      const runs = await page.$eval('body', (body) => Number(body.dataset.runs));
      await page.select(`#${select}`, name);
      await page.waitForFunction((n) => Number(document.body.dataset.runs) > n, {}, runs);
      assert.deepEqual(await page.$$eval('#errors li', (items) => items.map((i) => i.textContent)), [], name);
    }
  }
});

test('a screenshot of a run: the Sigma example, a near miss and the built-in rules', async () => {
  const runs = await page.$eval('body', (body) => Number(body.dataset.runs));
  await page.select('#rule-sample', await page.$eval('#rule-sample option:nth-child(2)', (o) => o.value));
  await page.waitForFunction((n) => Number(document.body.dataset.runs) > n, {}, runs);
  const record = await page.$$eval('#record-sample option', (options) =>
    options.map((o) => o.value).find((v) => v.includes('UpdateProfile')));
  await page.select('#record-sample', record);
  await paste({ builtin: true });
  assert.ok(await page.$('tr.near-miss'));
  const path = setting('PLAYGROUND_SCREENSHOT');
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 10_000, `${path} is too small to show the page`);
});
