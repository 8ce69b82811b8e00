import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { nodeLeft, ownedAlive, ownedPids } from '../../src/dev/node/owned.ts';
import { startTicksOf } from '../../src/dev/processes.ts';

/**
 * Which recorded PIDs `down` (and the clearing of a node left by a dead run) may signal. The class:
 * a PID in node-state.json that no longer names the node's process — the process is gone, or the
 * kernel gave its PID to another process (after kill -9, a crash or a stopped session) — must never
 * be signalled, and a node whose owner or processes are gone must be seen as left, not as up.
 * Real processes, real /proc.
 */
describe('real node: owned processes and left nodes', () => {
  const dir = '/tmp/kubiya-node-ownedTEST';
  const kubeconfig = '/tmp/kubiya-cluster-ownedTEST/kubeconfig';
  const spawned: ChildProcess[] = [];
  const start = async (...marks: string[]): Promise<number> => {
    const c = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', '--', ...marks], { stdio: 'ignore' });
    spawned.push(c);
    await once(c, 'spawn');
    return c.pid ?? -1;
  };
  let ours = 0;
  let oursByKubeconfig = 0;
  let stranger = 0;
  let gone = 0;
  before(async () => {
    ours = await start('--config', `${dir}/kubelet.yaml`);
    oursByKubeconfig = await start('--kubeconfig', kubeconfig);
    stranger = await start('--config', '/tmp/kubiya-node-other/kubelet.yaml');
    const g = spawn(process.execPath, ['-e', '0', '--', dir], { stdio: 'ignore' });
    await once(g, 'exit');
    gone = g.pid ?? -1;
  });
  after(() => {
    for (const c of spawned) c.kill('SIGKILL');
  });

  test('a process is ours only while its command line names the node (directory or kubeconfig)', () => {
    const s = { dir, kubeconfig };
    assert.equal(ownedAlive(s, ours), true);
    assert.equal(ownedAlive(s, oursByKubeconfig), true);
    assert.equal(ownedAlive(s, stranger), false, 'another node, or a recycled PID: never ours');
    assert.equal(ownedAlive(s, gone), false, 'an exited process');
    assert.equal(ownedAlive(s, process.pid), false, 'this test process');
    assert.equal(ownedAlive(s, 2 ** 22 + 1), false, 'a PID no kernel hands out');
  });

  test('ownedPids keeps exactly the recorded entries that still run as ours', () => {
    const pids = [
      { name: 'kubelet', pid: ours },
      { name: 'kube-proxy', pid: oursByKubeconfig },
      { name: 'canary', pid: stranger },
      { name: 'containerd', pid: gone },
    ];
    assert.deepEqual(ownedPids({ dir, kubeconfig, pids }), pids.slice(0, 2));
  });

  test('start ticks name one process: stable while it runs, undefined once it is gone', () => {
    const t = startTicksOf(ours);
    assert.match(t ?? '', /^\d+$/);
    assert.equal(startTicksOf(ours), t);
    assert.equal(startTicksOf(gone), undefined);
    assert.notEqual(startTicksOf(process.pid), undefined);
  });

  test('a killed owner not yet reaped by its parent (a zombie) counts as gone', async () => {
    // `sleep 0.5` becomes a zombie when it ends: its parent shell execs into `sleep 5`, which never reaps it.
    const parent = spawn('sh', ['-c', 'sleep 0.5 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    spawned.push(parent);
    const [line] = (await once(parent.stdout, 'data')) as [Buffer];
    const zombie = Number(line.toString().trim());
    const owner = { pid: zombie, startTicks: startTicksOf(zombie) ?? '' };
    assert.match(owner.startTicks, /^\d+$/, 'recorded while it ran');
    let state = '';
    for (let i = 0; i < 1500 && state !== 'Z'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      const stat = readFileSync(`/proc/${String(zombie)}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
    }
    assert.equal(state, 'Z', 'the child is a zombie');
    assert.equal(startTicksOf(zombie), undefined);
    assert.equal(nodeLeft({ dir, kubeconfig, pids: [], owner }), true);
  });

  /**
   * Red-team round 5, finding 4: a live owner is never left, whatever its processes — it may be
   * starting them (its first save records none). Only a node without an owner (dev cluster up) is
   * judged by its processes. The reported example: owner alive, no process of its own runs.
   */
  test('a node is left when its owner is gone (or is another process under the same PID); without an owner, when none of its processes runs', () => {
    const pids = [{ name: 'kubelet', pid: ours }];
    const self = { pid: process.pid, startTicks: startTicksOf(process.pid) ?? '' };
    const cases: [string, Parameters<typeof nodeLeft>[0], boolean][] = [
      ['owner alive, a process of its own runs', { dir, kubeconfig, pids, owner: self }, false],
      ['no owner (dev cluster up), a process runs', { dir, kubeconfig, pids }, false],
      ['owner gone', { dir, kubeconfig, pids, owner: { pid: gone, startTicks: '1' } }, true],
      ['owner PID recycled (other start time)', { dir, kubeconfig, pids, owner: { ...self, startTicks: '0' } }, true],
      [
        'owner alive, no process of its own runs (a recycled PID recorded)',
        { dir, kubeconfig, pids: [{ name: 'kubelet', pid: stranger }], owner: self },
        false,
      ],
      ['owner alive, still starting: nothing recorded yet', { dir, kubeconfig, pids: [], owner: self }, false],
      [
        'owner gone, a process of its own still runs',
        { dir, kubeconfig, pids, owner: { pid: gone, startTicks: '1' } },
        true,
      ],
      [
        'owner recorded without start ticks (unreadable)',
        { dir, kubeconfig, pids, owner: { ...self, startTicks: '' } },
        true,
      ],
      ['no owner, nothing recorded runs', { dir, kubeconfig, pids: [{ name: 'kubelet', pid: gone }] }, true],
      ['no owner, nothing recorded', { dir, kubeconfig, pids: [] }, true],
    ];
    for (const [what, state, left] of cases) assert.equal(nodeLeft(state), left, what);
  });
});
