import { randomUUID, type KeyObject } from 'node:crypto';
import { loadKubeConfig } from '../adapters/kubeconfig.ts';
import { createLocalJWKSet, type JSONWebKeySet } from 'jose';
import { FileAuditLog } from '../adapters/audit-file.ts';
import { KubePodLogs } from '../adapters/kube-pod-logs.ts';
import { KubePods } from '../adapters/kube-pods.ts';
import { KubeStepObjects } from '../adapters/kube-step-objects.ts';
import { KubeRunStore } from '../adapters/kube-runs.ts';
import { ConfigMapTrustedKeys } from '../adapters/trusted-keys-configmap.ts';
import { loadEngine, readBundle } from '../adapters/opa-wasm.ts';
import type { PipelineConfig, PipelineDeps } from '../pipeline/deps.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { DEFAULT_RESOURCES } from '../pod/resources.ts';

export interface RunnerSetup {
  readonly config: PipelineConfig;
  readonly kubeconfig: string;
  /** Policy bundle: tar.gz from `policy build`, or a directory with policy.wasm, data.json, .manifest. */
  readonly bundle: string;
  readonly jwks: JSONWebKeySet;
  readonly auditDir: string;
  /** Ed25519 key for signed audit checkpoints (optional). */
  readonly checkpointKey?: { readonly key: KeyObject; readonly kid: string } | undefined;
}

export interface RunningRunner {
  readonly deps: PipelineDeps;
  readonly reconciler: Reconciler;
  close(): Promise<void>;
}

/** Wires the real adapters (API server, WASM policy, audit file, JWKS) into pipeline deps. */
export async function startRunner(setup: RunnerSetup): Promise<RunningRunner> {
  const kc = loadKubeConfig(setup.kubeconfig);
  const engine = await loadEngine(await readBundle(setup.bundle));
  const audit = await FileAuditLog.open(
    setup.auditDir,
    setup.checkpointKey === undefined
      ? {}
      : { checkpoint: { ...setup.checkpointKey, every: 1000, intervalMs: 10_000 } },
  );
  const pods = new KubePods(kc, setup.config.namespace, setup.config.runner);
  const runs = new KubeRunStore(kc, setup.config.namespace, setup.config.runner);
  await Promise.all([pods.start(), runs.start()]);
  const deps: PipelineDeps = {
    config: setup.config,
    keys: createLocalJWKSet(setup.jwks),
    // Beside the runs (this dev/test runner has no namespace of its own).
    trust: new ConfigMapTrustedKeys(kc, {
      name: `kubiya-runner-${setup.config.runner}-trusted-keys`,
      namespace: setup.config.namespace,
    }),
    policy: () => engine,
    audit,
    pods,
    objects: new KubeStepObjects(kc, setup.config.namespace, setup.config.runner, setup.config.egressMode),
    logs: new KubePodLogs(kc, setup.config.namespace),
    runs,
    now: () => new Date(),
    newId: randomUUID,
  };
  // This process is the only runner here: it reconciles without a Lease.
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 64, resyncMs: 30_000 });
  reconciler.start();
  return {
    deps,
    reconciler,
    close: async () => {
      await reconciler.stop();
      await runs.stop();
      await pods.stop();
      await audit.close();
    },
  };
}

/** Defaults as the seed's values.yaml has them (and `serve`'s config defaults), for the demo and tests. */
export function defaultPipelineConfig(
  runner: string,
  issuer: string,
  namespace = 'kubiya-workflows',
  over: Partial<PipelineConfig> = {},
): PipelineConfig {
  return Object.freeze({
    runner,
    namespace,
    serviceAccount: 'kubiya-workflow',
    defaultTimeoutSeconds: 30 * 60,
    maxConcurrent: 10,
    failFastGraceSeconds: 30,
    ttlAfterFinishedSeconds: 3600,
    egressMode: 'networkpolicy',
    dnsNamespace: 'kube-system',
    storageClass: 'kubiya-local',
    workspaceSize: '10Gi',
    defaultResources: DEFAULT_RESOURCES,
    receive: { maxTokenBytes: 64 * 1024 },
    verify: {
      algorithms: ['EdDSA', 'ES256'],
      issuer,
      audience: runner,
      maxTokenAgeSeconds: 600,
      clockToleranceSeconds: 30,
    },
    profile: {
      runAsUser: 65532,
      runAsGroup: 65532,
      fsGroup: 65532,
      allowNetBindService: false,
      readOnlyRootFilesystem: false,
    },
    ...over,
  });
}
