import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  ApiException,
  AppsV1Api,
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  NetworkingV1Api,
  PolicyV1Api,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { resolveTools } from '../../src/adapters/tools.ts';
import { RESTRICTED_LABELS } from '../../src/dev/bootstrap.ts';
import { CHART } from '../../src/dev/manifest.ts';
import { newSigningKey } from '../../src/dev/sign.ts';
import { ConfigMapTrustedKeys, trustedKeysName } from '../../src/adapters/trusted-keys-configmap.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { releaseArgs } from '../support/helm.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const RELEASE = 'kubiya-runner';
const NS = 'kubiya-helm';
const WF_NS = 'helm-workflows';
const INSTANCE = `app.kubernetes.io/instance=${RELEASE}`;

describe('helm install / upgrade / uninstall into the local control plane (real API server, PodSecurity on)', () => {
  let env: TestCluster;
  let core: CoreV1Api;
  const helm = (...args: string[]) =>
    run(tools.value.helm, [...args, '--kubeconfig', env.cluster.kubeconfig], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: join(env.work, 'home'),
        HELM_CACHE_HOME: join(env.work, 'helm', 'cache'),
        HELM_CONFIG_HOME: join(env.work, 'helm', 'config'),
        HELM_DATA_HOME: join(env.work, 'helm', 'data'),
      },
      maxBuffer: 16 * 1024 * 1024,
    });
  const install = () =>
    helm(
      ...releaseArgs('install', RELEASE, CHART, NS, ['runner.token=test-token', `runner.workflow.namespace=${WF_NS}`]),
    );
  const upgrade = (...values: string[]) => helm(...releaseArgs('upgrade', RELEASE, CHART, NS, values));
  const until = (what: string, probe: () => Promise<boolean>, timeoutMs = 60_000) =>
    waitFor(what, probe, { timeoutMs, intervalMs: 250 });
  const asUser = (token: string): KubeConfig => {
    const kc = new KubeConfig();
    const cluster = env.kc.getCurrentCluster()!;
    kc.loadFromOptions({
      clusters: [cluster],
      users: [{ name: 'sa', token }],
      contexts: [{ name: 'sa', cluster: cluster.name, user: 'sa' }],
      currentContext: 'sa',
    });
    return kc;
  };
  const tokenFor = async (name: string, namespace: string) =>
    (
      await core.createNamespacedServiceAccountToken({
        name,
        namespace,
        body: { spec: { audiences: [], expirationSeconds: 600 } },
      })
    ).status?.token ?? '';
  const workflowRun = (name: string) => ({
    apiVersion: 'kubiya.ai/v1alpha1',
    kind: 'WorkflowRun',
    metadata: { name },
    spec: { token: 'a.b.c', workflowId: 'wf', runner: 'production-runner' },
  });

  before(async () => {
    env = await testCluster({ crds: false });
    core = env.kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS, labels: { name: NS, ...RESTRICTED_LABELS } } } });
  });
  after(async () => env?.close());

  test('install: every object accepted, the runner pods admitted under restricted, the CRD established; RBAC allows only the runner', async () => {
    await install();
    const ext = env.kc.makeApiClient(ApiextensionsV1Api);
    await until(
      'the CRD to be established',
      async () =>
        (await ext.readCustomResourceDefinition({ name: 'workflowruns.kubiya.ai' })).status?.conditions?.some(
          (c) => c.type === 'Established' && c.status === 'True',
        ) ?? false,
    );
    // The StatefulSet controller creates the pods; PodSecurity (enforce=restricted on the namespace) admits them or nothing appears.
    await until(
      '2 runner pods',
      async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: INSTANCE })).items.length === 2,
    );
    const ns = await core.readNamespace({ name: WF_NS });
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    const deny = await env.kc
      .makeApiClient(NetworkingV1Api)
      .readNamespacedNetworkPolicy({ name: `${RELEASE}-default-deny-egress`, namespace: WF_NS });
    assert.deepEqual(
      JSON.parse(JSON.stringify([deny.spec?.podSelector, deny.spec?.policyTypes, deny.spec?.egress ?? []])),
      [{}, ['Egress'], []],
      'the workflows namespace denies all egress by default',
    );

    const custom = (token: string) => asUser(token).makeApiClient(CustomObjectsApi);
    const runnerToken = await tokenFor(RELEASE, NS);
    await custom(runnerToken).createNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: WF_NS,
      plural: 'workflowruns',
      body: workflowRun('allowed'),
    });
    const stepToken = await tokenFor('kubiya-executor', WF_NS);
    await assert.rejects(
      custom(stepToken).createNamespacedCustomObject({
        group: 'kubiya.ai',
        version: 'v1alpha1',
        namespace: WF_NS,
        plural: 'workflowruns',
        body: workflowRun('refused'),
      }),
      (e: unknown) => e instanceof ApiException && e.code === 403,
    );
    await assert.rejects(
      asUser(runnerToken).makeApiClient(CoreV1Api).listNamespacedSecret({ namespace: 'kube-system' }),
      (e: unknown) => e instanceof ApiException && e.code === 403,
      'the runner has no rights outside its namespaces',
    );
  });

  test("the trusted-key store under the chart's RBAC: the runner reads and writes its one ConfigMap and nothing else; entries survive an upgrade", async () => {
    const runnerKc = asUser(await tokenFor(RELEASE, NS));
    const store = new ConfigMapTrustedKeys(runnerKc, { name: trustedKeysName(RELEASE), namespace: NS });
    const key = await newSigningKey('EdDSA', 'helm-k1');
    const at = new Date();
    assert.deepEqual(await store.observe([key.publicJwk], at), { ok: true, value: undefined });
    // Another process (another replica, or this one restarted) reads what was written.
    const listed = await new ConfigMapTrustedKeys(runnerKc, { name: trustedKeysName(RELEASE), namespace: NS }).list(
      true,
    );
    assert.ok(listed.ok, JSON.stringify(listed));
    assert.deepEqual(
      listed.value.map((k) => [k.jwk.kid, k.firstSeen, k.lastSeen]),
      [['helm-k1', at.toISOString(), at.toISOString()]],
    );
    const cm = await core.readNamespacedConfigMap({ name: trustedKeysName(RELEASE), namespace: NS });
    assert.equal(
      cm.metadata?.labels?.['app.kubernetes.io/instance'],
      RELEASE,
      "the chart's labels are kept by the runner's writes",
    );
    const asRunner = runnerKc.makeApiClient(CoreV1Api);
    for (const [what, call] of [
      ['read another ConfigMap', () => asRunner.readNamespacedConfigMap({ name: `${RELEASE}-config`, namespace: NS })],
      [
        'create a ConfigMap',
        () => asRunner.createNamespacedConfigMap({ namespace: NS, body: { metadata: { name: 'sneaky' } } }),
      ],
      ['delete the store', () => asRunner.deleteNamespacedConfigMap({ name: trustedKeysName(RELEASE), namespace: NS })],
    ] as const) {
      await assert.rejects(call(), (e: unknown) => e instanceof ApiException && e.code === 403, what);
    }
  });

  test('upgrade with changed values', async () => {
    await upgrade('replicaCount=1', 'logLevel=debug');
    const sts = await env.kc.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name: RELEASE, namespace: NS });
    assert.equal(sts.spec?.replicas, 1);
    const cm = await core.readNamespacedConfigMap({ name: `${RELEASE}-config`, namespace: NS });
    assert.match(cm.data?.['runner.yaml'] ?? '', /level: "debug"/); // every value JSON-quoted
    await until(
      '1 runner pod',
      async () => (await core.listNamespacedPod({ namespace: NS, labelSelector: INSTANCE })).items.length === 1,
    );
    const store = await core.readNamespacedConfigMap({ name: trustedKeysName(RELEASE), namespace: NS });
    assert.equal(Object.keys(store.data ?? {}).length, 1, 'an upgrade keeps the trusted keys');
  });

  // What `helm uninstall` leaves, as kind/name: the release's objects (by its instance label), the
  // audit PVCs (by the runner's label), the workflows namespace and the CRD.
  const leftovers = async (): Promise<string[]> => {
    const apps = env.kc.makeApiClient(AppsV1Api);
    const rbac = env.kc.makeApiClient(RbacAuthorizationV1Api);
    const net = env.kc.makeApiClient(NetworkingV1Api);
    const pdb = env.kc.makeApiClient(PolicyV1Api);
    const ext = env.kc.makeApiClient(ApiextensionsV1Api);
    const found: string[] = [];
    const add = (kind: string, items: { metadata?: { name?: string } }[]) =>
      items.forEach((i) => found.push(`${kind}/${i.metadata?.name ?? ''}`));
    for (const namespace of [NS, WF_NS]) {
      const ok = await core.readNamespace({ name: namespace }).then(
        () => true,
        () => false,
      );
      if (!ok) continue;
      add('pod', (await core.listNamespacedPod({ namespace, labelSelector: INSTANCE })).items);
      add('configmap', (await core.listNamespacedConfigMap({ namespace, labelSelector: INSTANCE })).items);
      add('secret', (await core.listNamespacedSecret({ namespace, labelSelector: INSTANCE })).items);
      add('serviceaccount', (await core.listNamespacedServiceAccount({ namespace, labelSelector: INSTANCE })).items);
      add('service', (await core.listNamespacedService({ namespace, labelSelector: INSTANCE })).items);
      add(
        'pvc',
        (await core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: 'app=kubiya-runner' })).items,
      );
      add('statefulset', (await apps.listNamespacedStatefulSet({ namespace, labelSelector: INSTANCE })).items);
      add('role', (await rbac.listNamespacedRole({ namespace, labelSelector: INSTANCE })).items);
      add('rolebinding', (await rbac.listNamespacedRoleBinding({ namespace, labelSelector: INSTANCE })).items);
      add('networkpolicy', (await net.listNamespacedNetworkPolicy({ namespace, labelSelector: INSTANCE })).items);
      add('pdb', (await pdb.listNamespacedPodDisruptionBudget({ namespace, labelSelector: INSTANCE })).items);
    }
    if (
      await core.readNamespace({ name: WF_NS }).then(
        () => true,
        () => false,
      )
    )
      found.push(`namespace/${WF_NS}`);
    if (
      await ext.readCustomResourceDefinition({ name: 'workflowruns.kubiya.ai' }).then(
        () => true,
        () => false,
      )
    )
      found.push('crd/workflowruns.kubiya.ai');
    return found;
  };
  const settle = async (what: string, expected: string[]): Promise<void> => {
    let last: string[] = [];
    await until(
      what,
      async () => {
        last = (await leftovers()).sort();
        return JSON.stringify(last) === JSON.stringify([...expected].sort());
      },
      90_000,
    ).catch(() => assert.fail(`${what}: left behind ${last.join(', ')}; expected ${expected.join(', ')}`));
  };
  const KEY = `${RELEASE}-audit-signing-key`;
  const signingKey = async (): Promise<string> =>
    (await core.readNamespacedSecret({ name: KEY, namespace: NS })).data?.['signing-key.pem'] ?? '';
  let firstKey = '';

  test('checkpoints are on: the generated key Secret is what the runner config points at, and upgrades keep it', async () => {
    firstKey = await signingKey();
    assert.match(Buffer.from(firstKey, 'base64').toString(), /^-----BEGIN PRIVATE KEY-----/);
    const cm = await core.readNamespacedConfigMap({ name: `${RELEASE}-config`, namespace: NS });
    assert.match(cm.data?.['runner.yaml'] ?? '', /signingKeyFile: \/etc\/kubiya\/audit-key\/signing-key\.pem/);
    const sts = await env.kc.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name: RELEASE, namespace: NS });
    assert.equal(sts.spec?.template.spec?.volumes?.find((v) => v.name === 'audit-key')?.secret?.secretName, KEY);
    // The upgrade test above ran already: the key is the one made at install, and another upgrade keeps it.
    await upgrade('logLevel=info');
    assert.equal(await signingKey(), firstKey, 'the same key after upgrades');
  });

  test('uninstall keeps the evidence by default: audit PVCs, the checkpoint key, the CRD and its runs, the workflows namespace', async () => {
    await helm('uninstall', RELEASE, '--namespace', NS, '--wait', '--timeout', '60s');
    await settle('only the evidence left', [
      `crd/workflowruns.kubiya.ai`,
      `namespace/${WF_NS}`,
      `pvc/audit-${RELEASE}-0`,
      `pvc/audit-${RELEASE}-1`,
      `secret/${KEY}`,
    ]);
    const run: unknown = await env.kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: WF_NS,
      plural: 'workflowruns',
      name: 'allowed',
    });
    assert.equal((run as { metadata: { name: string } }).metadata.name, 'allowed', 'the WorkflowRun survived');
    assert.equal(await signingKey(), firstKey);
  });

  test('installing the release again adopts what was kept: the same checkpoint key, volumes and runs', async () => {
    await install();
    assert.equal(await signingKey(), firstKey, 'the kept key is reused, not replaced');
    const pvcs = await core.listNamespacedPersistentVolumeClaim({ namespace: NS, labelSelector: 'app=kubiya-runner' });
    assert.deepEqual(pvcs.items.map((p) => p.metadata?.name).sort(), [`audit-${RELEASE}-0`, `audit-${RELEASE}-1`]);
  });

  test('with the explicit opt-ins (retainOnUninstall, crds.keep, namespace.keep false), uninstall leaves nothing behind', async () => {
    await upgrade('audit.storage.retainOnUninstall=false', 'crds.keep=false', 'namespace.keep=false');
    await helm('uninstall', RELEASE, '--namespace', NS, '--wait', '--timeout', '60s');
    await settle('nothing left', []);
  });
});
