/**
 * The appender's default group commit (branch h-append-2, issue 20 §2): every append at hand goes
 * into one batch (oneBatch: no split), the directory lock is checked right before the batch's one
 * write, and the batch is acknowledged only after its fdatasync. The class of faults, one row each below:
 *
 * | fault in the batch's I/O                       | what every producer waiting on that batch sees | the file |
 * |------------------------------------------------|-----------------------------------------------|----------|
 * | write fails at once                            | rejected with the write's error                | unchanged (no torn line) |
 * | write writes part of the batch, then fails     | rejected                                       | cut back to the last durable record |
 * | write makes no progress (0 bytes)              | rejected                                       | unchanged |
 * | fdatasync fails                                | rejected                                       | cut back to the last durable record |
 * | the lock is lost before the write              | rejected with AUDIT_LOCKED                     | unchanged, nothing written |
 * | a crash mid-write (a prefix of the batch on disk) | (the process is gone)                       | on restart: only whole lines kept, the chain verifies and continues |
 */
import assert from 'node:assert/strict';
import { readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FileAuditLog, readAuditLog } from '../../src/adapters/audit-file.ts';
import { LOCK_FILE } from '../../src/adapters/audit-file-lock.ts';
import { nodeAuditFs, type AuditFile, type AuditFs } from '../../src/adapters/audit-fs.ts';
import { checkAuditDir, segmentName } from '../../src/adapters/audit-files.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const fresh = tempDirs('kubiya-append-default-');

type Fault = 'none' | 'write-fails' | 'write-partial-then-fails' | 'write-no-progress' | 'sync-fails';

/** A file port over the real files that counts writes and syncs and injects `fault` into the next batch. */
class FaultyFs implements AuditFs {
  writes = 0;
  syncs = 0;
  fault: Fault = 'none';

  async openAppend(path: string): Promise<AuditFile> {
    const real = await nodeAuditFs.openAppend(path);
    return {
      write: async (bytes, offset, length) => {
        this.writes++;
        if (this.fault === 'write-fails') throw new Error('EIO: write');
        if (this.fault === 'write-no-progress') return { bytesWritten: 0 };
        if (this.fault === 'write-partial-then-fails') {
          this.fault = 'write-fails'; // the rest of the batch fails
          return real.write(bytes, offset, Math.max(1, Math.floor(length / 3)));
        }
        return real.write(bytes, offset, length);
      },
      datasync: async () => {
        this.syncs++;
        if (this.fault === 'sync-fails') throw new Error('EIO: fdatasync');
        await real.datasync();
      },
      truncate: (length) => real.truncate(length),
      close: () => real.close(),
    };
  }

  syncDir(path: string): Promise<void> {
    return nodeAuditFs.syncDir(path);
  }
}

const segment = (dir: string): string => join(dir, segmentName(1));

describe('the default group commit: all appends at hand in one batch', () => {
  test('64 concurrent appends: one write and one fdatasync after the first batch, acknowledged in arrival order', async () => {
    const dir = await fresh();
    const fs = new FaultyFs();
    const log = await FileAuditLog.open(dir, { fs });
    await log.append(auditEntry(0));
    const [writes, syncs] = [fs.writes, fs.syncs];
    const records = await Promise.all(Array.from({ length: 64 }, (_, i) => log.append(auditEntry(i + 1))));
    assert.equal(fs.writes - writes, 1, 'one write for the 64');
    assert.equal(fs.syncs - syncs, 1, 'one fdatasync for the 64');
    assert.deepEqual(
      records.map((r) => r.seq),
      records.map((_, i) => i + 2),
    );
    await log.close();
    assert.equal((await checkAuditDir(dir, undefined)).ok, true);
  });

  const faults: Exclude<Fault, 'none'>[] = [
    'write-fails',
    'write-partial-then-fails',
    'write-no-progress',
    'sync-fails',
  ];
  for (const fault of faults)
    test(`${fault}: every producer waiting on the batch is rejected, no torn line stays, the next batch continues the chain`, async () => {
      const dir = await fresh();
      const fs = new FaultyFs();
      const log = await FileAuditLog.open(dir, { fs });
      for (let i = 0; i < 3; i++) await log.append(auditEntry(i));
      const durable = (await stat(segment(dir))).size;
      fs.fault = fault;
      const waiting = await Promise.allSettled(Array.from({ length: 16 }, (_, i) => log.append(auditEntry(10 + i))));
      assert.ok(
        waiting.every((r) => r.status === 'rejected'),
        'no producer of the failed batch is acknowledged',
      );
      assert.equal((await stat(segment(dir))).size, durable, 'cut back to the last durable record');
      assert.equal(log.healthy, false);
      assert.deepEqual(log.head().seq, 3, 'the failed records took no seq');
      fs.fault = 'none';
      let appender = log;
      if (fault === 'sync-fails') {
        // The cut-back's own fdatasync failed too (red team 10, finding 1: a cut that is not durable
        // may bring the refused records back after a crash): the log refuses until a restart.
        await assert.rejects(log.append(auditEntry(98)), { code: 'AUDIT_UNAVAILABLE' });
        assert.equal(log.healthy, false);
        await log.close();
        appender = await FileAuditLog.open(dir, { fs });
      }
      const next = await appender.append(auditEntry(99));
      assert.equal(next.seq, 4);
      assert.equal(appender.healthy, true);
      await appender.close();
      const onDisk = await readAuditLog(dir);
      assert.deepEqual(
        onDisk.map((r) => r.decision_id),
        ['d-0', 'd-1', 'd-2', 'd-99'],
      );
      assert.equal((await checkAuditDir(dir, undefined)).ok, true);
    });

  test('the lock lost before the write: the whole batch refused with AUDIT_LOCKED, nothing written', async () => {
    const dir = await fresh();
    const fs = new FaultyFs();
    const log = await FileAuditLog.open(dir, { fs, lock: { refreshMs: 60_000 } });
    await log.append(auditEntry(0));
    const writes = fs.writes;
    await rm(join(dir, LOCK_FILE));
    const waiting = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => log.append(auditEntry(i + 1))));
    assert.ok(waiting.every((r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'AUDIT_LOCKED'));
    assert.equal(fs.writes, writes, 'nothing written');
    await log.close();
  });

  test('a crash mid-write at every cut point of a batch: on restart only whole lines stay, the chain verifies and continues', async () => {
    const dir = await fresh();
    const log = await FileAuditLog.open(dir);
    await log.append(auditEntry(0));
    await Promise.all(Array.from({ length: 5 }, (_, i) => log.append(auditEntry(i + 1))));
    await log.close();
    const whole = await readFile(segment(dir));
    const first = whole.indexOf(0x0a) + 1; // the first record's line ends here; the batch follows
    const lineEnds = [...whole.keys()].filter((i) => whole[i] === 0x0a).map((i) => i + 1);
    const cuts = [first + 1, first + 40, ...lineEnds.slice(1, -1).flatMap((e) => [e - 1, e, e + 1]), whole.length - 1];
    for (const cut of cuts) {
      await writeFile(segment(dir), whole);
      await truncate(segment(dir), cut);
      const again = await FileAuditLog.open(dir);
      const kept = lineEnds.filter((e) => e <= cut).length;
      assert.equal(again.head().seq, kept, `cut at ${cut}`);
      assert.equal((await again.append(auditEntry(50))).seq, kept + 1);
      await again.close();
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, true, `cut at ${cut}: ${JSON.stringify(report.firstBad)}`);
    }
  });
});
