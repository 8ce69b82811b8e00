import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiextensionsV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { LOCAL_STACK_TOOLS, REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import type { Config } from '../../src/config/schema.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { startCluster, type Cluster } from '../../src/dev/cluster.ts';
import { whenThisProcessEnds } from '../../src/adapters/exit-cleanup.ts';
import { localRunnerConfig } from '../../src/dev/local-config.ts';
import { jwks, type SigningKey } from '../../src/dev/sign.ts';
import { testConfig, type ConfigOverrides } from './config.ts';

/** Tools or a clear failure saying how to build them (never a skipped test). */
export function requireTools() {
  const tools = resolveTools(LOCAL_STACK_TOOLS);
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

/**
 * A real local control plane plus a freshly built policy bundle, for one test file. Its work dir is
 * removed by close(), or when the test process ends without it (exit, SIGTERM/SIGINT/SIGHUP from a
 * cancelled run: exit-cleanup.ts), as the cluster's own processes and dir are.
 */
export async function testCluster(options: { crds?: boolean } = {}): Promise<TestCluster> {
  const tools = requireTools();
  const work = await mkdtemp(join(tmpdir(), 'kubiya-test-'));
  const forget = whenThisProcessEnds(() => rmSync(work, { recursive: true, force: true }));
  const { file: bundle } = await buildBundle(tools.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
  const cluster = await startCluster({ tools, ...options });
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  return {
    cluster,
    kc,
    bundle,
    work,
    close: async () => {
      forget();
      await cluster.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
}

/**
 * The config of an in-process runner (startRunner) on this cluster, made as the demo makes its own
 * (localRunnerConfig, then the schema): the cluster's kubeconfig, namespaces and storage class, the
 * test's bundle, the keys written to a JWKS file, an audit directory of its own, then `overrides`.
 */
export async function clusterRunnerConfig(
  env: TestCluster,
  runner: { readonly name: string; readonly issuer: string; readonly keys: readonly SigningKey[] },
  overrides: ConfigOverrides = {},
): Promise<Config> {
  const jwksFile = join(env.work, `jwks-${runner.name}.json`);
  await writeFile(jwksFile, JSON.stringify(jwks(runner.keys)));
  const files = { ...runner, jwksFile, bundle: env.bundle, auditDir: join(env.work, `audit-${runner.name}`) };
  return testConfig(localRunnerConfig(env.cluster, files), overrides);
}

/**
 * Installs a minimal CiliumNetworkPolicy CRD (cilium.io/v2, schema-less) so `egress.mode: cilium`
 * can be exercised on the local control plane, and waits up to 20 s until it is Established.
 * Throws when it is not.
 */
export async function installCiliumCrd(kc: KubeConfig): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  await ext.createCustomResourceDefinition({
    body: {
      metadata: { name: 'ciliumnetworkpolicies.cilium.io' },
      spec: {
        group: 'cilium.io',
        scope: 'Namespaced',
        names: {
          kind: 'CiliumNetworkPolicy',
          plural: 'ciliumnetworkpolicies',
          singular: 'ciliumnetworkpolicy',
          listKind: 'CiliumNetworkPolicyList',
        },
        versions: [
          {
            name: 'v2',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', x_kubernetes_preserve_unknown_fields: true } },
          },
        ],
      },
    },
  });
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    const crd = await ext.readCustomResourceDefinition({ name: 'ciliumnetworkpolicies.cilium.io' });
    if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') === true) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the CiliumNetworkPolicy CRD was not established within 20 s');
}

/** The status of the WorkflowRun `name` in `namespace` as the API server holds it now (undefined before the first status write). */
export async function runStatusOf(kc: KubeConfig, namespace: string, name: string): Promise<RunStatus | undefined> {
  const wr = (await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
    group: 'kubiya.ai',
    version: 'v1alpha1',
    namespace,
    plural: 'workflowruns',
    name,
  })) as { status?: RunStatus };
  return wr.status;
}
