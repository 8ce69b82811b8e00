/**
 * The pipelined group commit (issue 20 §2, audit append ≥ 100,000 records/s). Appends that arrive
 * while a batch is written are chained after it and encoded meanwhile; when the disk is faster
 * than that encoding, a queue found idle is split in two (CommitPacer). The class of faults: an
 * acknowledgement, a seq or a hash that rests on a batch that is not durable. Its variants:
 *
 * | variant                                                         | expected                                                         |
 * |-----------------------------------------------------------------|------------------------------------------------------------------|
 * | the batch in flight fails, the next one was chained on it       | the next one is chained again after the durable head, then written |
 * | the batch in flight is refused (lock lost), the next one waits  | both refused with AUDIT_LOCKED, nothing written                   |
 * | any split decision × any sync outcome × bursts of appends (fc)  | acked ⇔ in the file, seqs contiguous in arrival order, verifies   |
 * | a checkpoint while a batch is in flight                         | it signs the durable head, never an unsynced one                  |
 * | the pacer: unmeasured, a slow disk, a fast disk, one record      | split only when one batch's I/O is shorter than encoding them all |
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CommitPacer, type Pacer } from '../../src/adapters/audit-batch.ts';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { nodeAuditFs, type AuditFile, type AuditFs } from '../../src/adapters/audit-fs.ts';
import { checkAuditDir, readAuditLog, readCheckpoints, segmentName } from '../../src/adapters/audit-files.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const fresh = tempDirs('kubiya-pipeline-');

/** A pacer that always gives the same answer (the measured one is tested on its own below). */
const always = (split: boolean): Pacer => ({ io: () => undefined, encoded: () => undefined, split: () => split });

/** A file port over the real files whose every fdatasync waits for the test's verdict; it logs the calls. */
class ScriptedFs implements AuditFs {
  readonly calls: string[] = [];
  readonly syncs: { readonly ok: () => void; readonly fail: () => void }[] = [];

  async openAppend(path: string): Promise<AuditFile> {
    const real = await nodeAuditFs.openAppend(path);
    return {
      write: async (bytes, offset, length) => {
        this.calls.push('write');
        return real.write(bytes, offset, length);
      },
      datasync: async () => {
        this.calls.push('sync-start');
        const verdict = await new Promise<boolean>((r) => this.syncs.push({ ok: () => r(true), fail: () => r(false) }));
        if (!verdict) {
          this.calls.push('sync-failed');
          throw new Error('EIO: i/o error');
        }
        await real.datasync();
        this.calls.push('sync-done');
      },
      truncate: async (length) => {
        this.calls.push(`truncate ${length}`);
        return real.truncate(length);
      },
      close: () => real.close(),
    };
  }

  syncDir(path: string): Promise<void> {
    return nodeAuditFs.syncDir(path);
  }

  /** The `n`th fdatasync (1-based), once it has been called. */
  async sync(n: number): Promise<{ ok: () => void; fail: () => void }> {
    for (let i = 0; i < 400 && this.syncs.length < n; i++) await new Promise((r) => setTimeout(r, 5));
    const s = this.syncs[n - 1];
    assert.ok(s !== undefined, `fdatasync #${n} was never called: ${this.calls.join(', ')}`);
    return s;
  }
}

const settle = <T>(p: Promise<T>, log: string[], name: string): Promise<PromiseSettledResult<T>> =>
  p.then(
    (value) => {
      log.push(`ack ${name}`);
      return { status: 'fulfilled', value } as const;
    },
    (reason: unknown) => {
      log.push(`nack ${name}`);
      return { status: 'rejected', reason } as const;
    },
  );

describe('pipelined group commit', () => {
  test('the batch in flight fails: the batch chained on it is chained again after the durable head and written', async () => {
    const dir = await fresh();
    const fs = new ScriptedFs();
    const log = await FileAuditLog.open(dir, { fs, pacer: always(true) });
    const first = settle(log.append(auditEntry(1)), fs.calls, 'e1'); // batch A: [e1]
    const rest = [2, 3, 4, 5].map((i) => settle(log.append(auditEntry(i)), fs.calls, `e${i}`)); // queued behind A
    (await fs.sync(1)).ok();
    assert.equal((await first).status, 'fulfilled');
    // B = [e2, e3] is written; C = [e4, e5] is chained after B (seqs 4, 5) while B's sync is pending.
    (await fs.sync(2)).fail();
    (await fs.sync(3)).ok();
    (await fs.sync(4)).ok();
    const [e2, e3, e4, e5] = await Promise.all(rest);
    assert.equal(e2?.status, 'rejected');
    assert.equal(e3?.status, 'rejected');
    assert.deepEqual(
      [e4, e5].map((r) => (r as PromiseFulfilledResult<AuditRecord>).value.seq),
      [2, 3],
      'chained again after seq 1, not after the failed batch',
    );
    await log.close();
    const records = await readAuditLog(dir);
    assert.deepEqual(
      records.map((r) => [r.seq, r.decision_id]),
      [
        [1, 'd-1'],
        [2, 'd-4'],
        [3, 'd-5'],
      ],
    );
    const report = await checkAuditDir(dir, undefined);
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    // No acknowledgement before its own batch's sync returned.
    const acks = fs.calls.map((c, i) => [c, i] as const).filter(([c]) => c.startsWith('ack '));
    const syncDone = fs.calls.map((c, i) => [c, i] as const).filter(([c]) => c === 'sync-done');
    assert.equal(acks.length, 3);
    assert.ok(syncDone.length >= 3 && (syncDone[0]?.[1] ?? Infinity) < (acks[0]?.[1] ?? -1), fs.calls.join(', '));
  });

  test('the lock is lost while a batch is in flight: it and the batch chained on it are refused, nothing more is written', async () => {
    const dir = await fresh();
    const fs = new ScriptedFs();
    const log = await FileAuditLog.open(dir, { fs, pacer: always(true) });
    const first = log.append(auditEntry(1));
    const rest = [2, 3, 4, 5].map((i) =>
      log.append(auditEntry(i)).then(
        () => 'ack',
        (e: unknown) => (e as { code?: string }).code,
      ),
    );
    (await fs.sync(1)).ok();
    await first;
    await unlink(join(dir, 'audit.lock')); // B's check passed already or fails; C's check must fail
    const b = await fs.sync(2).catch(() => undefined);
    b?.ok();
    const outcomes = await Promise.all(rest);
    assert.ok(outcomes.includes('AUDIT_LOCKED'), outcomes.join(', '));
    const written = (await readAuditLog(dir)).length;
    assert.equal(written, 1 + outcomes.filter((o) => o === 'ack').length, 'only acknowledged records are on disk');
    assert.equal(log.healthy, false);
    await log.abandon();
  });

  test('any split decisions, sync outcomes and bursts: an append is acknowledged iff its record is on disk; seqs contiguous in arrival order (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 16 }),
        async (bursts, splits, syncOk) => {
          const dir = await fresh();
          const fs = new ScriptedFs();
          let s = 0;
          const pacer: Pacer = {
            io: () => undefined,
            encoded: () => undefined,
            split: () => splits[s++ % splits.length] ?? false,
          };
          const log = await FileAuditLog.open(dir, { fs, pacer });
          let answered = 0;
          const answer = setInterval(() => {
            for (; answered < fs.syncs.length; answered++) {
              const sync = fs.syncs[answered];
              if (syncOk[answered % syncOk.length] === true) sync?.ok();
              else sync?.fail();
            }
          }, 1);
          const results: PromiseSettledResult<AuditRecord>[] = [];
          let n = 0;
          try {
            for (const size of bursts) {
              const burst = Array.from({ length: size }, () => log.append(auditEntry(n++)));
              results.push(...(await Promise.allSettled(burst)));
            }
          } finally {
            clearInterval(answer);
            while (answered < fs.syncs.length) fs.syncs[answered++]?.ok();
          }
          await log.close();
          const acked = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
          assert.deepEqual(
            acked.map((r) => r.seq),
            acked.map((_, i) => i + 1),
            'contiguous seqs in arrival order',
          );
          const onDisk = await readAuditLog(dir);
          assert.deepEqual(
            onDisk.map((r) => [r.seq, r.decision_id, r.hash]),
            acked.map((r) => [r.seq, r.decision_id, r.hash]),
          );
          assert.equal((await checkAuditDir(dir, undefined)).ok, true);
          await rm(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 30 },
    );
  });

  test('a checkpoint taken while a batch is in flight signs the durable head', async () => {
    const dir = await fresh();
    const fs = new ScriptedFs();
    const { privateKey } = generateKeyPairSync('ed25519');
    const checkpoint = { key: privateKey, kid: 'k', every: 1_000_000, intervalMs: 3_600_000 };
    const log = await FileAuditLog.open(dir, { fs, pacer: always(true), checkpoint });
    const first = log.append(auditEntry(1));
    (await fs.sync(1)).ok();
    const durable = await first;
    const inFlight = log.append(auditEntry(2));
    await fs.sync(2); // written, not yet synced
    assert.deepEqual(log.head(), { seq: 1, hash: durable.hash });
    const signing = log.checkpointNow();
    (await fs.sync(3)).ok(); // the checkpoint file's own fdatasync
    await signing;
    (await fs.sync(2)).ok();
    await inFlight;
    const closing = log.close(); // signs seq 2 now that it is durable
    (await fs.sync(4)).ok();
    await closing;
    const checkpoints = await readCheckpoints(dir);
    assert.equal(checkpoints[0]?.seq, 1);
    assert.equal(checkpoints[0]?.head, durable.hash);
    assert.equal(checkpoints[1]?.seq, 2);
    assert.ok((await readFile(join(dir, segmentName(1)), 'utf8')).includes('"seq":2'));
  });
});

describe('CommitPacer: split only when one batch’s I/O is shorter than encoding the records', () => {
  // [what was measured, records at hand, split?]
  const table: [string, (p: CommitPacer) => void, number, boolean][] = [
    ['nothing measured', () => undefined, 256, false],
    ['only the encoding measured', (p) => p.encoded(100, 0.001), 256, false],
    ['only the I/O measured', (p) => p.io(0.0001), 256, false],
    ['fast disk: 0.5 ms I/O, 10 µs a record, 256 records', (p) => (p.io(0.0005), p.encoded(100, 0.001)), 256, true],
    ['the same, 40 records (0.4 ms of encoding)', (p) => (p.io(0.0005), p.encoded(100, 0.001)), 40, false],
    ['slow disk: 5 ms I/O, 10 µs a record, 256 records', (p) => (p.io(0.005), p.encoded(100, 0.001)), 256, false],
    ['one record never splits', (p) => (p.io(0), p.encoded(1, 1)), 1, false],
    ['an empty encoding is not a measure', (p) => (p.io(0.0001), p.encoded(0, 0)), 256, false],
  ];
  for (const [name, measure, records, expected] of table)
    test(name, () => {
      const p = new CommitPacer();
      measure(p);
      assert.equal(p.split(records), expected);
    });

  test('a disk that slows down stops the splitting (moving average)', () => {
    const p = new CommitPacer();
    p.encoded(100, 0.001);
    p.io(0.0005);
    assert.equal(p.split(256), true);
    for (let i = 0; i < 10; i++) p.io(0.01);
    assert.equal(p.split(256), false);
  });
});
