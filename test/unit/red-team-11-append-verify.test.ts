/**
 * Red team 11: every line the appender writes is one `audit verify` accepts (src/audit/chain.ts
 * LineBatch.add, with line-encode.ts's walk or the string path; src/audit/line-canonical.ts
 * trustedCanonical, the verifier's test of a line), or the append is refused with
 * AUDIT_RECORD_INVALID and nothing is written. The class: a record whose written bytes the
 * verifier reads as another record (a second `hash` member, a key order or spelling it does not
 * take back). The variants: records built by code, not through JSON (members inserted in any
 * order at every depth, so the walk's re-sorting path is taken), with adversarial keys (`hash`,
 * `__proto__`, digit-led, integer-like, `toJSON` as data, empty, `/` and `~`), strings of any
 * UTF-16 code units, numbers of every spelling (-0, exponents, the safe limit), nesting around the
 * depth limit, and extra top-level members (a `hash` among them). Each line is also checked to be
 * byte for byte chainLine's (the string path).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AuditRecordInvalid, chainLine, GENESIS, LineBatch } from '../../src/audit/chain.ts';
import { trustedCanonical } from '../../src/audit/line-canonical.ts';
import { auditEntry } from '../support/audit-entries.ts';

const KEYS = ['hash', '__proto__', '0', '10', '1a', 'toJSON', '', 'a/b', 'm~0', 'z', 'a', 'é', '\u2028', 'seq', 'prev'];
const unit = fc.oneof(
  fc.constantFrom('a', '"', '\\', '\n', '\u0000', '\u007f', '\u2028', '\u2029', 'é', '\u{1F600}', '\uD800', '\uDC00'),
  fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
);
const text = fc.string({ unit, maxLength: 8 });
const key = fc.oneof(fc.constantFrom(...KEYS), text);
const num = fc.oneof(
  fc.constantFrom(-0, 0, 1e21, 1e-7, 2 ** 53, 2 ** 53 - 1, -(2 ** 53) - 2, 5e-324, Number.MAX_VALUE),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);

/** Members given in the generated order: an object literal made by code (its keys in insertion order, integer-like first). */
const built = (entries: [string, unknown][]): Record<string, unknown> => {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
};

const { value } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    num,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie('value')), { maxLength: 5 }).map(built),
  ),
}));

/** A value nested `n` deep (objects or arrays) around a leaf. */
const nested = fc.tuple(fc.integer({ min: 95, max: 104 }), fc.boolean(), value).map(([n, arrays, leaf]) => {
  let v: unknown = leaf;
  for (let i = 0; i < n; i++) v = arrays ? [v] : { k: v };
  return v;
});

const MEMBERS = ['input', 'result', 'labels', 'metrics', 'patch', 'message', 'step', 'pod', 'erased'];
const entry = fc
  .tuple(
    fc.array(fc.tuple(fc.constantFrom(...MEMBERS), fc.oneof(value, nested)), { maxLength: 4 }),
    fc.option(fc.tuple(fc.constantFrom('hash', 'extra', '__proto__', '9'), value), { nil: undefined }),
  )
  .map(([members, extra]) => ({ ...auditEntry(1), ...built(extra === undefined ? members : [...members, extra]) }));

test('appended => verifiable: each line LineBatch writes is accepted by the verifier and is chainLine’s, or the append is refused', () => {
  let written = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 4 }), (entries) => {
      const batch = new LineBatch();
      let prev = GENESIS;
      const expected: string[] = [];
      entries.forEach((e, i) => {
        let line: string | undefined;
        try {
          line = chainLine(e, i + 1, prev).line;
        } catch (err) {
          assert.ok(err instanceof AuditRecordInvalid);
        }
        const before = batch.bytes().length;
        let hash: string;
        try {
          hash = batch.add(e, i + 1, prev).hash;
        } catch (err) {
          assert.ok(err instanceof AuditRecordInvalid, String(err));
          assert.equal(line, undefined, 'refused by the batch, taken by chainLine');
          assert.equal(batch.bytes().length, before, 'nothing written');
          refused++;
          return;
        }
        assert.ok(line !== undefined, 'taken by the batch, refused by chainLine');
        const written_ = batch.bytes().subarray(before).toString('utf8');
        assert.equal(written_, `${line}\n`);
        const parsed = JSON.parse(line) as Record<string, unknown>;
        assert.equal(parsed.hash, hash);
        assert.notEqual(trustedCanonical(line, parsed, hash), undefined, `verify refuses: ${line.slice(0, 300)}`);
        expected.push(`${line}\n`);
        prev = hash;
        written++;
      });
      assert.equal(batch.bytes().toString('utf8'), expected.join(''));
    }),
    { numRuns: 400, seed: 11 },
  );
  assert.ok(written >= 200 && refused >= 20, `${written} written, ${refused} refused`);
  console.log(`# ${written} written, ${refused} refused`);
});
