/**
 * Red team 10 (docs/reviews/2026-12-01-red-team-10.md), finding 1: a failed batch's cut-back was
 * not durable. Since h-latency-5 a segment opens with O_DSYNC, so the part of a batch that write(2)
 * put down before a short write or an error is on stable storage the moment it returns; the
 * cut-back (ftruncate) that removes it was never synced. A crash before the next batch (no next
 * batch came: the runner refused the step and went quiet, or the disk was full) brought the
 * refused records back: after the restart the chain held records whose appends had been rejected
 * (the class of red team 6, finding 2).
 *
 * The class, checked against a model of a disk (what is written vs what a crash keeps): any batch
 * that fails — a short write then an error (its first part durable under O_DSYNC), an error after
 * the bytes reached the page cache, a failed fdatasync (without O_DSYNC) — with or without a later
 * batch, then a crash: the whole lines the crash keeps are exactly the acknowledged records.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import type { AuditFile, AuditFs } from '../../src/adapters/audit-fs.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const fresh = tempDirs('kubiya-rt10-cut-');

type Failure = 'short-write-then-error' | 'error-after-page-cache' | 'sync-fails';

/** One file on the modelled disk: what reads see (`content`) and what a crash keeps (`durable`). */
interface Disk {
  content: Buffer;
  durable: Buffer;
}

/**
 * A file port over an in-memory disk model. `synced` (O_DSYNC): a write that returns is durable,
 * with every earlier change of the file. Otherwise only datasync makes the content durable. The
 * first write of a batch of two or more records fails as `failure` says, `cut` of it written first.
 */
function modelFs(synced: boolean, failure: Failure, cut: number): { fs: AuditFs; crash: () => Buffer } {
  const disk: Disk = { content: Buffer.alloc(0), durable: Buffer.alloc(0) };
  let armed = true;
  let failSync = false;
  let failNextWrite = false;
  /** write(2) on the model: the bytes written, or a throw. */
  const write = (b: Buffer, o: number, l: number): { bytesWritten: number } => {
    const bytes = b.subarray(o, o + l);
    if (failNextWrite) {
      failNextWrite = false;
      throw new Error('ENOSPC: no space left on device');
    }
    const lines = bytes.toString('utf8').split('\n').length - 1;
    if (armed && lines >= 2) {
      armed = false;
      const firstLine = bytes.indexOf(0x0a) + 1;
      const n = Math.min(l - 1, Math.max(firstLine, Math.floor(l * cut)));
      if (failure === 'short-write-then-error') {
        disk.content = Buffer.concat([disk.content, bytes.subarray(0, n)]);
        if (synced) disk.durable = Buffer.from(disk.content);
        failNextWrite = true;
        return { bytesWritten: n };
      }
      if (failure === 'error-after-page-cache') {
        disk.content = Buffer.concat([disk.content, bytes]);
        throw new Error('EIO: i/o error');
      }
      failSync = !synced; // 'sync-fails': only meaningful without O_DSYNC; with it the write is the sync
      if (synced) {
        disk.content = Buffer.concat([disk.content, bytes]);
        throw new Error('EIO: i/o error');
      }
    }
    disk.content = Buffer.concat([disk.content, bytes]);
    if (synced) disk.durable = Buffer.from(disk.content);
    return { bytesWritten: l };
  };
  const file: AuditFile = {
    syncedWrites: synced,
    write: (b, o, l) => {
      try {
        return Promise.resolve(write(b, o, l));
      } catch (e) {
        return Promise.reject(e instanceof Error ? e : new Error(String(e)));
      }
    },
    datasync: () => {
      if (failSync) {
        failSync = false;
        return Promise.reject(new Error('EIO: i/o error'));
      }
      disk.durable = Buffer.from(disk.content);
      return Promise.resolve();
    },
    truncate: (n) => {
      disk.content = Buffer.from(disk.content.subarray(0, n));
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const fs: AuditFs = { openAppend: () => Promise.resolve(file), syncDir: () => Promise.resolve() };
  return { fs, crash: () => disk.durable };
}

/** The seqs of the whole lines a crash kept (a torn last line is what the restart cuts off). */
function keptSeqs(image: Buffer): number[] {
  const lines = image.toString('utf8').split('\n');
  lines.pop();
  return lines.map((l) => (JSON.parse(l) as { seq: number }).seq);
}

/** One case: O_DSYNC or not, how the batch fails, how much of it is written first, the batches around it. */
interface Case {
  readonly synced: boolean;
  readonly failure: Failure;
  readonly cut: number;
  readonly before: number;
  readonly failed: number;
  readonly later: boolean;
}

describe('RED-TEAM-10 #1: a failed batch cut back off its segment stays cut after a crash', () => {
  const cases = fc.record({
    synced: fc.boolean(),
    failure: fc.constantFrom<Failure>('short-write-then-error', 'error-after-page-cache', 'sync-fails'),
    cut: fc.double({ min: 0, max: 1, noNaN: true }),
    before: fc.integer({ min: 1, max: 4 }),
    failed: fc.integer({ min: 3, max: 8 }),
    later: fc.boolean(),
  });

  const run = async (c: Case): Promise<void> => {
    const { fs, crash } = modelFs(c.synced, c.failure, c.cut);
    const log = await FileAuditLog.open(await fresh(), { fs });
    const acked: number[] = [];
    for (let i = 0; i < c.before; i++) acked.push((await log.append(auditEntry(i))).seq);
    // One alone, then the rest together: the second batch holds failed - 1 >= 2 records and fails.
    const settled = await Promise.allSettled(
      Array.from({ length: c.failed }, (_, i) => log.append(auditEntry(100 + i))),
    );
    for (const s of settled) if (s.status === 'fulfilled') acked.push(s.value.seq);
    assert.ok(
      settled.some((s) => s.status === 'rejected'),
      'a batch failed',
    );
    if (c.later) acked.push((await log.append(auditEntry(999))).seq);
    assert.deepEqual(keptSeqs(crash()), acked, 'a crash keeps exactly the acknowledged records');
    await log.abandon();
  };

  test('the reported example: O_DSYNC, a short write then ENOSPC, no later batch, a crash', async () => {
    await run({ synced: true, failure: 'short-write-then-error', cut: 0.5, before: 2, failed: 4, later: false });
  });

  test('every failure × O_DSYNC or not × a later batch or none (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(cases, run), { numRuns: 60 });
  });
});
