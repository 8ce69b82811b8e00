/**
 * record-canonical.ts: the appender's fast path for a record's canonical text (plainRecord, one
 * object literal in canonical order), as audit-fast-paths.test.ts tests the others. The class of
 * fault: a fast path that
 *  - gives up on the records the appender writes (every append would pay for the slow path, which
 *    no verdict-level test sees), or
 *  - takes a record it must give up on, or writes a text other than the library's (RFC 8785,
 *    `canonicalize`): a record hashed over another text than `audit verify` recomputes.
 * Rows: the ordinary records TAKEN with the library's text (members missing or undefined, nested
 * objects out of order, every JSON type); each reason to give up GIVEN UP (a member that is not
 * AuditRecord's, a non-plain record, an EXOTIC member at the top or nested, a lone surrogate, a
 * polluted Object.prototype), with recordCanonical still giving canonicalJson's result. Generated:
 * records of any subset of the members with any JSON values: taken, the library's text.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { canonicalJson } from '../../src/audit/canonical.ts';
import { plainRecord, recordCanonical } from '../../src/audit/record-canonical.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { auditEntry, variedAuditEntry } from '../support/audit-entries.ts';

const P = 'a'.repeat(64);
const rec = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...auditEntry(1),
  seq: 1,
  prev: P,
  ...over,
});
const library = (v: unknown): string | undefined => canonicalize(v);

/**
 * A record with every member an AuditRecord has but `hash`, each out of order inside where it can
 * be. Typed Required<AuditEntry>: a field added to AuditEntry does not compile until it is here,
 * and then the rows below check that plainRecord takes it.
 */
const FULL: Required<AuditEntry> & { readonly seq: number; readonly prev: string } = {
  ...auditEntry(1),
  outcome: 'deny',
  code: 'POLICY_DENIED',
  labels: { z: '1', a: '2' },
  workflow: { runId: 'r', id: 'w', jti: 'j' },
  step: 's',
  path: 'kubiya/main/decision',
  input: { z: 1, a: [{ y: 2, b: null }] },
  result: { violations: [], allow: false },
  bundles: { kubiya: { revision: 'x' } },
  patch: [{ op: 'add', path: '/a', value: 1 }],
  pod: { phase: 'Running', name: 'p', namespace: 'n', exitCode: 0, reason: 'r' },
  erased: ['/b'],
  masked: ['/a'],
  metrics: { z: 1, a: 2.5 },
  seq: 1,
  prev: P,
};
const MEMBERS = Object.keys(FULL);

describe('plainRecord: the records the appender writes are taken, with the library text', () => {
  const TAKEN: [string, Record<string, unknown>][] = [
    ['a minimal record', rec()],
    [
      'a varied record (escapes, non-ASCII, nested input, a deny with a code)',
      { ...variedAuditEntry(15), seq: 15, prev: P },
    ],
    ['members in another order', Object.fromEntries(Object.entries(rec()).reverse())],
    ['undefined members', rec({ code: undefined, step: undefined, input: { a: undefined, b: 1 } })],
    [
      'nested objects out of order',
      rec({
        input: { z: 1, a: { y: [{ b: 1, a: 2 }], x: null } },
        pod: { phase: 'Running', name: 'p', namespace: 'n' },
      }),
    ],
    ['every member, typed (FULL)', { ...FULL }],
    ['every member, in reverse order', Object.fromEntries(Object.entries(FULL).reverse())],
    [
      'every member, each an object',
      Object.fromEntries(MEMBERS.map((k, i) => [k, k === 'seq' ? 3 : { [`k${i}`]: [i, `v${i}`, true, null] }])),
    ],
    [
      'every JSON type at the top',
      rec({ input: 'é\u{1F600}\u2028"\\', result: 1e21, metrics: -0, patch: false, erased: null }),
    ],
  ];
  for (const [name, r] of TAKEN)
    test(`taken: ${name}`, () => {
      const text = plainRecord(r);
      assert.notEqual(text, undefined, 'given up');
      assert.equal(text, library(r));
      assert.equal(recordCanonical(r), text);
    });
});

describe('plainRecord: each reason to give up', () => {
  const nullProto = Object.assign(Object.create(null) as object, rec());
  class Entry {
    seq = 1;
  }
  const GIVEN_UP: [string, object][] = [
    ['a hash member', rec({ hash: P })],
    ['a member that is not an AuditRecord member', rec({ extra: 1 })],
    ['a key that starts with a digit', rec({ '0': 1 })],
    ['a __proto__ member', JSON.parse(`{"__proto__":1,"seq":1,"prev":"${P}"}`) as object],
    ['a record without a prototype', nullProto],
    ['a class instance', new Entry()],
    ['NaN at the top', rec({ metrics: Number.NaN })],
    ['Infinity nested', rec({ input: { a: [Infinity] } })],
    ['a function member', rec({ result: () => 1 })],
    ['a lone surrogate', rec({ message: 'a\uD800b' })],
    ['a nested key that starts with a digit', rec({ input: { '1a': 1 } })],
  ];
  for (const [name, r] of GIVEN_UP)
    test(`given up: ${name}; recordCanonical gives canonicalJson's result`, () => {
      assert.equal(plainRecord(r), undefined);
      let expected: string | undefined;
      let error: unknown;
      try {
        expected = canonicalJson(r);
      } catch (e) {
        error = e;
      }
      if (error === undefined) assert.equal(recordCanonical(r), expected);
      else assert.throws(() => recordCanonical(r));
    });

  test('given up: Object.prototype polluted (a toJSON, an enumerable member)', () => {
    const r = rec({ input: { a: 1 } });
    for (const [key, value] of [
      ['toJSON', () => 'x'],
      ['polluted', 1],
    ] as const) {
      Object.defineProperty(Object.prototype, key, { value, enumerable: key === 'polluted', configurable: true });
      try {
        assert.equal(plainRecord(r), undefined, key);
        assert.equal(recordCanonical(r), canonicalJson(r), key);
      } finally {
        delete (Object.prototype as Record<string, unknown>)[key];
      }
    }
    assert.notEqual(plainRecord(r), undefined, 'taken again once clean');
  });
});

test('a getter that builds another record meanwhile (one given up) does not change the verdict on this one', () => {
  const inner = rec({ metrics: Number.NaN });
  let innerText: string | undefined = 'not called';
  const input = {};
  Object.defineProperty(input, 'a', {
    enumerable: true,
    get: () => {
      innerText = plainRecord(inner);
      return 1;
    },
  });
  const outer = rec({ input, result: { b: 2 } });
  assert.equal(plainRecord(outer), library({ ...outer, input: { a: 1 } }));
  assert.equal(innerText, undefined, 'the inner record was given up');
  const exoticAfter = rec({ input, result: Number.NaN });
  assert.equal(plainRecord(exoticAfter), undefined, 'an EXOTIC member after the getter still gives up');
});

/** A key anywhere in `v` that plainCanonical gives up on: one that starts with a digit, or `__proto__`. */
const oddKey = (v: unknown): boolean =>
  Array.isArray(v)
    ? v.some(oddKey)
    : typeof v === 'object' && v !== null
      ? Object.entries(v).some(([k, x]) => /^[0-9]/.test(k) || k === '__proto__' || oddKey(x))
      : false;

test('generated: any subset of the members with any JSON values: the library text, and taken unless a nested key is digit-led', () => {
  // Through JSON, as records reach the appender: plain objects (fast-check may make null-prototype ones).
  const record = fc
    .dictionary(fc.constantFrom(...MEMBERS), fc.jsonValue(), { maxKeys: MEMBERS.length })
    .map((r) => JSON.parse(JSON.stringify(r)) as Record<string, unknown>);
  let taken = 0;
  fc.assert(
    fc.property(record, (r) => {
      const text = plainRecord(r);
      const exact = library(r);
      if (text !== undefined) taken++;
      else assert.ok(oddKey(r), `given up: ${JSON.stringify(r)}`);
      assert.equal(text ?? exact, exact);
      assert.equal(recordCanonical(r), exact);
    }),
    { numRuns: 2000, seed: 15 },
  );
  assert.ok(taken >= 500, `${taken} of 2000 taken (781 with this seed)`);
});
