import { PatchStrategy } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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
import { readHostState } from './host-state.ts';
import { cachedImage, importImage } from './images.ts';
import { ensure, kubeClient } from './api.ts';
import { HOST_PROGRAMS } from './prerequisites.ts';
import { must, run } from './run.ts';
import { hostNetwork, startNetwork } from './network.ts';
import { daemon, type RealNodeOptions } from './daemon.ts';
import { stopRealNodeState } from './node-down.ts';
import { serviceReady, startApiAccess } from './api-access.ts';
import type { RealNodeState } from './state.ts';
import { nodeLeft, ownedPids, processStartTicks } from './owned.ts';

/** A lock file (one real node per machine: fixed link, bridge and port names). */
export const LOCK_FILE = '/run/kubiya-real-node.lock';

export type { RealNodeOptions } from './daemon.ts';

export interface RealNode extends RealNodeState {
  stop(): Promise<string[]>;
}

const BEFORE = 'host-before.json';

/**
 * Clears what a run that ended without `down` left behind (kill -9, a crash, a stopped session):
 * a lock whose node directory is gone is removed; a node whose owner is gone or none of whose
 * recorded processes still runs as its own (owned.ts: nodeLeft) is torn down — its surviving
 * processes of its own stopped — from its recorded state — mounts, links, firewall entries,
 * sysctls, cgroups — with today's tools, so the host is as before that run. A node with a live
 * process of its own is left alone (the caller then refuses). Throws when the restore leaves the
 * host different from that run's record: a new node must not record a half-restored host as its
 * "before".
 */
async function clearLeftNode(tools: RealNodeOptions['tools'], say: (line: string) => void): Promise<void> {
  const holder = (await readFile(LOCK_FILE, 'utf8').catch(() => '')).trim();
  if (holder === '') return;
  if (!existsSync(join(holder, BEFORE))) {
    await rm(LOCK_FILE, { force: true });
    return;
  }
  const recorded = await readFile(nodePaths(holder).state, 'utf8')
    .then((t) => JSON.parse(t) as Partial<RealNodeState>)
    .catch((): Partial<RealNodeState> => ({}));
  const left: RealNodeState = {
    dir: holder,
    kubeconfig: recorded.kubeconfig ?? '',
    tools,
    pids: recorded.pids ?? [],
    timings: {},
    ...(recorded.owner !== undefined ? { owner: recorded.owner } : {}),
  };
  if (!nodeLeft(left)) return;
  say(`a real node left by a run that ended without down (${holder}): restoring the host first ...`);
  const differs = await stopRealNodeState({ ...left, pids: ownedPids(left) });
  if (differs.length > 0)
    throw new Error(
      `a real node left by an ended run (${holder}) could not be cleared; the host still differs:\n${differs.join('\n')}`,
    );
}

async function timed<T>(timings: Record<string, number>, name: string, f: () => Promise<T>): Promise<T> {
  const t = Date.now();
  const v = await f();
  timings[name] = (Date.now() - t) / 1000;
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
export async function startRealNode(o: RealNodeOptions): Promise<RealNode> {
  const t0 = Date.now();
  const p = nodePaths(o.dir);
  const say = o.say ?? (() => undefined);
  await mkdir(o.dir, { recursive: true });
  await clearLeftNode(o.tools, say);
  await writeFile(LOCK_FILE, `${o.dir}\n`, { flag: 'wx' }).catch(async () => {
    throw new Error(
      `a real node is already up on this machine (${(await readFile(LOCK_FILE, 'utf8')).trim()}); stop it first`,
    );
  });
  const started: Started[] = [];
  const timings: Record<string, number> = {};
  const owner =
    o.detached === true ? undefined : { pid: process.pid, startTicks: processStartTicks(process.pid) ?? '' };
  const state = (): RealNodeState => ({
    dir: o.dir,
    kubeconfig: o.kubeconfig,
    tools: o.tools,
    pids: started.map((s) => ({ name: s.name, pid: s.pid })),
    timings,
    ...(owner !== undefined ? { owner } : {}),
  });
  const save = (): Promise<void> => writeFile(p.state, JSON.stringify(state(), null, 2));
  try {
    await writeFile(join(o.dir, BEFORE), JSON.stringify(await readHostState()));
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
    timings.total = (Date.now() - t0) / 1000;
    await save();
  } catch (error) {
    await save().catch(() => undefined);
    await stopRealNodeState(state()).catch(() => undefined);
    throw error;
  }
  return { ...state(), stop: () => stopRealNodeState(state()) };
}
