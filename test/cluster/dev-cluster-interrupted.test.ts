import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import type { UpState } from '../../src/dev/cluster-state.ts';
import { runsAs } from '../../src/dev/processes.ts';
import { requireTools } from '../support/cluster.ts';
import { anyProcessNames, noneNamesWithin } from '../support/process-scan.ts';

const run = promisify(execFile);
const cli = join(REPO_ROOT, 'bin', 'kubiya-runner.js');
type Failed = { code: number; stdout: string; stderr: string };
const cluster = (args: string[], cwd?: string): Promise<Failed> =>
  run(process.execPath, [cli, 'dev', 'cluster', ...args], { timeout: 180_000, ...(cwd !== undefined ? { cwd } : {}) })
    .then((r) => ({ code: 0, ...r }))
    .catch((e: Failed) => e);

/** Polls <dir>/state.json until it records at least `n` processes (30 ms steps, up to 150 s). */
async function recorded(dir: string, n: number): Promise<UpState> {
  const end = Date.now() + 150_000;
  while (Date.now() < end) {
    try {
      const s = JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')) as UpState;
      if (s.pids.length >= n) return s;
    } catch {
      // not written yet
    }
    await sleep(30);
  }
  throw new Error(`no record of ${String(n)} processes in ${dir}`);
}

test('"up --dir D" where D holds a user file: refused, the file is kept (reported: rm -rf of D)', async () => {
  requireTools();
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-devcluster-'));
  try {
    await writeFile(join(dir, 'notes.txt'), 'my notes');
    const r = await cluster(['up', '--dir', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /CLUSTER_DIR_NOT_OURS/);
    assert.equal(await readFile(join(dir, 'notes.txt'), 'utf8'), 'my notes');
    assert.equal(anyProcessNames(dir), false, 'nothing started');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Red team 5, finding 1. The class: an `up` killed before it recorded what it started left etcd and
 * kube-apiserver running with no record; `down` said "no local control plane is up" and the next `up`
 * started a second control plane beside them. Now the record is written before the first process and
 * after each one. Table: `up` killed (SIGINT as reported, and SIGKILL) after each of several processes;
 * then `down` (or the next `up`, which must clear first) leaves no process naming the directory.
 */
const cases: readonly { readonly after: number; readonly signal: NodeJS.Signals; readonly then: 'down' | 'up' }[] = [
  { after: 1, signal: 'SIGINT', then: 'down' }, // reported: Ctrl-C after etcd
  { after: 2, signal: 'SIGKILL', then: 'up' }, // etcd + kube-apiserver; the next up, from a relative --dir
  { after: 5, signal: 'SIGKILL', then: 'down' }, // every process, before the namespaces and the final record
];
for (const c of cases)
  test(`"up" killed (${c.signal}) after ${String(c.after)} process(es), then "${c.then}": nothing of it is left`, async () => {
    requireTools();
    const base = await mkdtemp(join(tmpdir(), 'kubiya-devcluster-'));
    const dir = join(base, 'cluster');
    const up = spawn(process.execPath, [cli, 'dev', 'cluster', 'up', '--dir', dir], { stdio: 'ignore' });
    try {
      const left = await recorded(dir, c.after);
      assert.equal(left.phase, 'starting');
      if (c.after === 1) {
        const busy = await cluster(['down', '--dir', dir]);
        assert.equal(busy.code, 2, 'a "down" while "up" still starts it is refused');
        assert.match(busy.stderr, /CLUSTER_BUSY/);
      }
      up.kill(c.signal);
      await once(up, 'exit');
      assert.ok(
        left.pids.some((p) => runsAs(p.pid, [dir], p.startTicks)),
        'what it started still runs',
      );
      if (c.then === 'up') {
        const next = await cluster(['up', '--dir', 'cluster', '--output', 'json'], base);
        assert.equal(next.code, 0, next.stderr);
        assert.match(next.stderr, /left by a run that ended without "down"/);
        const state = JSON.parse(next.stdout) as UpState;
        assert.equal(state.dir, dir, 'a relative --dir is recorded absolute');
        assert.ok(
          left.pids.every((p) => !runsAs(p.pid, [dir], p.startTicks)),
          'the left processes were cleared',
        );
        assert.equal(state.pids.length, 5);
      }
      const down = await cluster(['down', '--dir', dir]);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(await noneNamesWithin(dir, 3000), true, 'no process names the directory');
      assert.equal(existsSync(dir), false, 'no directory left');
    } finally {
      up.kill('SIGKILL');
      await cluster(['down', '--dir', dir]);
      await mkdir(base, { recursive: true });
      await rm(base, { recursive: true, force: true });
    }
  });
