/**
 * canonicalJson (src/audit/canonical.ts) on the values its fast path must hand to the library or
 * treat specially, one row each, against the canonicalize library (same text or same error) — the
 * rows random generation almost never draws (found by mutation testing, docs/mutation.md):
 * integer-like keys (JavaScript enumerates them first: "10" after "9"), an own `__proto__` member,
 * non-plain objects (a Date's toJSON, a class with toJSON, a Map, a null-prototype object), more
 * than 32 members in reverse order (the sort for large objects), functions, symbols, BigInts and
 * undefined inside arrays and objects, a polluted Object.prototype.toJSON; and the caller's value
 * is never changed (no member reordered, no element replaced).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import { canonicalJson } from '../../src/audit/canonical.ts';
import { sameAsLibrary } from '../support/canonical-library.ts';

class WithToJSON {
  b = 1;
  a = 2;
  toJSON(): unknown {
    return { z: 'from toJSON', y: [1] };
  }
}
const nullProto = (): object => Object.assign(Object.create(null) as object, { b: 1, a: 2 });
const many = (n: number): Record<string, number> =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${String(n - i).padStart(3, '0')}`, i]));

const ROWS: [string, () => unknown][] = [
  ['integer-like keys "9" and "10"', () => ({ a: 1, 9: 'nine', 10: 'ten' })],
  ['only integer-like keys "9" and "10"', () => ({ 9: 'nine', 10: 'ten' })],
  ['only integer-like keys, nested in an array', () => [{ 2: 'b', 10: 'a' }]],
  ['one integer-like key among others', () => ({ b: 1, 10: 2, a: 3 })],
  ['integer-like keys nested', () => ({ x: { 2: 'b', 10: 'a' } })],
  ['a key starting with a digit, not integer-like', () => ({ b: 1, '1a': 2, '0': 3 })],
  ['keys at the digit edges ("/", ":")', () => ({ ':': 1, '/': 2, a: 3 })],
  ['an own __proto__ member', () => JSON.parse('{"__proto__":{"x":1},"a":2}') as unknown],
  ['an own __proto__ member in an object out of order', () => JSON.parse('{"b":1,"__proto__":{"x":1}}') as unknown],
  [
    'an own __proto__ member, nested and sorted after others',
    () => JSON.parse('{"a":{"_":1,"__proto__":{"z":1,"y":2}}}') as unknown,
  ],
  [
    'an own __proto__ member alone, with a child out of order',
    () => JSON.parse('{"__proto__":{"b":1,"a":2}}') as unknown,
  ],
  ['a Date', () => new Date(0)],
  ['a class instance with toJSON, alone', () => new WithToJSON()],
  ['a class instance with toJSON, in an array', () => [new WithToJSON()]],
  ['a Date member', () => ({ b: new Date(0), a: 1 })],
  ['a Date element', () => [1, new Date(0)]],
  ['a class instance with toJSON', () => ({ v: new WithToJSON() })],
  ['a Map', () => ({ m: new Map([['a', 1]]) })],
  ['a null-prototype object', () => ({ n: nullProto() })],
  ['an own toJSON member that is not a function', () => ({ toJSON: 1, a: 2 })],
  ['33 members in reverse order', () => many(33)],
  ['40 members in reverse order, nested in an array', () => [many(40)]],
  ['32 members in reverse order', () => many(32)],
  ['a function element', () => [1, () => 1]],
  ['a function member', () => ({ b: () => 1, a: 1 })],
  ['a symbol element', () => [Symbol('s')]],
  ['a symbol member', () => ({ b: Symbol('s'), a: 1 })],
  ['a BigInt element', () => [1n]],
  ['a BigInt member', () => ({ a: 1n })],
  ['an undefined element', () => [undefined, 1]],
  ['undefined members, first, middle and last', () => ({ a: undefined, b: 1, c: undefined, d: 2, e: undefined })],
  ['undefined members in a sorted object with a changed child', () => ({ a: { d: 1, c: 2 }, b: undefined })],
  ['a changed child after members in order', () => ({ a: 1, b: 'x', c: { z: 1, y: 2 } })],
  ['a changed element after unchanged ones', () => ['a', 1, null, true, { z: 1, y: 2 }]],
  ['a string element after a changed one', () => [{ z: 1, y: 2 }, 'a', 'b']],
  ['NaN and Infinity', () => ({ a: [NaN], b: Infinity })],
  ['-0', () => ({ a: -0, b: [-0] })],
  ['a lone surrogate in a key', () => ({ '\ud800': 1 })],
  ['an escaped-looking string', () => ({ a: '\\ud800' })],
  ['nesting at 100 and 101 levels', () => [nest(100), nest(101)]],
];

function nest(depth: number): unknown {
  let v: unknown = { z: 1, a: 2 };
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v };
  return v;
}

describe('canonicalJson: the cases its fast path must get right, against the library', () => {
  for (const [name, make] of ROWS) test(name, () => sameAsLibrary(make(), name));

  test('with Object.prototype.toJSON defined (a polluted prototype)', () => {
    const proto = Object.prototype as { toJSON?: unknown };
    proto.toJSON = function (this: unknown): unknown {
      return Array.isArray(this) ? this : 'polluted';
    };
    try {
      for (const [name, make] of ROWS.slice(0, 6)) sameAsLibrary(make(), name);
      sameAsLibrary({ b: 1, a: { d: 2, c: 3 } }, 'plain');
    } finally {
      delete proto.toJSON;
    }
  });
});

describe("canonicalJson never changes the caller's value", () => {
  test('members keep their order and objects their identity, at every depth', () => {
    const inner = { b: 1, a: 2 };
    const list = [inner, 's', { d: [inner], c: 1 }];
    const value = { z: list, y: inner, x: undefined };
    const before = JSON.stringify(value);
    const text = canonicalJson(value);
    assert.equal(text, canonicalize(value));
    assert.equal(JSON.stringify(value), before);
    assert.equal(value.z, list);
    assert.equal(list[0], inner);
    assert.deepEqual(Object.keys(inner), ['b', 'a']);
    assert.deepEqual(Object.keys(value), ['z', 'y', 'x']);
  });
});
