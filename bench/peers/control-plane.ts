/**
 * The one local control plane every peer row shares (issue 20 §1): src/dev/cluster.ts's
 * kube-apiserver + etcd + kwok + scheduler + controller-manager, and per row a fresh namespace set
 * up exactly as the runner's workflows namespace is (restricted Pod Security labels, the
 * kubiya-workflow service account, the default-deny egress NetworkPolicy).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiException, CoreV1Api, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import type { ClusterTools } from '../../src/dev/cluster-components.ts';
import { defaultDenyEgress, RESTRICTED_LABELS } from '../../src/dev/bootstrap.ts';
import { startCluster, type Cluster } from '../../src/dev/cluster.ts';
import { requireTools } from '../../test/support/cluster.ts';
import type { PeerEnv } from './peer.ts';

/** A running shared control plane and what the rows are given of it. */
export interface ControlPlane {
  readonly cluster: Cluster;
  readonly tools: ClusterTools & { readonly opa: string };
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  /** The control plane's processes by name (kube-apiserver, etcd, kwok, kube-scheduler, kube-controller-manager). */
  readonly pids: readonly { readonly name: string; readonly pid: number }[];
}

/** Starts the shared control plane (the tools of the local stack must be built: npm run tools). */
export async function startControlPlane(log: (s: string) => void): Promise<ControlPlane> {
  const tools = requireTools();
  const cluster = await startCluster({ tools });
  log(`  local control plane up in ${(cluster.startedMs / 1000).toFixed(1)} s`);
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  return { cluster, tools, kc, core: kc.makeApiClient(CoreV1Api), pids: cluster.pids };
}

/**
 * A fresh namespace for row `slug` (peer-<slug>), labelled and furnished as the runner's workflows
 * namespace is, and the PeerEnv that hands it to the row (workDir: a directory of its own).
 */
export async function rowEnv(cp: ControlPlane, slug: string, log: (s: string) => void): Promise<PeerEnv> {
  const namespace = `peer-${slug}`;
  await cp.core.createNamespace({
    body: { metadata: { name: namespace, labels: { name: namespace, ...RESTRICTED_LABELS } } },
  });
  await cp.core.createNamespacedServiceAccount({
    namespace,
    body: { metadata: { name: 'kubiya-workflow' }, automountServiceAccountToken: false },
  });
  await cp.kc
    .makeApiClient(NetworkingV1Api)
    .createNamespacedNetworkPolicy({ namespace, body: defaultDenyEgress(namespace) });
  // The namespace's default service account (the ServiceAccount admission plugin waits for it on some paths).
  for (let i = 0; i < 50; i++) {
    try {
      await cp.core.readNamespacedServiceAccount({ name: 'default', namespace });
      break;
    } catch (e) {
      if (!(e instanceof ApiException && e.code === 404)) throw e;
      await sleep(100);
    }
  }
  const workDir = join(cp.cluster.dir, `row-${slug}`);
  await mkdir(workDir, { recursive: true });
  return {
    kubeConfig: cp.kc,
    kubeconfigPath: cp.cluster.kubeconfig,
    namespace,
    workDir,
    log: (line) => log(`  [${slug}] ${line}`),
  };
}

/** Waits (bounded) until `namespace` holds no pods; throws naming the namespace if it does not empty. */
export async function waitNoPods(cp: ControlPlane, namespace: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await cp.core.listNamespacedPod({ namespace, limit: 1 })).items.length === 0) return;
    await sleep(200);
  }
  throw new Error(`namespace ${namespace} still holds pods ${timeoutMs} ms after the row's reset`);
}
