/**
 * Two classes of the appender (issue 13 §6, issue 14 §5):
 *
 * 1. An append is acknowledged only after fdatasync returned. Checked through the file port the
 *    appender is given (an in-memory twin over the real file): while the sync of a batch is held,
 *    no append of that batch resolves; a batch whose sync fails is rejected and cut back off the
 *    file. Removing the sync call (or acknowledging before it) fails these tests.
 *
 * 2. One record that cannot be canonicalised (RFC 8785 refuses it: a lone UTF-16 surrogate in a
 *    value or a key, NaN, ±Infinity, a BigInt, a cycle) fails ITS append with AUDIT_RECORD_INVALID,
 *    and nothing else: the other producers of its group commit are acknowledged with contiguous
 *    seqs, the log stays healthy (so /ready is unaffected), the next batch is written at once, and
 *    the chain verifies. Reported example (issue 14 §5): a lone `\udbff` in a step argument.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { nodeAuditFs, type AuditFile, type AuditFs } from '../../src/adapters/audit-fs.ts';
import { segmentName, checkAuditDir } from '../../src/adapters/audit-files.ts';
import { admit } from '../../src/admission/admit.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { AuditEntry, AuditRecord } from '../../src/audit/record.ts';
import { auditEntry } from '../support/audit-entries.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const dirs: string[] = [];
const fresh = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'kubiya-durable-'));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const entry = (i: number, extra: Record<string, unknown> = {}): AuditEntry => ({
  ...auditEntry(i, { stage: 'validate', message: `m${i}` }),
  ...extra,
});

/** A file port over the real files whose datasync waits until the test lets it go; it logs every call. */
class GatedFs implements AuditFs {
  readonly calls: string[] = [];
  private gate: { promise: Promise<void>; open: () => void } | undefined;
  private waiters: { call: string; count: number; done: () => void }[] = [];
  failNextSync = false;

  /** Logs a call and wakes whoever waits for it. */
  private log(call: string): void {
    this.calls.push(call);
    this.waiters = this.waiters.filter((w) => {
      if (this.count(w.call) < w.count) return true;
      w.done();
      return false;
    });
  }

  private count(call: string): number {
    return this.calls.filter((c) => c === call).length;
  }

  /**
   * Resolves once `call` has been logged `count` times in all. An event, not a poll with a time
   * bound: a loaded machine only makes it later (the test runner's timeout bounds it).
   */
  reached(call: string, count: number): Promise<void> {
    if (this.count(call) >= count) return Promise.resolve();
    return new Promise((done) => this.waiters.push({ call, count, done }));
  }

  hold(): void {
    let open = (): void => undefined;
    const promise = new Promise<void>((r) => (open = r));
    this.gate = { promise, open };
  }

  release(): void {
    this.gate?.open();
    this.gate = undefined;
  }

  async openAppend(path: string): Promise<AuditFile> {
    const real = await nodeAuditFs.openAppend(path);
    const name = path.split('/').pop() ?? path;
    return {
      write: async (bytes, offset, length) => {
        this.log(`write ${name}`);
        return real.write(bytes, offset, length);
      },
      datasync: async () => {
        this.log(`sync-start ${name}`);
        await this.gate?.promise;
        if (this.failNextSync) {
          this.failNextSync = false;
          this.log(`sync-failed ${name}`);
          throw new Error('EIO: i/o error');
        }
        await real.datasync();
        this.log(`sync-done ${name}`);
      },
      truncate: async (length) => {
        this.log(`truncate ${name} ${length}`);
        return real.truncate(length);
      },
      close: () => real.close(),
    };
  }

  syncDir(path: string): Promise<void> {
    this.log('syncdir');
    return nodeAuditFs.syncDir(path);
  }
}

describe('appends are acknowledged only after fdatasync returned', () => {
  test('while the sync of a batch is held, none of its appends resolves; each resolves after sync-done', async () => {
    const dir = await fresh();
    const fs = new GatedFs();
    const log = await FileAuditLog.open(dir, { fs });
    fs.hold();
    const acked: number[] = [];
    const appends = Array.from({ length: 5 }, (_, i) =>
      log.append(entry(i)).then((r) => {
        acked.push(r.seq);
        fs.calls.push(`ack ${r.seq}`);
        return r;
      }),
    );
    await fs.reached(`sync-start ${segmentName(1)}`, 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(acked, [], 'nothing is acknowledged while its fdatasync has not returned');
    assert.ok(fs.calls.includes(`write ${segmentName(1)}`), 'the bytes were written');
    fs.release();
    await Promise.all(appends);
    const firstAck = fs.calls.findIndex((c) => c.startsWith('ack '));
    const syncDone = fs.calls.indexOf(`sync-done ${segmentName(1)}`);
    assert.ok(syncDone >= 0 && syncDone < firstAck, `sync-done before the first ack: ${fs.calls.join(', ')}`);
    await log.close();
  });

  test('every acknowledged batch had its own completed sync (no ack rides on an earlier sync)', async () => {
    const dir = await fresh();
    const fs = new GatedFs();
    const log = await FileAuditLog.open(dir, { fs });
    for (let round = 0; round < 5; round++)
      await Promise.all(Array.from({ length: 1 + round }, (_, i) => log.append(entry(round * 10 + i))));
    await log.close();
    // Between two acks of different batches there is a write and then a sync-done. (A round's first
    // append may be written alone, the rest of the round in the next batch: at least one batch a round.)
    const seg = segmentName(1);
    const relevant = fs.calls.filter((c) => c === `write ${seg}` || c === `sync-done ${seg}`);
    assert.ok(relevant.length >= 10 && relevant.length % 2 === 0, relevant.join(', '));
    for (let i = 0; i < relevant.length; i += 2)
      assert.deepEqual(relevant.slice(i, i + 2), [`write ${seg}`, `sync-done ${seg}`]);
  });

  test('a batch whose sync fails is rejected (not acknowledged), cut back off the file, and the log recovers', async () => {
    const dir = await fresh();
    const fs = new GatedFs();
    const log = await FileAuditLog.open(dir, { fs });
    await log.append(entry(1));
    const sizeBefore = (await readFile(join(dir, segmentName(1)))).length;
    fs.failNextSync = true;
    fs.hold();
    const syncsBefore = fs.calls.filter((c) => c === `sync-start ${segmentName(1)}`).length;
    const failing = log.append(entry(2));
    // The second batch's own sync, not the first's (the first's sync-start is already logged).
    await fs.reached(`sync-start ${segmentName(1)}`, syncsBefore + 1);
    const sizeWritten = (await readFile(join(dir, segmentName(1)))).length;
    assert.ok(sizeWritten > sizeBefore, 'written, not yet synced');
    fs.release();
    await assert.rejects(failing, /EIO/);
    assert.equal(log.healthy, false);
    assert.equal((await readFile(join(dir, segmentName(1)))).length, sizeBefore, 'the unsynced batch was cut off');
    assert.equal((await log.append(entry(4))).seq, 2, 'the failed batch took no seq');
    assert.equal(log.healthy, true);
    await log.close();
    assert.equal((await checkAuditDir(dir, undefined)).ok, true);
  });
});

describe('the real file port: a write is durable when it returns (O_DSYNC), so no fdatasync follows it', () => {
  // fdinfo's flags are octal; O_DSYNC (and O_APPEND) as Linux numbers them.
  const O_DSYNC = 0o10000;
  const O_APPEND = 0o2000;
  const fdFlags = async (path: string): Promise<number[]> => {
    const flags: number[] = [];
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target !== path) continue;
      const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8').catch(() => '');
      const m = /^flags:\s*([0-7]+)$/m.exec(info);
      if (m?.[1] !== undefined) flags.push(Number.parseInt(m[1], 8));
    }
    return flags;
  };

  test('the segment file is open for appending with O_DSYNC, and the port says so', async () => {
    const dir = await fresh();
    const port = await nodeAuditFs.openAppend(join(dir, 'probe'));
    assert.equal(port.syncedWrites, true);
    await port.close();
    const log = await FileAuditLog.open(dir);
    await log.append(entry(0));
    const segment = (await readdir(dir)).find((n) => n.endsWith('.jsonl') && n.startsWith('segment-'));
    assert.ok(segment !== undefined);
    const flags = await fdFlags(join(dir, segment));
    assert.ok(flags.length > 0, 'the segment is open');
    for (const f of flags) {
      assert.equal(f & O_DSYNC, O_DSYNC, `O_DSYNC in ${f.toString(8)}`);
      assert.equal(f & O_APPEND, O_APPEND, `O_APPEND in ${f.toString(8)}`);
    }
    await log.close();
  });

  test('a port whose writes are synced is never asked for fdatasync; one that is not, after every batch', async () => {
    for (const syncedWrites of [true, false]) {
      const dir = await fresh();
      let syncs = 0;
      const fs: AuditFs = {
        openAppend: async (path) => {
          const real = await nodeAuditFs.openAppend(path);
          return {
            write: (b, o, l) => real.write(b, o, l),
            datasync: () => (syncs++, real.datasync()),
            truncate: (l) => real.truncate(l),
            close: () => real.close(),
            syncedWrites,
          };
        },
        syncDir: (path) => nodeAuditFs.syncDir(path),
      };
      const log = await FileAuditLog.open(dir, { fs });
      for (let i = 0; i < 3; i++) await log.append(entry(i));
      await log.close();
      assert.equal(syncs, syncedWrites ? 0 : 3, `syncedWrites ${syncedWrites}`);
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, true);
    }
  });
});

describe('a record that cannot be canonicalised fails alone', () => {
  // value → why RFC 8785 refuses it
  const bad: [string, Record<string, unknown>][] = [
    ['a lone high surrogate in a step argument (issue 14 §5)', { input: { step: { args: ['--x', 'a\udbff'] } } }],
    ['a lone low surrogate', { message: 'x\udc00y' }],
    ['a lone surrogate in a key', { labels: { ['k\ud800']: 'v' } }],
    ['a reversed surrogate pair', { message: '\ude00\ud83d' }],
    ['NaN', { metrics: { n: Number.NaN } }],
    ['Infinity', { metrics: { n: Number.POSITIVE_INFINITY } }],
    ['-Infinity', { metrics: { n: Number.NEGATIVE_INFINITY } }],
    ['a BigInt', { result: { n: 10n } }],
  ];
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  bad.push(['a cycle', { input: cyclic }]);

  for (const [name, extra] of bad) {
    test(`${name}: that append is refused with AUDIT_RECORD_INVALID; its batch neighbours are written; the log stays healthy`, async () => {
      const dir = await fresh();
      const log = await FileAuditLog.open(dir);
      const results = await Promise.allSettled([
        log.append(entry(1)),
        log.append(entry(2, extra)),
        log.append(entry(3)),
        log.append(entry(4, extra)),
      ]);
      assert.equal(results[0]?.status, 'fulfilled');
      assert.equal(results[2]?.status, 'fulfilled');
      for (const r of [results[1], results[3]]) {
        assert.equal(r?.status, 'rejected');
        assert.equal((r.reason as { code?: string }).code, 'AUDIT_RECORD_INVALID');
      }
      assert.deepEqual(
        [results[0], results[2]].map((r) => (r as PromiseFulfilledResult<AuditRecord>).value.seq),
        [1, 2],
      );
      assert.equal(log.healthy, true, 'readiness is not touched');
      assert.equal((await log.append(entry(5))).seq, 3, 'the appender goes on at once');
      await assert.rejects(
        log.append(entry(6, extra)),
        { code: 'AUDIT_RECORD_INVALID' },
        'a batch of only bad records',
      );
      assert.equal((await log.append(entry(7))).seq, 4);
      await log.close();
      const report = await checkAuditDir(dir, undefined);
      assert.equal(report.ok, true, JSON.stringify(report.firstBad));
      assert.equal(report.records, 4);
    });
  }

  test('generated batches of good and bad records: good ones get contiguous seqs in arrival order, bad ones fail alone (fast-check)', async () => {
    const badValue = fc.constantFrom<unknown>('\ud800', 'a\udfffb', Number.NaN, Number.POSITIVE_INFINITY, 1n);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.option(badValue, { nil: undefined, freq: 2 }), { minLength: 1, maxLength: 30 }),
        async (plan) => {
          const dir = await fresh();
          const log = await FileAuditLog.open(dir);
          const results = await Promise.allSettled(
            plan.map((b, i) => log.append(entry(i, b === undefined ? {} : { input: { v: b } }))),
          );
          let seq = 0;
          for (const [i, r] of results.entries()) {
            if (plan[i] === undefined) {
              assert.equal(r.status, 'fulfilled');
              assert.equal((r as PromiseFulfilledResult<AuditRecord>).value.seq, ++seq);
            } else {
              assert.equal(((r as PromiseRejectedResult).reason as { code?: string }).code, 'AUDIT_RECORD_INVALID');
            }
          }
          assert.equal(log.healthy, true);
          await log.close();
          assert.equal((await checkAuditDir(dir, undefined)).ok, true);
          await rm(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 40 },
    );
  });

  test('through the pipeline: a signed assignment with a lone surrogate in an argument never gets a pod, its neighbours go on, the log stays healthy and verifies', async () => {
    const dir = await fresh();
    const audit = await FileAuditLog.open(dir);
    const { key, keys } = await testKeys();
    const r = await memoryRunner({ keys, audit });
    try {
      const token = (args: string[], jti: string) =>
        signAssignment(key, {
          issuer: ISSUER,
          audience: RUNNER,
          workflow: workflow([{ name: 'one', image: 'python:3.11', args }]),
          now: NOW,
          jti,
        });
      const [evil, good] = await Promise.all([
        admit({ body: await token(['--x', 'a\udbff'], 'jti-evil'), contentType: 'application/jwt' }, r.deps),
        admit({ body: await token(['--x', 'fine'], 'jti-good'), contentType: 'application/jwt' }, r.deps),
      ]);
      assert.equal(good.ok, true, JSON.stringify(good));
      if (good.ok) r.reconciler.enqueue(good.value.name);
      // A validate stage that checks Unicode refuses it at the door (VALIDATE_*); otherwise the first
      // record that holds the argument (evaluate's input) is refused: AUDIT_RECORD_INVALID, no pod.
      if (!evil.ok) assert.match(evil.error.code, /^(AUDIT_RECORD_INVALID|VALIDATE_[A-Z_]+)$/);
      else r.reconciler.enqueue(evil.value.name);
      // Until both runs had their passes (bounded in count, not in wall time: a loaded machine is slower).
      for (let i = 0; i < 3000 && !(r.deps.pods.created.length > 0 && r.reconciler.idle()); i++)
        await new Promise((res) => setTimeout(res, 10));
      assert.ok(r.reconciler.idle(), 'the reconciler has no pass running or queued');
      assert.equal(r.deps.pods.created.length, 1, "exactly one pod: the good run's");
      assert.ok(!JSON.stringify(r.deps.pods.created).includes('\\udbff'), 'the evil argument is in no pod');
      assert.equal(audit.healthy, true, 'readiness is not touched');
      assert.equal((await audit.append(entry(99))).stage, 'validate', 'the appender goes on');
    } finally {
      await r.close();
      await audit.close();
    }
    const report = await checkAuditDir(dir, undefined);
    assert.equal(report.ok, true, JSON.stringify(report.firstBad));
  });
});
