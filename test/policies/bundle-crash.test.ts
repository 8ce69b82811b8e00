import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BundlePoller, type Reloadable } from '../../src/adapters/bundle-poller.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { PolicyStore } from '../../src/adapters/policy-store.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';

/**
 * Red-team round 5, finding 10. The class: a runner killed while it takes a downloaded bundle must
 * restart from a bundle it accepted, never from one it refused — whatever step the kill hits. The
 * file the store reads (`target`) is what a restart loads, so at every crash point it must hold a
 * good bundle: the last good one until the new one is accepted, the new one after. Variants: a
 * good and a refused download × a crash before the check, in the check (the WASM compile, the
 * memory peak: an OOM kill), after the verdict, after the rename, and no crash. The reported
 * example: a refused bundle, killed in the check (the old poller had already renamed it over the
 * target and put the last good back only afterwards). Real files and real HTTP on loopback; the
 * store is an in-memory twin of the port that judges a bundle by its bytes and "crashes" (throws,
 * and is never called again) at the chosen step. The twin answers both the old port (reload) and
 * the new (adopt), so this test fails on the old poller.
 */
type Step = 'before check' | 'in check' | 'after verdict' | 'after rename' | 'none';
class Crash extends Error {}

/** A bundle is good when its bytes start with "good": the twin's whole policy. */
const good = (bytes: Buffer | undefined): boolean => bytes?.toString('utf8').startsWith('good') === true;

class CrashingStore implements Reloadable {
  private readonly target: string;
  private readonly crashAt: Step;
  constructor(target: string, crashAt: Step) {
    this.target = target;
    this.crashAt = crashAt;
  }
  private crash(step: Step): void {
    if (this.crashAt === step) throw new Crash(step);
  }
  async adopt(candidate: string, commit: () => Promise<void>): ReturnType<Reloadable['adopt']> {
    this.crash('before check');
    const bytes = await readFile(candidate);
    this.crash('in check');
    const ok = good(bytes);
    this.crash('after verdict');
    if (!ok) return { kind: 'rejected', reason: 'TWIN_REFUSED: not good' };
    await commit();
    this.crash('after rename');
    return { kind: 'swapped' };
  }
  /** The old port: the poller had already renamed the download over the target. */
  async reload(): Promise<'swapped' | 'unchanged' | 'rejected'> {
    this.crash('before check');
    const bytes = await readFile(this.target);
    this.crash('in check');
    const ok = good(bytes);
    this.crash('after verdict');
    if (!ok) return 'rejected';
    this.crash('after rename');
    return 'swapped';
  }
}

describe('a runner killed while it takes a downloaded bundle restarts from a good one', () => {
  let server: Server;
  let url = '';
  let body = Buffer.from('');
  let work = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-bundle-crash-'));
    server = createServer((_req, res) => res.writeHead(200, { etag: `"${body.toString('hex')}"` }).end(body));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const addr = server.address();
    url = `http://127.0.0.1:${String(typeof addr === 'object' && addr !== null ? addr.port : 0)}/bundle.tar.gz`;
  });
  after(async () => {
    server.close();
    await rm(work, { recursive: true, force: true });
  });

  const steps: Step[] = ['before check', 'in check', 'after verdict', 'after rename', 'none'];
  for (const download of ['good-2', 'bad'])
    for (const step of steps)
      test(`a ${download === 'bad' ? 'refused' : 'good'} download, killed ${step}`, async () => {
        const dir = await mkdtemp(join(work, 'case-'));
        const target = join(dir, 'bundle.tar.gz');
        await writeFile(target, 'good-1');
        body = Buffer.from(download);
        const store = new CrashingStore(target, step);
        const poller = new BundlePoller({ url, target, intervalMs: 1000, maxBackoffMs: 1000 }, store, {
          polled: () => undefined,
        });
        await poller.pollOnce(); // a crash is a thrown Crash: the poll ends as "failed", nothing after it runs
        const onDisk = await readFile(target);
        assert.ok(good(onDisk), `the restart loads ${onDisk.toString()}, a refused bundle`);
        const accepted = download === 'good-2' && (step === 'after rename' || step === 'none');
        assert.equal(onDisk.toString(), accepted ? 'good-2' : 'good-1');
        const left = (await readdir(dir)).filter((f) => f !== 'bundle.tar.gz');
        if (step === 'none') assert.deepEqual(left, [], 'no download left behind after a clean poll');
      });
});

test('the real PolicyStore: a refused download never touches the bundle file, and a restart loads it', async () => {
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-bundle-crash-real-'));
  try {
    const target = join(dir, 'bundle.tar.gz');
    const built = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), target);
    const before = await readFile(target);
    const reasons: string[] = [];
    const store = new PolicyStore(target, { loaded: () => undefined, rejected: (r) => reasons.push(r) });
    await store.load();
    const candidate = join(dir, 'bundle.tar.gz.download');
    await writeFile(candidate, 'not a bundle');
    let committed = false;
    const outcome = await store.adopt(candidate, () => {
      committed = true;
      return Promise.resolve();
    });
    assert.equal(outcome.kind, 'rejected');
    assert.equal(committed, false, 'a refused candidate is never committed');
    assert.equal(reasons.length, 1);
    assert.deepEqual(await readFile(target), before);
    assert.equal(store.current()?.revision, built.revision);
    const restarted = new PolicyStore(target, { loaded: () => undefined, rejected: () => undefined });
    assert.equal((await restarted.load()).revision, built.revision);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
