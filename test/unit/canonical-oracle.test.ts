import assert from 'node:assert/strict';
import { test } from 'node:test';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { canonicalJson } from '../../src/audit/canonical.ts';
import { sameAsOracle } from '../support/canonical-library.ts';

/*
 * canonicalJson's walk was made cheaper (strings are not dispatched, toJSON is found among the
 * keys and on Object.prototype once per call instead of by an `in` lookup per object). The class:
 * "any value → a different text, or a different error, than before". The oracle is the module as
 * it was (commit 86f0c40), verbatim below; the variants: any JSON value, any Unicode (lone
 * surrogates), -0 and extreme doubles, keys that JavaScript orders itself (digits), `__proto__`
 * and `toJSON` keys, undefined members and elements, non-plain objects, a polluted Object.prototype.
 */
function oldCanonicalJson(value: unknown): string | undefined {
  const copy = sorted(value, 0);
  if (copy === EXOTIC) return canonicalize(value);
  const text = JSON.stringify(copy);
  // JSON.stringify writes a lone surrogate as "\udXXX" where the library throws; a well-formed
  // string can only show that text after an escaped backslash. Either way, the library decides.
  return text.includes('\\ud') ? canonicalize(value) : text;
}

const EXOTIC = Symbol('exotic');
const MAX_DEPTH = 100;

/** A plain-data copy of `value` with members in canonical order, the value itself when already so, or EXOTIC. */
function sorted(value: unknown, depth: number): unknown {
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
    const v = sorted(value[i], depth + 1);
    if (v === EXOTIC) return EXOTIC;
    if (v !== value[i]) (out ??= value.slice())[i] = v;
  }
  return out ?? value;
}

/**
 * A plain object with its members sorted and undefined members left out; the object itself when it
 * is already so. EXOTIC for a non-plain object, toJSON, a key starting with a digit or `__proto__`.
 */
function sortedObject(value: object, depth: number): unknown {
  if (Object.getPrototypeOf(value) !== Object.prototype || 'toJSON' in value) return EXOTIC;
  const source = value as Record<string, unknown>;
  const keys = Object.keys(source);
  // A copy only when needed: members out of order, an undefined member, or a changed child.
  let out: Record<string, unknown> | undefined = isSorted(keys) ? undefined : {};
  if (out !== undefined) sortKeys(keys);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const first = key.charCodeAt(0);
    if ((first >= 0x30 && first <= 0x39) || key === '__proto__') return EXOTIC;
    const raw = source[key];
    const v = raw === undefined ? undefined : sorted(raw, depth + 1);
    if (v === EXOTIC) return EXOTIC;
    if (out === undefined && (v !== raw || raw === undefined)) out = copyOf(source, keys, i);
    if (out !== undefined && v !== undefined) out[key] = v;
  }
  return out ?? value;
}

/** The first `n` members of `source` (already in order, unchanged), as a new object. */
function copyOf(source: Record<string, unknown>, keys: readonly string[], n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) out[keys[i] as string] = source[keys[i] as string];
  return out;
}

function isSorted(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) if ((keys[i - 1] as string) > (keys[i] as string)) return false;
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

/** The same text, or an error with the same message, as the oracle. */
function sameAsBefore(value: unknown): void {
  sameAsOracle(oldCanonicalJson, value);
}

/** The text, or the error's message. */
function outcome(value: unknown): string | undefined {
  try {
    return canonicalJson(value);
  } catch (e) {
    return `error: ${(e as Error).message}`;
  }
}

const KEYS = [
  '__proto__',
  'toJSON',
  '10',
  '9',
  '',
  'a',
  'b',
  'é',
  '\u{1F600}',
  '\uFF61',
  '\uD800',
  '\\ud800',
  'constructor',
];
const key = fc.oneof(
  fc.constantFrom(...KEYS),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ maxLength: 6 }),
);
const number = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0, 1e21, 1e-7, 5e-324, Number.MAX_VALUE, Number.MIN_SAFE_INTEGER, 0.1 + 0.2),
);
const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
    number,
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.array(tie('tree'), { maxLength: 5 }),
    fc.dictionary(key, tie('tree'), { maxKeys: 6 }),
    // JSON.parse makes own "__proto__" members, as the log's readers do.
    fc.dictionary(key, tie('tree'), { maxKeys: 4 }).map((d) => JSON.parse(JSON.stringify(d)) as unknown),
  ),
}));

test('canonicalJson: the same text or error as before for any JSON value, any Unicode, any key', () => {
  fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), sameAsBefore), { numRuns: 2000 });
  fc.assert(fc.property(tree, sameAsBefore), { numRuns: 5000 });
  // Already in order (nothing copied) and out of order (copied): both paths.
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 4 }), tree, { maxKeys: 8 }), (d) => {
      const inOrder = Object.fromEntries(Object.entries(d).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      const reversed = Object.fromEntries(Object.entries(inOrder).reverse());
      sameAsBefore(inOrder);
      sameAsBefore(reversed);
      assert.equal(outcome(inOrder), outcome(reversed));
    }),
    { numRuns: 2000 },
  );
});

test('canonicalJson: the test vectors, the cases handed to the library, and RFC 8785 itself', () => {
  const cases: unknown[] = [
    { b: 1, a: 2, 10: 'x', 9: 'y', '': 0 },
    { '\u{1F600}': 1, '\uFF61': 2, é: 3, e: 4 },
    { s: 'lone \uD800 surrogate' },
    { ['\uDC00']: 1 },
    ['lone \uDBFF in an array'],
    { s: 'the text \\ud800, well formed', k: { '\\udc00': 'x' } },
    { n: Number.NaN },
    [Number.NEGATIVE_INFINITY],
    { n: -0, big: 1e21, small: 1e-7, frac: 0.1 + 0.2 },
    { d: new Date(0) },
    { t: { toJSON: () => 'x' } },
    { toJSON: undefined, a: 1 },
    { toJSON: 'not a function', a: 1 },
    [undefined, () => 1, Symbol('s')],
    { u: undefined, f: () => 1 },
    { b: 1n },
    JSON.parse('{"__proto__": {"a": 1}, "b": 2}'),
    Object.assign(Object.create(null) as object, { z: 1, a: 2 }),
    [new Map([[1, 2]]), new String('boxed'), new Number(3)],
    'top-level string',
    '\uD800',
    42,
    -0,
    null,
    undefined,
  ];
  for (const c of cases) sameAsBefore(c);
  const deep: unknown[] = [];
  let at = deep;
  for (let i = 0; i < 500; i++) {
    const next: unknown[] = [];
    at.push(next);
    at = next;
  }
  sameAsBefore({ deep });
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  sameAsBefore(cyclic);
  // RFC 8785 §3.2.3's sorting example and §3.2.2.3's numbers.
  assert.equal(
    canonicalJson({
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew',
      '1': 'One',
      '\u{1F600}': 'Emoji',
      '\u0080': 'Control',
      '\u00f6': 'Latin',
    }),
    '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin","\u20ac":"Euro Sign","\u{1F600}":"Emoji","\ufb33":"Hebrew"}',
  );
  assert.equal(
    canonicalJson([333333333.3333333, 1e30, 4.5, 2e-3, 0.000000000000000000000000001, -0]),
    '[333333333.3333333,1e+30,4.5,0.002,1e-27,0]',
  );
  assert.equal(
    canonicalize({ b: [1, 'x'], a: { d: 2, c: null } }),
    canonicalJson({ b: [1, 'x'], a: { d: 2, c: null } }),
  );
});

test('canonicalJson: an inherited toJSON (a polluted Object.prototype) is honoured as before', () => {
  const proto = Object.prototype as { toJSON?: unknown };
  try {
    proto.toJSON = function (this: unknown) {
      return 'replaced';
    };
    for (const c of [{ a: 1 }, { b: { a: 1 } }, [{ a: 1 }], 'text']) sameAsBefore(c);
  } finally {
    delete proto.toJSON;
  }
  assert.equal(canonicalJson({ a: 1 }), '{"a":1}');
});
