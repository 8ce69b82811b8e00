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
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { LOCK_FILE, takeOver, type LockHolder } from '../../src/adapters/audit-file-lock.ts';
import { verifyAuditDir } from '../../src/adapters/audit-files.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

const dirs: string[] = [];
const fresh = async (): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), 'kubiya-lock-'));
  dirs.push(d);
  return d;
};
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const entry = (i: number): AuditEntry => ({ decision_id: `d-${i}`, timestamp: '2026-06-01T12:00:00.000Z', stage: 'evaluate', outcome: 'allow', message: 'm', runner: 'r', labels: { runner: 'r' } });
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
    await assert.rejects(FileAuditLog.open(dir), (e: unknown) => (e as { code?: string }).code === 'AUDIT_LOCKED' && /live writer \(PID \d+/.test((e as Error).message));
    await first.close();
    const second = await FileAuditLog.open(dir);
    assert.equal((await second.append(entry(2))).seq, 2);
    await second.close();
  });

  test('another live process holds it: refused at once, naming its PID; once it is killed -9 the lock is taken over', async () => {
    const dir = await fresh();
    const writer = spawn(process.execPath, [join(import.meta.dirname, '..', 'support', 'audit-writer.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => writer.stdout.once('data', () => resolve()));
      const t0 = Date.now();
      await assert.rejects(FileAuditLog.open(dir), (e: unknown) => (e as { code?: string }).code === 'AUDIT_LOCKED' && (e as Error).message.includes(`PID ${String(writer.pid)}`));
      assert.ok(Date.now() - t0 < 1000, 'a live holder in this namespace is refused without waiting');
    } finally {
      writer.kill('SIGKILL');
      await new Promise((r) => writer.once('exit', r));
    }
    const log = await FileAuditLog.open(dir);
    await log.append(entry(0));
    await log.close();
    assert.equal((await verifyAuditDir(dir, undefined)).ok, true);
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

  test('a holder in another PID namespace: refused while it keeps its lock fresh, taken over once it stops', async () => {
    const dir = await fresh();
    await foreignLock(dir, { pidns: 'pid:[1]', host: 'runner-0' });
    const path = join(dir, LOCK_FILE);
    const beat = setInterval(() => void utimes(path, new Date(), new Date()).catch(() => undefined), 40);
    try {
      const t0 = Date.now();
      await assert.rejects(FileAuditLog.open(dir, { lock: { refreshMs: 50, staleMs: 300, waitMs: 500 } }), (e: unknown) => (e as { code?: string }).code === 'AUDIT_LOCKED' && /runner-0/.test((e as Error).message));
      assert.ok(Date.now() - t0 >= 450, 'it waited for the lock to go stale');
    } finally {
      clearInterval(beat);
    }
    const t1 = Date.now();
    const log = await FileAuditLog.open(dir, { lock: { refreshMs: 50, staleMs: 300, waitMs: 2000 } });
    assert.ok(Date.now() - t1 >= 200, 'taken over only once untouched for staleMs');
    await log.close();
  });

  test('contenders racing for one stale lock: exactly one wins', async () => {
    const dir = await fresh();
    await foreignLock(dir, { pid: await deadPid() });
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => FileAuditLog.open(dir)));
    const won = results.filter((r): r is PromiseFulfilledResult<FileAuditLog> => r.status === 'fulfilled');
    assert.equal(won.length, 1, results.map((r) => (r.status === 'rejected' ? String((r.reason as Error).message) : 'won')).join('\n'));
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'AUDIT_LOCKED');
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
      if (steal) await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, start: '1', boot: 'b', pidns: 'p', host: 'h', token: 'thief', since: '' }));
      else await rm(join(dir, LOCK_FILE));
      await sleep(150);
      assert.equal(log.locked, false);
      assert.equal(log.healthy, false, '/ready reports it');
      await assert.rejects(log.append(entry(2)), locked);
      await log.close();
      if (steal) assert.match(await readFile(join(dir, LOCK_FILE), 'utf8'), /thief/, 'close does not remove a lock that is not ours');
    }
  });
});
