import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HostState } from '../../src/dev/node/host-state.ts';
import { clearLeftRealNode, RealNodeLocked } from '../../src/dev/node/left.ts';
import {
  judgeLock,
  newToken,
  publishLock,
  readLock,
  releaseLock,
  replaceLock,
  takeOverLock,
  thisOwner,
  type NodeRecord,
} from '../../src/dev/node/lock.ts';
import { settleLock } from '../../src/dev/node/node-down.ts';
import { withAbsoluteDir } from '../../src/dev/node/node.ts';
import { clearNodeBeforeRemoving } from '../../src/dev/node/left.ts';
import { startTicksOf } from '../../src/dev/processes.ts';
import type { Owner } from '../../src/dev/node/owned.ts';
import type { RealNodeOptions } from '../../src/dev/node/daemon.ts';

/**
 * The real node's lock, which is also its record (src/dev/node/lock.ts), red-team round 5. Classes:
 * - 3: the record lived in the node's directory, which callers (the demo, `dev cluster up`) delete
 *   before the node start could clear a left node; "lock present, record missing" was then taken
 *   as stale. Now the record is the lock (in /run), and a lock without a readable record — an old
 *   lock whose directory is gone, a truncated or hand-written file — is refused, never dropped.
 * - 4: a node whose owner is alive and still starting it (no process recorded yet, or a record
 *   read half-written) was judged left and torn down by a concurrent start. Now a recorded live
 *   owner is never left, at every point the start saves its record; the lock is published whole
 *   (link) and replaced whole (rename); it is taken over (compare-and-swap) by one contender only;
 *   it is released or replaced only by the holder whose token it holds.
 * - 8: a restore that left differences refused once (the record was gone). Now the lock keeps the
 *   record and the list, and every later start refuses with it until an operator acts.
 * - 9: a relative node directory in the lock. Now absolute, and a relative one read is refused.
 * Real files under a temporary directory (the lock path is injected), real processes for owners.
 */
const HOST: HostState = {
  sysctls: { 'net.ipv4.ip_forward': '0' },
  mounts: [],
  links: ['lo'],
  iptables: { ip: '', ip6: '' },
  nftTables: [],
  ipsets: [],
  cgroups: [],
  paths: [],
};
const TOOLS = {} as RealNodeOptions['tools'];

let work = '';
let dead: Owner;
let detachedProcess: ChildProcess;
const nodeDir = (): string => join(work, 'node');
const lockAt = (name: string): string => join(work, `${name}.lock`);

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-node-lock-'));
  const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await once(gone, 'spawn');
  dead = { pid: gone.pid ?? -1, startTicks: startTicksOf(gone.pid ?? -1) ?? '1' };
  await once(gone, 'exit');
  // A process of the node's own (its command line names the node's directory), as a kubelet is.
  detachedProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', '--', `${nodeDir()}/kubelet.yaml`], {
    stdio: 'ignore',
  });
  await once(detachedProcess, 'spawn');
});
after(async () => {
  detachedProcess.kill('SIGKILL');
  await rm(work, { recursive: true, force: true });
});

/** The record startRealNode saves at each of its save points (lock.ts NodeRecord). */
function savePoints(owner: Owner | undefined): [string, NodeRecord][] {
  const base = { dir: nodeDir(), kubeconfig: join(work, 'kubeconfig'), token: 't' };
  const o = owner !== undefined ? { owner } : {};
  const canary = { name: 'canary', pid: 2 ** 22 + 5 };
  const all = ['containerd', 'kubelet', 'api-forwarder', 'kube-proxy', 'kube-router'].map((name, i) => ({
    name,
    pid: 2 ** 22 + 10 + i,
  }));
  return [
    ['published (nothing changed on the host yet)', { ...base, ...o, pids: [] }],
    ['host recorded, no process yet', { ...base, ...o, pids: [], before: HOST }],
    ['canary and containerd started, not yet saved', { ...base, ...o, pids: [], before: HOST }],
    ['containerd saved', { ...base, ...o, pids: [canary, all[0]!], before: HOST }],
    ['every process saved (processes since gone)', { ...base, ...o, pids: [canary, ...all], before: HOST }],
  ];
}

describe('judging the lock', () => {
  test('finding 4: a live owner is never left, at every save point; a dead or recycled owner is', async () => {
    const recycled = { ...thisOwner(), startTicks: '0' };
    for (const [owner, expected] of [
      [thisOwner(), 'live'],
      [dead, 'left'],
      [recycled, 'left'],
    ] as const)
      for (const [point, record] of savePoints(owner)) {
        const verdict = await judgeLock(JSON.stringify(record), lockAt('judge'));
        assert.equal(verdict.kind, expected, `${point}, owner ${owner === dead ? 'dead' : owner.startTicks}`);
      }
  });

  test('a node up without an owner (dev cluster up) is live while a process of its own runs, left after', async () => {
    const base = { dir: nodeDir(), kubeconfig: join(work, 'kubeconfig'), token: 't', before: HOST };
    const own = { ...base, pids: [{ name: 'kubelet', pid: detachedProcess.pid ?? -1 }] };
    assert.equal((await judgeLock(JSON.stringify(own))).kind, 'live');
    const stranger = { ...base, pids: [{ name: 'kubelet', pid: process.pid }] }; // runs, but is not the node's
    assert.equal((await judgeLock(JSON.stringify(stranger))).kind, 'left');
  });

  test('what is no record, or a record of a failed restore, is refused with the content and how to clear it', async () => {
    const path = lockAt('refuse');
    const legacyGone = join(work, 'demo', 'node'); // finding 3: the demo's rm took the old record away
    const cases: [string, string, RegExp][] = [
      ['empty (truncated)', '', /not a node record/],
      ['half a record', '{"dir": "/tmp/x", "kube', /unparseable/],
      ['an empty object', '{}', /dir, kubeconfig, pids or token missing/],
      ['a list', '[]', /not a node record/],
      ['hand-written text', 'hello\n', /not a node record/],
      ['finding 9: a relative directory', JSON.stringify({ ...savePoints(dead)[0]![1], dir: 'rel/node' }), /relative/],
      ['finding 9: an old relative lock line', 'rel/node\n', /not a node record/],
      ['finding 3: an old lock whose record is gone', `${legacyGone}\n`, /host-before\.json\) is gone/],
      [
        'finding 8: a restore that left differences',
        JSON.stringify({
          ...savePoints(dead)[1]![1],
          owner: undefined,
          differs: ['sysctl net.ipv4.ip_forward: 0 → 1'],
        }),
        /still differs[^]*net\.ipv4\.ip_forward: 0 → 1/,
      ],
    ];
    for (const [what, text, reason] of cases) {
      const verdict = await judgeLock(text, path);
      assert.equal(verdict.kind, 'refuse', what);
      if (verdict.kind !== 'refuse') continue;
      assert.match(verdict.reason, reason, what);
      assert.match(verdict.reason, new RegExp(`remove ${path}`), `${what}: says how to clear it`);
    }
  });

  test('an old lock (a line naming the directory) with its record present is judged from that record', async () => {
    const dir = join(work, 'legacy');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'host-before.json'), JSON.stringify(HOST));
    await writeFile(join(dir, 'node-state.json'), JSON.stringify({ kubeconfig: 'k', pids: [], owner: dead }));
    const verdict = await judgeLock(`${dir}\n`);
    assert.equal(verdict.kind, 'left');
    if (verdict.kind === 'left') assert.deepEqual(verdict.record.before, HOST);
  });
});

describe('publishing, replacing, taking over and releasing the lock', () => {
  const record = (token = newToken()): NodeRecord => ({ ...savePoints(thisOwner())[0]![1], token });

  test('published whole and once: of 12 concurrent starts exactly one holds it, and it parses', async () => {
    const path = lockAt('publish');
    const wins = await Promise.all(Array.from({ length: 12 }, () => publishLock(record(), path)));
    assert.equal(wins.filter(Boolean).length, 1);
    assert.equal((await judgeLock(await readLock(path), path)).kind, 'live');
    assert.deepEqual(
      (await readdir(work)).filter((f) => f.startsWith('publish.lock.')),
      [],
      'no temporary file left',
    );
  });

  test('finding 4: of 12 contenders taking over one left node, exactly one wins; the others keep its lock', async () => {
    const path = lockAt('takeover');
    const left = { ...savePoints(dead)[1]![1], token: newToken() };
    assert.equal(await publishLock(left, path), true);
    const judged = (await readLock(path)) ?? '';
    const mine = Array.from({ length: 12 }, () => ({ ...left, owner: thisOwner(), token: newToken() }));
    const wins = await Promise.all(mine.map((m) => takeOverLock(judged, m, path).catch(() => false)));
    assert.equal(wins.filter(Boolean).length, 1);
    const holder = JSON.parse((await readLock(path)) ?? '{}') as NodeRecord;
    assert.equal(holder.token, mine[wins.indexOf(true)]!.token);
    assert.deepEqual(holder.before, HOST, 'the left record is kept: the winner clears from it');
  });

  test('finding 4: a lock is replaced or released only by the holder whose token it holds', async () => {
    const path = lockAt('token');
    const theirs = record();
    assert.equal(await publishLock(theirs, path), true);
    assert.equal(await releaseLock('another', path), false);
    assert.equal(await replaceLock({ ...theirs, token: 'another', pids: [] }, path), false);
    assert.equal((JSON.parse((await readLock(path)) ?? '{}') as NodeRecord).token, theirs.token, 'untouched');
    assert.equal(await replaceLock({ ...theirs, pids: [{ name: 'kubelet', pid: 7 }] }, path), true);
    assert.equal(await releaseLock(theirs.token, path), true);
    assert.equal(existsSync(path), false);
  });

  test('finding 8: a restore that leaves differences keeps the record, and every later start refuses', async () => {
    const path = lockAt('settle');
    const held = { ...savePoints(thisOwner())[1]![1], token: newToken() };
    assert.equal(await publishLock(held, path), true);
    await settleLock(held, ['sysctl kernel.panic: 0 → 10'], path);
    for (let start = 1; start <= 3; start++) {
      await assert.rejects(
        clearLeftRealNode(TOOLS, () => undefined, path),
        (e: Error) => {
          assert.ok(e instanceof RealNodeLocked);
          assert.match(e.message, /kernel\.panic: 0 → 10/);
          return true;
        },
      );
      assert.ok(existsSync(path), `start ${String(start)}: the record is still there`);
    }
    const clean = { ...held, token: newToken() };
    await rm(path);
    assert.equal(await publishLock(clean, path), true);
    await settleLock(clean, [], path);
    assert.equal(existsSync(path), false, 'a restore with no difference removes it');
  });
});

describe('clearing before a start', () => {
  test('a node left before it changed the host (owner killed at its first save) is cleared without a restore', async () => {
    const path = lockAt('clear-first');
    const dir = join(work, 'first-node');
    await mkdir(dir, { recursive: true });
    await publishLock({ dir, kubeconfig: 'k', pids: [], owner: dead, token: newToken() }, path);
    const said: string[] = [];
    assert.equal(await clearLeftRealNode(TOOLS, (l) => said.push(l), path), undefined);
    assert.equal(existsSync(path), false);
    assert.equal(existsSync(dir), false);
    assert.match(said.join('\n'), /left by a run that ended without down/);
  });

  test('finding 4: a live owner still starting (no process recorded) is left alone and returned', async () => {
    const path = lockAt('clear-live');
    const live = { ...savePoints(thisOwner())[1]![1], token: newToken() };
    await publishLock(live, path);
    const text = await readLock(path);
    assert.equal((await clearLeftRealNode(TOOLS, () => undefined, path))?.token, live.token);
    assert.equal(await readLock(path), text, 'the lock is untouched');
  });

  test('finding 3: the demo without --real-node refuses a node recorded in its work dir; elsewhere is fine', async () => {
    const path = lockAt('demo');
    const demo = join(work, 'demo');
    await publishLock({ ...savePoints(dead)[1]![1], dir: join(demo, 'node'), token: newToken() }, path);
    await assert.rejects(
      clearNodeBeforeRemoving(demo, undefined, () => undefined, path),
      RealNodeLocked,
    );
    await assert.rejects(
      clearNodeBeforeRemoving(`${demo}/`, undefined, () => undefined, path),
      RealNodeLocked,
    );
    await clearNodeBeforeRemoving(`${demo}2`, undefined, () => undefined, path); // a prefix is not inside
    await writeFile(path, `${join(demo, 'node')}\n`); // an old lock, its record gone
    await assert.rejects(
      clearNodeBeforeRemoving(demo, undefined, () => undefined, path),
      RealNodeLocked,
    );
    assert.ok(existsSync(path));
  });

  test('finding 9: the node directory is made absolute before anything uses it', () => {
    const o = { dir: 'rel/../node/' } as RealNodeOptions;
    assert.equal(withAbsoluteDir(o).dir, resolve(process.cwd(), 'node'));
    assert.equal(withAbsoluteDir({ ...o, dir: '/run/x/../y' }).dir, '/run/y');
  });
});

test('a record is written whole: every lock file a holder leaves parses', async () => {
  const path = lockAt('whole');
  const r = { ...savePoints(thisOwner())[4]![1], token: newToken() };
  await publishLock(r, path);
  for (let i = 0; i < 20; i++) await replaceLock({ ...r, pids: r.pids.slice(0, i % 5) }, path);
  const parsed = JSON.parse(await readFile(path, 'utf8')) as NodeRecord;
  assert.equal(parsed.token, r.token);
});
