import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopPid } from '../processes.ts';
import { kubeClient } from './api.ts';
import { NODE, nodePaths } from './configs.ts';
import { diffHostState, readHostState, type HostState } from './host-state.ts';
import { removeCgroups, removeOutsidePaths, restoreFirewall, restoreSysctls, unmountNew } from './host-restore.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './run.ts';
import { removeApiAccess } from './api-access.ts';
import type { RealNodeState } from './state.ts';
import { ownedPids } from './owned.ts';

const LOCK = '/run/kubiya-real-node.lock';

/** Deletes the pods bound to the real node (grace 0) and waits up to 15 s for containerd to have no task left. */
async function drain(state: RealNodeState, socket: string): Promise<void> {
  try {
    const { core } = kubeClient(state.kubeconfig);
    const pods = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${NODE.name}` });
    for (const pod of pods.items)
      await core
        .deleteNamespacedPod({
          name: pod.metadata?.name ?? '',
          namespace: pod.metadata?.namespace ?? '',
          gracePeriodSeconds: 0,
        })
        .catch(() => undefined);
  } catch {
    return; // control plane already gone: the hard path below does it
  }
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const r = await run(state.tools.ctr, ['--address', socket, '-n', 'k8s.io', 'tasks', 'ls', '-q']).catch(
      () => undefined,
    );
    if (r === undefined || r.code !== 0 || r.stdout.trim() === '') return;
    await sleep(200);
  }
}

/** PIDs of the containerd shims serving our socket (their command line names it). */
function ourShims(socket: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
      if ((cmd[0] ?? '').endsWith('containerd-shim-runc-v2') && cmd.includes(socket)) pids.push(Number(e));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Deletes the Node object; a control plane (or kubeconfig) already gone is fine: nothing to delete. */
async function deleteNodeObject(kubeconfig: string): Promise<void> {
  try {
    await kubeClient(kubeconfig).core.deleteNode({ name: NODE.name });
  } catch {
    // gone with its control plane
  }
}

async function deleteLinks(): Promise<void> {
  const veths = (await run('ip', ['-o', 'link', 'show', 'master', NODE.bridge])).stdout
    .split('\n')
    .map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '')
    .filter((n) => n !== '');
  for (const v of veths) await run('ip', ['link', 'delete', v]);
  for (const link of [NODE.bridge, NODE.dummyLink])
    if (existsSync(`/sys/class/net/${link}`)) await run('ip', ['link', 'delete', link]);
}

/** Stops our processes by PID (network first, containerd last, then its shims). */
async function stopProcesses(state: RealNodeState, socket: string): Promise<void> {
  const order = ['kube-router', 'kube-proxy', 'kubelet', 'canary', 'kube-controller-manager', 'api-forwarder'];
  const owned = ownedPids(state); // never a recycled PID of a process that is not ours
  for (const name of order) for (const p of owned.filter((x) => x.name === name)) await stopPid(p.pid, 5000);
  const tasks = await run(state.tools.ctr, ['--address', socket, '-n', 'k8s.io', 'tasks', 'ls', '-q']).catch(
    () => undefined,
  );
  for (const id of (tasks?.stdout ?? '').split('\n').filter(Boolean))
    await run(state.tools.ctr, ['--address', socket, '-n', 'k8s.io', 'tasks', 'kill', '-s', 'SIGKILL', id]);
  for (const p of owned.filter((x) => x.name === 'containerd')) await stopPid(p.pid, 5000);
  for (const pid of ourShims(socket)) await stopPid(pid, 2000);
}

/**
 * Tears the real node down and restores the host to the state recorded before `up`: pods drained,
 * our processes stopped by PID — only a PID whose command line still names this node (owned.ts), never
 * a recycled one — (and containerd's shims for our socket), kube-proxy's and kube-router's
 * own clean-up, cgroups, mounts, links, iptables/nft/ipset entries of ours, sysctls, the directories
 * written outside the node's own, the node's directory and the lock. Returns what still differs
 * from the recorded state (empty when the host is as before).
 */
export async function stopRealNodeState(state: RealNodeState): Promise<string[]> {
  const p = nodePaths(state.dir);
  let before: HostState;
  try {
    before = JSON.parse(await readFile(join(state.dir, 'host-before.json'), 'utf8')) as HostState;
  } catch {
    return ['no recorded host state: nothing restored'];
  }
  await drain(state, p.socket);
  await removeApiAccess(state.kubeconfig).catch(() => undefined); // control plane or its kubeconfig gone
  await stopProcesses(state, p.socket);
  await run(state.tools['kube-proxy'], ['--cleanup', '--proxy-mode', 'nftables']).catch(() => undefined);
  await run(state.tools['kube-router'], ['--cleanup-config']).catch(() => undefined);
  await removeCgroups(before.cgroups);
  await unmountNew(before.mounts, [state.dir, '/run/netns', '/var/lib/kubelet', '/run/containerd']);
  await deleteLinks();
  await restoreFirewall(before);
  restoreSysctls(before.sysctls, (await readHostState()).sysctls);
  await removeOutsidePaths(before.paths);
  await rm(state.dir, { recursive: true, force: true });
  await rm(LOCK, { force: true });
  await deleteNodeObject(state.kubeconfig);
  return diffHostState(before, await readHostState());
}
