/**
 * Red team 4, findings 1 and 2, as classes, against a real API server (kwok).
 *
 * Class 1, "a pass decides from a status older than what this process already decided": a step's
 * pod deleted while its Running status is still held (2 s, src/reconcile/hold.ts) must end the step
 * STEP_POD_LOST, exactly as after the hold — never a second pod and a second `create` record for the
 * same attempt. Variants: deleted at once (inside the hold), deleted after the hold.
 *
 * Class 2, "the egress baseline changed after confirmation": every pass that starts a step reads the
 * runner's DNS policy again (one GET), so between two runs it may be deleted, widened (our labels,
 * `egress: [{}]`), relabelled, or replaced by a foreign object, and the next pod is still created
 * only under the policy as rendered (or not at all while a foreign object holds the name).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, NetworkingV1Api, type V1NetworkPolicy } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { stepDnsPolicyName } from '../../src/egress/network-policy.ts';
import { podName } from '../../src/pod/names.ts';
import { clusterRunnerConfig, runStatusOf, testCluster, type TestCluster } from '../support/cluster.ts';

const ISSUER = 'https://control-plane.test';
const RUNNER = 'hold-baseline';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let env: TestCluster;
let key: SigningKey;
let runner: RunningRunner;
let jti = 0;

before(async () => {
  env = await testCluster();
  key = await newSigningKey();
  const config = await clusterRunnerConfig(
    env,
    { name: RUNNER, issuer: ISSUER, keys: [key] },
    { audit: { dir: join(env.work, 'audit') } },
  );
  runner = await startRunner(config);
});
after(async () => {
  await runner?.close();
  await env?.close();
});

async function submit(runId: string, env2: Record<string, string> = {}): Promise<{ phase?: string | undefined }> {
  const workflow = {
    id: runId,
    name: runId,
    runId,
    steps: [{ name: 'work', image: 'python:3.11-slim', resources: R, env: env2 }],
  };
  const body = await signAssignment(key, { issuer: ISSUER, audience: RUNNER, jti: `hb-${String(++jti)}`, workflow });
  return runAssignment({ body, contentType: 'application/jwt' }, runner.deps, runner.reconciler, 60_000);
}

describe('a step pod deleted inside or after the status hold: one pod per attempt, STEP_POD_LOST', () => {
  for (const [label, delayMs] of [
    ['inside the hold (at once)', 0],
    ['after the hold (3 s)', 3000],
  ] as const) {
    test(label, async () => {
      const core = env.kc.makeApiClient(CoreV1Api);
      const ns = env.cluster.workflowsNamespace;
      const runId = `hd${String(delayMs)}`;
      const done = submit(runId, { KWOK_RUN_DURATION: '20s' }).catch(() => undefined);
      const name = podName(runId, 'work');
      let first: string | undefined;
      for (let i = 0; i < 400 && first === undefined; i++) {
        try {
          first = (await core.readNamespacedPod({ name, namespace: ns })).metadata?.uid;
        } catch {
          await sleep(5);
        }
      }
      assert.ok(first !== undefined, 'the pod was created');
      await sleep(delayMs);
      await core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 });
      const uids = new Set([first]);
      for (let i = 0; i < 40; i++) {
        await sleep(100);
        try {
          uids.add((await core.readNamespacedPod({ name, namespace: ns })).metadata?.uid ?? '');
        } catch {
          /* gone */
        }
      }
      await done;
      const wfName = runner.deps.runs.list().find((r) => r.runId === runId)?.name ?? '';
      const status = await runStatusOf(env.kc, ns, wfName);
      const records = (await readAuditLog(join(env.work, 'audit'))).filter((r) => r.workflow?.runId === runId);
      assert.deepEqual([...uids], [first], 'one pod under the attempt name, never created again');
      assert.equal(records.filter((r) => r.stage === 'create').length, 1, 'one create record');
      assert.equal(status?.phase, 'Failed');
      assert.equal(status?.steps[0]?.code, 'STEP_POD_LOST');
    });
  }
});

describe('the DNS policy changed after a confirmation: the next pod only under it as rendered', () => {
  const net = (): NetworkingV1Api => env.kc.makeApiClient(NetworkingV1Api);
  const ns = (): string => env.cluster.workflowsNamespace;
  const name = stepDnsPolicyName(RUNNER);
  const read = async (): Promise<V1NetworkPolicy | undefined> =>
    (await net().listNamespacedNetworkPolicy({ namespace: ns() })).items.find((p) => p.metadata?.name === name);
  let rendered: V1NetworkPolicy['spec'];

  test('first run confirms the rendered policy', async () => {
    assert.equal((await submit('dns-first')).phase, 'Succeeded');
    rendered = (await read())?.spec;
    assert.ok(rendered !== undefined);
  });

  const ours = { 'kubiya.ai/runner': RUNNER, 'app.kubernetes.io/managed-by': 'kubiya-runner' };
  const wide = { podSelector: { matchLabels: { 'kubiya.ai/runner': RUNNER } }, policyTypes: ['Egress'], egress: [{}] };
  const variants: readonly [string, V1NetworkPolicy | undefined, boolean][] = [
    ['deleted', undefined, false],
    ['widened (our labels, egress: [{}])', { metadata: { name, labels: ours }, spec: wide }, false],
    [
      'labels changed (not ours any more)',
      { metadata: { name, labels: { 'kubiya.ai/runner': 'x' } }, spec: wide },
      true,
    ],
    ['replaced by a foreign object', { metadata: { name }, spec: wide }, true],
  ];
  for (const [label, replacement, foreign] of variants) {
    test(label, async () => {
      // Each variant from its own start (a policy left absent by a failing variant is not a 404 here).
      await net()
        .deleteNamespacedNetworkPolicy({ name, namespace: ns() })
        .catch(() => undefined);
      if (replacement !== undefined) await net().createNamespacedNetworkPolicy({ namespace: ns(), body: replacement });
      const runId = `dns-${String(jti + 1)}`;
      const done = submit(runId);
      if (foreign) {
        // No pod while a foreign object holds the name (EGRESS_BASELINE_UNCONFIRMED); the run waits.
        await sleep(1500);
        const pods = await env.kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace: ns() });
        assert.equal(pods.items.filter((p) => p.metadata?.name === podName(runId, 'work')).length, 0);
        await net().deleteNamespacedNetworkPolicy({ name, namespace: ns() });
      }
      assert.equal((await done).phase, 'Succeeded');
      const policy = await read();
      assert.deepEqual(policy?.spec, rendered, 'the policy as rendered');
      const pod = await env.kc
        .makeApiClient(CoreV1Api)
        .readNamespacedPod({ name: podName(runId, 'work'), namespace: ns() });
      const made = (t: Date | undefined): number => new Date(t ?? 0).getTime();
      assert.ok(
        made(policy?.metadata?.creationTimestamp) <= made(pod.metadata?.creationTimestamp),
        'policy before pod',
      );
    });
  }
});
