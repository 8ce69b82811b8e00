/**
 * Every object the project builds and sends through a client-node typed call is stored as meant
 * (red team 13, finding 3; docs/reviews/2026-12-02-red-team-13.md).
 *
 * The class (wider than 8788a5a's CRDs): client-node serialises a typed call's body by its model's
 * attribute map, so a key the model does not know, or knows under another name (`enum`/`_enum`,
 * `default`/`_default`, `x-kubernetes-*`, an ingress rule's `from`/`_from`, `continue`/`_continue`),
 * is dropped without an error. An object at risk is one whose keys the compiler does not check
 * against the model: parsed from YAML/JSON, or cast (`as never`). The table below is every object
 * the runner, the local control plane, the test support and the bench send through a typed create,
 * each built by the project's own builder and, where the project has one, sent by its own adapter;
 * each is read back as plain JSON (src/adapters/kube-json.ts, no model in between) and every key
 * and value of the object as meant must be there (the API server may add defaults, never lose one).
 * The negative control: the chart's WorkflowRun CRD sent through the typed create (the path before
 * 8788a5a) is caught by the same comparison.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { AdmissionregistrationV1Api, ApiextensionsV1Api, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { kubeJson, segment } from '../../src/adapters/kube-json.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import { bootstrapObjects, crdManifests } from '../../src/dev/bootstrap.ts';
import { CRD_ONLY_ARGS, renderChart } from '../../src/dev/manifest.ts';
import { egressObject, stepDnsPolicy, type EgressObject } from '../../src/egress/network-policy.ts';
import { buildVolumeClaims } from '../../src/pod/volumes.ts';
import type { Workflow } from '../../src/validate/schema.ts';
import { mutatingWebhook, validatingWebhook } from '../../bench/peers/gatekeeper/manifests.ts';
import {
  allowedRegistries,
  mutatingBinding,
  mutatingPolicy,
  validatingBinding,
  validatingPolicy,
} from '../../bench/peers/intree-policy.ts';
import { hardened, stepPod } from '../../bench/peers/step.ts';
import { installCiliumCrd, requireTools, testCluster, type TestCluster } from '../support/cluster.ts';

/**
 * The paths (a/b/0/c) where `meant` has a key or value that `stored` lacks or differs in. Objects:
 * every key of `meant`; arrays: same length, element by element; anything else: equal. A Go zero
 * value (false, 0, "") meant and absent from what is stored is kept: the API server writes its
 * `omitempty` fields only when not zero (a pod's `hostNetwork: false` reads back absent), and absent
 * means the same to it.
 */
export function lost(meant: unknown, stored: unknown, path = ''): string[] {
  if (Array.isArray(meant)) {
    if (!Array.isArray(stored) || stored.length !== meant.length) return [`${path} (array)`];
    return meant.flatMap((m, i) => lost(m, stored[i], `${path}/${i}`));
  }
  if (meant !== null && typeof meant === 'object') {
    if (stored === null || typeof stored !== 'object') return [`${path} (object)`];
    return Object.entries(meant).flatMap(([k, v]) => lost(v, (stored as Record<string, unknown>)[k], `${path}/${k}`));
  }
  if (stored === undefined && (meant === false || meant === 0 || meant === '')) return [];
  return meant === stored ? [] : [`${path}: ${JSON.stringify(meant)} → ${JSON.stringify(stored)}`];
}

/** An object as meant: plain JSON, the API's field names (the builders use them for these kinds). */
const plain = (o: unknown): unknown => JSON.parse(JSON.stringify(o));

const read = (kc: KubeConfig, path: string) => kubeJson<unknown>(kc, { method: 'GET', path });

let env: TestCluster;
before(async () => {
  env = await testCluster();
});
after(() => env?.close());

/** A row: what the project means, where it is stored. */
interface Row {
  readonly name: string;
  readonly meant: unknown;
  readonly path: string;
}

async function assertStored(rows: readonly Row[]): Promise<void> {
  assert.ok(rows.length > 0);
  for (const row of rows) {
    const stored = await read(env.kc, row.path);
    assert.deepEqual(lost(plain(row.meant), stored), [], `${row.name}: stored as meant`);
  }
}

describe('the local control plane (src/dev/bootstrap.ts bootstrapObjects, created by startCluster)', () => {
  test('namespaces (labels), default deny, service account, nodes, storage class, volumes', async () => {
    const ns = env.cluster.workflowsNamespace;
    const o = bootstrapObjects({ workflowsNamespace: ns, runnerNamespace: env.cluster.runnerNamespace, nodes: 2 });
    const name = (x: { metadata?: { name?: string } }) => segment(x.metadata?.name ?? '');
    await assertStored([
      ...o.namespaces.map((n) => ({
        name: `namespace ${n.metadata?.name}`,
        meant: n,
        path: `/api/v1/namespaces/${name(n)}`,
      })),
      {
        name: 'default deny',
        meant: o.defaultDeny,
        path: `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${name(o.defaultDeny)}`,
      },
      {
        name: 'service account',
        meant: o.serviceAccount,
        path: `/api/v1/namespaces/${ns}/serviceaccounts/${name(o.serviceAccount)}`,
      },
      ...o.nodes.map((n) => ({ name: `node ${n.metadata?.name}`, meant: n, path: `/api/v1/nodes/${name(n)}` })),
      {
        name: 'storage class',
        meant: o.storageClass,
        path: `/apis/storage.k8s.io/v1/storageclasses/${name(o.storageClass)}`,
      },
      ...o.volumes.map((v) => ({
        name: `volume ${v.metadata?.name}`,
        meant: v,
        path: `/api/v1/persistentvolumes/${name(v)}`,
      })),
    ]);
  });
});

describe("the runner's step objects (src/adapters/kube-step-objects.ts)", () => {
  const runner = 'typed-bodies';
  const context = (step: string) => ({
    mode: 'networkpolicy' as const,
    name: `typed-${step}`,
    namespace: env.cluster.workflowsNamespace,
    labels: { 'kubiya.ai/runner': runner, 'kubiya.ai/step': step },
    podLabels: { 'kubiya.ai/runner': runner, 'kubiya.ai/step': step, 'kubiya.ai/egress': `e-${step}` },
    dnsNamespace: 'kube-system',
  });
  // Variants of a step's grant: one CIDR and port, several CIDRs and ports, several destinations, IPv6.
  const GRANTS = {
    one: [{ cidr: '10.0.0.0/24', ports: [443] }],
    cidrs: [{ host: 'api.example.com', cidrs: ['10.1.0.0/16', '192.168.3.0/24'], ports: [443, 8443, 80] }],
    several: [
      { cidr: '10.2.0.1/32', ports: [5432] },
      { host: 'x.example.com', cidrs: ['172.16.0.0/12'], ports: [443] },
    ],
    ipv6: [{ cidr: '2001:db8::/64', ports: [443] }],
  };

  test("the runner's DNS policy and each variant of a step's egress policy", async () => {
    const ns = env.cluster.workflowsNamespace;
    const objects = new KubeStepObjects(env.kc, ns, runner);
    const dns = stepDnsPolicy({ runner, namespace: ns, dnsNamespace: 'kube-system' });
    const ensured = await objects.ensureStepDns(dns);
    assert.ok(ensured.ok, JSON.stringify(ensured));
    const rows: Row[] = [
      {
        name: 'DNS policy',
        meant: dns,
        path: `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${segment(dns.metadata?.name ?? '')}`,
      },
    ];
    for (const [step, grant] of Object.entries(GRANTS)) {
      const policy = egressObject(grant, context(step));
      assert.ok(policy.ok, JSON.stringify(policy));
      const made = await objects.createEgress(policy.value);
      assert.ok(made.ok, JSON.stringify(made));
      const p: EgressObject = policy.value;
      rows.push({
        name: `egress ${step}`,
        meant: p,
        path: `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/typed-${step}`,
      });
    }
    await assertStored(rows);
  });

  test("a run's volume claims", async () => {
    const ns = env.cluster.workflowsNamespace;
    const objects = new KubeStepObjects(env.kc, ns, runner);
    const workflow = {
      volumes: [
        { name: 'shared', size: '1Gi' },
        { name: 'cache', size: '512Mi' },
      ],
    } as unknown as Workflow;
    const claims = buildVolumeClaims({ name: 'wr-typed', ref: { id: 'wf-typed', runId: 'run-typed' } }, workflow, {
      namespace: ns,
      runner,
      storageClass: 'kubiya-local',
    });
    assert.equal(claims.length, 2);
    const made = await objects.createVolumeClaims(claims);
    assert.ok(made.ok, JSON.stringify(made));
    await assertStored(
      claims.map((c) => ({
        name: `claim ${c.metadata?.name}`,
        meant: c,
        path: `/api/v1/namespaces/${ns}/persistentvolumeclaims/${segment(c.metadata?.name ?? '')}`,
      })),
    );
  });
});

describe('test support and the bench', () => {
  test("the bench's step pod (buildPod, hardened by the runner's mutation) through the typed pod create", async () => {
    const ns = env.cluster.workflowsNamespace;
    const pod = hardened(stepPod(ns, 'typed-bodies'));
    pod.metadata = { ...pod.metadata, name: 'typed-bodies-pod' };
    await env.kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace: ns, body: pod });
    await assertStored([
      { name: 'bench step pod', meant: pod, path: `/api/v1/namespaces/${ns}/pods/typed-bodies-pod` },
    ]);
  });

  test("installCiliumCrd (test/support/cluster.ts: the model's x_kubernetes_* names) stores the JSON key", async () => {
    await installCiliumCrd(env.kc);
    const got = (await read(
      env.kc,
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/ciliumnetworkpolicies.cilium.io',
    )) as {
      spec: { versions: { schema: { openAPIV3Schema: Record<string, unknown> } }[] };
    };
    assert.deepEqual(got.spec.versions[0]?.schema.openAPIV3Schema, {
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  test('the Gatekeeper row’s webhook configurations (bench/peers/gatekeeper/manifests.ts), as the bench sends them', async () => {
    const adm = env.kc.makeApiClient(AdmissionregistrationV1Api);
    // A namespace no pod is created in: the webhooks (fail closed) select nothing of the other rows.
    const target = {
      base: 'https://127.0.0.1:9',
      caPem: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n',
      namespace: 'typed-bodies-none',
    };
    const v = validatingWebhook(target);
    const m = mutatingWebhook(target);
    await adm.createValidatingWebhookConfiguration({ body: v });
    await adm.createMutatingWebhookConfiguration({ body: m });
    try {
      await assertStored([
        {
          name: 'validating webhook',
          meant: v,
          path: `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${segment(v.metadata?.name ?? '')}`,
        },
        {
          name: 'mutating webhook',
          meant: m,
          path: `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${segment(m.metadata?.name ?? '')}`,
        },
      ]);
    } finally {
      await adm.deleteValidatingWebhookConfiguration({ name: v.metadata?.name ?? '' });
      await adm.deleteMutatingWebhookConfiguration({ name: m.metadata?.name ?? '' });
    }
  });

  test('the in-tree row’s admission policies and bindings (bench/peers/intree-policy.ts), as the bench sends them', async () => {
    const adm = env.kc.makeApiClient(AdmissionregistrationV1Api);
    const base = '/apis/admissionregistration.k8s.io/v1';
    const vap = validatingPolicy('typed-vap', allowedRegistries());
    const vapb = validatingBinding('typed-vap', 'typed-vap', 'typed-bodies-none');
    await adm.createValidatingAdmissionPolicy({ body: vap });
    await adm.createValidatingAdmissionPolicyBinding({ body: vapb });
    const rows: Row[] = [
      { name: 'ValidatingAdmissionPolicy', meant: vap, path: `${base}/validatingadmissionpolicies/typed-vap` },
      {
        name: 'ValidatingAdmissionPolicyBinding',
        meant: vapb,
        path: `${base}/validatingadmissionpolicybindings/typed-vap`,
      },
    ];
    const map = mutatingPolicy('typed-map');
    const mapb = mutatingBinding('typed-map', 'typed-map', 'typed-bodies-none');
    await adm.createMutatingAdmissionPolicy({ body: map });
    await adm.createMutatingAdmissionPolicyBinding({ body: mapb });
    rows.push(
      { name: 'MutatingAdmissionPolicy', meant: map, path: `${base}/mutatingadmissionpolicies/typed-map` },
      {
        name: 'MutatingAdmissionPolicyBinding',
        meant: mapb,
        path: `${base}/mutatingadmissionpolicybindings/typed-map`,
      },
    );
    await assertStored(rows);
  });
});

test("negative control: the chart's WorkflowRun CRD through the typed create (before 8788a5a) is caught", async () => {
  const [chart] = crdManifests(await renderChart(requireTools().helm, CRD_ONLY_ARGS), 'chart');
  assert.ok(chart !== undefined);
  const spec = chart.spec as { group: string; names: Record<string, string> };
  const group = 'typed-control.kubiya.ai';
  const copy = { ...chart, metadata: { name: `${spec.names.plural}.${group}` }, spec: { ...spec, group } };
  await env.kc.makeApiClient(ApiextensionsV1Api).createCustomResourceDefinition({ body: copy as never });
  const stored = await read(env.kc, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${copy.metadata.name}`);
  const missing = lost(plain(copy), stored);
  assert.ok(
    missing.some((p) => p.includes('/enum')),
    `the comparison sees the dropped enum: ${missing.join('; ')}`,
  );
});

/**
 * Every typed create/replace/patch call in src/, bench/, test/support/ and scripts/, and what covers
 * it: a row above, or why its body cannot lose a key (a literal of the model's type, whose keys the
 * compiler checks; a custom object, which client-node passes through as it is). A new call site
 * fails this test until it is put here.
 */
const CALL_SITES: Readonly<Record<string, string>> = {
  'src/dev/bootstrap.ts createNamespace': 'row: the local control plane',
  'src/dev/bootstrap.ts createNamespacedNetworkPolicy': 'row: the local control plane',
  'src/dev/bootstrap.ts createNamespacedServiceAccount': 'row: the local control plane',
  'src/dev/bootstrap.ts createNode': 'row: the local control plane',
  'src/dev/bootstrap.ts createStorageClass': 'row: the local control plane',
  'src/dev/bootstrap.ts createPersistentVolume': 'row: the local control plane',
  'src/adapters/kube-step-objects.ts createNamespacedNetworkPolicy':
    'rows: DNS policy, egress variants (the body is cast: `as never`)',
  'src/adapters/kube-step-objects.ts createNamespacedPersistentVolumeClaim': "row: a run's volume claims",
  'src/adapters/kube-step-objects.ts createNamespacedCustomObject':
    'custom object (CiliumNetworkPolicy): passed through',
  'src/adapters/lease.ts createNamespacedLease': 'a V1Lease literal (tsc-checked)',
  'src/adapters/lease.ts replaceNamespacedLease': 'a V1Lease literal / the typed read, deserialised (tsc-checked)',
  'src/adapters/trusted-keys-configmap.ts createNamespacedConfigMap': 'a V1ConfigMap literal (tsc-checked)',
  'src/adapters/trusted-keys-configmap.ts replaceNamespacedConfigMap': 'the typed read, deserialised, with new data',
  'test/support/cluster.ts createCustomResourceDefinition': 'row: installCiliumCrd',
  'bench/cluster.ts createNamespacedPod': 'row: bench step pod',
  'bench/peers/bare-row.ts createNamespacedPod': 'row: bench step pod',
  'bench/peers/gatekeeper.ts createNamespacedPod': 'row: bench step pod',
  'bench/peers/gatekeeper/install.ts createNamespacedPod': 'a V1Pod literal (tsc-checked)',
  'bench/peers/gatekeeper/probe.ts createNamespacedPod': 'dry run of bench pods',
  'bench/peers/intree-check.ts createNamespacedPod': 'dry run of bench pods',
  'bench/peers/intree-row.ts createNamespacedPod': 'row: bench step pod',
  'bench/peers/request-cost.ts createNamespacedPod': 'a V1Pod literal (tsc-checked)',
  'bench/peers/gatekeeper.ts createValidatingWebhookConfiguration': 'row: webhook configurations',
  'bench/peers/gatekeeper.ts createMutatingWebhookConfiguration': 'row: webhook configurations',
  'bench/peers/intree-row.ts createValidatingAdmissionPolicy': 'row: admission policies',
  'bench/peers/intree-row.ts createValidatingAdmissionPolicyBinding': 'row: admission policies',
  'bench/peers/intree-row.ts createMutatingAdmissionPolicy': 'row: admission policies',
  'bench/peers/intree-row.ts createMutatingAdmissionPolicyBinding': 'row: admission policies',
  'bench/peers/control-plane.ts createNamespace': 'literals as bootstrapObjects (tsc-checked)',
  'bench/peers/control-plane.ts createNamespacedNetworkPolicy': 'defaultDenyEgress: row: the local control plane',
  'bench/peers/control-plane.ts createNamespacedServiceAccount': 'literals as bootstrapObjects (tsc-checked)',
  'bench/peers/gatekeeper/install.ts createNamespace': 'a V1Namespace literal (tsc-checked)',
  'bench/peers/watch-check.ts createNamespace': 'a V1Namespace literal (tsc-checked)',
  'bench/peers/watch-check.ts createNamespacedConfigMap': 'a V1ConfigMap literal (tsc-checked)',
  'bench/peers/argo.ts createNamespacedConfigMap': 'a V1ConfigMap literal (tsc-checked)',
  'bench/peers/argo.ts createNamespacedCustomObject': 'custom object (Workflow): passed through',
  'bench/peers/request-cost.ts createNamespacedCustomObject': 'custom object (WorkflowRun): passed through',
  'bench/peers/argo/install.ts createCustomResourceDefinition':
    "YAML deserialised into the model (loadYaml): renamed keys kept; not run here (needs Argo's module)",
};

const TYPED_CALL = /\.((?:create|replace|patch)(?:Namespaced)?(?:[A-Z][A-Za-z]*))\(\{/g;
/** Methods of the API clients only (not createHash, createServer, ...). */
const API_METHOD =
  /^(create|replace|patch)(Namespaced[A-Z]\w*|Namespace|Node|PersistentVolume|StorageClass|CustomResourceDefinition|(Validating|Mutating)\w+)$/;

function* sources(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'node_modules') yield* sources(p);
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) yield p;
  }
}

test('every typed create/replace/patch call site is in the table, and every entry is a call site', () => {
  const found = new Set<string>();
  for (const root of ['src', 'bench', 'test/support', 'scripts'])
    for (const file of sources(join(REPO_ROOT, root)))
      for (const m of readFileSync(file, 'utf8').matchAll(TYPED_CALL))
        if (API_METHOD.test(m[1] ?? '')) found.add(`${relative(REPO_ROOT, file)} ${m[1]}`);
  assert.deepEqual([...found].sort(), Object.keys(CALL_SITES).sort());
});
