/**
 * Red team 7 (issue 20, h-append-2): canonicalJson's fast path walks objects with for…in instead
 * of Object.keys. Class: an object for which the walk's text differs from RFC 8785 (the
 * `canonicalize` library, which reads Object.keys): inherited enumerable keys (Object.prototype
 * polluted before the call, or by a getter DURING the walk), integer-like keys whose enumeration
 * order is not insertion order, `__proto__` own keys, symbol keys, non-enumerable own keys,
 * accessors, objects in dictionary mode (many keys, deleted keys), null-prototype objects,
 * class instances, proxies, members out of order at any position, undefined members first/last.
 * Every row: canonicalJson(value) === canonicalize(value) (or both throw).
 *
 * `RT7_SRC` picks the checkout under test: `RT7_SRC=/work/wt/append/src node --test test/unit/red-team-7-canonical-walk.test.ts`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import type * as Canonical from '../../src/audit/canonical.ts';

const SRC = process.env.RT7_SRC ?? new URL('../../src', import.meta.url).pathname;
const { canonicalJson } = (await import(`${SRC}/audit/canonical.ts`)) as typeof Canonical;

/** Both texts, or the error each threw. */
function both(make: () => unknown): { ours: string; lib: string } {
  const run = (f: (v: unknown) => string | undefined): string => {
    try {
      return String(f(make()));
    } catch (e) {
      return `threw ${(e as Error).name}`;
    }
  };
  return { ours: run(canonicalJson), lib: run((v) => canonicalize(v)) };
}

const many = (): Record<string, unknown> => {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < 40; i++) o[`k${String(39 - i).padStart(2, '0')}`] = i;
  return o;
};

const ROWS: [string, () => unknown][] = [
  ['members out of order after an in-order prefix', () => ({ a: 1, c: { y: 1, x: 2 }, b: 2 })],
  ['an undefined member first', () => ({ a: undefined, b: 1, c: 2 })],
  ['an undefined member last, out of order before it', () => ({ b: 1, a: 2, z: undefined })],
  ['an integer-like key inserted last', () => ({ b: 1, a: 2, 10: 3, 2: 4 })],
  ['a digit-led non-integer key', () => ({ b: 1, '1a': 2, a: 3 })],
  ['an own __proto__ key (JSON.parse)', () => JSON.parse('{"b":1,"__proto__":{"x":1},"a":2}') as unknown],
  ['a symbol key', () => ({ b: 1, [Symbol('s')]: 2, a: 3 })],
  ['a non-enumerable own key', () => Object.defineProperty({ b: 1, a: 2 }, 'c', { value: 3, enumerable: false })],
  ['an enumerable own getter', () => Object.defineProperty({ a: 1 }, 'b', { get: () => 2, enumerable: true })],
  ['40 keys in reverse (dictionary-ish, > insertion sort bound)', many],
  [
    'deleted keys (dictionary mode)',
    () => {
      const o: Record<string, unknown> = { c: 1, b: 2, a: 3, d: 4 };
      delete o.b;
      delete o.d;
      return o;
    },
  ],
  ['a null-prototype object', () => Object.assign(Object.create(null) as object, { b: 1, a: 2 })],
  [
    'a class instance',
    () =>
      new (class K {
        b = 1;
        a = 2;
      })(),
  ],
  ['a proxy claiming Object.prototype', () => new Proxy({ b: 1, a: 2 }, {})],
  ['nested arrays of out-of-order objects', () => [[{ b: 1, a: 2 }], { d: [{ z: 0, y: undefined }] }]],
  ['a toJSON data member (not a function)', () => ({ toJSON: 1, a: 2 })],
  ['non-ASCII keys whose UTF-8 and UTF-16 orders differ', () => ({ '\u{1F600}': 1, '\uff61': 2, a: 3 })],
];

describe('red team 7: canonicalJson for…in walk vs the canonicalize library', () => {
  for (const [name, make] of ROWS)
    test(name, () => {
      const { ours, lib } = both(make);
      assert.equal(ours, lib);
    });

  test('Object.prototype polluted (enumerable) before the call: the library text', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 1;
    try {
      const { ours, lib } = both(() => ({ b: undefined, a: 1 }));
      assert.equal(ours, lib);
    } finally {
      delete proto.polluted;
    }
  });

  test('Object.prototype polluted by a getter DURING the walk: never an inherited member in the text', () => {
    const proto = Object.prototype as Record<string, unknown>;
    const make = (): unknown => ({
      a: { x: 1 },
      get b() {
        proto.zz = 'inherited';
        return 1;
      },
      c: { p: 1, q: undefined },
    });
    try {
      const ours = canonicalJson(make());
      delete proto.zz;
      const lib = canonicalize(make());
      delete proto.zz;
      assert.ok(!String(ours).includes('inherited'), `the walk wrote an inherited member: ${String(ours)}`);
      assert.equal(ours, lib);
    } finally {
      delete proto.zz;
    }
  });

  test('generated plain records (fast-check): same text as the library', () => {
    const key = fc.oneof(
      fc.string({ maxLength: 4 }),
      fc.constantFrom(
        'a',
        'b',
        'A',
        '_',
        '~',
        'é',
        '\uff61',
        '😀',
        '10',
        '2',
        '01',
        '__proto__',
        'constructor',
        'toString',
      ),
    );
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.string({ maxLength: 4 }),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
        fc.constant(null),
        fc.constant(undefined),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(key, tie('value'), { maxKeys: 5 }),
      ),
    }));
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (v) => {
        const { ours, lib } = both(() => v);
        assert.equal(ours, lib);
      }),
      { numRuns: Number(process.env.RT7_RUNS ?? 3000), seed: 7 },
    );
  });
});
