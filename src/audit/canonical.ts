import canonicalize from 'canonicalize';

/**
 * RFC 8785 canonical JSON, byte for byte what the `canonicalize` library produces, faster for the
 * plain records the audit log hashes (four per decision, on the hot path). RFC 8785 serialises
 * strings and numbers exactly as ECMAScript's JSON.stringify does, and orders members by UTF-16
 * code units, which is what Array#sort does by default; so a copy of the value with its members
 * inserted in sorted order, given once to the native JSON.stringify, is canonical, and about twice
 * as fast as the library's one call per string (see BENCHMARKS.md).
 *
 * That only holds for plain data, so anything else goes to the library unchanged: keys that start
 * with a digit (JS enumerates integer-like keys first, whatever their insertion order), `__proto__`,
 * lone surrogates, non-finite numbers, toJSON, non-plain objects, undefined or functions inside
 * arrays, and very deep nesting. The library then gives its own result or its own error.
 */
export function canonicalJson(value: unknown): string | undefined {
  return plainCanonical(value) ?? canonicalize(value);
}

/**
 * canonicalJson's fast path: the canonical text of plain data (JSON.stringify of a sorted copy), or
 * undefined for anything it does not show plain ("give it to the library"). Exported for
 * test/unit/audit-fast-paths.test.ts, which pins which values it takes and which it gives up on.
 */
export function plainCanonical(value: unknown): string | undefined {
  // Only plain objects (prototype Object.prototype) are walked, so an inherited toJSON could only
  // come from there: checked once per call, not per object. An own toJSON member that is a function
  // is EXOTIC as any function; one that is not is plain data to both JSON.stringify and the library.
  if ('toJSON' in Object.prototype || inheritsEnumerable()) return undefined;
  const copy = sorted(value, 0);
  if (copy === EXOTIC) return undefined;
  const text = JSON.stringify(copy);
  // A getter met by the walk or by JSON.stringify may have polluted Object.prototype meanwhile (red
  // team 7, finding 4): checked again after, and then the library decides, as it would have.
  if ('toJSON' in Object.prototype || inheritsEnumerable()) return undefined;
  // JSON.stringify writes a lone surrogate as "\udXXX" where the library throws; a well-formed
  // string can only show that text after an escaped backslash. Either way, the library decides.
  return text.includes('\\ud') ? undefined : text;
}

/** Does Object.prototype have an enumerable member (for…in in sortedObject would list it)? */
export function inheritsEnumerable(): boolean {
  for (const _ in Object.prototype) return true;
  return false;
}

/** What `sorted` returns for a value the fast path does not take. */
export const EXOTIC = Symbol('exotic');
const MAX_DEPTH = 100;

/**
 * A plain-data copy of `value` with members in canonical order, the value itself when already so, or
 * EXOTIC. `depth`: the nesting level of `value` (0 at the top). Exported for tests (it must not copy
 * what needs no copy).
 */
export function sorted(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : EXOTIC;
    case 'object':
      if (value === null) return null;
      if (depth > MAX_DEPTH) return EXOTIC;
      return Array.isArray(value) ? sortedArray(value, depth) : sortedObject(value, depth);
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      return EXOTIC;
  }
}

/** The array itself when no element changed, else a copy with the changed elements; EXOTIC if any element is. */
function sortedArray(value: readonly unknown[], depth: number): unknown {
  let out: unknown[] | undefined;
  for (let i = 0; i < value.length; i++) {
    const raw = value[i];
    if (typeof raw === 'string') continue; // the most common element, as it is (lone surrogates: see canonicalJson)
    const v = sorted(raw, depth + 1);
    if (v === EXOTIC) return EXOTIC;
    if (v !== raw) (out ??= value.slice())[i] = v;
  }
  return out ?? value;
}

/**
 * A plain object with its members sorted and undefined members left out; the object itself when it
 * is already so. EXOTIC for a non-plain object, a key starting with a digit or `__proto__`, or an
 * EXOTIC member (a toJSON method among them). Strings, the most common members, are not dispatched.
 * Walked with for…in (no key array, and V8 loads each member through the enum cache): plainCanonical
 * has checked that Object.prototype has no enumerable member, so for…in gives the own keys, in
 * Object.keys order. Members found out of order go to sortedCopy.
 */
function sortedObject(value: object, depth: number): unknown {
  if (Object.getPrototypeOf(value) !== Object.prototype) return EXOTIC;
  const source = value as Record<string, unknown>;
  // A copy only when needed: an undefined member or a changed child (or members out of order).
  let out: Record<string, unknown> | undefined;
  let last: string | undefined;
  let n = 0;
  for (const key in source) {
    if (last !== undefined && !(last < key)) return sortedCopy(source, depth);
    last = key;
    const first = key.charCodeAt(0);
    if ((first >= 0x30 && first <= 0x39) || key === '__proto__') return EXOTIC;
    const raw = source[key];
    const v = typeof raw === 'string' || raw === undefined ? raw : sorted(raw, depth + 1);
    if (v === EXOTIC) return EXOTIC;
    if (out === undefined && (v !== raw || raw === undefined)) out = prefixOf(source, n);
    if (out !== undefined && v !== undefined) out[key] = v;
    n++;
  }
  return out ?? value;
}

/** The first `n` members of `source` (already in order, unchanged), as a new object. */
function prefixOf(source: Record<string, unknown>, n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let i = 0;
  for (const key in source) {
    if (i++ === n) break;
    out[key] = source[key];
  }
  return out;
}

/** sortedObject's walk for an object whose members are out of order: a copy with them sorted. */
function sortedCopy(source: Record<string, unknown>, depth: number): unknown {
  const keys = sortedKeys(Object.keys(source));
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const first = key.charCodeAt(0);
    if ((first >= 0x30 && first <= 0x39) || key === '__proto__') return EXOTIC;
    const raw = source[key];
    const v = typeof raw === 'string' || raw === undefined ? raw : sorted(raw, depth + 1);
    if (v === EXOTIC) return EXOTIC;
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/**
 * The last key lists sortedCopy ordered (as Object.keys gave them) and their canonical order. The
 * records of one producer repeat a few shapes, and comparing a list with one seen before (the same
 * strings, by identity) costs a few nanoseconds a key where ordering it costs a string comparison
 * per step (~1.3 µs for a record's 17 top-level keys, micro-bench, load ~20). At most MEMO lists.
 */
const memo: {
  readonly from: readonly string[];
  readonly to: readonly string[];
}[] = [];
const MEMO = 8;

/** `keys` in canonical order, from the memo when the same list was ordered lately (also line-encode.ts's). The result is shared: never modify it. */
export function sortedKeys(keys: string[]): readonly string[] {
  for (let m = 0; m < memo.length; m++) {
    const seen = memo[m] as (typeof memo)[number];
    if (sameList(seen.from, keys)) return seen.to;
  }
  const to = sortKeys(keys.slice());
  if (memo.length >= MEMO) memo.shift();
  memo.push({ from: keys, to });
  return to;
}

/** Same strings at the same places (compared by value; interned keys compare fast). */
export function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Keys in UTF-16 code unit order (what `<` on strings compares, and Array#sort's default order).
 * Records have few keys per object: an insertion sort is several times faster than Array#sort there.
 */
function sortKeys(keys: string[]): string[] {
  if (keys.length > 32) return keys.sort();
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string;
      j--;
    }
    keys[j + 1] = key;
  }
  return keys;
}
