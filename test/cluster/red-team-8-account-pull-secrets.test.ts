/**
 * Red team 8, finding 4 (docs/reviews/2026-11-30-red-team-8.md). Class: a pod field that the API
 * server's admission adds after the policy decided, so it reaches the pod without a decision.
 * The ServiceAccount admission plugin copies a ServiceAccount's `imagePullSecrets` into every pod
 * that runs as it and names none itself. issue 19: "no field reaches a pod without a decision";
 * docs/workflows.md: a pull secret not in `pullSecrets.allowed` is PULL_SECRET_NOT_ALLOWED. A step
 * that runs as an allowed account (or as the runner's default `kubiya-workflow`) whose object
 * lists a pull secret gets that secret, with the policy's input, decision and audit record saying
 * the pod has none.
 *
 * Variants: a step's own allowed account, and the runner's configured account (no
 * `serviceAccount` on the step). Fixed: such a pod is deleted and the step fails STEP_POD_ALTERED. Control: a step that names an allowed pull secret itself keeps
 * exactly that one (the account's are not added when the pod names any).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { clusterRunnerConfig, testCluster, type TestCluster } from '../support/cluster.ts';

const ISSUER = 'https://control-plane.test';
const RUNNER = 'rt8-runner';
const R = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } };

describe('red team 8 finding 4: a ServiceAccount’s pull secrets reach the pod without a decision', () => {
  let env: TestCluster;
  let runner: RunningRunner;
  let key: SigningKey;
  let core: CoreV1Api;
  let auditDir: string;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    core = env.kc.makeApiClient(CoreV1Api);
    const namespace = env.cluster.workflowsNamespace;
    for (const name of ['prod-registry', 'acme-registry'])
      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name },
          type: 'kubernetes.io/dockerconfigjson',
          stringData: { '.dockerconfigjson': JSON.stringify({ auths: { 'ghcr.io': { auth: 'bm90OnJlYWw=' } } }) },
        },
      });
    // The platform team's accounts, as they are often set up: a registry credential on the account.
    await core.createNamespacedServiceAccount({
      namespace,
      body: {
        metadata: { name: 'builder' },
        automountServiceAccountToken: false,
        imagePullSecrets: [{ name: 'prod-registry' }],
      },
    });
    await core.patchNamespacedServiceAccount({
      name: 'kubiya-workflow',
      namespace,
      body: [{ op: 'add', path: '/imagePullSecrets', value: [{ name: 'prod-registry' }] }],
    });
    const data = join(env.work, 'policy-data.json');
    await writeFile(
      data,
      JSON.stringify({
        kubiya: {
          settings: {
            pullSecrets: { allowed: [{ name: 'acme-registry' }] },
            serviceAccounts: { allowed: [{ name: 'builder' }] },
          },
        },
      }),
    );
    auditDir = join(env.work, 'audit');
    runner = await startRunner(
      await clusterRunnerConfig(
        env,
        { name: RUNNER, issuer: ISSUER, keys: [key] },
        { audit: { dir: auditDir }, policy: { data } },
      ),
    );
  });
  after(async () => {
    await runner?.close();
    await env?.close();
  });

  const submit = async (id: string, step: Record<string, unknown>) =>
    runAssignment(
      {
        body: await signAssignment(key, {
          issuer: ISSUER,
          audience: RUNNER,
          workflow: {
            id,
            name: id,
            runId: `${id}-1`,
            steps: [{ name: 's', image: 'alpine:3.19.1', resources: R, ...step }],
          },
        }),
        contentType: 'application/jwt',
      },
      runner.deps,
      runner.reconciler,
    );
  const podOf = async (id: string): Promise<V1Pod | undefined> =>
    (
      await core.listNamespacedPod({
        namespace: env.cluster.workflowsNamespace,
        labelSelector: `kubiya.ai/workflow=${id}`,
      })
    ).items[0];
  const pullSecrets = (pod: V1Pod | undefined): string[] =>
    (pod?.spec?.imagePullSecrets ?? []).map((s) => s.name ?? '');
  /** The pull secrets of the pod the policy decided on (the evaluate record's input). */
  const decidedOn = async (id: string): Promise<string[]> => {
    const record = (await readAuditLog(auditDir)).find((r) => r.workflow?.id === id && r.stage === 'evaluate');
    const input = record?.input as { pod?: V1Pod } | undefined;
    return pullSecrets(input?.pod);
  };

  test('control: a step naming an allowed pull secret gets exactly that one', async () => {
    const report = await submit('rt8-named', { serviceAccount: 'builder', imagePullSecrets: ['acme-registry'] });
    assert.equal(report.steps[0]?.status, 'succeeded', JSON.stringify(report));
    assert.deepEqual(pullSecrets(await podOf('rt8-named')), ['acme-registry']);
    assert.deepEqual(await decidedOn('rt8-named'), ['acme-registry']);
  });

  for (const [what, id, step] of [
    ['its own allowed account', 'rt8-own', { serviceAccount: 'builder' }],
    ['the runner’s configured account', 'rt8-default', {}],
  ] as const)
    test(`a step running as ${what} is not run with a pull secret the policy did not decide on`, async () => {
      const report = await submit(id, step);
      // Fixed: the created pod is compared with the decided one (src/create/admitted.ts): it is
      // deleted and the step fails STEP_POD_ALTERED, recorded by the create stage.
      assert.notEqual(report.steps[0]?.status, 'succeeded', JSON.stringify(report));
      assert.equal(report.steps[0]?.code, 'STEP_POD_ALTERED', JSON.stringify(report));
      assert.match(report.steps[0]?.message ?? '', /spec\.imagePullSecrets/);
      assert.deepEqual(await decidedOn(id), [], 'the policy saw no pull secret');
      const pod = await podOf(id);
      assert.ok(pod === undefined || pod.metadata?.deletionTimestamp !== undefined, 'the pod is deleted');
      const created = (await readAuditLog(auditDir)).find((r) => r.workflow?.id === id && r.stage === 'create');
      assert.equal(created?.code, 'STEP_POD_ALTERED', JSON.stringify(created));
    });
});
