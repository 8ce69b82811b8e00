import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { buildBundle } from '../../src/adapters/opa-cli.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { startCluster, type Cluster } from '../../src/dev/cluster.ts';

/** Tools or a clear failure saying how to build them (never a skipped test). */
export function requireTools() {
  const tools = resolveTools(['etcd', 'kube-apiserver', 'kube-scheduler', 'kube-controller-manager', 'kwok', 'opa', 'helm']);
  if (!tools.ok) throw new Error(tools.error.message);
  return tools.value;
}

export interface TestCluster {
  readonly cluster: Cluster;
  readonly kc: KubeConfig;
  readonly bundle: string;
  readonly work: string;
  close(): Promise<void>;
}

/** A real local control plane plus a freshly built policy bundle, for one test file. */
export async function testCluster(options: { crds?: boolean } = {}): Promise<TestCluster> {
  const tools = requireTools();
  const work = await mkdtemp(join(tmpdir(), 'kubiya-test-'));
  const { file: bundle } = await buildBundle(tools.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
  const cluster = await startCluster({ tools, ...options });
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  return {
    cluster, kc, bundle, work,
    close: async () => {
      await cluster.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}
