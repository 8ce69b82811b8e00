import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveTools } from '../../src/adapters/tools.ts';
import { clearNodeBeforeRemoving } from '../../src/dev/node/left.ts';
import { diffHostState, readHostState, type HostState } from '../../src/dev/node/host-state.ts';
import { LOCK_FILE, startRealNode } from '../../src/dev/node/node.ts';
import { ownedPids } from '../../src/dev/node/owned.ts';
import { REAL_NODE_TOOLS } from '../../src/dev/node/prerequisites.ts';
import type { NodeRecord } from '../../src/dev/node/lock.ts';
import { realNodeSkip } from '../support/real-node.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

const skip = realNodeSkip();

/** Starts a node in a child process (in `dir`, default a new temporary one) and resolves with its directory once it is up. */
async function nodeOwnedByChild(env: TestCluster, at?: string): Promise<{ dir: string; kill: () => Promise<void> }> {
  const dir = at ?? (await mkdtemp(join(tmpdir(), 'kubiya-node-')));
  const owner = spawn(
    process.execPath,
    [join(REPO_ROOT, 'test/support/real-node-owner.ts'), env.cluster.kubeconfig, dir, env.cluster.workflowsNamespace],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    owner.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('up')) resolve();
    });
    owner.on('exit', (code) => {
      reject(new Error(`the owner exited (${String(code)}) before its node was up`));
    });
  });
  return {
    dir,
    kill: async () => {
      const exited = once(owner, 'exit');
      owner.kill('SIGKILL');
      await exited;
    },
  };
}

/** Every process in the kubelet's pod cgroups (what a stopped session kills with the rest). */
function podProcesses(): number[] {
  const pids = new Set<number>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name === 'cgroup.procs')
        for (const l of readFileSync(join(d, e.name), 'utf8').split('\n')) if (l !== '') pids.add(Number(l));
    }
  };
  for (const root of ['/sys/fs/cgroup/pids/kubepods', '/sys/fs/cgroup/memory/kubepods'])
    if (existsSync(root)) walk(root);
  return [...pids];
}

function killAll(pids: number[]): void {
  for (const pid of pids)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
}

/**
 * A real node left by a run that ended without `down` does not block the next run, and is cleared
 * without touching anything that is not its own. The class (found when a stopped session left a node
 * up and the next CI run's whole real-node tier failed on "a real node is already up"): the owner
 * killed alone (its node's processes live on), and the owner killed with every process of the node
 * (containers included: only the host state is left — mounts, links, firewall, sysctls, cgroups).
 * Both times the next start clears it, and after its `down` the host equals the state before the
 * first node.
 */
describe('real node: a node left by a run that ended without down', { skip }, () => {
  let env: TestCluster;
  let host: HostState;
  before(async () => {
    host = await readHostState();
    env = await testCluster();
  });
  after(async () => {
    await env?.close();
  });

  const cases: [string, (left: NodeRecord, kill: () => Promise<void>) => Promise<void>][] = [
    ['its owner killed alone, the node processes still running', (_left, kill) => kill()],
    [
      'its owner and every process of the node killed, containers too',
      async (left, kill) => {
        await kill();
        killAll(ownedPids(left).map((p) => p.pid));
        killAll(podProcesses());
      },
    ],
  ];
  for (const [what, leave] of cases)
    test(`${what}: the next start clears it, and after down the host is as before`, async () => {
      const first = await nodeOwnedByChild(env);
      const left = JSON.parse(await readFile(LOCK_FILE, 'utf8')) as NodeRecord;
      await leave(left, first.kill);
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(left.dir, first.dir, 'the left node still holds the lock, its record in it');
      assert.notDeepEqual(diffHostState(host, await readHostState()), [], 'the left node changed the host');

      const tools = resolveTools(REAL_NODE_TOOLS);
      if (!tools.ok) throw new Error(tools.error.message);
      const said: string[] = [];
      const dir = await mkdtemp(join(tmpdir(), 'kubiya-node-'));
      const next = await startRealNode({
        kubeconfig: env.cluster.kubeconfig,
        dir,
        tools: tools.value,
        namespaces: [env.cluster.workflowsNamespace],
        say: (l) => said.push(l),
      });
      try {
        assert.ok(
          said.some((l) => l.includes(`left by a run that ended without down (${first.dir})`)),
          said.join('\n'),
        );
        assert.equal(existsSync(first.dir), false, "the left node's directory is removed");
        assert.deepEqual(ownedPids(left), [], 'no process of the left node runs');
      } finally {
        assert.deepEqual(await next.stop(), [], 'down restored the host recorded by the next node');
        await rm(dir, { recursive: true, force: true });
      }
      assert.deepEqual(
        diffHostState(host, await readHostState()),
        [],
        'the host equals the state before the first node',
      );
    });

  /**
   * Red-team round 5, finding 3: `demo --real-node` interrupted (its owner killed, the node's
   * processes and mounts left), then rerun. The rerun removes its work directory, where the node
   * lived (and where its record used to be); the left node must be cleared from the lock's record
   * first, so the removal neither deletes the record nor descends into the node's mounts, and the
   * host is as before the first node when the new one would record its "before".
   */
  test("a demo's node left by a killed demo: cleared before the demo removes its work dir", async () => {
    const workDir = await mkdtemp(join(tmpdir(), 'kubiya-demo-'));
    const first = await nodeOwnedByChild(env, join(workDir, 'node'));
    await first.kill();
    const tools = resolveTools(REAL_NODE_TOOLS);
    if (!tools.ok) throw new Error(tools.error.message);
    const said: string[] = [];
    await clearNodeBeforeRemoving(workDir, tools.value, (l) => said.push(l));
    await rm(workDir, { recursive: true, force: true }); // what runDemo does next
    assert.ok(
      said.some((l) => l.includes(`without down (${first.dir})`)),
      said.join('\n'),
    );
    assert.equal(existsSync(LOCK_FILE), false, 'the lock is released');
    assert.deepEqual(diffHostState(host, await readHostState()), [], 'the host equals the state before the first node');
  });

  /**
   * Red-team round 5, finding 8 (the open half): a node left by an ended run is cleared
   * unattended by the next start, from a record of any age. A sysctl the node set and someone else
   * changed since is not written back: the start refuses (REAL_NODE_LOCKED), names it, and leaves
   * the other actor's value; everything else of the node is undone. The operator then restores it
   * and removes the lock (docs/real-node.md), and the host is as before the first node.
   */
  test('a sysctl changed by another actor after the node was left is not written back; the start refuses', async () => {
    const first = await nodeOwnedByChild(env);
    await first.kill();
    const left = JSON.parse(await readFile(LOCK_FILE, 'utf8')) as NodeRecord;
    const key = 'kernel.panic'; // the kubelet sets it (10): any integer is a valid value
    const set = left.applied?.sysctls[key];
    assert.ok(set !== undefined, `the record names the sysctls the node set: ${JSON.stringify(left.applied)}`);
    const file = join('/proc/sys', ...key.split('.'));
    const other = `${String(Number(set.trim()) + 7)}\n`;
    writeFileSync(file, other); // another actor, after the node was left
    const tools = resolveTools(REAL_NODE_TOOLS);
    if (!tools.ok) throw new Error(tools.error.message);
    const dir = await mkdtemp(join(tmpdir(), 'kubiya-node-'));
    try {
      await assert.rejects(
        startRealNode({
          kubeconfig: env.cluster.kubeconfig,
          dir,
          tools: tools.value,
          namespaces: [env.cluster.workflowsNamespace],
          say: () => undefined,
        }),
        (e: Error & { code?: string }) =>
          e.code === 'REAL_NODE_LOCKED' && e.message.includes(`sysctl ${key}: ${other.trim()} was changed since`),
      );
      assert.equal(readFileSync(file, 'utf8'), other, "the other actor's value is left");
      assert.deepEqual(
        diffHostState(host, await readHostState()).filter((d) => !d.startsWith(`sysctl ${key}:`)),
        [],
        'everything else of the left node is undone',
      );
    } finally {
      // The operator: restores the sysctl by hand and removes the lock (docs/real-node.md).
      const before = host.sysctls[key];
      if (before !== undefined) writeFileSync(file, before);
      await rm(LOCK_FILE, { force: true });
      await rm(dir, { recursive: true, force: true });
    }
    assert.deepEqual(diffHostState(host, await readHostState()), [], 'the host equals the state before the first node');
  });
});
