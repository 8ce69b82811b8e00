import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { processGroupOf, runsAs, signallable, startTicksOf, stopPid } from '../../src/dev/processes.ts';

/**
 * Which recorded PIDs `dev cluster down` (and the real node's down) may signal. The class: a PID
 * recorded in a state file that the kernel has since given to another process must never be
 * signalled. "Ours" was a substring test of the command line (red team 5, finding 5): a prefix
 * directory (/tmp/c in /tmp/c2), a relative one ("cluster" in every /tmp/kubiya-cluster-*), any
 * substring made a stranger "ours". Now: the mark is an absolute path matched on path boundaries (the
 * argument, or its part after "="), and the recorded start ticks must match. Real processes, real /proc.
 */
describe('runsAs: a recorded PID is ours only on a path boundary and with its start ticks', () => {
  const spawned: ChildProcess[] = [];
  const start = async (...args: string[]): Promise<number> => {
    // `; true` keeps sh from exec'ing sleep: the marks stay on its command line.
    const c = spawn('sh', ['-c', 'sleep 60; true', 'sh', ...args], { stdio: 'ignore' });
    spawned.push(c);
    await once(c, 'spawn');
    return c.pid ?? -1;
  };
  after(() => {
    for (const c of spawned) c.kill('SIGKILL');
  });

  // [what, the stranger's or our process's arguments, mark, ours?]
  const cases: readonly (readonly [string, readonly string[], string, boolean])[] = [
    ['the dir itself', ['--data-dir', '/tmp/kbyrt5-c'], '/tmp/kbyrt5-c', true],
    ['a path under it', ['--data-dir', '/tmp/kbyrt5-c/etcd'], '/tmp/kbyrt5-c', true],
    ['--flag=path under it', ['--kubeconfig=/tmp/kbyrt5-c/kubeconfig'], '/tmp/kbyrt5-c', true],
    ['name=path', ['kubiya=/tmp/kbyrt5-c/x'], '/tmp/kbyrt5-c', true],
    ['mark with a trailing slash', ['/tmp/kbyrt5-c/etcd'], '/tmp/kbyrt5-c/', true],
    ['mark not normalised', ['/tmp/kbyrt5-c/etcd'], '/tmp/./kbyrt5-c', true],
    ['reported: a prefix dir (/tmp/c vs /tmp/c2)', ['/tmp/kbyrt5-c2'], '/tmp/kbyrt5-c', false],
    ['a prefix dir, path under it', ['--data-dir', '/tmp/kbyrt5-c2/etcd'], '/tmp/kbyrt5-c', false],
    ['a prefix dir after =', ['--data-dir=/tmp/kbyrt5-c2/etcd'], '/tmp/kbyrt5-c', false],
    ['the dir as a plain substring', ['/srv/tmp/kbyrt5-c/etcd'], '/tmp/kbyrt5-c', false],
    ['the dir inside another argument', ['x/tmp/kbyrt5-c'], '/tmp/kbyrt5-c', false],
    ['reported: a relative dir in another cluster dir', ['/tmp/kubiya-cluster-zzz/etcd'], 'cluster', false],
    ['a relative dir, even when the argument is relative too', ['cluster/etcd'], 'cluster', false],
    ['the root as a mark', ['/tmp/kbyrt5-c/etcd'], '/', false],
    ['an empty mark', ['/tmp/kbyrt5-c/etcd'], '', false],
  ];

  for (const [what, args, mark, ours] of cases)
    test(`${what}: ${ours ? 'ours' : 'not ours'}`, async () => {
      const pid = await start(...args);
      assert.equal(runsAs(pid, [mark]), ours);
    });

  test('start ticks: a recorded PID whose process started at another time is not ours', async () => {
    const pid = await start('/tmp/kbyrt5-t/etcd');
    const ticks = startTicksOf(pid);
    assert.match(ticks ?? '', /^\d+$/);
    assert.equal(runsAs(pid, ['/tmp/kbyrt5-t'], ticks), true);
    assert.equal(runsAs(pid, ['/tmp/kbyrt5-t'], String(Number(ticks) + 1)), false, 'the same PID, another process');
    assert.equal(runsAs(pid, ['/tmp/kbyrt5-other'], ticks), false, 'start ticks alone are not enough');
  });

  test('a process that is gone, this process and a PID no kernel hands out are never ours', async () => {
    const g = spawn('sh', ['-c', 'true', 'sh', '/tmp/kbyrt5-g']);
    await once(g, 'exit');
    assert.equal(runsAs(g.pid ?? -1, ['/tmp/kbyrt5-g']), false);
    assert.equal(runsAs(process.pid, ['/']), false);
    assert.equal(runsAs(2 ** 22 + 1, ['/tmp']), false);
    assert.equal(startTicksOf(2 ** 22 + 1), undefined);
  });
});

/** Whether `pid` runs (exists and is not a zombie waiting to be reaped). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/**
 * What stopPid may signal. The class: a signal that reaches more than the one process meant —
 * kill(0) (our group), kill(-1) (every process), PID 1 (init), this process or its parent, a group
 * the PID does not lead — and a stop that never returns (red team 5, finding 7).
 */
describe('stopPid: never more than the process meant, and never for ever', () => {
  for (const pid of [-1, 0, 1, process.pid, process.ppid, 1.5, Number.NaN, -process.pid])
    test(`refuses PID ${String(pid)} before any signal`, async () => {
      assert.equal(signallable(pid), false);
      await assert.rejects(stopPid(pid, 10, true, 10), RangeError);
    });

  test('a group stop of a PID that leads no group stops that PID only', async () => {
    const c = spawn('sh', ['-c', 'sleep 60; true'], { stdio: 'ignore' }); // in this test's group
    await once(c, 'spawn');
    const pid = c.pid ?? -1;
    assert.notEqual(processGroupOf(pid), pid);
    assert.equal(await stopPid(pid, 2000, true, 2000), true, 'it is stopped (kill(-pid) would have missed it)');
  });

  test('a group stop of a group leader stops its whole group', async () => {
    const c = spawn('sh', ['-c', 'sleep 60 & echo $!; wait'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
    const [line] = (await once(c.stdout, 'data')) as [Buffer];
    const child = Number(line.toString().trim());
    assert.equal(processGroupOf(c.pid ?? -1), c.pid);
    assert.equal(await stopPid(c.pid ?? -1, 2000, true, 2000), true);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(running(child), false, 'its child is gone too');
  });

  test('a process that will not die (a zombie nobody reaps) ends the wait after the bound, reported', async () => {
    // sleep 60 never reaps its child: the child is a zombie until sleep ends.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const [line] = (await once(parent.stdout, 'data')) as [Buffer];
    const zombie = Number(line.toString().trim());
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    assert.equal(await stopPid(zombie, 100, false, 300), false, 'still there: reported, not waited on for ever');
    assert.ok(Date.now() - t0 < 2000);
    parent.kill('SIGKILL');
  });
});
