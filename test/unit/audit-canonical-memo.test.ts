/**
 * canonical.ts orders an out-of-order object's keys from a small memo of key lists it ordered lately
 * (records of one producer repeat a few shapes), and walks objects already in order with for…in
 * (branch h-append-2, issue 20 §2). The class of faults: a memo hit that is not the same list (same
 * length, same first key, one key different; the same keys in another insertion order), a list
 * evicted and seen again, a memo entry changed by its caller; for…in listing what Object.keys does
 * not (an enumerable member of Object.prototype). Each row compares with the canonicalize library.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { canonicalJson, plainCanonical } from '../../src/audit/canonical.ts';

const same = (value: unknown): void => assert.equal(canonicalJson(value), canonicalize(value));

describe('canonical.ts: key orders from the memo', () => {
  test('one shape again and again, other values each time', () => {
    for (let i = 0; i < 50; i++) same({ z: i, b: `s${i}`, a: { y: i, x: [i, { d: 1, c: 2 }] } });
  });

  const rows: [string, unknown[]][] = [
    [
      'same length, one key different',
      [
        { c: 1, a: 2, b: 3 },
        { c: 1, a: 2, d: 3 },
        { c: 1, a: 2, b: 3 },
      ],
    ],
    [
      'same first key, the rest different',
      [
        { m: 1, z: 2, a: 3 },
        { m: 1, b: 2, a: 3 },
      ],
    ],
    [
      'the same keys in another insertion order',
      [
        { b: 1, c: 2, a: 3 },
        { c: 1, a: 2, b: 3 },
        { a: 1, c: 2, b: 3 },
      ],
    ],
    [
      'a prefix of a list seen before',
      [
        { c: 1, b: 2, a: 3 },
        { c: 1, b: 2 },
      ],
    ],
    [
      'a list seen before plus one key',
      [
        { c: 1, b: 2 },
        { c: 1, b: 2, a: 3 },
      ],
    ],
  ];
  for (const [name, values] of rows) test(name, () => values.forEach(same));

  test('more shapes than the memo holds, cycled: every text right after eviction', () => {
    const shapes = Array.from({ length: 20 }, (_, s) => (i: number) => ({ [`k${20 - s}`]: i, z: s, a: i }));
    for (let round = 0; round < 3; round++) for (const [s, make] of shapes.entries()) same(make(round * 100 + s));
  });

  test("the caller's object keeps its own order (the memo orders a copy of the key list)", () => {
    const value = { b: 1, a: 2 };
    canonicalJson(value);
    canonicalJson({ b: 3, a: 4 });
    assert.deepEqual(Object.keys(value), ['b', 'a']);
  });

  test('generated objects over a few keys (shapes repeat): the library text every time (fast-check)', () => {
    const key = fc.constantFrom('a', 'b', 'c', 'aa', 'B', 'é', 'z');
    const leaf = fc.oneof(fc.integer(), fc.string(), fc.boolean(), fc.constant(null));
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.dictionary(key, tie('node')),
        fc.array(tie('node'), { maxLength: 3 }),
      ),
    })).node;
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 20 }), (values) => values.forEach(same)),
      { numRuns: 300 },
    );
  });
});

describe('canonical.ts: the for…in walk', () => {
  test('an enumerable member of Object.prototype: the fast path gives up, the text is the library’s', () => {
    const proto = Object.prototype as { polluted?: number };
    Object.defineProperty(proto, 'polluted', { value: 1, enumerable: true, configurable: true, writable: true });
    try {
      assert.equal(plainCanonical({ a: 1, b: { c: 2 } }), undefined);
      assert.equal(canonicalJson({ a: 1, b: { c: 2 } }), '{"a":1,"b":{"c":2}}');
    } finally {
      delete proto.polluted;
    }
    assert.equal(plainCanonical({ a: 1, b: { c: 2 } }), '{"a":1,"b":{"c":2}}');
  });
});
