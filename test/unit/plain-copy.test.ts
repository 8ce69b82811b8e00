/**
 * plainCopy stands in for structuredClone on the decision path (mutate's pod, the verified
 * cache's workflow). The class of fault: a copy that differs from structuredClone's, or shares a
 * mutable part with its source (a later mutation of one shows in the other: a hardened pod
 * leaking back into the built one, a cached workflow changed by a pass). Variants: every JSON
 * value (fast-check, with "__proto__" keys, undefined members, holes), non-plain values inside
 * (Date, Map, typed arrays, class instances: copied as structuredClone copies them), cycles and
 * deep nesting (structuredClone's answer), and values structuredClone refuses (the same error).
 * frozenCopy (the cache's copy, issue 20) is plainCopy deeply frozen in one walk: the same value on
 * every variant, every object and array reachable from it frozen, the source left unfrozen.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { deepFreeze, frozenCopy, MAX_DEPTH, plainCopy } from '../../src/validate/plain-copy.ts';

/** Every object and array reachable from `v`. */
function containers(v: unknown, out: Set<object> = new Set()): Set<object> {
  if (typeof v !== 'object' || v === null || out.has(v)) return out;
  out.add(v);
  for (const x of Object.values(v)) containers(x, out);
  return out;
}

const json = fc
  .jsonValue()
  .chain((j) =>
    fc.constantFrom(
      j,
      { __proto__: null, j },
      JSON.parse(`{"__proto__": ${JSON.stringify(j)}, "k": [1, null, "x"]}`) as unknown,
      { a: undefined, b: [j, undefined], c: { d: j } },
    ),
  );

test('plainCopy: equal to structuredClone on JSON values, sharing no object or array', () => {
  fc.assert(
    fc.property(json, (v) => {
      const copy = plainCopy(v);
      assert.deepStrictEqual(copy, structuredClone(v));
      const mine = containers(copy);
      for (const o of containers(v)) assert.equal(mine.has(o), false);
    }),
    { numRuns: 1000 },
  );
});

test('plainCopy: a "__proto__" key stays an own key, the prototype untouched', () => {
  const v = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  const copy = plainCopy(v);
  assert.equal(Object.getPrototypeOf(copy), Object.prototype);
  assert.deepEqual(Object.keys(copy), ['__proto__']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('plainCopy: holes and undefined members kept as structuredClone keeps them', () => {
  // eslint-disable-next-line no-sparse-arrays
  const v = { a: [1, , 3], b: undefined };
  const copy = plainCopy(v);
  assert.deepStrictEqual(copy, structuredClone(v));
  assert.equal(1 in copy.a, false);
  assert.equal(Object.hasOwn(copy, 'b'), true);
});

test('plainCopy: non-plain values inside are copied as structuredClone copies them', () => {
  class Thing {
    x = 1;
  }
  const v = { d: new Date(5), m: new Map([[1, { y: 2 }]]), t: new Uint8Array([1, 2]), c: new Thing(), r: /a/g };
  const copy = plainCopy(v);
  assert.deepStrictEqual(copy, structuredClone(v));
  assert.notEqual(copy.d, v.d);
  assert.notEqual(copy.m, v.m);
  assert.equal(Object.getPrototypeOf(copy.c), Object.prototype);
});

test('plainCopy: cycles and nesting deeper than MAX_DEPTH give structuredClone answer', () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const copy = plainCopy(cyclic);
  assert.equal(copy.self, copy);
  assert.notEqual(copy, cyclic);
  let deep: unknown = 'leaf';
  for (let i = 0; i < MAX_DEPTH * 2; i++) deep = [deep];
  assert.deepStrictEqual(plainCopy(deep), structuredClone(deep));
});

test('plainCopy: what structuredClone refuses, refused the same way', () => {
  for (const bad of [{ f: () => 1 }, [Symbol('s')], { w: new WeakMap() }])
    assert.throws(
      () => plainCopy(bad),
      (e: unknown) => e instanceof DOMException && e.name === 'DataCloneError',
    );
});

/** Every object reachable from `v` is frozen (own enumerable members, as deepFreeze walks). */
function allFrozen(v: unknown): boolean {
  return [...containers(v)].every((o) => Object.isFrozen(o));
}

test('frozenCopy: plainCopy deeply frozen, the source untouched, on every variant above', () => {
  fc.assert(
    fc.property(json, (v) => {
      const copy = frozenCopy(v);
      assert.deepStrictEqual(copy, plainCopy(v));
      assert.equal(allFrozen(copy), true);
      for (const o of containers(v)) assert.equal(Object.isFrozen(o), false);
      const mine = containers(copy);
      for (const o of containers(v)) assert.equal(mine.has(o), false);
    }),
    { numRuns: 1000 },
  );
  class Thing {
    x = 1;
  }
  // eslint-disable-next-line no-sparse-arrays
  const odd = { d: new Date(5), m: new Map([[1, { y: 2 }]]), c: new Thing(), h: [1, , { z: 3 }], u: undefined };
  assert.deepStrictEqual(frozenCopy(odd), plainCopy(odd));
  assert.equal(allFrozen(frozenCopy(odd)), true);
  const proto = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  assert.deepEqual(Object.keys(frozenCopy(proto)), ['__proto__']);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const cyclic: Record<string, unknown> = { a: { b: 1 } };
  cyclic.self = cyclic;
  const c = frozenCopy(cyclic);
  assert.equal(c.self, c);
  assert.equal(allFrozen(c), true);
  let deep: unknown = { leaf: [1] };
  for (let i = 0; i < MAX_DEPTH * 2; i++) deep = [deep];
  assert.deepStrictEqual(frozenCopy(deep), structuredClone(deep));
  assert.equal(allFrozen(frozenCopy(deep)), true);
  assert.throws(
    () => frozenCopy({ f: () => 1 }),
    (e: unknown) => e instanceof DOMException && e.name === 'DataCloneError',
  );
});

test('deepFreeze: every reachable object frozen, cycles end, a frozen object is not walked', () => {
  const v: Record<string, unknown> = { a: [{ b: 1 }, 'x'], c: { d: { e: null } } };
  v.self = v;
  assert.equal(deepFreeze(v), v);
  assert.equal(allFrozen(v), true);
  const inner = { open: { x: 1 } };
  const outer = Object.freeze({ inner });
  deepFreeze(outer);
  assert.equal(Object.isFrozen(inner), false);
  assert.equal(deepFreeze('s'), 's');
});
