import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { segmentName } from '../../src/adapters/audit-files.ts';
import { GENESIS } from '../../src/audit/chain.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

/**
 * The log format is a contract (DESIGN §5, RFC 8785): record n's line is the canonical JSON of
 * `{...entry, seq: n, prev}` with `"hash":"<sha256 of that text>"` appended as its last member, and
 * the next record's prev is that hash. Whatever the appender does to save CPU (the order it builds
 * records in, how it batches and pipelines them), the file's bytes must be exactly those lines.
 *
 * The oracle here is independent of src/audit/canonical.ts: the `canonicalize` library itself and
 * node:crypto. The class of inputs (what a producer may hand the appender):
 *   - members in any order, at any depth, or already in code-unit order (the producers' order);
 *   - `seq`, `prev` or `hash` members in the entry itself (the appender's own win: seq/prev
 *     replaced; an entry with a hash of its own is refused with AUDIT_RECORD_INVALID, no seq: its
 *     line would hold two hash members, which `audit verify` never accepts; red team 11);
 *   - undefined members (left out), arrays, nested objects, non-ASCII and escaped text,
 *     numbers of every spelling (-0, exponents, fractions);
 *   - keys that are integer-like or `__proto__` (JSON.parse makes it an own member), which plain
 *     object code handles differently;
 *   - an entry with no canonical form (a lone surrogate): refused with AUDIT_RECORD_INVALID, no seq.
 * Appends are issued all at once (several group commits, split or pipelined) or one at a time.
 */

const dirs = tempDirs('kubiya-append-bytes-');
const sha = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** What the file must hold for these entries, chained from the genesis (invalid ones skipped). */
function expectedLines(entries: readonly AuditEntry[]): { text: string; valid: boolean[] } {
  let prev = GENESIS;
  let seq = 0;
  let text = '';
  const valid: boolean[] = [];
  for (const entry of entries) {
    let canonical: string | undefined;
    try {
      canonical = Object.hasOwn(entry, 'hash') ? undefined : canonicalize({ ...entry, seq: seq + 1, prev });
    } catch {
      canonical = undefined;
    }
    valid.push(canonical !== undefined);
    if (canonical === undefined) continue;
    seq++;
    prev = sha(canonical);
    text += `${canonical.slice(0, -1)},"hash":"${prev}"}\n`;
  }
  return { text, valid };
}

const key = fc.oneof(
  fc.constantFrom('a', 'b', 'z', 'A', 'seq', 'prev', 'hash', 'input', 'runner', 'é', '\u{1F600}', 'a/b~c', ''),
  fc.string({ maxLength: 6 }),
);
const leaf = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.constantFrom('"quoted"', 'back\\slash', 'line\nbreak', '\u0000\u001f\u007f', '\u2028'),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(0, -0, 1e21, 1e-7, 5e-324),
  fc.boolean(),
  fc.constant(null),
);
const { tree } = fc.letrec((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small' },
    leaf,
    fc.array(tie('tree'), { maxLength: 4 }),
    fc.dictionary(key, fc.oneof(tie('tree'), fc.constant(undefined)), { maxKeys: 5 }),
  ),
}));

/** An entry: the usual fields, then arbitrary members (any order, possibly replacing them). */
const entry = fc
  .tuple(fc.nat(1000), fc.dictionary(key, fc.oneof(tree, fc.constant(undefined)), { maxKeys: 6 }), fc.boolean())
  .map(([i, extra, sortedFirst]) => {
    const e = { ...auditEntry(i), ...extra } as Record<string, unknown>;
    if (!sortedFirst) return e as unknown as AuditEntry;
    // The producers' order: every object built with its members in code-unit order.
    const sort = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(sort)
        : typeof v === 'object' && v !== null
          ? Object.fromEntries(
              Object.keys(v)
                .sort()
                .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
            )
          : v;
    return sort(e) as AuditEntry;
  });

async function appendAll(entries: readonly AuditEntry[], together: boolean): Promise<{ text: string; ok: boolean[] }> {
  const dir = await dirs();
  const log = await FileAuditLog.open(dir);
  const ok: boolean[] = [];
  try {
    if (together) {
      const settled = await Promise.allSettled(entries.map((e) => log.append(e)));
      for (const s of settled) {
        if (s.status === 'rejected') assert.equal((s.reason as { code?: string }).code, 'AUDIT_RECORD_INVALID');
        ok.push(s.status === 'fulfilled');
      }
    } else {
      for (const e of entries)
        ok.push(
          await log.append(e).then(
            () => true,
            (error: { code?: string }) => {
              assert.equal(error.code, 'AUDIT_RECORD_INVALID');
              return false;
            },
          ),
        );
    }
  } finally {
    await log.close();
  }
  return { text: await readFile(join(dir, segmentName(1)), 'utf8').catch(() => ''), ok };
}

describe('audit append: the bytes written are the contract (canonical JSON, hash chain)', () => {
  test('any entries, appended together or one by one: the file is exactly the chained canonical lines', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 40 }), fc.boolean(), async (entries, together) => {
        const want = expectedLines(entries);
        const got = await appendAll(entries, together);
        assert.deepEqual(got.ok, want.valid);
        assert.equal(got.text, want.text);
      }),
      { numRuns: 60 },
    );
  });

  // The reported shapes, kept as examples: records whose members are in the producers' order, an
  // entry that carries seq/prev (or a hash: refused), a JSON.parse'd `__proto__` member, integer-like keys, a lone surrogate.
  const examples: readonly [string, AuditEntry][] = [
    ['members in code-unit order', { ...auditEntry(1), bundles: { k: { revision: 'r' } } }],
    ['members in reverse order', Object.fromEntries(Object.entries(auditEntry(2)).reverse()) as unknown as AuditEntry],
    ['seq and prev in the entry', { ...auditEntry(3), seq: 99, prev: 'x' } as AuditEntry],
    ['a hash in the entry (refused)', { ...auditEntry(3), seq: 99, prev: 'x', hash: 'y' } as AuditEntry],
    ['an own __proto__ member', { ...auditEntry(4), input: JSON.parse('{"__proto__":{"a":1},"b":2}') as unknown }],
    ['integer-like keys', { ...auditEntry(5), input: { 10: 'a', 9: 'b', a: 'c' } }],
    ['undefined members', { ...auditEntry(6), step: undefined, input: { a: undefined, b: [1] } }],
    ['a lone surrogate (refused)', { ...auditEntry(7), message: 'x\ud800y' }],
  ];
  for (const [name, e] of examples)
    test(`${name}: the same bytes as the contract`, async () => {
      const entries = [auditEntry(0), e, auditEntry(8)];
      const want = expectedLines(entries);
      for (const together of [true, false]) {
        const got = await appendAll(entries, together);
        assert.deepEqual(got.ok, want.valid);
        assert.equal(got.text, want.text);
      }
    });
});
