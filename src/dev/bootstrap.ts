import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  StorageV1Api,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Node,
  type V1PersistentVolume,
  type V1ServiceAccount,
  type V1StorageClass,
} from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseAllDocuments } from 'yaml';
import { kubeJson, segment } from '../adapters/kube-json.ts';

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

/** Where the local control plane's objects go and how many fake nodes it has. */
export interface BootstrapOptions {
  readonly workflowsNamespace: string;
  readonly runnerNamespace: string;
  readonly nodes: number;
}

/**
 * Every object `bootstrapCluster` creates, as client-node models (property names = JSON names for
 * each of these kinds: none of them has a key the model renames; test/cluster/typed-bodies.test.ts
 * reads each back from the API server and compares).
 */
export function bootstrapObjects(o: BootstrapOptions): {
  namespaces: V1Namespace[];
  defaultDeny: V1NetworkPolicy;
  serviceAccount: V1ServiceAccount;
  nodes: V1Node[];
  storageClass: V1StorageClass;
  volumes: V1PersistentVolume[];
} {
  const node = (name: string): V1Node => ({
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
  });
  // Pre-provisioned volumes for workflow PVCs (kwok has no storage driver): a storage class with no
  // provisioner, and PVs the controller-manager's binder hands to claims of that class.
  const volume = (i: number): V1PersistentVolume => ({
    metadata: { name: `kubiya-local-pv-${i}` },
    spec: {
      storageClassName: LOCAL_STORAGE_CLASS,
      capacity: { storage: '50Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      hostPath: { path: `/tmp/kubiya-local-pv-${i}` },
    },
  });
  return {
    namespaces: [
      { metadata: { name: o.runnerNamespace, labels: { name: o.runnerNamespace } } },
      { metadata: { name: o.workflowsNamespace, labels: { name: o.workflowsNamespace, ...RESTRICTED_LABELS } } },
    ],
    defaultDeny: defaultDenyEgress(o.workflowsNamespace),
    serviceAccount: { metadata: { name: 'kubiya-workflow' }, automountServiceAccountToken: false },
    nodes: Array.from({ length: o.nodes }, (_, i) => node(`kwok-node-${i}`)),
    storageClass: {
      metadata: { name: LOCAL_STORAGE_CLASS },
      provisioner: 'kubernetes.io/no-provisioner',
      volumeBindingMode: 'Immediate',
    },
    volumes: Array.from({ length: 32 }, (_, i) => volume(i)),
  };
}

/**
 * Creates what the seed expects in a cluster (`bootstrapObjects`): the runner namespace (labelled
 * name=<ns> for the seed's NetworkPolicy), the workflows namespace with the restricted Pod Security
 * labels and the chart's default-deny egress NetworkPolicy (so tests exercise it), the workflow
 * service account, fake kwok nodes and pre-provisioned volumes; waits until a node is Ready.
 */
export async function bootstrapCluster(kubeconfig: string, o: BootstrapOptions): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const objects = bootstrapObjects(o);
  for (const body of objects.namespaces) await ignoreExists(core.createNamespace({ body }));
  await ignoreExists(
    kc.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({
      namespace: o.workflowsNamespace,
      body: objects.defaultDeny,
    }),
  );
  await ignoreExists(
    core.createNamespacedServiceAccount({ namespace: o.workflowsNamespace, body: objects.serviceAccount }),
  );
  for (const body of objects.nodes) await ignoreExists(core.createNode({ body }));
  const storage = kc.makeApiClient(StorageV1Api);
  await ignoreExists(storage.createStorageClass({ body: objects.storageClass }));
  for (const body of objects.volumes) await ignoreExists(core.createPersistentVolume({ body }));
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline) {
    const nodes = await core.listNode({ labelSelector: 'type=kwok' });
    const ready = nodes.items.filter((n) =>
      n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    if (ready.length === o.nodes) return;
    await sleep(100);
  }
  throw new Error('kwok nodes did not become Ready within 30 s (see kwok.log)');
}

/**
 * A CustomResourceDefinition as its manifest says it: the API's JSON field names (`enum`, `default`,
 * `x-kubernetes-preserve-unknown-fields`), as parsed from YAML or built by hand — never a client-node
 * model object (whose property names differ for those keys: `_enum`, `_default`,
 * `x_kubernetes_preserve_unknown_fields`).
 */
export interface CrdManifest {
  readonly apiVersion: 'apiextensions.k8s.io/v1';
  readonly kind: 'CustomResourceDefinition';
  readonly metadata: { readonly name: string };
  readonly spec: object;
}

/**
 * The CustomResourceDefinitions of a YAML stream (one or more documents), as their manifests say
 * them (plain YAML parse: JSON field names kept). Other kinds and empty documents are skipped.
 *
 * @throws Error (naming `source`) when a document does not parse.
 */
export function crdManifests(yamlText: string, source: string): CrdManifest[] {
  const crds: CrdManifest[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors[0]?.message ?? 'YAML error'}`);
    const o = doc.toJS() as Partial<CrdManifest> | null;
    if (o?.kind === 'CustomResourceDefinition' && typeof o.metadata?.name === 'string') crds.push(o as CrdManifest);
  }
  return crds;
}

const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/**
 * Installs CRDs (from the Helm chart, rendered by the caller, or a peer's) exactly as their manifests
 * say, and waits until each is established (30 s in all).
 *
 * The manifests go to the API server as plain JSON (src/adapters/kube-json.ts), not through
 * client-node's typed `createCustomResourceDefinition`: that serialises its body by the model's
 * property names, so a manifest's keys whose JSON names differ (`enum`, `default`, every
 * `x-kubernetes-*` of JSONSchemaProps) were silently dropped — the local control plane's WorkflowRun
 * CRD had no phase `enum` while Helm's had. A CRD that already exists is left as it is (409).
 *
 * @throws client-node's ApiException for a refused manifest; Error for an empty list (a caller
 *   that found no CRD where it expected some) or a CRD not established in time.
 */
export async function installCrds(kubeconfig: string, crds: readonly CrdManifest[]): Promise<void> {
  if (crds.length === 0) throw new Error('installCrds: no CustomResourceDefinition to install');
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  for (const body of crds) await ignoreExists(kubeJson(kc, { method: 'POST', path: CRDS, body }));
  const deadline = performance.now() + 30_000;
  for (const crd of crds) {
    const path = `${CRDS}/${segment(crd.metadata.name)}`;
    for (;;) {
      const got = await kubeJson<{ status?: { conditions?: { type: string; status: string }[] } }>(kc, {
        method: 'GET',
        path,
      });
      if (got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (performance.now() >= deadline) throw new Error(`CRD ${crd.metadata.name} was not established within 30 s`);
      await sleep(100);
    }
  }
}
