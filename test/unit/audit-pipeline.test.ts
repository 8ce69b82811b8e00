/**
 * The pipelined group commit (issue 20 §2, audit append ≥ 100,000 records/s). Appends that arrive
 * while a batch is written are chained after it and encoded meanwhile; when the disk is faster
 * than the CPU work for them, a queue found idle is split in two (CommitPacer). The class of faults: an
 * acknowledgement, a seq or a hash that rests on a batch that is not durable. Its variants:
 *
 * | variant                                                         | expected                                                         |
 * |-----------------------------------------------------------------|------------------------------------------------------------------|
 * | the batch in flight fails, the next one was chained on it       | the next one is chained again after the durable head, then written |
 * | the lock is lost while a batch is in flight, one chained on it   | the chained one refused with AUDIT_LOCKED, nothing more written    |
 * | any split decision × any sync outcome × bursts of appends (fc)  | acked ⇔ in the file, seqs contiguous in arrival order, verifies   |
 * | a checkpoint while a batch is in flight                         | it signs the durable head, never an unsynced one                  |
 * | a batch chained during a commit, the acked producer appends again | that batch is written at once (not merged with the new append)  |
 * | a batch chained during a commit, when the one before is durable  | its write is under way before that one's appends are answered    |
 * | records appended in one synchronous run, idle log (1, 2, 3, 9)   | one write, one fdatasync for them all                             |
 * | the pacer: unmeasured, a slow disk, a fast disk, one record      | split only when one batch's I/O is shorter than the CPU for them all |
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
const always = (split: boolean): Pacer => ({ io: () => undefined, cpu: () => undefined, split: () => split });

/** A file port over the real files whose every fdatasync waits for the test's verdict; it logs the calls. */
class ScriptedFs implements AuditFs {
  readonly calls: string[] = [];
  readonly syncs: { readonly ok: () => void; readonly fail: () => void }[] = [];
  private syncWaiters: { n: number; done: () => void }[] = [];

  async openAppend(path: string): Promise<AuditFile> {
    const real = await nodeAuditFs.openAppend(path);
    return {
      write: async (bytes, offset, length) => {
        // Which records this write carries (their decision ids), to match each ack to its batch.
        const ids = [
          ...bytes
            .subarray(offset, offset + length)
            .toString()
            .matchAll(/"decision_id":"([^"]*)"/g),
        ];
        this.calls.push(`write ${ids.map((m) => m[1]).join(' ')}`);
        return real.write(bytes, offset, length);
      },
      datasync: async () => {
        // The sync that makes a failed batch's cut-back durable (AuditSegment.cutBack) is no batch's: not scripted.
        if (this.calls.at(-1)?.startsWith('truncate ') === true) {
          await real.datasync();
          this.calls.push('cut-synced');
          return;
        }
        this.calls.push('sync-start');
        const verdict = await new Promise<boolean>((r) => {
          this.syncs.push({ ok: () => r(true), fail: () => r(false) });
          this.syncWaiters = this.syncWaiters.filter((w) => (this.syncs.length >= w.n ? (w.done(), false) : true));
        });
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

  /**
   * The `n`th fdatasync (1-based), once it has been called: an event, not a poll with a time bound
   * (a loaded machine only makes it later; the test runner's timeout bounds it).
   */
  async sync(n: number): Promise<{ ok: () => void; fail: () => void }> {
    if (this.syncs.length < n) await new Promise<void>((done) => this.syncWaiters.push({ n, done }));
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
    const e0 = settle(log.append(auditEntry(0)), fs.calls, 'e0');
    (await fs.sync(1)).ok();
    assert.equal((await e0).status, 'fulfilled');
    const all = [1, 2, 3, 4, 5].map((i) => settle(log.append(auditEntry(i)), fs.calls, `e${i}`));
    // The first of these batches fails; what was chained after it meanwhile is chained again after seq 1.
    (await fs.sync(2)).fail();
    for (let n = 3; n <= 4; n++) (await fs.sync(n)).ok();
    const results = await Promise.all(all);
    const failed = results.findIndex((r) => r.status === 'fulfilled');
    assert.ok(failed >= 1 && failed < 5, 'a prefix failed, the rest was written');
    assert.ok(results.slice(0, failed).every((r) => r.status === 'rejected'));
    const rest = results.slice(failed) as PromiseFulfilledResult<AuditRecord>[];
    assert.deepEqual(
      rest.map((r) => r.value.seq),
      rest.map((_, i) => 2 + i),
      'chained again after seq 1, not after the failed batch',
    );
    await log.close();
    const records = await readAuditLog(dir);
    assert.deepEqual(
      records.map((r) => [r.seq, r.decision_id, r.hash]),
      [[1, 'd-0', records[0]?.hash], ...rest.map((r) => [r.value.seq, r.value.decision_id, r.value.hash])],
      'on disk: exactly the acknowledged records',
    );
    const report = await checkAuditDir(dir, undefined);
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    // Every acknowledgement comes after the sync of the last write that carried its record (the
    // next batch's write may start before it: the acks are answered after that write is issued).
    fs.calls.forEach((c, at) => {
      if (!c.startsWith('ack ')) return;
      const id = `d-${c.slice('ack e'.length)}`;
      const written = fs.calls.findLastIndex((w, i) => i < at && w.startsWith('write ') && w.split(' ').includes(id));
      const outcome = fs.calls.findIndex((w, i) => i > written && w.startsWith('sync-') && w !== 'sync-start');
      assert.ok(written >= 0 && outcome >= 0 && outcome < at && fs.calls[outcome] === 'sync-done', fs.calls.join(', '));
    });
  });

  test('the lock is lost while a batch is in flight: the batch chained on it is refused, nothing more is written', async () => {
    const dir = await fresh();
    const fs = new ScriptedFs();
    const log = await FileAuditLog.open(dir, { fs, pacer: always(true) });
    const first = log.append(auditEntry(1));
    await Promise.resolve(); // the flush starts (a microtask after the append) with e1 alone; the rest chain on it
    const rest = [2, 3, 4, 5].map((i) =>
      log.append(auditEntry(i)).then(
        () => 'ack',
        (e: unknown) => (e as { code?: string }).code,
      ),
    );
    const sync = await fs.sync(1); // e1's lock check passed and it is written; e2..e5 are chained after it
    await unlink(join(dir, 'audit.lock'));
    sync.ok();
    assert.equal((await first).seq, 1);
    assert.deepEqual(await Promise.all(rest), ['AUDIT_LOCKED', 'AUDIT_LOCKED', 'AUDIT_LOCKED', 'AUDIT_LOCKED']);
    assert.deepEqual(
      (await readAuditLog(dir)).map((r) => r.seq),
      [1],
    );
    assert.equal(log.healthy, false);
    assert.equal(log.head().seq, 1);
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
            cpu: () => undefined,
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

  test('a batch chained during a commit is written as soon as that commit is durable, before the answered producers append again', async () => {
    // Decision latency (issue 20): the batch waiting behind a commit used to be held until the
    // producers just answered had run and appended again (one batch with theirs); its appends then
    // waited for that CPU too. Now it is written at once and the new append goes to the batch after.
    const dir = await fresh();
    const fs = new ScriptedFs(); // the default pacer (oneBatch)
    const log = await FileAuditLog.open(dir, { fs });
    const e0 = log.append(auditEntry(0)).then(() => log.append(auditEntry(2)));
    await fs.sync(1); // e0's batch is being synced
    const e1 = log.append(auditEntry(1)); // chained and encoded meanwhile
    (await fs.sync(1)).ok();
    (await fs.sync(2)).ok();
    (await fs.sync(3)).ok();
    const [r2, r1] = await Promise.all([e0, e1]);
    assert.deepEqual(
      fs.calls.filter((c) => c.startsWith('write ')),
      ['write d-0', 'write d-1', 'write d-2'],
      fs.calls.join(', '),
    );
    assert.deepEqual([r1.seq, r2.seq], [2, 3]);
    await log.close();
    const report = await checkAuditDir(dir, undefined);
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
  });

  test("a batch chained during a commit has its write under way before the durable batch's appends are answered", async () => {
    // Decision latency (issue 20): the chained batch's lock check was answered only after the
    // producers just answered had run their next stages (one main thread), so its write waited for
    // their CPU. Now its write is issued first, and their CPU runs while it is written.
    const dir = await fresh();
    const fs = new ScriptedFs();
    const log = await FileAuditLog.open(dir, { fs });
    let writesAtAck: string[] = [];
    const e0 = log.append(auditEntry(0)).then(() => (writesAtAck = fs.calls.filter((c) => c.startsWith('write '))));
    await fs.sync(1); // e0's batch is being synced
    const e1 = log.append(auditEntry(1)); // chained and encoded meanwhile
    (await fs.sync(1)).ok();
    (await fs.sync(2)).ok();
    const [, r1] = await Promise.all([e0, e1]);
    assert.deepEqual(writesAtAck, ['write d-0', 'write d-1'], fs.calls.join(', '));
    assert.equal(r1.seq, 2);
    await log.close();
    const report = await checkAuditDir(dir, undefined);
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
  });

  test('records appended in one synchronous run share one group commit (1, 2, 3 and 9 records, idle log)', async () => {
    // Decision latency (issue 20): a step appends its records together (verify and validate,
    // evaluate and mutate) and awaits them all. The flush used to start inside the first append, so
    // that record was committed alone and the others waited for a second write and fdatasync in
    // series. The flush now starts a microtask later, once the appending code has run to its await.
    for (const n of [1, 2, 3, 9]) {
      const dir = await fresh();
      const fs = new ScriptedFs(); // the default pacer (oneBatch)
      const log = await FileAuditLog.open(dir, { fs });
      const all = Promise.all(Array.from({ length: n }, (_, i) => log.append(auditEntry(i))));
      (await fs.sync(1)).ok();
      // A second fdatasync would mean a second commit: answered (so the test ends), and reported.
      const second = fs.sync(2).then((s) => (s.ok(), 'a second commit'));
      assert.equal(await Promise.race([all.then(() => 'one commit'), second]), 'one commit', fs.calls.join(', '));
      const records = await all;
      const ids = Array.from({ length: n }, (_, i) => `d-${i}`).join(' ');
      assert.deepEqual(
        fs.calls.filter((c) => c.startsWith('write ')),
        [`write ${ids}`],
        fs.calls.join(', '),
      );
      assert.deepEqual(
        records.map((r) => r.seq),
        Array.from({ length: n }, (_, i) => i + 1),
      );
      await log.close();
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, true, JSON.stringify(report.firstBad));
    }
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

describe('CommitPacer: split only when one batch’s I/O is shorter than the CPU work for the records', () => {
  // [what was measured, records at hand, split?]
  const table: [string, (p: CommitPacer) => void, number, boolean][] = [
    ['nothing measured', () => undefined, 256, false],
    ['only the CPU measured', (p) => p.cpu(100, 0.001), 256, false],
    ['only the I/O measured', (p) => p.io(0.0001), 256, false],
    ['fast disk: 0.5 ms I/O, 10 µs a record, 256 records', (p) => (p.io(0.0005), p.cpu(100, 0.001)), 256, true],
    ['the same, 40 records (0.4 ms of CPU)', (p) => (p.io(0.0005), p.cpu(100, 0.001)), 40, false],
    ['slow disk: 5 ms I/O, 10 µs a record, 256 records', (p) => (p.io(0.005), p.cpu(100, 0.001)), 256, false],
    ['one record never splits', (p) => (p.io(0), p.cpu(1, 1)), 1, false],
    ['a CPU time over no records is not a measure', (p) => (p.io(0.0001), p.cpu(0, 0)), 256, false],
  ];
  for (const [name, measure, records, expected] of table)
    test(name, () => {
      const p = new CommitPacer();
      measure(p);
      assert.equal(p.split(records), expected);
    });

  test('a disk that slows down stops the splitting (moving average)', () => {
    const p = new CommitPacer();
    p.cpu(100, 0.001);
    p.io(0.0005);
    assert.equal(p.split(256), true);
    for (let i = 0; i < 10; i++) p.io(0.01);
    assert.equal(p.split(256), false);
  });
});
