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
 * Fixed in src/adapters/audit-file.ts (checkpointNow serialised; cutBack). Each case failed on the
 * code before the fix.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir, readCheckpoints } from '../../src/adapters/audit-files.ts';
import { nodeAuditFs, type AuditFs } from '../../src/adapters/audit-fs.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const fresh = tempDirs('kubiya-rt6-checkpoints-');

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
  test('a slow checkpoint write and a later one: written in order, the log verifies', async () => {
    const dir = await fresh();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const { fs, release } = slowFirstCheckpoint();
    const checkpoint = { key: privateKey, kid: 'k', every: 1_000_000, intervalMs: 3_600_000 };
    const log = await FileAuditLog.open(dir, { fs, checkpoint });
    for (let i = 1; i <= 3; i++) await log.append(auditEntry(i));
    const slow = log.checkpointNow(); // e.g. the interval timer: signs seq 3, its write is slow
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 4; i <= 6; i++) await log.append(auditEntry(i));
    const later = log.checkpointNow(); // e.g. the batch's `every`, or close(): signs seq 6
    await new Promise((r) => setTimeout(r, 20));
    release();
    await slow;
    await later;
    await log.close();
    const seqs = (await readCheckpoints(dir)).map((c) => c?.seq);
    assert.deepEqual(seqs, [3, 6], 'one checkpoint per head, in order; close() finds nothing new');
    const report = await checkAuditDir(dir, publicKey);
    assert.equal(report.ok, true, `checkpoints ${JSON.stringify(seqs)}: ${JSON.stringify(report.firstBad)}`);
  });
});

/*
 * Finding 2: a failed batch is cut back off the segment with truncate(size); when that truncate
 * failed too (its error was swallowed), the failed batch's bytes stayed, the appender went on at the
 * durable head, and the next batch was appended after them: callers told "failed" had records in
 * the log, and the chain on disk held a seq twice. Now the cut is tried twice; when both fail the
 * log refuses every later append (AUDIT_UNAVAILABLE) and a restart repairs the tail. Variants: a
 * failed write (part of the batch written) or a failed fdatasync (all of it written) × a truncate
 * failing once (the log goes on) or always (the log refuses, the restart continues the chain).
 */
function failingOnce(mode: 'write' | 'sync', truncateFailures: number): AuditFs {
  let armed = true;
  let truncates = 0;
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
        truncate: (n) =>
          truncates++ < truncateFailures ? Promise.reject(new Error('EIO: truncate failed')) : real.truncate(n),
        close: () => real.close(),
      };
    },
  };
}

const refusedFirst = async (log: FileAuditLog): Promise<void> => {
  await log.append(auditEntry(1)).then(
    () => assert.fail('the first append fails'),
    () => undefined,
  );
};

describe('REDTEAM-6 #2: a failed batch whose truncate fails too', () => {
  for (const mode of ['write', 'sync'] as const) {
    test(`the ${mode} fails, the cut fails once: the retry cuts it, the log goes on, the chain intact`, async () => {
      const dir = await fresh();
      const log = await FileAuditLog.open(dir, { fs: failingOnce(mode, 1) });
      await refusedFirst(log);
      const second = await log.append(auditEntry(2));
      assert.equal(second.seq, 1, 'the refused record is not in the chain');
      await log.close();
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    });

    test(`the ${mode} fails, the cut always fails: every later append refused (AUDIT_UNAVAILABLE); a restart continues the chain`, async () => {
      const dir = await fresh();
      const log = await FileAuditLog.open(dir, { fs: failingOnce(mode, Infinity) });
      await refusedFirst(log);
      await assert.rejects(log.append(auditEntry(2)), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'AUDIT_UNAVAILABLE');
        assert.match(e.message, /could not be cut back off segment-00000001\.jsonl/);
        return true;
      });
      assert.equal(log.healthy, false);
      await log.close();
      const again = await FileAuditLog.open(dir);
      const next = await again.append(auditEntry(3));
      await again.close();
      // A partial write is a torn line the restart cuts off; a batch written whole but not synced stays.
      assert.equal(next.seq, mode === 'write' ? 1 : 2);
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    });
  }
});
