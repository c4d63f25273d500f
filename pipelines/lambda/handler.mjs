// trailtag on AWS Lambda: the JavaScript build of the module, behind the two shapes AWS hands a
// function CloudTrail records in.
//
// - Kinesis Data Firehose data transformation: `{invocationId, deliveryStreamArn, records:
//   [{recordId, approximateArrivalTimestamp, data}]}` in, `{records: [{recordId, result, data}]}`
//   out, one answer per record, same ids, same order. A record's `data` (base64) may hold
//   NDJSON records, one CloudTrail record, an EventBridge event ("AWS API Call via CloudTrail",
//   the record in `detail`), or a CloudWatch Logs subscription payload (gzip, the records as
//   strings in `logEvents[].message`, which is how CloudWatch Logs delivers to Firehose). Each
//   is tagged where the record sits and re-encoded as it came (gzip in, gzip out).
// - A CloudWatch Logs subscription: `{awslogs: {data}}`, base64 of a gzip payload. The tagged
//   records are written one per line to the function's output (its own log group, where a
//   subscription or a log shipper takes them on), the matches only unless
//   TRAILTAG_LOG=all; the return value is the invocation's counts.
//
// Nothing is lost: a record that is not JSON goes on unchanged (counted as unreadable), data
// that cannot be decoded comes back as `ProcessingFailed` with its original bytes (Firehose
// writes it to the stream's error output), and a CONTROL_MESSAGE (CloudWatch Logs' own check
// that the destination is reachable) is `Dropped`, as AWS's blueprints do.
//
// Configuration, read once per execution environment: TRAILTAG_ONLY_MATCHES=1 (Firehose: drop
// records that match nothing), TRAILTAG_NO_BUILTIN_RULES=1, TRAILTAG_RULES_DIR (rule files
// bundled with the function: trailtag TOML, Sigma YAML, Elastic TOML), TRAILTAG_LOG
// (matches|all|none, CloudWatch Logs only).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

import { Trailtag } from 'trailtag';

const GZIP_MAGIC = [0x1f, 0x8b];
const RULE_FILE = /\.(toml|ya?ml)$/i;

/** The rule files of a folder, recursively, in name order. */
function ruleFiles(dir) {
  const files = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory()) files.push(...ruleFiles(path));
    else if (RULE_FILE.test(entry.name)) files.push({ name: path, text: readFileSync(path, 'utf8') });
  }
  return files;
}

/** The configuration the environment describes. */
export function configFrom(env) {
  const rules = env.TRAILTAG_RULES_DIR ? ruleFiles(env.TRAILTAG_RULES_DIR) : [];
  if (env.TRAILTAG_RULES_DIR && rules.length === 0) {
    throw new Error(`TRAILTAG_RULES_DIR=${env.TRAILTAG_RULES_DIR} holds no rule file (.toml, .yml, .yaml)`);
  }
  return {
    builtinRules: env.TRAILTAG_NO_BUILTIN_RULES !== '1',
    rules,
    onlyMatches: false,
  };
}

/** A tagger and what it needs to decide per record: the detector is compiled once. */
export function createHandlers(env = process.env, log = (line) => process.stdout.write(`${line}\n`)) {
  const tagger = new Trailtag(configFrom(env));
  const onlyMatches = env.TRAILTAG_ONLY_MATCHES === '1';
  const logMode = env.TRAILTAG_LOG ?? 'matches';
  if (!['matches', 'all', 'none'].includes(logMode)) {
    throw new Error(`TRAILTAG_LOG=${logMode}: expected matches, all or none`);
  }
  if (tagger.rules().length === 0) {
    throw new Error('no rules are loaded, so nothing would ever be tagged');
  }

  /** Tags one record given as JSON text: [text out, whether it was tagged]. A record that
   * comes back unchanged matched nothing; one that changed was tagged, or lost a forged tag. */
  function tagText(text) {
    const out = tagger.tagRecord(text);
    if (out === text) return [out, false];
    return [out, JSON.parse(out).trailtag !== undefined];
  }

  /** Tags the CloudTrail record(s) a decoded JSON document holds, in place. */
  function tagDocument(text) {
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not one JSON document: NDJSON, or a line that is not JSON (passed through, counted).
      const before = tagger.summary().tagged;
      const out = tagger.tagBatch(text.endsWith('\n') ? text : `${text}\n`);
      return { text: text.endsWith('\n') ? out : out.replace(/\n$/, ''), tagged: tagger.summary().tagged - before };
    }
    if (parsed && parsed.messageType !== undefined && Array.isArray(parsed.logEvents)) {
      return tagLogsPayload(parsed);
    }
    if (parsed && parsed['detail-type'] === 'AWS API Call via CloudTrail' && typeof parsed.detail === 'object') {
      const detail = tagger.tagRecord(parsed.detail);
      if (detail === parsed.detail) return { text, tagged: 0 };
      return { text: JSON.stringify({ ...parsed, detail }), tagged: Number(detail.trailtag !== undefined) };
    }
    const [out, tagged] = tagText(text);
    return { text: out, tagged: Number(tagged) };
  }

  /** Tags each `logEvents[].message` of a CloudWatch Logs payload. */
  function tagLogsPayload(payload) {
    if (payload.messageType !== 'DATA_MESSAGE') return { text: null, tagged: 0, control: true };
    let tagged = 0;
    const logEvents = payload.logEvents.map((event) => {
      const [message, hit] = tagText(event.message);
      tagged += Number(hit);
      return hit ? { ...event, message } : event;
    });
    return { text: JSON.stringify({ ...payload, logEvents }), tagged, events: logEvents };
  }

  /** One Firehose record's answer. */
  function firehoseRecord(record) {
    const bytes = Buffer.from(record.data ?? '', 'base64');
    const gzipped = bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
    let text;
    try {
      text = (gzipped ? gunzipSync(bytes) : bytes).toString('utf8');
    } catch (error) {
      console.error(`trailtag: record ${record.recordId}: cannot decompress (${error.message}); ProcessingFailed`);
      return { recordId: record.recordId, result: 'ProcessingFailed', data: record.data };
    }
    const answer = tagDocument(text);
    if (answer.control) return { recordId: record.recordId, result: 'Dropped', data: record.data };
    if (onlyMatches && answer.tagged === 0) return { recordId: record.recordId, result: 'Dropped', data: record.data };
    if (answer.text === text) return { recordId: record.recordId, result: 'Ok', data: record.data };
    const out = Buffer.from(answer.text, 'utf8');
    return { recordId: record.recordId, result: 'Ok', data: (gzipped ? gzipSync(out) : out).toString('base64') };
  }

  /** Kinesis Data Firehose data transformation. */
  async function firehose(event) {
    const records = (event.records ?? []).map(firehoseRecord);
    return { records };
  }

  /** CloudWatch Logs subscription: the tagged records are logged, the counts returned. */
  async function cloudwatchLogs(event) {
    const payload = JSON.parse(gunzipSync(Buffer.from(event.awslogs.data, 'base64')).toString('utf8'));
    const before = tagger.summary();
    const answer = tagLogsPayload(payload);
    if (!answer.control && logMode !== 'none') {
      for (const [i, logEvent] of answer.events.entries()) {
        const tagged = logEvent !== payload.logEvents[i];
        if (tagged || logMode === 'all') log(logEvent.message);
      }
    }
    const after = tagger.summary();
    return {
      messageType: payload.messageType,
      records: after.recordsIn - before.recordsIn,
      tagged: after.tagged - before.tagged,
      unreadable: after.unreadable - before.unreadable,
    };
  }

  /** Whichever of the two the event is. */
  async function handler(event) {
    if (event && event.awslogs && typeof event.awslogs.data === 'string') return cloudwatchLogs(event);
    if (event && Array.isArray(event.records)) return firehose(event);
    throw new Error('not a Kinesis Data Firehose transformation or CloudWatch Logs subscription event');
  }

  return { firehose, cloudwatchLogs, handler, tagger };
}

let handlers;

/** The Lambda entry point (`handler.handler`). */
export async function handler(event) {
  handlers ??= createHandlers();
  return handlers.handler(event);
}
