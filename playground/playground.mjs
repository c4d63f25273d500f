// The playground: one rule file and one record through the engine's browser build (pkg/, made
// by scripts/build-js). The page only arranges what the engine returns: Trailtag.check for the
// rule problems, tagRecord for the tagged record, explain for the clauses, Trailtag.ecs for the
// ECS view. Nothing here decides whether a rule matches.

import { RECORDS, RULES } from './samples.mjs';

const FORMATS = {
  native: { label: 'trailtag TOML', file: 'playground.toml' },
  sigma: { label: 'Sigma YAML', file: 'playground.yml' },
  elastic: { label: 'Elastic TOML', file: 'playground.toml' },
};

/**
 * The format a rule text is in, by content: Sigma YAML has a `detection:` key; an Elastic file
 * has `[metadata]` or a `rule_id` (what the engine itself looks for to tell it from a trailtag
 * TOML file, since both have a `[rule]` table with a `query`); anything else is trailtag TOML.
 */
export function detectFormat(text) {
  if (/^\s*detection\s*:/m.test(text)) return 'sigma';
  if (/^\s*\[metadata\]/m.test(text) || /^\s*rule_id\s*=/m.test(text)) return 'elastic';
  return 'native';
}

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
};

function fill(select, samples, textarea) {
  select.append(el('option', { value: '' }, 'Examples…'));
  for (const name of Object.keys(samples)) select.append(el('option', { value: name }, name));
  select.addEventListener('change', () => {
    if (!select.value) return;
    textarea.value = samples[select.value];
    select.value = '';
    run();
  });
}

/** The rule file the text becomes: its name's extension picks the engine's front end. */
function ruleFile() {
  const text = $('rule').value;
  const chosen = $('format').value;
  const format = chosen === 'auto' ? detectFormat(text) : chosen;
  const { label, file } = FORMATS[format];
  $('detected').textContent = `${chosen === 'auto' ? `${label}: ` : ''}read as ${file}`;
  return text.trim() ? [{ name: file, text }] : [];
}

function problemItem(problem, lines) {
  const where = `${problem.file}:${problem.line}:${problem.column}`;
  const rule = problem.ruleId ? ` rule ${problem.ruleId}:` : '';
  const item = el('li', { 'data-line': problem.line, 'data-column': problem.column },
    el('code', { class: 'where' }, where), `${rule} ${problem.message}`);
  const source = lines[problem.line - 1];
  if (source !== undefined) {
    const caret = `${' '.repeat(Math.max(0, problem.column - 1))}^`;
    item.append(el('pre', { class: 'excerpt' }, `${source}\n${caret}`));
  }
  item.addEventListener('click', () => selectLine($('rule'), problem.line));
  return item;
}

function selectLine(textarea, line) {
  const lines = textarea.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  textarea.focus();
  textarea.setSelectionRange(start, start + (lines[line - 1] ?? '').length);
}

function showErrors(problems, recordError) {
  const lines = $('rule').value.split('\n');
  const items = problems.map((p) => problemItem(p, lines));
  if (recordError) {
    items.push(el('li', { class: 'record' }, el('code', { class: 'where' }, 'record'), ` ${recordError}`));
  }
  $('errors').replaceChildren(...items);
  $('no-errors').hidden = items.length > 0;
}

function showTagged(record, tagged) {
  if (tagged === record) {
    $('verdict').textContent = 'No rule matched: the record passes through unchanged.';
    $('tagged').textContent = record;
    return;
  }
  const value = JSON.parse(tagged);
  const ids = value.trailtag.detections.map((d) => d.id);
  $('verdict').textContent = `Tagged by ${ids.join(', ')}.`;
  $('tagged').textContent = JSON.stringify(value, null, 2);
}

function clauseItem(clause) {
  const item = el('li', { class: clause.held ? 'held' : 'failed' },
    el('span', { class: 'mark' }, clause.held ? '✓' : '✗'), ' ', el('code', {}, clause.text));
  if (clause.failedTest !== null && clause.failedTest !== clause.text) {
    item.append(el('div', { class: 'failed-test' }, 'failed: ', el('code', {}, clause.failedTest)));
  }
  return item;
}

function verdictOf(rule) {
  if (rule.matched) return ['matched', 'matched'];
  if (rule.nearMiss) return ['near-miss', 'near miss'];
  return ['no-match', 'no match'];
}

function explanationRow(rule, yours) {
  const [kind, text] = verdictOf(rule);
  const held = rule.clauses.filter((c) => c.held).length;
  return el('tr', { class: kind, 'data-rule': rule.id },
    el('td', {},
      el('div', { class: 'rule-name' }, rule.name),
      el('code', {}, rule.id), ' ',
      el('span', { class: 'note' }, `${rule.format}${yours ? ', yours' : ''}`)),
    el('td', { class: 'verdict' }, text, el('div', { class: 'note' }, `${held} of ${rule.clauses.length} clauses held`)),
    el('td', {}, el('ul', { class: 'clauses' }, ...rule.clauses.map(clauseItem))));
}

function showExplanation(explanation, yourIds) {
  const order = (r) => (yourIds.has(r.id) ? 0 : 1) * 3 + (r.matched ? 0 : r.nearMiss ? 1 : 2);
  const rules = [...explanation.rules].sort((a, b) => order(a) - order(b));
  $('explanation').tBodies[0].replaceChildren(...rules.map((r) => explanationRow(r, yourIds.has(r.id))));
}

function clearOutputs() {
  $('verdict').textContent = '';
  $('tagged').textContent = '';
  $('ecs').textContent = '';
  $('explanation').tBodies[0].replaceChildren();
}

let engine;
let runs = 0;

/** Compiles the rule, runs the record through it, and shows everything the engine says. */
function run() {
  const rules = ruleFile();
  // validate: a record that is not JSON is reported with the parser's message.
  const config = { builtinRules: $('builtin').checked, rules, skipInvalidRules: true, validate: true };
  const problems = engine.Trailtag.check(config);
  const tagger = new engine.Trailtag(config);
  const yours = new Set(tagger.rules().filter((r) => r.source === rules[0]?.name).map((r) => r.id));
  const record = $('record').value;
  clearOutputs();
  let recordError = null;
  if (record.trim()) {
    const tagged = tagger.tagRecord(record);
    const [unreadable] = tagger.lastUnreadable();
    if (unreadable) {
      recordError = unreadable.reason;
    } else {
      showExplanation(tagger.explain(record), yours);
      showTagged(record, tagged);
      $('ecs').textContent = JSON.stringify(engine.Trailtag.ecs(record), null, 2);
    }
  }
  tagger.free();
  showErrors(problems, recordError);
  document.body.dataset.runs = String(++runs);
}

let timer;
function runSoon() {
  clearTimeout(timer);
  timer = setTimeout(run, 250);
}

async function start() {
  try {
    engine = await import('./pkg/trailtag.js');
    await engine.default();
  } catch (error) {
    $('status').textContent = `The engine did not load (${error.message}). Build it with scripts/build-js, which writes playground/pkg/.`;
    document.body.dataset.state = 'failed';
    throw error;
  }
  fill($('rule-sample'), RULES, $('rule'));
  fill($('record-sample'), RECORDS, $('record'));
  $('rule').value = Object.values(RULES)[0];
  $('record').value = Object.values(RECORDS)[0];
  for (const id of ['rule', 'record']) $(id).addEventListener('input', runSoon);
  for (const id of ['format', 'builtin']) $(id).addEventListener('change', run);
  $('run').addEventListener('click', run);
  run();
  $('status').textContent = 'Ready: edit the rule or the record, the outputs follow.';
  document.body.dataset.state = 'ready';
}

start();
