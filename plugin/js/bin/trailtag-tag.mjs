#!/usr/bin/env node
// trailtag-tag: NDJSON on stdin, tagged NDJSON on stdout, through the JavaScript build.
//
// The input is read in batches of about a megabyte cut after a newline, each one given to
// `tagBatch`; lines are independent, so the output is byte for byte what one call over the
// whole input (and the raw ABI, and `trailtag tag`) gives. Exit status: 0 on success (also when
// stdout is closed early), 1 when the rules do not load, 2 on a usage error.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Trailtag } from '../index.mjs';

const USAGE = `usage: trailtag-tag [OPTION]... < IN.ndjson > OUT.ndjson
  Reads NDJSON on stdin, writes it on stdout with the records that match a rule tagged.
  --only-matches      write only tagged records
  --validate          parse every record, so that malformed JSON is always reported
  --no-builtin-rules  load only the --rules files
  --rules FILE        load a rule file (.toml); repeatable
  --tag-format NAME   how a match is written: trailtag (default), ecs or ocsf
  --summary           write the counts (JSON) on stderr at the end`;

const BATCH_BYTES = 1 << 20;

function options() {
  const { values } = parseArgs({
    options: {
      'only-matches': { type: 'boolean', default: false },
      validate: { type: 'boolean', default: false },
      'no-builtin-rules': { type: 'boolean', default: false },
      rules: { type: 'string', multiple: true, default: [] },
      'tag-format': { type: 'string', default: 'trailtag' },
      summary: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  return values;
}

function config(args) {
  return {
    builtinRules: !args['no-builtin-rules'],
    rules: args.rules.map((name) => ({ name, text: readFileSync(name, 'utf8') })),
    onlyMatches: args['only-matches'],
    validate: args.validate,
    tagFormat: args['tag-format'],
  };
}

/** Yields the stream's bytes in pieces of at least `size` bytes, each ending with a newline
 * (except the last); a line is never split, and a long line is copied only once. */
async function* batches(stream, size) {
  let parts = [];
  let length = 0;
  for await (const chunk of stream) {
    parts.push(chunk);
    length += chunk.length;
    const cut = length < size ? 0 : chunk.lastIndexOf(0x0a) + 1;
    if (cut === 0) continue;
    parts[parts.length - 1] = chunk.subarray(0, cut);
    yield Buffer.concat(parts);
    parts = [chunk.subarray(cut)];
    length = parts[0].length;
  }
  if (length > 0) yield Buffer.concat(parts);
}

function write(bytes) {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (error) => (error ? reject(error) : resolve()));
  });
}

async function main() {
  let args;
  try {
    args = options();
  } catch (error) {
    console.error(`trailtag-tag: ${error.message}\n${USAGE}`);
    return 2;
  }
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  let tagger;
  try {
    tagger = new Trailtag(config(args));
  } catch (error) {
    console.error(`trailtag-tag: ${error.message}`);
    return 1;
  }
  try {
    for await (const batch of batches(process.stdin, BATCH_BYTES)) {
      await write(tagger.tagBatch(batch));
    }
  } catch (error) {
    if (error.code === 'EPIPE') return 0;
    throw error;
  }
  if (args.summary) console.error(JSON.stringify(tagger.summary()));
  return 0;
}

process.stdout.on('error', (error) => {
  if (error.code !== 'EPIPE') throw error;
});
process.exitCode = await main();
