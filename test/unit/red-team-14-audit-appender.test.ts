// Red team 14, "seen and left alone", widened: finding 2's class (a file of an audit directory
// that is not a regular file) on the APPENDER's side — the runner opening its own directory.
// Before: a FIFO as the last segment, the checkpoints file or the lock file made FileAuditLog.open
// (so `serve`) wait for ever in open(2) or read(2); a symlink to /dev/zero read without end; a
// directory as the checkpoints file counted as "no checkpoints"; and a segment that was a symlink
// to /dev/null TOOK records: each append was acknowledged as durable and nothing was kept. Now
// every open of the appender refuses anything but a regular file, at once, and no record is
// acknowledged that is not in a regular file. The same for the shipper, which reads the segments.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { LOCK_FILE } from '../../src/adapters/audit-file-lock.ts';
import { AuditShipper } from '../../src/adapters/audit-ship.ts';
import { CHECKPOINTS_FILE, segmentName } from '../../src/adapters/audit-files.ts';
import { keyId } from '../../src/audit/keys.ts';
import { auditEntry as entry } from '../support/audit-entries.ts';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-rt14-appender-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** `p` settled within `ms`, or a failure that says it hung (so a regression fails, never hangs the suite). */
async function within<T>(p: Promise<T>, ms = 5000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`hung for ${ms} ms`)), ms)),
  );
  try {
    return { ok: true, value: await Promise.race([p, hung]) };
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('hung for')) throw error;
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

const SIGNER = (() => {
  const key = generateKeyPairSync('ed25519').privateKey;
  return { key, kid: keyId(createPublicKey(key)) };
})();

type Kind = 'fifo' | 'dev-null' | 'dev-zero' | 'directory';
const KINDS: readonly Kind[] = ['fifo', 'dev-null', 'dev-zero', 'directory'];

async function place(kind: Kind, path: string): Promise<void> {
  if (kind === 'fifo') execFileSync('mkfifo', [path]);
  else if (kind === 'dev-null') await symlink('/dev/null', path);
  else if (kind === 'dev-zero') await symlink('/dev/zero', path);
  else await mkdir(path);
}

for (const which of ['segment', 'checkpoints', 'lock'] as const)
  for (const kind of KINDS)
    test(`the log's own ${which} file as ${kind}: open is refused at once, nothing is taken`, async () => {
      const dir = await mkdtemp(join(root, `${which}-${kind}-`));
      const name = { segment: segmentName(1), checkpoints: CHECKPOINTS_FILE, lock: LOCK_FILE }[which];
      await place(kind, join(dir, name));
      // The checkpoints file is read at start only with a signing key (red team 17, finding 8).
      const checkpoint = which === 'checkpoints' ? { ...SIGNER, every: 1000, intervalMs: 60_000 } : undefined;
      const opened = await within(
        FileAuditLog.open(dir, { lock: { staleMs: 200, refreshMs: 50, waitMs: 500 }, checkpoint }),
      );
      if (opened.ok) await opened.value.close();
      assert.equal(opened.ok, false, 'the log opened over a file that is not a regular file');
      const message = opened.ok ? '' : String((opened.error as Error).message);
      assert.match(message, /not a regular file/);
      // What was claimed is undone: the lock (when it was ours to take) is released.
      if (which !== 'lock') assert.equal(existsSync(join(dir, LOCK_FILE)), false);
    });

for (const kind of KINDS)
  test(`the next segment already there as ${kind}: appends past the cut fail, none is acknowledged`, async () => {
    const dir = await mkdtemp(join(root, `next-${kind}-`));
    const log = await FileAuditLog.open(dir, { segmentBytes: 300 });
    await place(kind, join(dir, segmentName(2)));
    const acknowledged: number[] = [];
    let failed = 0;
    for (let i = 0; i < 6; i++) {
      const r = await within(log.append(entry(i)));
      if (r.ok) acknowledged.push(r.value.seq);
      else failed++;
    }
    await within(log.close());
    assert.ok(failed > 0, 'every append was acknowledged although the next segment is not a regular file');
    // Every acknowledged record is in segment 1, a regular file.
    const kept = (await readFile(join(dir, segmentName(1)), 'utf8')).trim().split('\n');
    assert.deepEqual(
      kept.map((l) => (JSON.parse(l) as { seq: number }).seq),
      acknowledged,
    );
  });

test('the regression: a segment linked to /dev/null acknowledged records it never kept', async () => {
  const dir = await mkdtemp(join(root, 'regression-'));
  await symlink('/dev/null', join(dir, segmentName(1)));
  const opened = await within(FileAuditLog.open(dir));
  if (opened.ok) {
    const r = await within(opened.value.append(entry(0)));
    await opened.value.close();
    assert.fail(`opened, and the append was ${r.ok ? `acknowledged as seq ${r.value.seq}` : 'refused'}`);
  }
});

for (const kind of ['fifo', 'dev-zero', 'directory'] as const)
  test(`the shipper reading a segment that is ${kind}: an error reported, never stuck`, async () => {
    const dir = await mkdtemp(join(root, `ship-${kind}-`));
    await place(kind, join(dir, segmentName(1)));
    const errors: string[] = [];
    // The sink is never reached: the segment is refused before any upload.
    const shipper = new AuditShipper(dir, {
      url: 'http://127.0.0.1:9/',
      batch: 10,
      pollMs: 10,
      backoff: { initialMs: 10, maxMs: 20 },
      timeoutMs: 1000,
      onError: (m) => errors.push(m),
    });
    shipper.start();
    for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const stopped = await within(shipper.stop(), 3000).catch((e: unknown) => ({ ok: false, error: e }));
    assert.match(errors[0] ?? '(no error reported in 2 s)', /not a regular file/);
    assert.equal(stopped.ok, true, 'the shipper did not stop');
  });
