import { canonicalJson, EXOTIC, inheritsEnumerable, sameList, sorted } from './canonical.ts';

/**
 * The canonical text of an audit record without its hash (chainLine hashes it; LineBatch, the
 * appender, when line-encode.ts's walk gives the record up): canonicalJson's text, built faster
 * for the records the appender writes. Their members are
 * AuditRecord's (record.ts), a fixed set, so a copy in canonical order is one object literal (one
 * hidden class, members in-object) instead of sortedObject's member-by-member copy, and
 * JSON.stringify walks it faster too (0.3–0.6 µs of 8–10 µs of main-thread CPU per append,
 * BENCHMARKS.md). Anything else goes to canonicalJson.
 */

/** How many key lists onlyRecordKeys remembers. */
const MEMO = 8;

/**
 * AuditRecord's members without `hash` (record.ts: AuditEntry's, then `seq` and `prev`), in
 * canonical order (sorted by UTF-16 code units, RFC 8785 §3.2.3; all plain ASCII). plainRecord
 * writes a record with these members through one object literal; line-encode.ts writes them in
 * this order.
 */
export const RECORD_KEY_ORDER = [
  'bundles',
  'code',
  'decision_id',
  'erased',
  'input',
  'labels',
  'masked',
  'message',
  'metrics',
  'outcome',
  'patch',
  'path',
  'pod',
  'prev',
  'result',
  'runner',
  'seq',
  'stage',
  'step',
  'timestamp',
  'workflow',
] as const;

const RECORD_KEYS: ReadonlySet<string> = new Set(RECORD_KEY_ORDER);

/** Key lists (as Object.keys gave them) lately seen to hold RECORD_KEYS only: at most MEMO. */
const recordLists: (readonly string[])[] = [];

/** Are all of `value`'s own enumerable keys RECORD_KEYS (line-encode.ts's TOP_KEYS too: test/unit/line-encode.test.ts, FULL)? (The last few lists are remembered: a list seen before costs one comparison a key.) */
export function onlyRecordKeys(value: object): boolean {
  const keys = Object.keys(value);
  for (let m = 0; m < recordLists.length; m++) if (sameList(recordLists[m] as readonly string[], keys)) return true;
  for (const key of keys) if (!RECORD_KEYS.has(key)) return false;
  if (recordLists.length >= MEMO) recordLists.shift();
  recordLists.push(keys);
  return true;
}

/** Set by member() when a member is EXOTIC; recordCopy clears it first and restores it after (a getter may re-enter). */
let exotic = false;

/** A record member's canonical copy (sorted at depth 1), as sortedObject takes it; flags EXOTIC. */
function member(value: unknown): unknown {
  if (typeof value === 'string' || value === undefined) return value;
  const v = sorted(value, 1);
  if (v === EXOTIC) exotic = true;
  return v;
}

/**
 * The record's members in canonical order, as one object literal (one hidden class, in-object
 * members: built and stringified faster than sortedCopy's member-by-member copy); undefined
 * members stay undefined, which JSON.stringify leaves out as sortedObject does. EXOTIC when a
 * member is.
 */
function recordCopy(r: Record<string, unknown>): unknown {
  const outer = exotic;
  exotic = false;
  const copy = {
    bundles: member(r.bundles),
    code: member(r.code),
    decision_id: member(r.decision_id),
    erased: member(r.erased),
    input: member(r.input),
    labels: member(r.labels),
    masked: member(r.masked),
    message: member(r.message),
    metrics: member(r.metrics),
    outcome: member(r.outcome),
    patch: member(r.patch),
    path: member(r.path),
    pod: member(r.pod),
    prev: member(r.prev),
    result: member(r.result),
    runner: member(r.runner),
    seq: member(r.seq),
    stage: member(r.stage),
    step: member(r.step),
    timestamp: member(r.timestamp),
    workflow: member(r.workflow),
  };
  const result = exotic ? EXOTIC : copy;
  exotic = outer;
  return result;
}

/**
 * canonicalJson for an audit record without its hash (chain.ts): the same text (or error), through
 * plainRecord when it takes the record, else through canonicalJson.
 */
export function recordCanonical(record: object): string | undefined {
  return plainRecord(record) ?? canonicalJson(record);
}

/**
 * recordCanonical's fast path: the canonical text of a plain object whose members are all
 * AuditRecord's (RECORD_KEYS) and plain data, built through one object literal (recordCopy), or
 * undefined for anything else ("give it to canonicalJson"): another member, a non-plain object, an
 * EXOTIC member, a polluted Object.prototype, a lone surrogate. Exported for
 * test/unit/record-canonical.test.ts.
 */
export function plainRecord(record: object): string | undefined {
  if (Object.getPrototypeOf(record) !== Object.prototype || !onlyRecordKeys(record)) return undefined;
  if ('toJSON' in Object.prototype || inheritsEnumerable()) return undefined;
  const copy = recordCopy(record as Record<string, unknown>);
  if (copy === EXOTIC) return undefined;
  const text = JSON.stringify(copy);
  // As plainCanonical: a getter may have polluted Object.prototype; a lone surrogate is the library's to refuse.
  if ('toJSON' in Object.prototype || inheritsEnumerable()) return undefined;
  return text.includes('\\ud') ? undefined : text;
}
