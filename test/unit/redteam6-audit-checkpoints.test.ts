/**
 * Red team round 6 (docs/reviews/2026-11-30-red-team-6.md), finding 1: signed checkpoints are
 * written by three callers that nothing serialises — the interval timer (`checkpoint.intervalMs`),
 * the group-commit loop after a batch (`checkpoint.every`) and close() — and each reads the head
 * (seq, hash) before its own open/write of checkpoints.jsonl. When an earlier one is slower to
 * write (a slow or contended disk), a later head lands first and the earlier, lower one after it:
 * `audit verify` (checkAuditDir) then reports the intact log as broken ("checkpoints go
 * backwards"), and `audit query|report`, `policy replay` drop the records from that seq on.
 *
 * The class: concurrent writers of one append-only file whose order must follow the order of what
 * they read. Variants: timer vs. the batch's `every`, timer vs. close(), two direct calls.
 *
 * The case FAILS today: marked `todo` (node:test runs it and reports the failure without failing
 * the tier) until the lead assigns the fix; remove the `todo` with the fix.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir, readCheckpoints } from '../../src/adapters/audit-files.ts';
import { nodeAuditFs, type AuditFs } from '../../src/adapters/audit-fs.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const fresh = tempDirs('kubiya-rt6-checkpoints-');
const TODO2 = 'REDTEAM-6 finding 2 (open): a failed truncate leaves a refused batch in the segment';
const TODO = 'REDTEAM-6 finding 1 (open): concurrent checkpoint writers can write a lower seq after a higher one';

/** The real file system, with the FIRST write to checkpoints.jsonl held until `release()` (a slow disk). */
function slowFirstCheckpoint(): { readonly fs: AuditFs; readonly release: () => void } {
  let release = (): void => undefined;
  const gate = new Promise<void>((r) => (release = r));
  let first = true;
  const fs: AuditFs = {
    syncDir: (p) => nodeAuditFs.syncDir(p),
    openAppend: async (path) => {
      const real = await nodeAuditFs.openAppend(path);
      if (!path.endsWith('checkpoints.jsonl')) return real;
      const held = first;
      first = false;
      return {
        write: async (b, o, l) => {
          if (held) await gate;
          return real.write(b, o, l);
        },
        datasync: () => real.datasync(),
        truncate: (n) => real.truncate(n),
        close: () => real.close(),
      };
    },
  };
  return { fs, release: () => release() };
}

describe('REDTEAM-6 #1: checkpoints are written in the order of the heads they sign', () => {
  test('a slow checkpoint write overtaken by a later one: the log still verifies', { todo: TODO }, async () => {
    const dir = await fresh();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const { fs, release } = slowFirstCheckpoint();
    const checkpoint = { key: privateKey, kid: 'k', every: 1_000_000, intervalMs: 3_600_000 };
    const log = await FileAuditLog.open(dir, { fs, checkpoint });
    for (let i = 1; i <= 3; i++) await log.append(auditEntry(i));
    const slow = log.checkpointNow(); // e.g. the interval timer: signs seq 3, its write is slow
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 4; i <= 6; i++) await log.append(auditEntry(i));
    await log.checkpointNow(); // e.g. the batch's `every`, or close(): signs seq 6, written first
    release();
    await slow;
    await log.close();
    const seqs = (await readCheckpoints(dir)).map((c) => c?.seq);
    const report = await checkAuditDir(dir, publicKey);
    assert.equal(report.ok, true, `checkpoints ${JSON.stringify(seqs)}: ${JSON.stringify(report.firstBad)}`);
  });
});

/*
 * Finding 2: a failed batch is cut back off the segment with truncate(size); when that truncate
 * fails too (its error is swallowed), the failed batch's bytes stay, the appender goes on at the
 * durable head, and the next batch is appended after them (the segment is opened for appending):
 * the callers of the failed batch were told it failed, yet its records are in the log, and the
 * chain on disk holds a seq twice. Variants: a failed write (part written) or a failed fdatasync,
 * each with truncate failing.
 */
function failingOnce(mode: 'write' | 'sync'): AuditFs {
  let armed = true;
  return {
    syncDir: (p) => nodeAuditFs.syncDir(p),
    openAppend: async (path) => {
      const real = await nodeAuditFs.openAppend(path);
      if (path.endsWith('checkpoints.jsonl')) return real;
      return {
        write: async (b, o, l) => {
          if (armed && mode === 'write') {
            await real.write(b, o, Math.max(1, Math.floor(l / 2)));
            armed = false;
            throw new Error('ENOSPC: no space left on device');
          }
          return real.write(b, o, l);
        },
        datasync: async () => {
          if (armed && mode === 'sync') {
            armed = false;
            throw new Error('EIO: i/o error');
          }
          return real.datasync();
        },
        truncate: () => Promise.reject(new Error('EIO: truncate failed')),
        close: () => real.close(),
      };
    },
  };
}

describe('REDTEAM-6 #2: a failed batch whose truncate fails too', () => {
  for (const mode of ['write', 'sync'] as const)
    test(`the ${mode} fails, then truncate: no refused record on disk, the chain intact`, { todo: TODO2 }, async () => {
      const dir = await fresh();
      const log = await FileAuditLog.open(dir, { fs: failingOnce(mode) });
      await log.append(auditEntry(1)).then(
        () => assert.fail('the first append fails'),
        () => undefined,
      );
      await log.append(auditEntry(2));
      await log.close();
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    });
});
