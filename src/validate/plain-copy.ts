/**
 * A deep copy of JSON-shaped data (a validated workflow, a pod built from it) that gives what
 * `structuredClone` gives, several times faster (issue #20 §2: structuredClone was ~120 µs of
 * each decision's CPU). Plain objects (prototype Object.prototype or null) and arrays are copied
 * member by member (own enumerable string keys, a `__proto__` key kept as a key, holes kept,
 * `undefined` members kept); strings, numbers, booleans, bigints, null and undefined are shared
 * as they are immutable. Anything else (a Date, a Map, a typed array, a class instance) is
 * handed to `structuredClone` as a whole, so it is copied exactly as before. A graph deeper than
 * MAX_DEPTH (or a cycle, which plain copying cannot end) is copied by `structuredClone` whole.
 * Throws what structuredClone throws (a function, a symbol) for values it cannot copy.
 */
export function plainCopy<T>(value: T): T {
  try {
    return copy(value, 0, false) as T;
  } catch (e) {
    if (e instanceof TooDeep) return structuredClone(value);
    throw e;
  }
}

/**
 * `plainCopy(value)` deeply frozen, in one walk (issue 20: the verification cache copied, then
 * walked the copy again to freeze it). Each plain object and array is frozen as it is copied; a
 * part handed to `structuredClone` (and the whole, past MAX_DEPTH) is frozen by `deepFreeze`
 * after. Throws what `plainCopy` throws.
 */
export function frozenCopy<T>(value: T): T {
  try {
    return copy(value, 0, true) as T;
  } catch (e) {
    if (e instanceof TooDeep) return deepFreeze(structuredClone(value));
    throw e;
  }
}

/**
 * `value` with every object reachable from it frozen (own enumerable string-keyed members, as
 * Object.values reads them); an object already frozen is taken as done (not walked). Returns `value`.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  const record = value as Record<string, unknown>;
  for (const k of Object.keys(record)) deepFreeze(record[k]);
  return value;
}

/** Nesting deeper than this is copied by structuredClone (which also handles cycles). */
export const MAX_DEPTH = 256;

/** Thrown inside the copy only, caught by plainCopy. */
class TooDeep extends Error {}

function copy(v: unknown, depth: number, freeze: boolean): unknown {
  if (typeof v !== 'object' || v === null) {
    if (typeof v === 'function' || typeof v === 'symbol') return structuredClone(v); // throws DataCloneError
    return v;
  }
  if (depth > MAX_DEPTH) throw new TooDeep();
  if (Array.isArray(v)) {
    if (Object.getPrototypeOf(v) !== Array.prototype) return cloned(v, freeze);
    const out = v.map((x: unknown) => copy(x, depth + 1, freeze));
    return freeze ? Object.freeze(out) : out;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return cloned(v, freeze);
  const out: Record<string, unknown> = {};
  const record = v as Record<string, unknown>;
  for (const k of Object.keys(record)) {
    const x = copy(record[k], depth + 1, freeze);
    // defineProperty: a "__proto__" key (JSON.parse makes it an own property) stays a key.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: x, enumerable: true, writable: true, configurable: true });
    else out[k] = x;
  }
  return freeze ? Object.freeze(out) : out;
}

/** A value that is not plain data, copied by structuredClone (frozen deeply when asked). */
const cloned = (v: unknown, freeze: boolean): unknown => (freeze ? deepFreeze(structuredClone(v)) : structuredClone(v));
