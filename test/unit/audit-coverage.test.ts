/**
 * `audit verify` says which records no checkpoint vouches for (docs/reviews/2026-11-29-red-team.md #13). A record appended
 * after the last checkpoint with a correct seq, prev and hash verifies ("chain intact"): that is
 * inherent, so the output must name the uncovered range. The class: the records after the last
 * checkpoint that matched. Variants: a forged record after the last checkpoint (the red-team
 * reproduction), a log with no checkpoint at all, every record covered (nothing said), no
 * --public-key (the range is stated, as not covered by a checkpoint whose signature was checked),
 * a broken log (no range: nothing is trusted past the first bad record anyway).
 * Issue 17: with --public-key, a log with no checkpoint at all fails (AUDIT_UNCHECKPOINTED) unless
 * --allow-uncovered-tail; a few uncovered records (within the limits) still pass. The rest of the
 * class (a tail far behind, rollback, key mix-ups) is in audit-rollback.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { segmentName, checkAuditDir } from '../../src/adapters/audit-files.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { chainLine } from '../../src/audit/chain.ts';
import { keyId } from '../../src/audit/keys.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const run = promisify(execFile);
const fresh = tempDirs('kubiya-coverage-');
const entry = (i: number): AuditEntry => auditEntry(i);
const signer = generateKeyPairSync('ed25519');

/** A log of `n` records, checkpointed every `every` (0: never), plus `forged` records appended by hand. */
async function log(n: number, every: number, forged: number): Promise<{ dir: string; pub: string }> {
  const root = await fresh();
  const dir = join(root, 'audit');
  const pub = join(root, 'signer.pub.pem');
  await writeFile(pub, signer.publicKey.export({ type: 'spki', format: 'pem' }));
  const w = await FileAuditLog.open(
    dir,
    every > 0
      ? { checkpoint: { key: signer.privateKey, kid: keyId(signer.publicKey), every, intervalMs: 3_600_000 } }
      : {},
  );
  for (let i = 1; i <= n; i++) await w.append(entry(i));
  let head = w.head();
  await w.close();
  for (let i = 0; i < forged; i++) {
    const { record, line } = chainLine({ ...entry(1000 + i), message: 'forged' }, head.seq + 1, head.hash);
    await appendFile(join(dir, segmentName(1)), line + '\n');
    head = { seq: record.seq, hash: record.hash };
  }
  return { dir, pub };
}

const cli = (args: string[]): Promise<{ code: number; stdout: string }> =>
  run(process.execPath, [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), ...args], { timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => e,
  );

describe('audit verify states the records no checkpoint covers', () => {
  const cases: {
    name: string;
    n: number;
    every: number;
    forged: number;
    key: boolean;
    uncovered: { from: number; to: number } | null;
    text: RegExp | null;
    /** Exit code without and with --allow-uncovered-tail (default 0 and 0). */
    exit?: [number, number];
  }[] = [
    {
      name: 'REDTEAM #13: a record forged after the last checkpoint',
      n: 10,
      every: 5,
      forged: 1,
      key: true,
      uncovered: { from: 11, to: 11 },
      text: /records 11\.\.11 are not covered by a signed checkpoint/,
    },
    {
      name: 'three forged records',
      n: 10,
      every: 5,
      forged: 3,
      key: true,
      uncovered: { from: 11, to: 13 },
      text: /records 11\.\.13 are not covered by a signed checkpoint/,
    },
    {
      name: 'no checkpoint at all',
      n: 4,
      every: 0,
      forged: 0,
      key: true,
      uncovered: { from: 1, to: 4 },
      text: /records 1\.\.4 are not covered by a signed checkpoint[\s\S]*AUDIT_UNCHECKPOINTED/,
      exit: [1, 0],
    },
    { name: 'every record covered', n: 10, every: 5, forged: 0, key: true, uncovered: null, text: null },
    {
      name: 'no --public-key',
      n: 10,
      every: 5,
      forged: 2,
      key: false,
      uncovered: { from: 11, to: 12 },
      text: /records 11\.\.12 are not covered by a checkpoint \(and no signature was checked\)/,
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const { dir, pub } = await log(c.n, c.every, c.forged);
      const keyArgs = c.key ? ['--public-key', pub] : [];
      const [exit, allowed] = c.exit ?? [0, 0];
      const json = await cli(['audit', 'verify', dir, ...keyArgs, '--output', 'json']);
      assert.equal(json.code, exit, json.stdout);
      assert.deepEqual(
        (JSON.parse(json.stdout) as { checkpoints: { uncovered: unknown } }).checkpoints.uncovered,
        c.uncovered,
      );
      const text = await cli([
        'audit',
        'verify',
        dir,
        ...keyArgs,
        ...(exit !== allowed ? ['--allow-uncovered-tail'] : []),
      ]);
      assert.equal(text.code, allowed, text.stdout);
      if (c.text === null) assert.doesNotMatch(text.stdout, /not covered/);
      else assert.match(text.stdout, c.text);
    });
  }

  test('a broken log states no range', async () => {
    const { dir } = await log(6, 0, 0);
    await appendFile(join(dir, segmentName(1)), '{"seq":99}\n');
    const report = await checkAuditDir(dir, undefined);
    assert.equal(report.ok, false);
    assert.equal(report.checkpoints.uncovered, null);
  });
});
