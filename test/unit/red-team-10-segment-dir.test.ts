/**
 * Red team 10, finding 5: a segment file's name must be durable (its directory fsynced) before a
 * record written into it is acknowledged, or a crash can lose the file with acknowledged records
 * in it. Two ways it was not: a new log's first segment (resumeLog creates it, nothing synced the
 * directory), and a rotation whose directory fsync failed (the failure was swallowed after the
 * batch, and the next batches were written into the new file).
 *
 * The class, over the real file system with the directory fsync failing as told: for every write
 * to a segment file, a directory fsync succeeded after that file was opened and before the write;
 * an append whose segment's directory could not be synced is refused, not acknowledged.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir } from '../../src/adapters/audit-files.ts';
import { nodeAuditFs, type AuditFs } from '../../src/adapters/audit-fs.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const fresh = tempDirs('kubiya-rt10-dir-');

/** The real file system; the `n`th directory fsyncs (1-based) in `failing` fail. Logs opens, syncs and writes. */
function loggingFs(failing: ReadonlySet<number>): { fs: AuditFs; calls: string[] } {
  const calls: string[] = [];
  let syncs = 0;
  const fs: AuditFs = {
    openAppend: async (path) => {
      const real = await nodeAuditFs.openAppend(path);
      const name = path.split('/').pop() ?? path;
      calls.push(`open ${name}`);
      return {
        write: (b, o, l) => {
          calls.push(`write ${name}`);
          return real.write(b, o, l);
        },
        datasync: () => real.datasync(),
        truncate: (n) => real.truncate(n),
        close: () => real.close(),
        syncedWrites: true,
      };
    },
    syncDir: (path) => {
      syncs++;
      if (failing.has(syncs)) {
        calls.push('syncdir-failed');
        return Promise.reject(new Error('EIO: directory fsync'));
      }
      calls.push('syncdir');
      return nodeAuditFs.syncDir(path);
    },
  };
  return { fs, calls };
}

/** Every write to a segment follows a successful directory fsync made after that segment's open. */
function writesAfterDirSync(calls: readonly string[]): void {
  const synced = new Map<string, boolean>();
  let current = '';
  for (const c of calls) {
    if (c.startsWith('open segment-')) synced.set((current = c.slice(5)), false);
    else if (c === 'syncdir' && current !== '') synced.set(current, true);
    else if (c.startsWith('write segment-'))
      assert.equal(synced.get(c.slice(6)), true, `${c} before its directory was synced: ${calls.join(', ')}`);
  }
}

describe('RED-TEAM-10 #5: no record is written into a segment whose name is not durable', () => {
  test('a new log: the directory is synced before the first record', async () => {
    const { fs, calls } = loggingFs(new Set());
    const log = await FileAuditLog.open(await fresh(), { fs });
    await log.append(auditEntry(1));
    await log.close();
    writesAfterDirSync(calls);
  });

  test('rotations with directory fsyncs failing anywhere (fast-check): the order holds, refused appends only, the chain verifies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.integer({ min: 1, max: 12 }), { maxLength: 6 }), async (failing) => {
        const { fs, calls } = loggingFs(new Set(failing));
        const dir = await fresh();
        const log = await FileAuditLog.open(dir, { fs, segmentBytes: 600 });
        for (let i = 0; i < 12; i++) await log.append(auditEntry(i)).catch(() => undefined);
        await log.close();
        writesAfterDirSync(calls);
        assert.equal((await checkAuditDir(dir, undefined)).ok, true);
      }),
      { numRuns: 40 },
    );
  });
});
