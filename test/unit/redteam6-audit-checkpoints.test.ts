/**
 * Red team round 6 (docs/reviews/2026-11-30-red-team-6.md), finding 2: signed checkpoints are
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
const TODO = 'REDTEAM-6 finding 2 (open): concurrent checkpoint writers can write a lower seq after a higher one';

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

describe('REDTEAM-6 #2: checkpoints are written in the order of the heads they sign', () => {
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
