import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopPid } from '../processes.ts';
import { kubeClient } from './api.ts';
import { NODE, nodePaths } from './configs.ts';
import { diffHostState, readHostState } from './host-state.ts';
import { removeCgroups, removeOutsidePaths, restoreFirewall, restoreSysctls, unmountNew } from './host-restore.ts';
import { run } from './run.ts';
import { removeApiAccess } from './api-access.ts';
import type { RealNodeState } from './state.ts';
import { ownedPids } from './owned.ts';
import {
  LOCK_FILE,
  legacyRecord,
  newToken,
  parseRecord,
  readLock,
  releaseLock,
  replaceLock,
  takeOverLock,
  thisOwner,
  type NodeRecord,
} from './lock.ts';

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
  const deadline = performance.now() + 15_000;
  while (performance.now() < deadline) {
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
 * The node's record from the lock, held by this process: as it is when this process owns it (the
 * test run that started it, or a start clearing a left node), else claimed — its owner set to this
 * process, compare-and-swap on the content read — so a concurrent start sees a live owner and does
 * not clear it too (`dev cluster down` of a node that outlived its starter). A reason when the lock
 * is gone, is no record, or names another node: nothing of the host is then touched.
 */
async function holdForStop(dir: string, path: string): Promise<NodeRecord | string> {
  const text = await readLock(path);
  if (text === undefined) return `no recorded host state (${path} is gone): nothing restored`;
  const r = text.trimStart().startsWith('{') ? parseRecord(text) : await legacyRecord(text);
  if (typeof r === 'string') return `no recorded host state (${path}: ${r}): nothing restored`;
  if (r.dir !== dir) return `no recorded host state (${path} names another node, ${r.dir}): nothing restored`;
  const me = thisOwner();
  if (r.owner?.pid === me.pid && r.owner.startTicks === me.startTicks && r.token !== 'legacy') return r;
  const claimed: NodeRecord = { ...r, owner: me, token: newToken() };
  if (!(await takeOverLock(text, claimed, path)))
    return `no recorded host state (${path} changed while down claimed it): nothing restored`;
  return claimed;
}

/**
 * After a restore: the lock (the record) removed when the host is as recorded; kept, with what
 * still differs and no owner, when it is not — every later start then refuses with that list until
 * an operator acts (red-team round 5, finding 8: the record used to be deleted before the check, so
 * only the first start refused). Only the holder's own copy is touched (its token).
 */
export async function settleLock(held: NodeRecord, differs: readonly string[], path = LOCK_FILE): Promise<void> {
  if (differs.length === 0) {
    await releaseLock(held.token, path);
    return;
  }
  const { owner: _gone, ...rest } = held;
  await replaceLock({ ...rest, differs }, path);
}

/**
 * Tears the real node down and restores the host to the state recorded before `up` (in the lock,
 * lock.ts), holding the lock all along: pods drained, our processes stopped by PID — only a PID
 * whose command line still names this node (owned.ts), never a recycled one — (and containerd's
 * shims for our socket), kube-proxy's and kube-router's own clean-up, cgroups, mounts, links,
 * iptables/nft/ipset entries of ours, sysctls, the directories written outside the node's own and
 * the node's directory. Returns what still differs from the recorded state (empty when the host is
 * as before); the lock is removed only then, else kept with that list (settleLock).
 * `unattended` (clearing a node left by an ended run, left.ts): sysctls and outside directories
 * are undone only where the record says the node changed them and they still hold what it left
 * (host-restore.ts); anything else that differs is left and keeps the lock for an operator.
 */
export async function stopRealNodeState(state: RealNodeState, path = LOCK_FILE, unattended = false): Promise<string[]> {
  const dir = resolve(state.dir);
  const held = await holdForStop(dir, path);
  if (typeof held === 'string') return [held];
  const before = held.before;
  if (before === undefined) {
    // Recorded before anything on the host changed: nothing to restore, nothing started.
    await rm(dir, { recursive: true, force: true });
    await releaseLock(held.token, path);
    return [];
  }
  const pids = [...new Map([...state.pids, ...held.pids].map((x) => [x.pid, x])).values()];
  const node: RealNodeState = { ...state, dir, pids };
  const p = nodePaths(dir);
  await drain(node, p.socket);
  await removeApiAccess(node.kubeconfig).catch(() => undefined); // control plane or its kubeconfig gone
  await stopProcesses(node, p.socket);
  await run(node.tools['kube-proxy'], ['--cleanup', '--proxy-mode', 'nftables']).catch(() => undefined);
  await run(node.tools['kube-router'], ['--cleanup-config']).catch(() => undefined);
  await removeCgroups(before.cgroups);
  await unmountNew(before.mounts, [dir, '/run/netns', '/var/lib/kubelet', '/run/containerd']);
  await deleteLinks();
  await restoreFirewall(before);
  const applied = unattended ? (held.applied ?? { sysctls: {}, paths: [] }) : undefined;
  const sysctls = restoreSysctls(before.sysctls, (await readHostState()).sysctls, applied);
  const paths = await removeOutsidePaths(before.paths, applied);
  await rm(dir, { recursive: true, force: true });
  await deleteNodeObject(node.kubeconfig);
  const diff = diffHostState(before, await readHostState());
  const differs = diff.length === 0 ? [] : [...sysctls.left, ...paths, ...diff];
  await settleLock(held, differs, path);
  return differs;
}
