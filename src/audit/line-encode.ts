import { inheritsEnumerable, sortedKeys } from './canonical.ts';
import { ascii, byte, GIVE_UP, number, raw, st, string } from './line-scalars.ts';
import { onlyRecordKeys, RECORD_KEY_ORDER } from './record-canonical.ts';

export { GIVE_UP };

/**
 * The appender's fastest path for a record's canonical text (chain.ts LineBatch.add): the UTF-8
 * bytes of recordCanonical's text written straight into the batch buffer by one walk of the record
 * (no sorted copy, no JSON.stringify string, no second UTF-8 encoding, no scan for `\ud`). What it
 * writes is byte for byte the UTF-8 of recordCanonical(record) (RFC 8785: members in UTF-16 code
 * unit order at every depth; strings escaped as ECMAScript's JSON.stringify escapes them; numbers
 * as Number#toString spells them, which is JSON.stringify's spelling of a finite number). It gives
 * up (returns GIVE_UP, and the caller takes recordCanonical's path) on everything that path does
 * not take as plain data, and on more: a member other than AuditRecord's, a non-plain object, a key
 * starting with a digit or `__proto__`, a non-finite number, a function, symbol or BigInt, undefined
 * in an array, a lone surrogate, nesting deeper than 100, a toJSON anywhere it could be called
 * (Object.prototype, Array.prototype, or on the object or array itself, enumerable or not), an enumerable member of Object.prototype (checked before and
 * after the walk: a getter may add one), and a call made while another is under way (a getter that
 * appends). Pinned by test/unit/line-encode.test.ts against recordCanonical and the library.
 *
 * Why not the `canonicalize` library (which stays the oracle and the last resort): it returns a
 * string, built with one JSON.stringify per string, about twice as slow as canonical.ts's copy +
 * JSON.stringify, which in turn is a copy, a string, a scan and a UTF-8 encoding more than this
 * walk (−0.2 to −0.5 µs and −1.5 KB of allocation per record, BENCHMARKS.md, h-append-6).
 */

const MAX_DEPTH = 100;

/**
 * AuditRecord's members without `hash`, in canonical order (record-canonical.ts RECORD_KEY_ORDER,
 * the set onlyRecordKeys checks a record against), with their `"key":` bytes (plain ASCII: no
 * escape).
 */
const TOP_KEYS = RECORD_KEY_ORDER;
const TOP_BYTES: readonly Uint8Array[] = TOP_KEYS.map((k) => Buffer.from(`"${k}":`, 'latin1'));

let busy = false;

/**
 * Writes the canonical text of `record` (an object whose members are AuditRecord's without `hash`)
 * as UTF-8 into `buf` from `at` (never at or past `end`), and returns the offset after it; GIVE_UP
 * when it does not take the record (see the file's comment) or when `buf[at, end)` is too small
 * (the caller then takes the other path). Only `buf[at, returned)` is written on success; on
 * GIVE_UP, bytes from `at` on may have been overwritten and mean nothing. May throw what a getter
 * of the record throws.
 */
export function encodeRecord(buf: Uint8Array, at: number, end: number, record: object): number {
  if (busy) return GIVE_UP;
  if (Object.getPrototypeOf(record) !== Object.prototype || !guardsHold()) return GIVE_UP;
  busy = true;
  st.out = buf;
  st.limit = Math.min(end, buf.length);
  let written: number;
  try {
    written = topLevel(record as Record<string, unknown>, at);
  } finally {
    busy = false;
    st.out = EMPTY;
  }
  // A getter met by the walk may have polluted a prototype: then the other path decides.
  return written !== GIVE_UP && guardsHold() ? written : GIVE_UP;
}

const EMPTY = new Uint8Array(0);

/** No toJSON that JSON.stringify could call on a plain object or array, and nothing for…in would inherit. */
function guardsHold(): boolean {
  return !('toJSON' in Object.prototype) && !('toJSON' in Array.prototype) && !inheritsEnumerable();
}

/**
 * The record's members, all AuditRecord's, in canonical order, from `p`; the end, or GIVE_UP. Each
 * member is read by its name (a monomorphic load), not through a key list (a megamorphic keyed
 * load each).
 */
function topLevel(r: Record<string, unknown>, at: number): number {
  if (!onlyRecordKeys(r) || at >= st.limit) return GIVE_UP;
  st.out[at] = 0x7b;
  let p = at + 1;
  p = top(p, 0, r.bundles, at);
  p = top(p, 1, r.code, at);
  p = top(p, 2, r.decision_id, at);
  p = top(p, 3, r.erased, at);
  p = top(p, 4, r.input, at);
  p = top(p, 5, r.labels, at);
  p = top(p, 6, r.masked, at);
  p = top(p, 7, r.message, at);
  p = top(p, 8, r.metrics, at);
  p = top(p, 9, r.outcome, at);
  p = top(p, 10, r.patch, at);
  p = top(p, 11, r.path, at);
  p = top(p, 12, r.pod, at);
  p = top(p, 13, r.prev, at);
  p = top(p, 14, r.result, at);
  p = top(p, 15, r.runner, at);
  p = top(p, 16, r.seq, at);
  p = top(p, 17, r.stage, at);
  p = top(p, 18, r.step, at);
  p = top(p, 19, r.timestamp, at);
  p = top(p, 20, r.workflow, at);
  return byte(p, 0x7d);
}

/**
 * Top-level member `i` of TOP_KEYS with value `v` at `p` (nothing when undefined; a comma first
 * unless `p` is just after the record's `{` at `open`); the end, or GIVE_UP (also when `p` is).
 */
function top(p: number, i: number, v: unknown, open: number): number {
  if (p === GIVE_UP || v === undefined) return p;
  if (p !== open + 1) p = byte(p, 0x2c);
  return value(raw(p, TOP_BYTES[i] as Uint8Array), v, 1);
}

/** One value at nesting level `depth`, from `p`; the end, or GIVE_UP (also when `p` is). */
function value(p: number, v: unknown, depth: number): number {
  if (p === GIVE_UP) return p;
  switch (typeof v) {
    case 'string':
      return string(p, v);
    case 'number':
      return number(p, v);
    case 'boolean':
      return ascii(p, v ? 'true' : 'false');
    case 'object':
      if (v === null) return ascii(p, 'null');
      if (depth > MAX_DEPTH) return GIVE_UP;
      // A toJSON that JSON.stringify would call: own and not enumerable (for…in skips it), on an
      // array or an Array subclass, or a Proxy's get trap (red team 11): the string path decides.
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return GIVE_UP;
      return Array.isArray(v) ? array(p, v, depth) : object(p, v, depth);
    case 'undefined': // left out by the callers where it is a member
    case 'bigint':
    case 'function':
    case 'symbol':
      return GIVE_UP;
  }
}

function array(at: number, a: readonly unknown[], depth: number): number {
  let p = byte(at, 0x5b);
  for (let i = 0; i < a.length && p !== GIVE_UP; i++) {
    if (i > 0) p = byte(p, 0x2c);
    const v = a[i];
    p = v === undefined ? GIVE_UP : value(p, v, depth + 1);
  }
  return byte(p, 0x5d);
}

/**
 * A plain object's members from `at`, in canonical order; undefined ones left out. Written as
 * for…in lists them; when a key comes out of order, what was written of the object is dropped
 * and it is written again in sorted order (sortedMembers).
 */
function object(at: number, o: object, depth: number): number {
  if (Object.getPrototypeOf(o) !== Object.prototype) return GIVE_UP;
  const source = o as Record<string, unknown>;
  let p = byte(at, 0x7b);
  let last: string | undefined;
  for (const key in source) {
    if (p === GIVE_UP) return p;
    if (last !== undefined && !(last < key)) return sortedMembers(at, source, depth);
    last = key;
    p = member(p, key, source[key], at, depth);
  }
  return byte(p, 0x7d);
}

/** An object whose members came out of order, from `at`: its members in sorted order (the memo's). */
function sortedMembers(at: number, source: Record<string, unknown>, depth: number): number {
  const keys = sortedKeys(Object.keys(source));
  let p = byte(at, 0x7b);
  for (let i = 0; i < keys.length && p !== GIVE_UP; i++) {
    const key = keys[i] as string;
    p = member(p, key, source[key], at, depth);
  }
  return byte(p, 0x7d);
}

/**
 * `,"key":value` at `p` (no comma right after the object's `{` at `open`); nothing for an undefined
 * value (its key is still checked: a remembered key passed the checks when it was remembered); the
 * end, or GIVE_UP. The key's bytes are copied from KEY_BYTES when it was met before.
 */
function member(p: number, key: string, v: unknown, open: number, depth: number): number {
  const bytes = KEY_BYTES.get(key);
  if (bytes === undefined) {
    const c = key.charCodeAt(0);
    if ((c >= 0x30 && c <= 0x39) || key === '__proto__') return GIVE_UP;
    if (v === undefined) return p;
    if (p !== open + 1) p = byte(p, 0x2c);
    const from = p;
    p = byte(string(p, key), 0x3a);
    if (p !== GIVE_UP && key.length <= KEY_MAX && KEY_BYTES.size < KEY_CACHE)
      KEY_BYTES.set(key, new Uint8Array(st.out.subarray(from, p))); // a copy: the buffer is reused
    return value(p, v, depth + 1);
  }
  if (v === undefined) return p;
  if (p !== open + 1) p = byte(p, 0x2c);
  return value(raw(p, bytes), v, depth + 1);
}

/** Keys longer than this (UTF-16 code units) are not remembered. */
const KEY_MAX = 64;
/** At most this many keys are remembered (the first met; later ones take member's first branch each time). */
const KEY_CACHE = 1024;
/**
 * `"key":` as member writes it (escaped, UTF-8), for keys met before that it took (not digit-led,
 * not `__proto__`, no lone surrogate): a record's nested keys repeat from record to record, and
 * copying their bytes skips the key's checks and its escape walk (add −3.5 to −4 % of ~3.9 µs a
 * record, BENCHMARKS.md, h-append-7). Bounded: KEY_CACHE keys of at most KEY_MAX code units.
 */
const KEY_BYTES = new Map<string, Uint8Array>();
