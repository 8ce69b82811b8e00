import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { freePort, startProcess, stopPid, waitUntil, type Started } from './processes.ts';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { bootstrapCluster, installCrds } from './bootstrap.ts';
import { renderChart } from './manifest.ts';

export interface ClusterTools {
  readonly etcd: string;
  readonly 'kube-apiserver': string;
  readonly 'kube-scheduler': string;
  readonly 'kube-controller-manager': string;
  readonly kwok: string;
  /** To render the WorkflowRun CRD from the chart. */
  readonly helm: string;
}

export interface ClusterOptions {
  readonly tools: ClusterTools;
  /** Working directory; a fresh temp dir when omitted (removed on stop). */
  readonly dir?: string;
  /** Detach processes (for `dev cluster up`, stopped later by `dev cluster down`). */
  readonly detached?: boolean;
  readonly workflowsNamespace?: string;
  readonly runnerNamespace?: string;
  /** Number of fake kwok nodes. */
  readonly nodes?: number;
  /** Install the WorkflowRun CRD (default true; the Helm test installs it through the chart). */
  readonly crds?: boolean;
}

export interface ClusterState {
  readonly dir: string;
  readonly kubeconfig: string;
  readonly server: string;
  readonly workflowsNamespace: string;
  readonly runnerNamespace: string;
  readonly pids: readonly { readonly name: string; readonly pid: number }[];
  readonly startedMs: number;
}

export interface Cluster extends ClusterState {
  stop(): Promise<void>;
}

export const KWOK_STAGES = fileURLToPath(new URL('./kwok/stages.yaml', import.meta.url));

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

/**
 * Starts etcd + kube-apiserver (PodSecurity admission on by default, self-generated serving
 * certificate, static bearer token) + kube-scheduler + kube-controller-manager (garbage collector,
 * namespaces, service accounts) + kwok (fake nodes, pod lifecycle from src/dev/kwok/stages.yaml),
 * all on loopback with random ports; writes a kubeconfig and creates the namespaces of the seed.
 */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const t0 = Date.now();
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'kubiya-cluster-')));
  const ownsDir = options.dir === undefined;
  await mkdir(join(dir, 'pki'), { recursive: true, mode: 0o700 });
  const detached = options.detached ?? false;
  const started: Started[] = [];
  // An attached cluster never outlives its process: if the process exits without stop(), kill and remove synchronously.
  const onExit = (): void => {
    for (const p of started) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
  };
  if (!detached) process.once('exit', onExit);
  const stop = async (): Promise<void> => {
    process.removeListener('exit', onExit);
    for (const p of [...started].reverse()) await stopPid(p.pid, 5000, detached);
    if (ownsDir) await rm(dir, { recursive: true, force: true });
  };

  try {
    const [etcdPort, peerPort, apiPort, kwokPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const token = randomBytes(32).toString('hex');
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'pki', 'sa.key'), sa.privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await writeFile(join(dir, 'pki', 'sa.pub'), sa.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(join(dir, 'pki', 'tokens.csv'), `${token},kubiya-admin,kubiya-admin,system:masters\n`, {
      mode: 0o600,
    });

    const etcd = startProcess(
      'etcd',
      options.tools.etcd,
      [
        '--name',
        'kubiya',
        '--data-dir',
        join(dir, 'etcd'),
        '--listen-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${etcdPort}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-advertise-peer-urls',
        `http://127.0.0.1:${peerPort}`,
        '--initial-cluster',
        `kubiya=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync',
        '--log-level',
        'warn',
        '--quota-backend-bytes',
        String(4 * 1024 ** 3),
      ],
      join(dir, 'etcd.log'),
      detached,
    );
    started.push(etcd);
    await waitUntil('etcd', async () => (await fetch(`http://127.0.0.1:${etcdPort}/health`)).ok, 20_000, etcd);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = startProcess(
      'kube-apiserver',
      options.tools['kube-apiserver'],
      [
        '--etcd-servers',
        `http://127.0.0.1:${etcdPort}`,
        '--bind-address',
        '127.0.0.1',
        '--advertise-address',
        '127.0.0.1',
        '--secure-port',
        String(apiPort),
        '--cert-dir',
        join(dir, 'pki'),
        '--token-auth-file',
        join(dir, 'pki', 'tokens.csv'),
        '--authorization-mode',
        'Node,RBAC',
        '--service-account-issuer',
        'https://kubernetes.default.svc.cluster.local',
        '--service-account-key-file',
        join(dir, 'pki', 'sa.pub'),
        '--service-account-signing-key-file',
        join(dir, 'pki', 'sa.key'),
        '--service-cluster-ip-range',
        '10.96.0.0/16',
        // loopback advertise address: no kubernetes Service endpoints to reconcile
        '--endpoint-reconciler-type',
        'none',
        '--enable-admission-plugins',
        // PodNodeSelector + PodTolerationRestriction: a namespace's annotations place its pods (the real node's tier).
        'NamespaceLifecycle,ServiceAccount,PodSecurity,LimitRanger,ResourceQuota,PodNodeSelector,PodTolerationRestriction',
        // No node-lifecycle controller runs to lift the not-ready taint from kwok nodes.
        '--disable-admission-plugins',
        'TaintNodesByCondition',
        // pods/log: the API server calls kwok's kubelet endpoint on the node's (loopback) InternalIP.
        '--kubelet-preferred-address-types',
        'InternalIP',
        '--v',
        '0',
      ],
      join(dir, 'kube-apiserver.log'),
      detached,
    );
    started.push(apiserver);
    await waitUntil(
      'kube-apiserver',
      async () => (await get(`${server}/readyz`, token, undefined)) === 200,
      60_000,
      apiserver,
    );
    const ca = await readFile(join(dir, 'pki', 'apiserver.crt'));

    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(
      kubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'kubiya-local',
        clusters: [{ name: 'kubiya-local', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
        users: [{ name: 'kubiya-admin', user: { token } }],
        contexts: [{ name: 'kubiya-local', context: { cluster: 'kubiya-local', user: 'kubiya-admin' } }],
      }),
      { mode: 0o600 },
    );

    // CRDs first: the controller-manager's garbage collector then knows WorkflowRuns from its start.
    if (options.crds ?? true) {
      const crd = await renderChart(options.tools.helm, ['--show-only', 'templates/crd-workflowrun.yaml']);
      await installCrds(kubeconfig, [parse(crd) as V1CustomResourceDefinition]);
    }

    const scheduler = startProcess(
      'kube-scheduler',
      options.tools['kube-scheduler'],
      ['--kubeconfig', kubeconfig, '--leader-elect=false', '--secure-port', '0', '--v', '0'],
      join(dir, 'kube-scheduler.log'),
      detached,
    );
    started.push(scheduler);
    const controllers = startProcess(
      'kube-controller-manager',
      options.tools['kube-controller-manager'],
      [
        '--kubeconfig',
        kubeconfig,
        '--leader-elect=false',
        '--secure-port',
        '0',
        '--controllers',
        'garbage-collector-controller,namespace-controller,serviceaccount-controller,serviceaccount-token-controller,deployment-controller,replicaset-controller,statefulset-controller,disruption-controller,persistentvolume-binder-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller,resourcequota-controller',
        '--service-account-private-key-file',
        join(dir, 'pki', 'sa.key'),
        '--root-ca-file',
        join(dir, 'pki', 'apiserver.crt'),
        '--use-service-account-credentials=false',
        '--v',
        '0',
      ],
      join(dir, 'kube-controller-manager.log'),
      detached,
    );
    started.push(controllers);
    const kwokConfig = await kwokConfiguration(dir, kwokPort);
    const kwok = startProcess(
      'kwok',
      options.tools.kwok,
      [
        '--kubeconfig',
        kubeconfig,
        '--config',
        kwokConfig,
        '--manage-all-nodes=false',
        '--manage-nodes-with-label-selector',
        'type=kwok',
        // kwok's kubelet endpoint serves pods/log (the logs of ClusterLogs below), over TLS.
        '--server-address',
        `127.0.0.1:${kwokPort}`,
        '--tls-cert-file',
        join(dir, 'pki', 'apiserver.crt'),
        '--tls-private-key-file',
        join(dir, 'pki', 'apiserver.key'),
      ],
      join(dir, 'kwok.log'),
      detached,
    );
    started.push(kwok);

    const workflowsNamespace = options.workflowsNamespace ?? 'kubiya-workflows';
    const runnerNamespace = options.runnerNamespace ?? 'kubiya';
    await bootstrapCluster(kubeconfig, { workflowsNamespace, runnerNamespace, nodes: options.nodes ?? 2 });

    const state: ClusterState = {
      dir,
      kubeconfig,
      server,
      workflowsNamespace,
      runnerNamespace,
      pids: started.map((p) => ({ name: p.name, pid: p.pid })),
      startedMs: Date.now() - t0,
    };
    return { ...state, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The line every simulated step container logs (CRI log format), so pods/log has something to serve. */
export const KWOK_STEP_LOG = 'step output (simulated by kwok)';

/** stages.yaml with this cluster's kubelet port, plus a ClusterLogs giving every step container a log. */
async function kwokConfiguration(dir: string, port: number): Promise<string> {
  const logsFile = join(dir, 'step.log');
  const t = '2026-01-01T00:00:00.000000000Z';
  await writeFile(logsFile, `${t} stdout F ${KWOK_STEP_LOG}\n${t} stdout F line 2\n${t} stderr F line 3 on stderr\n`);
  const stages = (await readFile(KWOK_STAGES, 'utf8')).replaceAll('__KWOK_SERVER_PORT__', String(port));
  const logs = stringify({
    apiVersion: 'kwok.x-k8s.io/v1alpha1',
    kind: 'ClusterLogs',
    metadata: { name: 'step-logs' },
    spec: { logs: [{ containers: ['step'], logsFile, follow: false }] },
  });
  const file = join(dir, 'kwok.yaml');
  await writeFile(file, `${stages}\n---\n${logs}`);
  return file;
}

/** Stops a cluster started detached by another process (from its saved state). */
export async function stopClusterState(state: ClusterState, removeDir: boolean): Promise<void> {
  for (const p of [...state.pids].reverse()) await stopPid(p.pid, 5000, true);
  if (removeDir) await rm(state.dir, { recursive: true, force: true });
}
