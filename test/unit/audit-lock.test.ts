/**
 * One writer per audit chain (issue 13 §4). The class: a second writer on an audit directory,
 * whoever it is, is refused with AUDIT_LOCKED; a lock is taken over only when its holder is
 * provably gone. Variants: the same process twice, another live process, a dead holder, a holder
 * whose PID now belongs to another process, a holder in another PID namespace (fresh: refused;
 * untouched: taken over), several contenders racing for one stale lock (exactly one wins), and a
 * lock removed or taken from under a running writer (it refuses every further append).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { open, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { LOCK_FILE, takeOver } from '../../src/adapters/audit-file-lock.ts';
import type { LockHolder } from '../../src/adapters/audit-lock-holder.ts';
import { checkAuditDir } from '../../src/adapters/audit-files.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const fresh = tempDirs('kubiya-lock-');
const entry = (i: number): AuditEntry => auditEntry(i);
const locked = { code: 'AUDIT_LOCKED' };

/** A lock file as another holder would have written it (our own boot and namespace unless told). */
async function foreignLock(dir: string, over: Partial<LockHolder>): Promise<void> {
  const log = await FileAuditLog.open(dir);
  const mine = JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')) as LockHolder;
  await log.close();
  await writeFile(join(dir, LOCK_FILE), JSON.stringify({ ...mine, token: 'someone-else', ...over }) + '\n');
}

/** A PID that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.once('exit', r));
  return child.pid as number;
}

describe('audit directory lock', () => {
  test('the same directory opened twice: the second is refused with AUDIT_LOCKED; after close it opens', async () => {
    const dir = await fresh();
    const first = await FileAuditLog.open(dir);
    await first.append(entry(1));
    await assert.rejects(
      FileAuditLog.open(dir),
      (e: unknown) =>
        (e as { code?: string }).code === 'AUDIT_LOCKED' && /live writer \(PID \d+/.test((e as Error).message),
    );
    await first.close();
    const second = await FileAuditLog.open(dir);
    assert.equal((await second.append(entry(2))).seq, 2);
    await second.close();
  });

  test('another live process holds it: refused at once, naming its PID; once it is killed -9 the lock is taken over', async () => {
    const dir = await fresh();
    const writer = spawn(process.execPath, [join(import.meta.dirname, '..', 'support', 'audit-writer.ts'), dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve) => writer.stdout.once('data', () => resolve()));
      const t0 = Date.now();
      await assert.rejects(
        FileAuditLog.open(dir),
        (e: unknown) =>
          (e as { code?: string }).code === 'AUDIT_LOCKED' &&
          (e as Error).message.includes(`PID ${String(writer.pid)}`),
      );
      assert.ok(Date.now() - t0 < 1000, 'a live holder in this namespace is refused without waiting');
    } finally {
      writer.kill('SIGKILL');
      await new Promise((r) => writer.once('exit', r));
    }
    const log = await FileAuditLog.open(dir);
    await log.append(entry(0));
    await log.close();
    assert.equal((await checkAuditDir(dir, undefined)).ok, true);
  });

  test('a lock left by a dead PID is taken over; one whose PID now names another process (start time differs) too', async () => {
    const dir = await fresh();
    await foreignLock(dir, { pid: await deadPid() });
    const taken = await FileAuditLog.open(dir);
    await taken.close();
    const d2 = await fresh();
    await foreignLock(d2, { pid: process.pid, start: '1' }); // this PID, but not the process that took the lock
    const log = await FileAuditLog.open(d2);
    await log.close();
  });

  /**
   * A holder in another PID namespace is judged by its heartbeat, which changes the file's content
   * (not only its mtime): the class is "liveness by content, whatever the clocks say". Variants:
   * beating with a fresh mtime, beating with an mtime in the past (its host's clock is behind),
   * silent with an mtime kept in the future (clock ahead, or paused after a touch), silent with an
   * old mtime (gone: taken over after two heartbeats), and an older writer's lock without a beat
   * (judged by mtime, as before).
   */
  // Wide enough apart that a loaded machine's timer drift (hundreds of ms) cannot reorder them:
  // two heartbeats (2 × REFRESH_MS) ≪ STALE_MS < WAIT_MS.
  const REFRESH_MS = 100;
  const STALE_MS = 1500;
  const WAIT_MS = 2000;
  const foreignCases: {
    name: string;
    beat: boolean;
    mtime: 'fresh' | 'past' | 'future' | 'touch' | 'none';
    noBeatField?: boolean;
    taken: boolean;
    minMs: number;
    maxMs?: number;
  }[] = [
    { name: 'beating, mtime fresh: refused', beat: true, mtime: 'fresh', taken: false, minMs: WAIT_MS - 50 },
    {
      name: 'beating, mtime an hour in the past (clock behind): refused',
      beat: true,
      mtime: 'past',
      taken: false,
      minMs: WAIT_MS - 50,
    },
    {
      name: 'silent, mtime in the future (clock ahead): taken over once unchanged for staleMs',
      beat: false,
      mtime: 'future',
      taken: true,
      minMs: STALE_MS - 20,
    },
    {
      name: 'silent, mtime kept fresh by touching only: taken over once unchanged for staleMs',
      beat: false,
      mtime: 'touch',
      taken: true,
      minMs: STALE_MS - 20,
    },
    {
      name: 'silent, mtime old: taken over after two heartbeats, before staleMs',
      beat: false,
      mtime: 'past',
      taken: true,
      minMs: 2 * REFRESH_MS - 10,
      maxMs: STALE_MS - 20,
    },
    {
      name: 'an older writer (no beat field) touching its lock: refused',
      beat: false,
      mtime: 'touch',
      noBeatField: true,
      taken: false,
      minMs: WAIT_MS - 50,
    },
    {
      name: 'an older writer (no beat field), untouched: taken over once its mtime is staleMs old',
      beat: false,
      mtime: 'none',
      noBeatField: true,
      taken: true,
      minMs: STALE_MS - 300,
    },
  ];
  for (const c of foreignCases) {
    test(`a holder in another PID namespace: ${c.name}`, async () => {
      const dir = await fresh();
      await foreignLock(dir, {
        pidns: 'pid:[1]',
        host: 'runner-0',
        ...(c.noBeatField === true ? { beat: undefined } : {}),
      });
      const path = join(dir, LOCK_FILE);
      const base = await readFile(path, 'utf8');
      const fh = await open(path, 'r+');
      let n = 0;
      const setMtime = async (): Promise<void> => {
        const t =
          c.mtime === 'past'
            ? new Date(Date.now() - 3_600_000)
            : c.mtime === 'future'
              ? new Date(Date.now() + 3_600_000)
              : new Date();
        if (c.mtime !== 'none') await utimes(path, t, t);
      };
      await setMtime();
      const beat = setInterval(() => {
        void (async () => {
          // In place and the same length, as the real heartbeat writes it.
          if (c.beat)
            await fh.write(base.replace(/"beat":"\d{12}/, `"beat":"${String(++n).padStart(12, '0')}`), 0, 'utf8');
          await setMtime();
        })().catch(() => undefined);
      }, 40);
      try {
        const t0 = Date.now();
        const opening = FileAuditLog.open(dir, {
          lock: { refreshMs: REFRESH_MS, staleMs: STALE_MS, waitMs: WAIT_MS },
        });
        if (c.taken) {
          const log = await opening;
          const took = Date.now() - t0;
          assert.ok(took >= c.minMs, `taken over after ${took} ms, not before ${c.minMs}`);
          if (c.maxMs !== undefined) assert.ok(took < c.maxMs, `taken over after ${took} ms, within ${c.maxMs}`);
          await log.close();
        } else {
          await assert.rejects(
            opening,
            (e: unknown) => (e as { code?: string }).code === 'AUDIT_LOCKED' && /runner-0/.test((e as Error).message),
          );
          assert.ok(Date.now() - t0 >= c.minMs, 'it waited for the lock to go stale');
        }
      } finally {
        clearInterval(beat);
        await fh.close();
      }
    });
  }

  test("the holder's heartbeat rewrites the lock file in place: same inode and length, new content", async () => {
    const dir = await fresh();
    const log = await FileAuditLog.open(dir, { lock: { refreshMs: 20 } });
    const path = join(dir, LOCK_FILE);
    const before = { text: await readFile(path, 'utf8'), ino: (await stat(path)).ino };
    await sleep(120);
    const afterText = await readFile(path, 'utf8');
    assert.notEqual(afterText, before.text);
    assert.equal(afterText.length, before.text.length);
    assert.equal((await stat(path)).ino, before.ino);
    assert.match(afterText, /"beat":"\d{12}@\d{4}-/);
    await log.close();
  });

  test('contenders racing for one stale lock: exactly one wins', async () => {
    const dir = await fresh();
    await foreignLock(dir, { pid: await deadPid() });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => FileAuditLog.open(dir)));
    const won = results.filter((r): r is PromiseFulfilledResult<FileAuditLog> => r.status === 'fulfilled');
    assert.equal(
      won.length,
      1,
      results.map((r) => (r.status === 'rejected' ? String((r.reason as Error).message) : 'won')).join('\n'),
    );
    for (const r of results)
      if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'AUDIT_LOCKED');
    await won[0]?.value.close();
  });

  test('a takeover that finds a fresh lock in place of the stale one it judged puts it back', async () => {
    const dir = await fresh();
    const path = join(dir, LOCK_FILE);
    await writeFile(path, 'fresh lock of the contender that won\n');
    await takeOver(path, `${path}.stale.x`, 'the stale lock this contender read\n');
    assert.equal(await readFile(path, 'utf8'), 'fresh lock of the contender that won\n');
    await takeOver(path, `${path}.stale.x`, 'fresh lock of the contender that won\n');
    await assert.rejects(readFile(path, 'utf8'), { code: 'ENOENT' }, 'the one it judged is removed');
  });

  test('a lock removed or taken from under a running writer: it notices within a heartbeat and refuses every further append', async () => {
    for (const steal of [true, false]) {
      const dir = await fresh();
      const log = await FileAuditLog.open(dir, { lock: { refreshMs: 30 } });
      await log.append(entry(1));
      if (steal)
        await writeFile(
          join(dir, LOCK_FILE),
          JSON.stringify({ pid: 1, start: '1', boot: 'b', pidns: 'p', host: 'h', token: 'thief', since: '' }),
        );
      else await rm(join(dir, LOCK_FILE));
      await sleep(150);
      assert.equal(log.locked, false);
      assert.equal(log.healthy, false, '/ready reports it');
      await assert.rejects(log.append(entry(2)), locked);
      await log.close();
      if (steal)
        assert.match(
          await readFile(join(dir, LOCK_FILE), 'utf8'),
          /thief/,
          'close does not remove a lock that is not ours',
        );
    }
  });
});

/**
 * One writer per chain at every write, not only at the heartbeat (docs/reviews/2026-11-29-red-team.md #4). The class: the
 * lock stops being ours while a writer runs, by any means; its very next append is refused with
 * AUDIT_LOCKED before anything is written (heartbeat far away: 60 s), /ready's flags say so, and a
 * second writer that then takes the directory leaves a chain that verifies. Variants: the lock file
 * removed by hand, replaced by another file (a new inode holding another token), overwritten in
 * place (same inode, another token), a paused holder taken over by a real contender in another
 * PID namespace (its lock judged stale), and appends already queued when the lock goes.
 */
describe('audit lock checked before every write', () => {
  const ways: { name: string; lose: (dir: string) => Promise<void> }[] = [
    { name: 'removed by hand', lose: (dir) => rm(join(dir, LOCK_FILE)) },
    {
      name: 'replaced by another file',
      lose: async (dir) => {
        await writeFile(
          join(dir, 'other'),
          JSON.stringify({ pid: 1, start: '1', boot: 'b', pidns: 'p', host: 'h', token: 'thief', since: '' }),
        );
        await rename(join(dir, 'other'), join(dir, LOCK_FILE));
      },
    },
    {
      name: 'overwritten in place (same inode)',
      lose: async (dir) => {
        const fh = await open(join(dir, LOCK_FILE), 'r+');
        const text = await fh.readFile('utf8');
        await fh.write(
          text.replace(/"token":"[0-9a-f]+"/, (m) => m.replace(/[0-9a-f](?=")/, (d) => (d === '0' ? '1' : '0'))),
          0,
          'utf8',
        );
        await fh.close();
      },
    },
  ];
  for (const way of ways) {
    test(`lock ${way.name}: the next append is refused and writes nothing; a second writer keeps the chain intact`, async () => {
      const dir = await fresh();
      const log = await FileAuditLog.open(dir, { lock: { refreshMs: 60_000 } });
      for (let i = 1; i <= 3; i++) await log.append(entry(i));
      await way.lose(dir);
      await assert.rejects(log.append(entry(4)), locked);
      assert.equal(log.locked, false);
      assert.equal(log.healthy, false, '/ready reports it');
      assert.deepEqual(log.head().seq, 3, 'the refused record took no seq');
      await assert.rejects(log.append(entry(5)), locked);
      await rm(join(dir, LOCK_FILE), { force: true });
      const second = await FileAuditLog.open(dir);
      for (let i = 0; i < 3; i++) await second.append(entry(10 + i));
      await assert.rejects(log.append(entry(6)), locked, 'still refused while the second writer holds the lock');
      await second.close();
      await log.close();
      const result = await checkAuditDir(dir, undefined);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal((result as { records?: number }).records, 6);
    });
  }

  test('a paused holder (no beat for longer than staleMs, as seen from another PID namespace) is taken over by a real contender; on resuming, its next append is refused', async () => {
    const dir = await fresh();
    const paused = await FileAuditLog.open(dir, { lock: { refreshMs: 60_000 } }); // no heartbeat within the test: "paused"
    await paused.append(entry(1));
    const path = join(dir, LOCK_FILE);
    // Seen from elsewhere: the holder's PID namespace is not the contender's (same inode, same token).
    const fh = await open(path, 'r+');
    const text = await fh.readFile('utf8');
    await fh.write(
      text.replace(/"pidns":"[^"]*"/, (m) => `"pidns":"${'x'.repeat(m.length - 10)}"`),
      0,
      'utf8',
    );
    await fh.close();
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    const contender = await FileAuditLog.open(dir, { lock: { refreshMs: 50, staleMs: 300, waitMs: 2000 } });
    await contender.append(entry(2));
    await assert.rejects(paused.append(entry(3)), locked, 'the resumed holder writes nothing');
    assert.equal(paused.healthy, false);
    await contender.append(entry(4));
    await contender.close();
    await paused.close();
    const result = await checkAuditDir(dir, undefined);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal((result as { records?: number }).records, 3);
  });

  test('the queue of appends in flight when the lock goes: none of them is written', async () => {
    const dir = await fresh();
    const log = await FileAuditLog.open(dir, { lock: { refreshMs: 60_000 } });
    await log.append(entry(0));
    const inFlight = Array.from({ length: 20 }, (_, i) => log.append(entry(100 + i)));
    await rm(join(dir, LOCK_FILE));
    const more = Array.from({ length: 20 }, (_, i) => log.append(entry(200 + i)));
    const settled = await Promise.allSettled([...inFlight, ...more]);
    const written = settled.filter((s) => s.status === 'fulfilled').length;
    for (const s of settled)
      if (s.status === 'rejected') assert.equal((s.reason as { code?: string }).code, 'AUDIT_LOCKED');
    await log.close();
    const result = await checkAuditDir(dir, undefined);
    assert.equal(result.ok, true);
    assert.equal((result as { records?: number }).records, 1 + written, 'exactly the acknowledged records are on disk');
  });

  test('REDTEAM #4: a running writer process, its lock removed, a second writer appends: the chain stays intact', async () => {
    const dir = await fresh();
    const writer = spawn(process.execPath, [join(import.meta.dirname, '..', 'support', 'audit-writer.ts'), dir], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      await new Promise<void>((resolve) => writer.stdout.once('data', () => resolve()));
      await sleep(200);
      await rm(join(dir, LOCK_FILE));
      const second = await FileAuditLog.open(dir, {});
      for (let i = 0; i < 3; i++) await second.append(entry(i));
      await second.close();
      await sleep(300); // the first writer would have interleaved by now
    } finally {
      // It exits by itself once its append is refused (an unhandled rejection): do not wait for an exit that came.
      if (writer.exitCode === null && writer.signalCode === null) {
        const exited = new Promise((r) => writer.once('exit', r));
        writer.kill('SIGKILL');
        await exited;
      }
    }
    const result = await checkAuditDir(dir, undefined);
    assert.equal(result.ok, true, JSON.stringify(result));
  });
});
