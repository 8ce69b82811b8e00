import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { argoRows } from '../../bench/peers/argo.ts';
import { ALLOWED_REGISTRIES, containerRule, workflowGuard } from '../../bench/peers/argo/guard.ts';
import { crdDir, readCrds } from '../../bench/peers/argo/install.ts';
import {
  BENCH_LABEL,
  controllerArgs,
  controllerConfig,
  controllerEnv,
  DEFAULTS,
  RESTRICTED_CONTAINER,
  RESTRICTED_POD,
  STANDIN_COMMAND,
  TUNED,
  workflowFor,
} from '../../bench/peers/argo/manifest.ts';

/**
 * Issue 20 §1, the Argo peer rows' pure parts. Classes:
 *  - profile: "defaults" passes NO client/worker flag and no requeue (Argo's own code defaults
 *    apply, so a changed default upstream shows in the row); "tuned" passes every knob; both run
 *    namespaced (two rows never act on each other's Workflows) and leader election off;
 *  - manifest: the Workflow is named like the step pod (Argo's v2 pod name of a one-node Workflow
 *    IS the Workflow's name), has exactly one container template, no outputs (an output would make
 *    Argo wait for its executor, which never runs on kwok), every non-Argo container has a command
 *    (else Argo asks a registry), and the user's init containers and sidecars get the restricted
 *    context as fill-ins only (a privileged container stays privileged, to be refused, not fixed);
 *  - config: Argo hardens its own containers, the main container and the pod via its ConfigMap;
 *    metrics/telemetry servers off (they would listen on all interfaces).
 * The guard's CEL is exercised on a real API server by the harness's parity check; here its shape.
 */

const R = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } };
const container = (name: string, extra: Partial<V1Container> = {}): V1Container => ({
  name,
  image: 'docker.io/library/python:3.11-slim',
  resources: R,
  ...extra,
});
const stepPod = (name = 'r0-3-step', extra: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name, labels: { 'kubiya.ai/run': 'r0-3' } },
  spec: {
    serviceAccountName: 'kubiya-workflow',
    automountServiceAccountToken: false,
    activeDeadlineSeconds: 600,
    restartPolicy: 'Never',
    containers: [container('step', { command: ['migrate', 'up'] }), container('postgres')],
    initContainers: [container('fetch', { command: ['aws', 's3', 'sync'] })],
    volumes: [{ name: 'workspace', emptyDir: {} }],
    ...extra,
  },
});

type Template = {
  name: string;
  container: V1Container;
  initContainers?: V1Container[];
  sidecars?: V1Container[];
  outputs?: unknown;
  metadata: { labels: Record<string, string> };
  volumes?: unknown;
  activeDeadlineSeconds?: number;
};
const templateOf = (pod: V1Pod): Template => {
  const wf = workflowFor(pod, 'ns', 'argo-defaults');
  const templates = wf.spec['templates'] as Template[];
  assert.equal(templates.length, 1);
  return templates[0]!;
};

describe('argo profiles: flags and environment', () => {
  test('defaults pass no client, worker or requeue setting: Argo code defaults apply', () => {
    const args = controllerArgs(DEFAULTS, '/k', 'ns');
    for (const knob of ['--qps', '--burst', '--workflow-workers', '--pod-cleanup-workers'])
      assert.ok(!args.some((a) => a.startsWith(knob)), knob);
    assert.deepEqual(controllerEnv(DEFAULTS), { LEADER_ELECTION_DISABLE: 'true' });
    assert.deepEqual([DEFAULTS.qps, DEFAULTS.burst, DEFAULTS.requeue], [20, 30, '10s']);
  });
  test('tuned passes every knob, requeue 1 s (the minimum rate_limiters.go allows)', () => {
    const args = controllerArgs(TUNED, '/k', 'ns');
    for (const flag of ['--qps=200', '--burst=300', '--workflow-workers=64', '--pod-cleanup-workers=16'])
      assert.ok(args.includes(flag), flag);
    assert.deepEqual(controllerEnv(TUNED), { LEADER_ELECTION_DISABLE: 'true', DEFAULT_REQUEUE_TIME: '1s' });
  });
  for (const profile of [DEFAULTS, TUNED])
    test(`${profile.id}: out of cluster, namespaced to the row, its own ConfigMap`, () => {
      const args = controllerArgs(profile, '/tmp/kc', 'peer-argo');
      for (const flag of ['--kubeconfig=/tmp/kc', '--namespace=peer-argo', '--namespaced'])
        assert.ok(args.includes(flag), flag);
      assert.ok(args.includes('--configmap=workflow-controller-configmap'));
    });
  test('row names carry the version and the profile', () => {
    assert.deepEqual(
      argoRows().map((r) => r.name),
      ['argo v4.0.5 (defaults)', 'argo v4.0.5 (tuned)'],
    );
    for (const row of argoRows()) assert.deepEqual(row.pids(), []);
  });
});

describe('argo Workflow for an unhardened step pod', () => {
  test('named like the pod, one container template, entrypoint it, no outputs, labelled for the row', () => {
    const wf = workflowFor(stepPod(), 'ns', 'argo-tuned');
    assert.equal(wf.metadata.name, 'r0-3-step');
    assert.equal(wf.metadata.namespace, 'ns');
    assert.equal(wf.metadata.labels[BENCH_LABEL], 'argo-tuned');
    assert.equal(wf.spec['entrypoint'], 'step');
    assert.equal(wf.spec['serviceAccountName'], 'kubiya-workflow');
    const t = templateOf(stepPod());
    assert.equal(t.name, 'step');
    assert.equal(t.outputs, undefined);
    assert.deepEqual(t.container.command, ['migrate', 'up']);
    assert.equal(t.container.securityContext, undefined, 'main is hardened by Argo (mainContainer), not by us');
    assert.equal(t.metadata.labels['kubiya.ai/run'], 'r0-3');
    assert.equal(t.activeDeadlineSeconds, 600);
    assert.deepEqual(t.volumes, [{ name: 'workspace', emptyDir: {} }]);
  });
  test('extra containers become sidecars, init containers stay init containers, all hardened by us', () => {
    const t = templateOf(stepPod());
    assert.deepEqual(
      t.sidecars?.map((c) => c.name),
      ['postgres'],
    );
    assert.deepEqual(
      t.initContainers?.map((c) => c.name),
      ['fetch'],
    );
    for (const c of [...(t.sidecars ?? []), ...(t.initContainers ?? [])])
      assert.deepEqual(c.securityContext, RESTRICTED_CONTAINER, c.name);
  });
  test('every non-Argo container that Argo wraps has a command (a stand-in when the pod has none)', () => {
    const pod = stepPod('p', { containers: [container('step'), container('side')] });
    const t = templateOf(pod);
    assert.deepEqual(t.container.command, [...STANDIN_COMMAND]);
    assert.deepEqual(t.sidecars?.[0]?.command, [...STANDIN_COMMAND]);
  });
  test('fill-ins only: a privileged sidecar stays privileged (refused by the guard, never silently fixed)', () => {
    const pod = stepPod('p', {
      containers: [container('step', { command: ['x'] }), container('s', { securityContext: { privileged: true } })],
    });
    assert.equal(templateOf(pod).sidecars?.[0]?.securityContext?.privileged, true);
  });
  test("a pod's own security context replaces Argo's default, so we fill in the restricted fields", () => {
    const t = templateOf(stepPod('p', { securityContext: { runAsUser: 1000 } })) as Template & {
      securityContext?: unknown;
    };
    assert.deepEqual(t.securityContext, { ...RESTRICTED_POD, runAsUser: 1000 });
  });
  for (const name of ['', 'x'.repeat(64)])
    test(`a pod name Argo cannot use as its label value is refused (${name.length} chars)`, () => {
      assert.throws(() => workflowFor(stepPod(name), 'ns', 'l'), /1\.\.63/);
    });
  test('the input pod is not changed', () => {
    const pod = stepPod();
    const before = structuredClone(pod);
    workflowFor(pod, 'ns', 'l');
    assert.deepEqual(pod, before);
  });
});

describe('argo controller config and Workflow guard', () => {
  test('Argo hardens its own containers, main and the pod; metrics and telemetry off', () => {
    const config = JSON.parse(controllerConfig()['config'] ?? '') as Record<string, { [k: string]: unknown }>;
    assert.deepEqual(config['executor']?.['securityContext'], RESTRICTED_CONTAINER);
    assert.deepEqual(config['mainContainer']?.['securityContext'], RESTRICTED_CONTAINER);
    assert.deepEqual(config['workflowDefaults'], { spec: { securityContext: RESTRICTED_POD } });
    assert.deepEqual(config['metricsConfig'], { enabled: false });
    assert.deepEqual(config['telemetryConfig'], { enabled: false });
  });
  test('the guard is bound to the row namespace only and denies', () => {
    const [policy, binding] = workflowGuard('peer-argo');
    assert.equal(policy.metadata.name, binding.metadata.name);
    assert.deepEqual(binding.spec['validationActions'], ['Deny']);
    assert.deepEqual(binding.spec['matchResources'], {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'peer-argo' } },
    });
    assert.equal(policy.spec['failurePolicy'], 'Fail');
  });
  test('container rule names every allowed registry, the tag, limits and privileged', () => {
    const rule = containerRule('c');
    for (const r of ALLOWED_REGISTRIES) assert.ok(rule.includes(r.replaceAll('.', '\\\\.')), r);
    for (const part of [':latest$', "'memory' in c.resources.limits", 'c.securityContext.privileged'])
      assert.ok(rule.includes(part), part);
  });
  test('the CRDs come from the module zip at run time (skipped when the module is not downloaded)', async (t) => {
    const dir = await crdDir().catch(() => '');
    if (dir === '' || !existsSync(dir)) return t.skip('argo-workflows/v4 module not in the Go module cache');
    const crds = await readCrds(dir);
    const names = crds.map((c) => c.metadata?.name);
    assert.ok(names.includes('workflows.argoproj.io'));
    assert.ok(names.includes('workflowtaskresults.argoproj.io'));
    // Regression (first live run): a plain YAML parse lost x-kubernetes-preserve-unknown-fields in
    // client-node's serialiser, and the API server pruned every Workflow's spec to {}.
    const wf = crds.find((c) => c.metadata?.name === 'workflows.argoproj.io');
    const spec = wf?.spec.versions[0]?.schema?.openAPIV3Schema?.properties?.['spec'];
    assert.equal(spec?.x_kubernetes_preserve_unknown_fields, true);
  });
});
