import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { kwokConfiguration } from './kwok-config.ts';
import { startProcess, waitUntil, type Started } from './processes.ts';

/** The pinned binaries a local cluster runs (src/adapters/tools.ts resolves them). */
export interface ClusterTools {
  readonly etcd: string;
  readonly 'kube-apiserver': string;
  readonly 'kube-scheduler': string;
  readonly 'kube-controller-manager': string;
  readonly kwok: string;
  /** To render the WorkflowRun CRD from the chart. */
  readonly helm: string;
}

/**
 * What every component start needs: the binaries, the cluster's directory (data, pki, logs), whether
 * the processes outlive this one, and the list each started process is appended to (stopped in
 * reverse order).
 */
export interface ComponentContext {
  readonly tools: ClusterTools;
  readonly dir: string;
  readonly detached: boolean;
  readonly started: Started[];
  /** Told synchronously after each spawn, with everything started so far (ClusterOptions.onStarted). */
  readonly onStarted?: (started: readonly Started[]) => void;
}

/** The loopback TCP ports of one cluster: etcd client and peer, the API server, kwok's kubelet endpoint. */
export interface ClusterPorts {
  readonly etcd: number;
  readonly peer: number;
  readonly api: number;
  readonly kwok: number;
}

const CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'disruption-controller',
  'persistentvolume-binder-controller',
  'persistentvolumeclaim-protection-controller',
  'persistentvolume-protection-controller',
  'resourcequota-controller',
].join(',');

function start(ctx: ComponentContext, name: keyof ClusterTools, args: readonly string[]): Started {
  // An attached cluster's processes die with this process, even on SIGKILL (red team 5, finding 6).
  const p = startProcess(name, ctx.tools[name], args, join(ctx.dir, `${name}.log`), ctx.detached, undefined, true);
  ctx.started.push(p);
  ctx.onStarted?.(ctx.started);
  return p;
}

function get(url: string, token: string, ca: Buffer | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: { authorization: `Bearer ${token}` }, ca, rejectUnauthorized: ca !== undefined, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** Starts a single-member etcd on loopback (no fsync, 4 GiB quota); resolves when /health answers (20 s). */
export async function startEtcd(ctx: ComponentContext, ports: ClusterPorts): Promise<void> {
  const client = `http://127.0.0.1:${ports.etcd}`;
  const peer = `http://127.0.0.1:${ports.peer}`;
  const etcd = start(ctx, 'etcd', [
    ...['--name', 'kubiya', '--data-dir', join(ctx.dir, 'etcd')],
    ...['--listen-client-urls', client, '--advertise-client-urls', client],
    ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `kubiya=${peer}`],
    '--unsafe-no-fsync',
    ...['--log-level', 'warn', '--quota-backend-bytes', String(4 * 1024 ** 3)],
  ]);
  await waitUntil('etcd', async () => (await fetch(`${client}/health`)).ok, 20_000, etcd);
}

/**
 * Starts kube-apiserver on loopback (self-generated serving certificate in `<dir>/pki`, the static
 * token file, RBAC, PodSecurity admission); resolves with its URL and CA when /readyz is 200 (60 s).
 */
export async function startApiServer(
  ctx: ComponentContext,
  ports: ClusterPorts,
  token: string,
): Promise<{ readonly server: string; readonly ca: Buffer }> {
  const pki = join(ctx.dir, 'pki');
  const server = `https://127.0.0.1:${ports.api}`;
  const apiserver = start(ctx, 'kube-apiserver', [
    ...['--etcd-servers', `http://127.0.0.1:${ports.etcd}`],
    ...['--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(ports.api)],
    ...['--cert-dir', pki, '--token-auth-file', join(pki, 'tokens.csv'), '--authorization-mode', 'Node,RBAC'],
    ...['--service-account-issuer', 'https://kubernetes.default.svc.cluster.local'],
    ...['--service-account-key-file', join(pki, 'sa.pub')],
    ...['--service-account-signing-key-file', join(pki, 'sa.key')],
    ...['--service-cluster-ip-range', '10.96.0.0/16'],
    // loopback advertise address: no kubernetes Service endpoints to reconcile
    ...['--endpoint-reconciler-type', 'none'],
    '--enable-admission-plugins',
    // PodNodeSelector + PodTolerationRestriction: a namespace's annotations place its pods (the real node's tier).
    'NamespaceLifecycle,ServiceAccount,PodSecurity,LimitRanger,ResourceQuota,PodNodeSelector,PodTolerationRestriction',
    // No node-lifecycle controller runs to lift the not-ready taint from kwok nodes.
    ...['--disable-admission-plugins', 'TaintNodesByCondition'],
    // pods/log: the API server calls kwok's kubelet endpoint on the node's (loopback) InternalIP.
    ...['--kubelet-preferred-address-types', 'InternalIP'],
    ...['--v', '0'],
  ]);
  await waitUntil(
    'kube-apiserver',
    async () => (await get(`${server}/readyz`, token, undefined)) === 200,
    60_000,
    apiserver,
  );
  return { server, ca: await readFile(join(pki, 'apiserver.crt')) };
}

/**
 * Starts kube-scheduler and kube-controller-manager (garbage collector, namespaces, service
 * accounts and their tokens, workloads, volumes, quotas) against the kubeconfig; no readiness wait.
 */
export function startControllers(ctx: ComponentContext, kubeconfig: string): void {
  start(ctx, 'kube-scheduler', ['--kubeconfig', kubeconfig, '--leader-elect=false', '--secure-port', '0', '--v', '0']);
  start(ctx, 'kube-controller-manager', [
    ...['--kubeconfig', kubeconfig, '--leader-elect=false', '--secure-port', '0'],
    ...['--controllers', CONTROLLERS],
    ...['--service-account-private-key-file', join(ctx.dir, 'pki', 'sa.key')],
    ...['--root-ca-file', join(ctx.dir, 'pki', 'apiserver.crt')],
    '--use-service-account-credentials=false',
    ...['--v', '0'],
  ]);
}

/**
 * Starts kwok for the nodes labelled type=kwok, with the pod stages and step logs of
 * src/dev/kwok-config.ts, its kubelet endpoint (pods/log) on loopback over TLS; no readiness wait.
 */
export async function startKwok(ctx: ComponentContext, kubeconfig: string, port: number): Promise<void> {
  const config = await kwokConfiguration(ctx.dir, port);
  start(ctx, 'kwok', [
    ...['--kubeconfig', kubeconfig, '--config', config],
    ...['--manage-all-nodes=false', '--manage-nodes-with-label-selector', 'type=kwok'],
    // kwok's kubelet endpoint serves pods/log (the logs of ClusterLogs in kwok-config.ts), over TLS.
    ...['--server-address', `127.0.0.1:${port}`],
    ...['--tls-cert-file', join(ctx.dir, 'pki', 'apiserver.crt')],
    ...['--tls-private-key-file', join(ctx.dir, 'pki', 'apiserver.key')],
  ]);
}
