import { PatchStrategy } from '@kubernetes/client-node';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { startProcess, waitUntil, type Started } from '../processes.ts';
import { REPO_ROOT } from '../../adapters/tools.ts';
import {
  dnsObjects,
  egressGatePolicy,
  GATE_LABEL,
  localVolumes,
  REAL_NODE_ANNOTATIONS,
  REAL_STORAGE_CLASS,
} from './objects.ts';
import { catalogue, CANARY } from './catalogue.ts';
import { cniConfig, containerdConfig, kubeletConfig, NODE, nodePaths, type NodePaths } from './configs.ts';
import { appliedChanges, readHostState, type AppliedChanges, type HostState } from './host-state.ts';
import { cachedImage, importImage } from './images.ts';
import { ensure, kubeClient } from './api.ts';
import { HOST_PROGRAMS } from './prerequisites.ts';
import { must, run } from './run.ts';
import { hostNetwork, startNetwork } from './network.ts';
import { daemon, type RealNodeOptions } from './daemon.ts';
import { stopRealNodeState } from './node-down.ts';
import { serviceReady, startApiAccess } from './api-access.ts';
import type { RealNodeState } from './state.ts';
import { clearLeftRealNode, RealNodeLocked } from './left.ts';
import { LOCK_FILE, newToken, publishLock, readLock, replaceLock, thisOwner, type NodeRecord } from './lock.ts';

export { LOCK_FILE } from './lock.ts';

export type { RealNodeOptions } from './daemon.ts';

export interface RealNode extends RealNodeState {
  stop(): Promise<string[]>;
}

async function timed<T>(timings: Record<string, number>, name: string, f: () => Promise<T>): Promise<T> {
  const t = performance.now();
  const v = await f();
  timings[name] = (performance.now() - t) / 1000;
  return v;
}

async function writeConfigs(p: NodePaths): Promise<void> {
  for (const d of [
    dirname(p.socket),
    p.cniConf,
    p.cniData,
    p.kubeletRoot,
    p.kubeletCerts,
    p.podLogs,
    p.images,
    p.volumes,
  ])
    await mkdir(d, { recursive: true });
  await writeFile(p.containerdConfig, containerdConfig(p, HOST_PROGRAMS.runc, dirname(HOST_PROGRAMS.cniBridge)));
  await writeFile(join(p.cniConf, '10-kubiya.conflist'), cniConfig(p));
  await writeFile(p.kubeletConfig, kubeletConfig(p));
  await writeFile(p.resolv, '# kubiya real node: no upstream resolver (pods use the cluster DNS)\noptions ndots:1\n');
  await mkdir(join(p.dir, 'canary'), { recursive: true });
  await writeFile(join(p.dir, 'canary', 'index.html'), 'canary\n');
}

/** Compiles the kubernetes module's pause.c statically (the sandbox image's only file). */
async function buildPause(out: string): Promise<string> {
  const k8s = (
    await must('go', ['list', '-m', '-f', '{{.Dir}}', 'k8s.io/kubernetes'], {
      cwd: join(REPO_ROOT, 'tools', 'kubernetes'),
      timeoutMs: 60_000,
    }).catch(() => '')
  ).trim();
  const src = k8s !== '' ? join(k8s, 'build', 'pause', 'linux', 'pause.c') : '';
  if (src === '') throw new Error('cannot find k8s.io/kubernetes in the module cache (run tools/build.sh --real-node)');
  await must(HOST_PROGRAMS.gcc, ['-Os', '-static', '-DVERSION=kubiya', '-o', out, src]);
  return out;
}

async function images(o: RealNodeOptions, p: NodePaths): Promise<void> {
  const pause = await buildPause(join(p.images, 'pause'));
  for (const spec of catalogue({ pause, coredns: o.tools.coredns })) {
    const tar = await cachedImage(spec, p.images, { umoci: HOST_PROGRAMS.umoci, busybox: HOST_PROGRAMS.busybox });
    await importImage(o.tools.ctr, p.socket, spec.ref, tar);
  }
}

async function startRuntime(o: RealNodeOptions, p: NodePaths, started: Started[]): Promise<void> {
  const env = { ...process.env, PATH: `${dirname(o.tools['containerd-shim-runc-v2'])}:${process.env.PATH ?? ''}` };
  const c = daemon(o, p, 'containerd', ['--config', p.containerdConfig], started, env);
  await waitUntil(
    'containerd',
    async () => (await run(o.tools.ctr, ['--address', p.socket, 'version'])).code === 0,
    30_000,
    c,
  );
}

async function startKubelet(o: RealNodeOptions, p: NodePaths, started: Started[]): Promise<void> {
  const args = [
    '--config',
    p.kubeletConfig,
    '--kubeconfig',
    o.kubeconfig,
    '--root-dir',
    p.kubeletRoot,
    '--cert-dir',
    p.kubeletCerts,
  ];
  args.push('--hostname-override', NODE.name, '--node-ip', NODE.ip, '--node-labels', `${NODE.label}=true`, '--v', '1');
  const k = daemon(o, p, 'kubelet', args, started);
  const { core } = kubeClient(o.kubeconfig);
  const ready = async (): Promise<boolean> => {
    const n = await core.readNode({ name: NODE.name });
    return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
  };
  await waitUntil('kubelet (node Ready)', ready, 60_000, k);
}

/** Placement annotations, gate label, admission policy, local volumes, cluster DNS. */
async function clusterObjects(o: RealNodeOptions, p: NodePaths): Promise<void> {
  const { objects } = kubeClient(o.kubeconfig);
  for (const ns of o.namespaces) {
    const labels: Record<string, string> = (o.egressGate ?? true) ? { [GATE_LABEL]: 'enabled' } : {};
    await objects.patch(
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns, annotations: { ...REAL_NODE_ANNOTATIONS }, labels },
      },
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
  }
  const gate = egressGatePolicy();
  await ensure(objects, gate.policy);
  await ensure(objects, gate.binding);
  await ensure(objects, {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: REAL_STORAGE_CLASS },
    provisioner: 'kubernetes.io/no-provisioner',
    volumeBindingMode: 'WaitForFirstConsumer',
  });
  for (const pv of localVolumes(p.volumes, 16)) {
    const path = (pv as { spec: { local: { path: string } } }).spec.local.path;
    await mkdir(path, { recursive: true });
    await ensure(objects, { apiVersion: 'v1', kind: 'PersistentVolume', ...pv });
  }
  const dns = dnsObjects();
  await ensure(objects, { apiVersion: 'v1', kind: 'ConfigMap', ...dns.configMap });
  await ensure(objects, { apiVersion: 'v1', kind: 'Service', ...dns.service });
  await ensure(objects, { apiVersion: 'v1', kind: 'Pod', ...dns.pod });
  // The endpointslice controller (api-access.ts) publishes the pod once it is Ready.
  await serviceReady(o.kubeconfig, 'kube-system', 'kube-dns', 60_000);
}

/**
 * Starts a real node beside kwok's fake ones: containerd 2.x (runc, CNI bridge), locally built
 * images imported (no registry), a kubelet joining the control plane of `kubeconfig` (labelled and
 * tainted kubiya.dev/real-node), the API server for its pods (the `kubernetes` Service through a
 * forwarder, endpointslice and root-CA controllers: api-access.ts), kube-proxy (nftables),
 * kube-router (firewall only, NetworkPolicy), CoreDNS, local PVs and the egress gate. Records the host state first; on failure undoes
 * everything it did. Root only; one per machine.
 */
export async function startRealNode(options: RealNodeOptions): Promise<RealNode> {
  const t0 = performance.now();
  const o = withAbsoluteDir(options);
  const p = nodePaths(o.dir);
  const say = o.say ?? (() => undefined);
  const live = await clearLeftRealNode(o.tools, say); // may remove a left node's directory, even this one
  if (live !== undefined) throw alreadyUp(live);
  await mkdir(o.dir, { recursive: true });
  const started: Started[] = [];
  const timings: Record<string, number> = {};
  // The starter owns the node while it starts, also a node meant to outlive it (detached).
  let owner: RealNodeState['owner'] = thisOwner();
  let before: HostState | undefined;
  let applied: AppliedChanges | undefined;
  const token = newToken();
  const state = (): RealNodeState => ({
    dir: o.dir,
    kubeconfig: o.kubeconfig,
    tools: o.tools,
    pids: started.map((s) => ({ name: s.name, pid: s.pid })),
    timings,
    ...(owner !== undefined ? { owner } : {}),
  });
  const record = (): NodeRecord => {
    const { dir, kubeconfig, pids } = state();
    const host = { ...(before ? { before } : {}), ...(applied ? { applied } : {}) };
    return { dir, kubeconfig, pids, token, ...(owner !== undefined ? { owner } : {}), ...host };
  };
  if (!(await publishLock(record()))) throw alreadyUp(undefined, await readLock().catch(() => undefined));
  const save = async (): Promise<void> => {
    if (before !== undefined) applied = appliedChanges(before, await readHostState(), applied); // undone unattended
    if (!(await replaceLock(record()))) throw new RealNodeLocked(`${LOCK_FILE} is no longer this node's lock`);
  };
  try {
    before = await readHostState(); // before the first change to the host
    await save();
    await hostNetwork();
    await writeConfigs(p);
    started.push(
      startProcess(
        'canary',
        HOST_PROGRAMS.busybox,
        ['httpd', '-f', '-p', `${CANARY.host}:${String(CANARY.port)}`, '-h', join(o.dir, 'canary')],
        join(o.dir, 'canary.log'),
        o.detached ?? false,
      ),
    );
    say('starting containerd ...');
    await timed(timings, 'containerd', () => startRuntime(o, p, started));
    await save();
    say('building and importing images (umoci, no registry) ...');
    await timed(timings, 'images', () => images(o, p));
    say('starting the kubelet ...');
    await timed(timings, 'nodeReady', () => startKubelet(o, p, started));
    await save();
    say('API server access for pods (forwarder, kubernetes EndpointSlice, controllers) ...');
    await timed(timings, 'apiAccess', () =>
      startApiAccess({ kubeconfig: o.kubeconfig, dir: o.dir, detached: o.detached ?? false }, started),
    );
    await save();
    say('starting kube-proxy and kube-router ...');
    await timed(timings, 'network', () => startNetwork(o, p, started));
    await save();
    say('cluster DNS, local volumes, egress gate ...');
    await timed(timings, 'objects', () => clusterObjects(o, p));
    timings.total = (performance.now() - t0) / 1000;
    if (o.detached === true) owner = undefined; // up: it outlives its starter, judged by its processes
    await save();
  } catch (error) {
    await save().catch(() => undefined);
    await stopRealNodeState(state()).catch(() => undefined);
    throw error;
  }
  return { ...state(), stop: () => stopRealNodeState(state()) };
}

/**
 * The options with the node's directory absolute and normalised, before anything uses it: the lock
 * names the node for starts from any other cwd (red-team round 5, finding 9: a relative directory
 * read from another cwd named nothing, and a live node's lock was dropped as stale).
 */
export function withAbsoluteDir(o: RealNodeOptions): RealNodeOptions {
  return { ...o, dir: resolve(o.dir) };
}

/** The refusal when a live node holds the lock: which node, and whose. */
function alreadyUp(live: NodeRecord | undefined, text?: string): RealNodeLocked {
  const who =
    live !== undefined
      ? `${live.dir}${live.owner !== undefined ? `, held by PID ${String(live.owner.pid)}` : ''}`
      : (text ?? '').trim().slice(0, 300);
  return new RealNodeLocked(`a real node is already up on this machine (${who}); stop it first`);
}
