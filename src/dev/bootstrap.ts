import {
  ApiException,
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  StorageV1Api,
  type V1CustomResourceDefinition,
  type V1Namespace,
  type V1NetworkPolicy,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';

/** The storage class of the local control plane's pre-provisioned volumes. */
export const LOCAL_STORAGE_CLASS = 'kubiya-local';

export const RESTRICTED_LABELS = Object.freeze({
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/audit': 'restricted',
  'pod-security.kubernetes.io/warn': 'restricted',
});

/**
 * The name of the local control plane's own default-deny egress policy in the workflows namespace.
 * Not the chart's name (`<release>-default-deny-egress`): `helm install kubiya-runner` on this
 * control plane installs the chart's beside it, and two identical default denies are one.
 */
export const DEFAULT_DENY_EGRESS = 'kubiya-local-default-deny-egress';

/**
 * The workflows namespace's default deny, as the chart installs it: every pod in the namespace
 * (`podSelector: {}`) has no egress (`policyTypes: [Egress]`, no rules) unless a policy of its own
 * allows some; each step's own policy is the only thing that allows DNS and its destinations.
 */
export function defaultDenyEgress(namespace: string): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: DEFAULT_DENY_EGRESS, namespace },
    spec: { podSelector: {}, policyTypes: ['Egress'] },
  };
}

async function ignoreExists<T>(p: Promise<T>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiException && e.code === 409)) throw e;
  }
}

/**
 * Creates what the seed expects in a cluster: the runner namespace (labelled name=<ns> for the
 * seed's NetworkPolicy), the workflows namespace with the restricted Pod Security labels and the
 * chart's default-deny egress NetworkPolicy (so tests exercise it), the workflow service account,
 * and fake kwok nodes; waits until a node is Ready.
 */
export async function bootstrapCluster(
  kubeconfig: string,
  o: { workflowsNamespace: string; runnerNamespace: string; nodes: number },
): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const namespaces: V1Namespace[] = [
    { metadata: { name: o.runnerNamespace, labels: { name: o.runnerNamespace } } },
    { metadata: { name: o.workflowsNamespace, labels: { name: o.workflowsNamespace, ...RESTRICTED_LABELS } } },
  ];
  for (const body of namespaces) await ignoreExists(core.createNamespace({ body }));
  await ignoreExists(
    kc.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({
      namespace: o.workflowsNamespace,
      body: defaultDenyEgress(o.workflowsNamespace),
    }),
  );
  await ignoreExists(
    core.createNamespacedServiceAccount({
      namespace: o.workflowsNamespace,
      body: { metadata: { name: 'kubiya-workflow' }, automountServiceAccountToken: false },
    }),
  );
  for (let i = 0; i < o.nodes; i++) {
    const name = `kwok-node-${i}`;
    await ignoreExists(
      core.createNode({
        body: {
          metadata: {
            name,
            labels: {
              type: 'kwok',
              'kubernetes.io/hostname': name,
              'kubernetes.io/os': 'linux',
              'kubernetes.io/arch': 'amd64',
            },
            annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
          },
        },
      }),
    );
  }
  // Pre-provisioned volumes for workflow PVCs (kwok has no storage driver): a storage class with no
  // provisioner, and PVs the controller-manager's binder hands to claims of that class.
  const storage = kc.makeApiClient(StorageV1Api);
  await ignoreExists(
    storage.createStorageClass({
      body: {
        metadata: { name: LOCAL_STORAGE_CLASS },
        provisioner: 'kubernetes.io/no-provisioner',
        volumeBindingMode: 'Immediate',
      },
    }),
  );
  for (let i = 0; i < 32; i++) {
    await ignoreExists(
      core.createPersistentVolume({
        body: {
          metadata: { name: `kubiya-local-pv-${i}` },
          spec: {
            storageClassName: LOCAL_STORAGE_CLASS,
            capacity: { storage: '50Gi' },
            accessModes: ['ReadWriteOnce'],
            persistentVolumeReclaimPolicy: 'Delete',
            hostPath: { path: `/tmp/kubiya-local-pv-${i}` },
          },
        },
      }),
    );
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const nodes = await core.listNode({ labelSelector: 'type=kwok' });
    const ready = nodes.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (ready.length === o.nodes) return;
    await sleep(100);
  }
  throw new Error('kwok nodes did not become Ready within 30 s (see kwok.log)');
}

/** Installs CRDs (from the Helm chart, rendered by the caller) and waits until they are established. */
export async function installCrds(kubeconfig: string, crds: readonly V1CustomResourceDefinition[]): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const body of crds) await ignoreExists(api.createCustomResourceDefinition({ body }));
  const deadline = Date.now() + 30_000;
  for (const crd of crds) {
    const name = crd.metadata?.name ?? '';
    while (Date.now() < deadline) {
      const got = await api.readCustomResourceDefinition({ name });
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      await sleep(100);
    }
  }
}
