import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, NetworkingV1Api, VersionApi } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { DEFAULT_DENY_EGRESS } from '../../src/dev/bootstrap.ts';
import type { ClusterState } from '../../src/dev/cluster.ts';
import { requireTools } from '../support/cluster.ts';

const run = promisify(execFile);
const cli = join(REPO_ROOT, 'bin', 'kubiya-runner.js');
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('"dev cluster up" starts a usable control plane in the background; "down" leaves no process and no directory', async () => {
  requireTools();
  const base = await mkdtemp(join(tmpdir(), 'kubiya-devcluster-'));
  const dir = join(base, 'cluster');
  try {
    const up = await run(process.execPath, [cli, 'dev', 'cluster', 'up', '--dir', dir, '--output', 'json'], {
      timeout: 120_000,
    });
    const state = JSON.parse(up.stdout) as ClusterState;
    assert.equal(state.pids.length, 5);
    assert.ok(
      state.pids.every((p) => alive(p.pid)),
      'all five processes run after the CLI exited',
    );

    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const ns = await core.readNamespace({ name: 'kubiya-workflows' });
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/audit'], 'restricted');
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/warn'], 'restricted');
    const deny = await kc
      .makeApiClient(NetworkingV1Api)
      .readNamespacedNetworkPolicy({ name: DEFAULT_DENY_EGRESS, namespace: 'kubiya-workflows' });
    assert.deepEqual(
      JSON.parse(JSON.stringify([deny.spec?.podSelector, deny.spec?.policyTypes, deny.spec?.egress ?? []])),
      [{}, ['Egress'], []],
      "the chart's default deny, as in a real install",
    );
    const version = await kc.makeApiClient(VersionApi).getCode();
    assert.match(version.gitVersion, /^v1\.\d+\.\d+$/, 'the API server version is stamped, not v0.0.0');
    const again = await run(process.execPath, [cli, 'dev', 'cluster', 'up', '--dir', dir]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    assert.equal((again as { code: number }).code, 2, 'a second "up" on the same directory is refused');

    await run(process.execPath, [cli, 'dev', 'cluster', 'down', '--dir', dir], { timeout: 60_000 });
    assert.ok(
      state.pids.every((p) => !alive(p.pid)),
      'no process left',
    );
    await assert.rejects(access(dir), 'no directory left');
  } finally {
    await run(process.execPath, [cli, 'dev', 'cluster', 'down', '--dir', dir]).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
});

/**
 * The class: a control plane left by a run that ended without "down" (kill -9, a crash, a stopped
 * session) must not block every later "up", and a PID recorded in its state that the kernel has since
 * given to another process must never be signalled — by "down" or by the clearing "up".
 */
test('"up" clears a control plane left by a killed run; a recorded PID now held by another process is never signalled', async () => {
  requireTools();
  const base = await mkdtemp(join(tmpdir(), 'kubiya-devcluster-'));
  const dir = join(base, 'cluster');
  const stranger = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' }); // outlives the test under load
  try {
    const first = JSON.parse(
      (
        await run(process.execPath, [cli, 'dev', 'cluster', 'up', '--dir', dir, '--output', 'json'], {
          timeout: 120_000,
        })
      ).stdout,
    ) as ClusterState;
    for (const p of first.pids) process.kill(-p.pid, 'SIGKILL'); // the whole run is gone; its state file stays
    await setTimeout(300);
    const second = await run(process.execPath, [cli, 'dev', 'cluster', 'up', '--dir', dir, '--output', 'json'], {
      timeout: 120_000,
    });
    assert.match(second.stderr, /left by a run that ended without "down"/);
    const state = JSON.parse(second.stdout) as ClusterState;
    assert.ok(
      state.pids.every((p) => alive(p.pid)),
      'the new control plane runs',
    );
    await run(process.execPath, [cli, 'dev', 'cluster', 'down', '--dir', dir], { timeout: 60_000 });
    assert.ok(
      state.pids.every((p) => !alive(p.pid)),
      'and its down stops it',
    );

    // A state whose recorded PID now belongs to an unrelated process (its own process group).
    const pid = stranger.pid ?? -1;
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'state.json'), JSON.stringify({ ...first, dir, pids: [{ name: 'etcd', pid }] }));
    await run(process.execPath, [cli, 'dev', 'cluster', 'down', '--dir', dir], { timeout: 60_000 });
    assert.equal(alive(pid), true, '"down" did not signal a process that is not its own');
    await assert.rejects(access(dir), 'the left state is removed');
  } finally {
    stranger.kill('SIGKILL');
    await run(process.execPath, [cli, 'dev', 'cluster', 'down', '--dir', dir]).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
});
