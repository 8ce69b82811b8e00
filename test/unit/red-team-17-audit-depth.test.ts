// Red team 17, finding 9. The class: a reader that recurses where the writer and the verifier do not.
// JSON.parse is iterative, so a record nested 5,000 deep (10 KB) verified; JSON.stringify is
// recursive, so `audit query --output json|ndjson` then failed with `INTERNAL: Maximum call stack
// size exceeded` and, the record dated 1970, exported nothing. Now a record is at most
// MAX_RECORD_DEPTH (256) deep: the appender refuses a deeper one (AUDIT_RECORD_INVALID) and the
// verifier names a deeper line as tampering (AUDIT_TAMPERED at its seq), so readers never hold one.
// Variants: arrays or objects, in `input` or `result`, at the bound and past it, up to 200,000 deep;
// the reported example (5,000 arrays in input, dated 1970) is a row.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir, readAuditLog, segmentName } from '../../src/adapters/audit-files.ts';
import { AuditRecordInvalid, chainLine } from '../../src/audit/chain.ts';
import { MAX_RECORD_DEPTH } from '../../src/audit/limits.ts';
import { nestsDeeperThan } from '../../src/audit/nesting.ts';
import { main } from '../../src/cli/main.ts';
import { auditEntry } from '../support/audit-entries.ts';

let root = '';
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-rt17-depth-'));
});
after(async () => rm(root, { recursive: true, force: true }));

type Kind = 'array' | 'object';
/** The JSON text of `levels` containers of `kind` around "x" (built as text: JSON.stringify cannot). */
const deepText = (levels: number, kind: Kind): string =>
  kind === 'array'
    ? `${'['.repeat(levels)}"x"${']'.repeat(levels)}`
    : `${'{"a":'.repeat(levels)}"x"${'}'.repeat(levels)}`;
const deepValue = (levels: number, kind: Kind): unknown => {
  let v: unknown = 'x';
  for (let i = 0; i < levels; i++) v = kind === 'array' ? [v] : { a: v };
  return v;
};

/**
 * A line the appender's encoding would give for entry `i` with `member` set to the deep value, with
 * a correct seq, prev and hash: made as text, as someone with the volume would (chainLine refuses it).
 */
function plantedLine(seq: number, prev: string, member: 'input' | 'result', deep: string, timestamp: string): string {
  const { line } = chainLine(auditEntry(seq, { [member]: { deep: 'PLACEHOLDER' }, timestamp }), seq, prev);
  const canonical = `${line.slice(0, line.lastIndexOf(',"hash":"'))}}`.replace('"PLACEHOLDER"', deep);
  const hash = createHash('sha256').update(canonical).digest('hex');
  return `${canonical.slice(0, -1)},"hash":"${hash}"}`;
}

async function query(dir: string, output: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(
    ['audit', 'query', dir, '--output', output],
    { out: (l) => out.push(l), err: (l) => err.push(l), color: false },
    {},
  );
  return { code, out, err };
}

// depth counts the record's own object as 1 and {deep: …} as 2: the deep value adds `levels`.
const rows: [levels: number, kind: Kind, member: 'input' | 'result'][] = [
  [5000, 'array', 'input'], // reported
  [MAX_RECORD_DEPTH - 2, 'array', 'input'],
  [MAX_RECORD_DEPTH - 2, 'object', 'result'],
  [MAX_RECORD_DEPTH - 1, 'array', 'input'],
  [MAX_RECORD_DEPTH - 1, 'object', 'result'],
  [1000, 'object', 'input'],
  [200_000, 'array', 'result'],
];

describe('a record nested deeper than the bound is never written and never read as a record', () => {
  for (const [levels, kind, member] of rows) {
    const depth = levels + 2;
    const within = depth <= MAX_RECORD_DEPTH;
    test(`${levels} ${kind}s in ${member} (depth ${depth}): appender ${within ? 'writes it' : 'refuses it'}`, async () => {
      const dir = join(root, `a${++n}`);
      const log = await FileAuditLog.open(dir);
      await log.append(auditEntry(1));
      const appended = log.append(auditEntry(2, { [member]: { deep: deepValue(levels, kind) } }));
      if (within) assert.equal((await appended).seq, 2);
      else
        await assert.rejects(appended, (e: unknown) => {
          assert.ok(e instanceof AuditRecordInvalid);
          assert.equal(e.code, 'AUDIT_RECORD_INVALID');
          assert.match(e.message, new RegExp(`nested more than ${MAX_RECORD_DEPTH} deep`));
          return true;
        });
      await log.append(auditEntry(3));
      await log.close();
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, true);
      assert.equal(report.lastSeq, within ? 3 : 2);
    });

    test(`${levels} ${kind}s in ${member} planted with a correct seq, prev and hash: ${within ? 'verifies and exports' : 'AUDIT_TAMPERED at its seq, every output exits 1, never INTERNAL'}`, async () => {
      const dir = join(root, `p${++n}`);
      const log = await FileAuditLog.open(dir);
      for (let i = 1; i <= 3; i++) await log.append(auditEntry(i));
      await log.close();
      const last = (await readAuditLog(dir)).at(-1);
      const line = plantedLine(4, last?.hash ?? '', member, deepText(levels, kind), '1970-01-01T00:00:00.000Z');
      await appendFile(join(dir, segmentName(1)), `${line}\n`);
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, within, JSON.stringify(report.firstBad));
      if (!within) {
        assert.equal(report.firstBad?.seq, 4);
        assert.match(report.firstBad?.reason ?? '', /nested more than 256 deep/);
      }
      for (const output of ['json', 'ndjson', 'csv', 'table']) {
        const r = await query(dir, output);
        assert.doesNotMatch(r.err.join('\n'), /INTERNAL|call stack/, output);
        assert.equal(r.code, within ? 0 : 1, `${output}: ${r.err.join('\n')}`);
        if (output === 'json') assert.equal(r.out.length, within ? 4 : 3, 'the records before it are exported');
        if (!within) assert.match(r.err.join('\n'), /AUDIT_TAMPERED: .* BROKEN at seq 4/);
      }
    });
  }
});

describe('nestsDeeperThan counts containers, not brackets in strings', () => {
  const cases: [text: string, max: number, deeper: boolean][] = [
    ['{}', 1, false],
    ['{"a":[]}', 1, true],
    ['{"a":"[[[[{{{{"}', 1, false],
    ['{"a":"\\"[[[["}', 1, false],
    ['{"a":"\\\\","b":[[]]}', 2, true],
    [deepText(300, 'array'), 300, false],
    [deepText(301, 'object'), 300, true],
  ];
  for (const [text, max, deeper] of cases)
    test(`${text.slice(0, 30)} > ${max}: ${deeper}`, () => assert.equal(nestsDeeperThan(text, max), deeper));
  test('agrees with a walk of the parsed value on random JSON (500 texts)', () => {
    const depthOf = (v: unknown): number =>
      typeof v === 'object' && v !== null ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
    let seed = 17;
    const rnd = (k: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % k;
    const gen = (d: number): unknown => {
      const r = rnd(d > 6 ? 3 : 6);
      if (r === 0) return ['[', '{', '"', '\\', ']'][rnd(5)]!.repeat(rnd(3));
      if (r === 1) return rnd(100);
      if (r === 2) return null;
      if (r === 3) return Array.from({ length: rnd(3) }, () => gen(d + 1));
      return Object.fromEntries(Array.from({ length: rnd(3) }, (_, i) => [`k${i}"[`, gen(d + 1)]));
    };
    for (let i = 0; i < 500; i++) {
      const v = gen(0);
      const text = JSON.stringify(v);
      const d = depthOf(v);
      assert.equal(nestsDeeperThan(text, d), false, text);
      if (d > 0) assert.equal(nestsDeeperThan(text, d - 1), true, text);
    }
  });
});
