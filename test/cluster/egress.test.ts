import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CoreV1Api,
  CustomObjectsApi,
  NetworkingV1Api,
  type V1NetworkPolicy,
  type V1Pod,
} from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { DEFAULT_DENY_EGRESS } from '../../src/dev/bootstrap.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { egressObject, stepDnsPolicy, stepDnsPolicyName } from '../../src/egress/network-policy.ts';
import { egressPolicyName, podName } from '../../src/pod/names.ts';
import { clusterRunnerConfig, installCiliumCrd, testCluster, type TestCluster } from '../support/cluster.ts';

/**
 * Issue 13 §1 and issue 20 §2 against a real API server: a step pod is never without an egress
 * policy, and never under an allow its own decision did not grant.
 *  - names: the reported pair (run a / step b-step-c, run a-step-b / step c) gets two pods, each
 *    selected by its own step policy only; the namespace's default deny and the runner's DNS policy
 *    select every pod; a step granted nothing beyond DNS gets no step policy and is selected by none;
 *  - the runner's DNS policy is confirmed before any pod: with an object not the runner's under its
 *    name, nothing is created (the run waits, nothing fails) until it is gone;
 *  - adoption: a foreign NetworkPolicy or pod under a step's name fails the step with
 *    STEP_OBJECT_CONFLICT and no pod; an egress policy of ours is adopted as is when its spec is the
 *    same after the API server's round trip, replaced when not, refused when another run's;
 *  - a reused run id is refused at claim (ASSIGNMENT_RUN_ID_REUSED).
 */

const ISSUER = 'https://control-plane.test';
const RUNNER = 'egress-test-runner';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
/** The client's model classes as plain JSON, for deepEqual. */
const plain = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
/** The destination the test's policy data grants (pinned, so NetworkPolicy can express it). */
const GRANTED = { host: 'db.internal', cidrs: ['10.1.2.3/32'], ports: [5432] };
/** A step granted more than DNS (it gets a policy of its own), or (`dnsOnly`) nothing beyond DNS. */
const step = (name: string, dnsOnly = false) => ({
  name,
  image: 'python:3.11-slim',
  resources: R,
  ...(dnsOnly ? {} : { egress: [{ host: GRANTED.host, ports: GRANTED.ports }] }),
});

describe('egress isolation against the local control plane (real kube-apiserver, kwok)', () => {
  let env: TestCluster;
  let key: SigningKey;
  let core: CoreV1Api;
  let net: NetworkingV1Api;
  let runner: RunningRunner;
  let ns: string;
  let jti = 0;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    core = env.kc.makeApiClient(CoreV1Api);
    net = env.kc.makeApiClient(NetworkingV1Api);
    ns = env.cluster.workflowsNamespace;
    await writeFile(
      join(env.work, 'egress-data.json'),
      JSON.stringify({ kubiya: { settings: { egress: { allowed: [GRANTED] } } } }),
    );
    runner = await startRunner(
      await clusterRunnerConfig(
        env,
        { name: RUNNER, issuer: ISSUER, keys: [key] },
        { audit: { dir: join(env.work, 'audit') }, policy: { data: join(env.work, 'egress-data.json') } },
      ),
    );
  });
  after(async () => {
    await runner?.close();
    await env?.close();
  });

  const submit = async (workflow: Record<string, unknown> & { id: string }) =>
    runAssignment(
      {
        body: await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow, jti: `eg-${++jti}` }),
        contentType: 'application/jwt',
      },
      runner.deps,
      runner.reconciler,
      60_000,
    );
  const policies = async (): Promise<V1NetworkPolicy[]> =>
    (await net.listNamespacedNetworkPolicy({ namespace: ns })).items;
  const selects = (p: V1NetworkPolicy, pod: V1Pod): boolean =>
    Object.entries(p.spec?.podSelector?.matchLabels ?? {}).every(([k, v]) => pod.metadata?.labels?.[k] === v) &&
    (p.spec?.podSelector?.matchExpressions ?? []).length === 0;
  const foreignMeta = (name: string) => ({
    name,
    labels: { 'kubiya.ai/run': 'x', 'kubiya.ai/step': 'y', 'kubiya.ai/runner': RUNNER },
  });
  const restricted = {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ['ALL'] },
    runAsNonRoot: true,
    runAsUser: 65532,
    seccompProfile: { type: 'RuntimeDefault' },
  };

  test('the workflows namespace has the default deny: every pod selected, Egress, no rule', async () => {
    const deny = await net.readNamespacedNetworkPolicy({ name: DEFAULT_DENY_EGRESS, namespace: ns });
    assert.deepEqual(plain(deny.spec?.podSelector), {});
    assert.deepEqual(deny.spec?.policyTypes, ['Egress']);
    assert.equal((deny.spec?.egress ?? []).length, 0);
  });

  test('run a / step b-step-c and run a-step-b / step c: two pods, each selected by its own policy only, DNS pinned to kube-system', async () => {
    const one = await submit({ id: 'collide-1', name: 'c', runId: 'a', steps: [step('b-step-c')] });
    const two = await submit({ id: 'collide-2', name: 'c', runId: 'a-step-b', steps: [step('c')] });
    assert.deepEqual([one.phase, two.phase], ['Succeeded', 'Succeeded'], JSON.stringify([one, two]));
    const pods = (
      await core.listNamespacedPod({ namespace: ns, labelSelector: `kubiya.ai/runner=${RUNNER}` })
    ).items.filter((p) => ['collide-1', 'collide-2'].includes(p.metadata?.labels?.['kubiya.ai/workflow'] ?? ''));
    assert.deepEqual(
      pods.map((p) => p.metadata?.name).sort(),
      [podName('a', 'b-step-c'), podName('a-step-b', 'c')].sort(),
    );
    const all = await policies();
    for (const pod of pods) {
      const own = all
        .filter(
          (p) => ![DEFAULT_DENY_EGRESS, stepDnsPolicyName(RUNNER)].includes(p.metadata?.name ?? '') && selects(p, pod),
        )
        .map((p) => p.metadata?.name);
      const labels = pod.metadata?.labels ?? {};
      assert.deepEqual(
        own,
        [egressPolicyName(labels['kubiya.ai/run'] ?? '', labels['kubiya.ai/step'] ?? '')],
        `${pod.metadata?.name ?? ''} is selected by its own policy only`,
      );
      assert.ok(
        all.some((p) => p.metadata?.name === DEFAULT_DENY_EGRESS && selects(p, pod)),
        'and by the default deny',
      );
    }
    const mine = all.find((p) => p.metadata?.name === egressPolicyName('a', 'b-step-c'));
    assert.deepEqual(plain(mine?.spec?.egress?.[0]?.to), [
      {
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
        podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      },
    ]);
  });

  test("a step granted nothing beyond DNS: no policy of its own, only the runner's DNS policy (DNS to kube-dns in kube-system) and the default deny select it", async () => {
    const report = await submit({ id: 'dns-only', name: 'd', runId: 'dns-only', steps: [step('work', true)] });
    assert.equal(report.phase, 'Succeeded', JSON.stringify(report));
    const pod = await core.readNamespacedPod({ name: podName('dns-only', 'work'), namespace: ns });
    const all = await policies();
    assert.ok(!all.some((p) => p.metadata?.name === egressPolicyName('dns-only', 'work')), 'no step policy');
    assert.deepEqual(
      all
        .filter((p) => selects(p, pod))
        .map((p) => p.metadata?.name)
        .sort(),
      [DEFAULT_DENY_EGRESS, stepDnsPolicyName(RUNNER)].sort(),
      "selected by the default deny and the DNS policy only — no other run's step policy",
    );
    const dns = all.find((p) => p.metadata?.name === stepDnsPolicyName(RUNNER));
    assert.deepEqual(
      plain(dns?.spec),
      plain(stepDnsPolicy({ runner: RUNNER, namespace: ns, dnsNamespace: 'kube-system' }).spec),
    );
  });

  test("the runner's DNS policy name taken by an object not the runner's: no pod (the run waits, nothing fails) until it is gone", async () => {
    const name = 'gated-runner';
    const theirs = await net.createNamespacedNetworkPolicy({
      namespace: ns,
      body: {
        metadata: { name: stepDnsPolicyName(name) },
        spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{}] },
      },
    });
    const gated = await startRunner(
      await clusterRunnerConfig(
        env,
        { name, issuer: ISSUER, keys: [key] },
        { audit: { dir: join(env.work, 'audit-gated') }, runner: { workflow: { namespace: ns } } },
      ),
    );
    try {
      const body = await signAssignment(key, {
        issuer: ISSUER,
        audience: name,
        workflow: { id: 'gated', name: 'g', runId: 'gated', steps: [step('work', true)] },
        jti: 'gated-1',
      });
      const early = await runAssignment({ body, contentType: 'application/jwt' }, gated.deps, gated.reconciler, 3000);
      assert.equal(early.accepted, true);
      assert.equal(early.phase, undefined, `not finished: ${JSON.stringify(early)}`);
      const pods = async () =>
        (await core.listNamespacedPod({ namespace: ns, labelSelector: 'kubiya.ai/run=gated' })).items.length;
      assert.equal(await pods(), 0, 'no pod while the DNS policy is not confirmed');
      const still = await net.readNamespacedNetworkPolicy({ name: stepDnsPolicyName(name), namespace: ns });
      assert.equal(still.metadata?.resourceVersion, theirs.metadata?.resourceVersion, 'the foreign object left alone');
      await net.deleteNamespacedNetworkPolicy({ name: stepDnsPolicyName(name), namespace: ns });
      const run = gated.deps.runs.list().find((r) => r.runId === 'gated');
      assert.ok(run !== undefined);
      const done = await gated.reconciler.whenDone(run.name, 30_000);
      assert.equal(done?.status?.phase, 'Succeeded', JSON.stringify(done?.status));
      assert.equal(await pods(), 1);
      const made = await net.readNamespacedNetworkPolicy({ name: stepDnsPolicyName(name), namespace: ns });
      assert.equal(made.metadata?.labels?.['kubiya.ai/runner'], name, "now the runner's own");
    } finally {
      await gated.close();
    }
  });

  test("the runner's DNS policy widened in place by someone: replaced by the runner's own (delete, create); confirmed once, not re-read at every pass", async () => {
    const name = 'widened-runner';
    const wanted = stepDnsPolicy({ runner: name, namespace: ns, dnsNamespace: 'kube-system' });
    const widened = await net.createNamespacedNetworkPolicy({
      namespace: ns,
      body: {
        metadata: wanted.metadata,
        spec: { ...wanted.spec, podSelector: wanted.spec?.podSelector ?? {}, egress: [{}] },
      },
    });
    const objects = new KubeStepObjects(env.kc, ns, name);
    const confirmed = await objects.ensureStepDns(wanted);
    assert.equal(confirmed.ok, true, JSON.stringify(confirmed));
    const now = await net.readNamespacedNetworkPolicy({ name: stepDnsPolicyName(name), namespace: ns });
    assert.notEqual(now.metadata?.uid, widened.metadata?.uid, 'replaced');
    assert.deepEqual(plain(now.spec), plain(wanted.spec));
    // Within the confirmation period a second call does not read: deleting it is noticed later, not now.
    await net.deleteNamespacedNetworkPolicy({ name: stepDnsPolicyName(name), namespace: ns });
    assert.equal((await objects.ensureStepDns(wanted)).ok, true);
    // A fresh adapter (a restarted runner) reads, finds none, creates it.
    assert.equal((await new KubeStepObjects(env.kc, ns, name).ensureStepDns(wanted)).ok, true);
    await net.readNamespacedNetworkPolicy({ name: stepDnsPolicyName(name), namespace: ns });
  });

  test("passes racing to create the runner's DNS policy: every one confirmed (a create that finds it made meanwhile reads it again)", async () => {
    // The scale bench's first seconds: dozens of first passes find no DNS policy and create it at
    // once; those that lost the race waited 5 s as EGRESS_BASELINE_UNCONFIRMED (9-31 per run).
    const name = 'racing-runner';
    const wanted = stepDnsPolicy({ runner: name, namespace: ns, dnsNamespace: 'kube-system' });
    const objects = new KubeStepObjects(env.kc, ns, name);
    const results = await Promise.all(Array.from({ length: 8 }, () => objects.ensureStepDns(wanted)));
    assert.deepEqual(
      results.filter((r) => !r.ok),
      [],
    );
    const now = await net.readNamespacedNetworkPolicy({ name: stepDnsPolicyName(name), namespace: ns });
    assert.deepEqual(plain(now.spec), plain(wanted.spec));
  });

  test("a foreign NetworkPolicy under the step's policy name: STEP_OBJECT_CONFLICT, no pod, the foreign policy untouched, audited", async () => {
    const name = egressPolicyName('np-taken', 'work');
    const theirs = await net.createNamespacedNetworkPolicy({
      namespace: ns,
      body: { metadata: foreignMeta(name), spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{}] } },
    });
    const report = await submit({ id: 'np-taken', name: 'n', runId: 'np-taken', steps: [step('work')] });
    assert.equal(report.phase, 'Failed');
    assert.equal(report.steps[0]?.code, 'STEP_OBJECT_CONFLICT', JSON.stringify(report));
    assert.equal(
      (await core.listNamespacedPod({ namespace: ns, labelSelector: 'kubiya.ai/run=np-taken' })).items.length,
      0,
      'no pod',
    );
    const after = await net.readNamespacedNetworkPolicy({ name, namespace: ns });
    assert.equal(after.metadata?.uid, theirs.metadata?.uid);
    assert.equal(after.metadata?.resourceVersion, theirs.metadata?.resourceVersion, 'not modified');
    const records = await readAuditLog(join(env.work, 'audit'));
    assert.ok(
      records.some(
        (x) =>
          x.stage === 'create' &&
          x.outcome === 'error' &&
          x.code === 'STEP_OBJECT_CONFLICT' &&
          x.workflow?.runId === 'np-taken',
      ),
    );
  });

  test("a foreign pod under the step's pod name: STEP_OBJECT_CONFLICT, no pod of ours, the step's own policy removed again", async () => {
    const name = podName('pod-taken', 'work');
    const theirs = await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: foreignMeta(name),
        spec: { containers: [{ name: 'c', image: 'x:1', securityContext: restricted }] },
      },
    });
    const report = await submit({ id: 'pod-taken', name: 'p', runId: 'pod-taken', steps: [step('work')] });
    assert.equal(report.steps[0]?.code, 'STEP_OBJECT_CONFLICT', JSON.stringify(report));
    const pod = await core.readNamespacedPod({ name, namespace: ns });
    assert.equal(pod.metadata?.uid, theirs.metadata?.uid, 'the foreign pod is not replaced');
    assert.equal(
      (await core.listNamespacedPod({ namespace: ns, labelSelector: 'kubiya.ai/run=pod-taken' })).items.length,
      0,
      'no pod of ours',
    );
    assert.ok(
      !(await policies()).some((p) => p.metadata?.name === egressPolicyName('pod-taken', 'work')),
      'no policy left for a pod that is not ours',
    );
  });

  test('a second assignment with a run id already used: ASSIGNMENT_RUN_ID_REUSED at claim, one WorkflowRun, one pod', async () => {
    const first = await submit({ id: 'reuse', name: 'r', runId: 'reused', steps: [step('one')] });
    assert.equal(first.phase, 'Succeeded');
    const second = await submit({ id: 'reuse', name: 'r', runId: 'reused', steps: [step('one')] });
    assert.equal(second.accepted, false);
    assert.equal(second.code, 'ASSIGNMENT_RUN_ID_REUSED');
    const runs = (await env.kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'workflowruns',
      labelSelector: 'kubiya.ai/run=reused',
    })) as { items: unknown[] };
    assert.equal(runs.items.length, 1);
    assert.equal(
      (await core.listNamespacedPod({ namespace: ns, labelSelector: 'kubiya.ai/run=reused' })).items.length,
      1,
    );
  });

  for (const mode of ['networkpolicy', 'cilium'] as const) {
    test(`${mode}: an egress policy of ours is adopted as is when unchanged (after the API server's defaults), replaced when changed, refused when another run's`, async () => {
      if (mode === 'cilium') await installCiliumCrd(env.kc);
      const custom = env.kc.makeApiClient(CustomObjectsApi);
      const wr = async (name: string): Promise<string> => {
        const made = (await custom.createNamespacedCustomObject({
          group: 'kubiya.ai',
          version: 'v1alpha1',
          namespace: ns,
          plural: 'workflowruns',
          body: {
            apiVersion: 'kubiya.ai/v1alpha1',
            kind: 'WorkflowRun',
            metadata: { name },
            spec: { token: 'a.b.c', workflowId: 'wf', runner: 'nobody' },
          },
        })) as { metadata: { uid: string } };
        return made.metadata.uid;
      };
      const [uidA, uidB] = [await wr(`adopt-a-${mode}`), await wr(`adopt-b-${mode}`)];
      const gateway = new KubeStepObjects(env.kc, ns, 'nobody', mode);
      const name = egressPolicyName(`adopt-${mode}`, 's');
      const render = (uid: string, run: string, cidr: string) => {
        const r = egressObject([{ cidr, ports: [443] }], {
          name,
          namespace: ns,
          mode,
          dnsNamespace: 'kube-system',
          podLabels: { 'kubiya.ai/run': `adopt-${mode}`, 'kubiya.ai/step': 's', 'kubiya.ai/runner': 'nobody' },
          labels: { 'kubiya.ai/run': `adopt-${mode}`, 'kubiya.ai/step': 's', 'kubiya.ai/runner': 'nobody' },
          owner: { apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: run, uid, controller: true },
        });
        assert.ok(r.ok);
        return r.value;
      };
      const uidOf = async (): Promise<string | undefined> =>
        mode === 'networkpolicy'
          ? (await net.readNamespacedNetworkPolicy({ name, namespace: ns })).metadata?.uid
          : (
              (await custom.getNamespacedCustomObject({
                group: 'cilium.io',
                version: 'v2',
                plural: 'ciliumnetworkpolicies',
                namespace: ns,
                name,
              })) as { metadata: { uid: string } }
            ).metadata.uid;
      assert.equal((await gateway.createEgress(render(uidA, `adopt-a-${mode}`, '10.0.0.0/24'))).ok, true);
      const first = await uidOf();
      const again = await gateway.createEgress(render(uidA, `adopt-a-${mode}`, '10.0.0.0/24'));
      assert.equal(again.ok, true, JSON.stringify(again));
      assert.equal(await uidOf(), first, 'adopted as is: the same object');
      assert.equal((await gateway.createEgress(render(uidA, `adopt-a-${mode}`, '10.9.0.0/16'))).ok, true);
      const replaced = await uidOf();
      assert.notEqual(replaced, first, 'another spec: replaced');
      const theirs = await gateway.createEgress(render(uidB, `adopt-b-${mode}`, '10.0.0.0/24'));
      assert.equal(theirs.ok ? 'ok' : theirs.error.code, 'STEP_OBJECT_CONFLICT');
      assert.equal(await uidOf(), replaced, "another run's policy is left alone");
    });
  }
});
