/**
 * Issue 19's class on a real API server (src/create/admitted.ts compares the whole pod spec): an
 * admission plugin that adds a field the policy never decided on makes the step STEP_POD_ALTERED,
 * whatever the field; the API server's own defaults never do. The mutating plugin here is the
 * LimitRanger (enabled in the local control plane, as in most clusters): a LimitRange in the
 * workflows namespace writes its default CPU limit into a container that gives none — a field the
 * old allow-list did not compare (container resources). Control: a step whose resources leave the
 * LimitRange nothing to default runs, its pod holding every default the API server adds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { join } from 'node:path';
import { clusterRunnerConfig, testCluster, type TestCluster } from '../support/cluster.ts';

const ISSUER = 'https://control-plane.test';
const RUNNER = 'altered-runner';

describe('a real admission plugin that adds a field the policy did not decide on', () => {
  let env: TestCluster;
  let runner: RunningRunner;
  let key: SigningKey;
  let core: CoreV1Api;
  let auditDir: string;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    core = env.kc.makeApiClient(CoreV1Api);
    await core.createNamespacedLimitRange({
      namespace: env.cluster.workflowsNamespace,
      body: {
        metadata: { name: 'platform-defaults' },
        spec: { limits: [{ type: 'Container', _default: { cpu: '750m' }, defaultRequest: { cpu: '250m' } }] },
      },
    });
    auditDir = join(env.work, 'audit');
    runner = await startRunner(
      await clusterRunnerConfig(env, { name: RUNNER, issuer: ISSUER, keys: [key] }, { audit: { dir: auditDir } }),
    );
  });
  after(async () => {
    await runner?.close();
    await env?.close();
  });

  const submit = async (id: string, resources: Record<string, unknown>) =>
    runAssignment(
      {
        body: await signAssignment(key, {
          issuer: ISSUER,
          audience: RUNNER,
          workflow: { id, name: id, runId: `${id}-1`, steps: [{ name: 's', image: 'alpine:3.19.1', resources }] },
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

  test('control: resources that leave the LimitRange nothing to add: the pod runs as decided', async () => {
    const report = await submit('alt-covered', {
      requests: { cpu: '100m', memory: '64Mi' },
      limits: { cpu: '500m', memory: '64Mi' },
    });
    assert.equal(report.steps[0]?.status, 'succeeded', JSON.stringify(report));
    const pod = await podOf('alt-covered');
    assert.equal(pod?.spec?.containers[0]?.resources?.limits?.cpu, '500m');
    assert.equal(pod?.spec?.dnsPolicy, 'ClusterFirst', 'the API server defaulted the pod (and that passed)');
  });

  test('a CPU limit the LimitRange writes into the pod: STEP_POD_ALTERED naming spec.containers', async () => {
    const report = await submit('alt-limited', {
      requests: { cpu: '100m', memory: '64Mi' },
      limits: { memory: '64Mi' },
    });
    assert.equal(report.steps[0]?.code, 'STEP_POD_ALTERED', JSON.stringify(report));
    assert.match(report.steps[0]?.message ?? '', /spec\.containers/);
    const pod = await podOf('alt-limited');
    assert.ok(pod === undefined || pod.metadata?.deletionTimestamp !== undefined, 'the pod is deleted');
    const created = (await readAuditLog(auditDir)).find(
      (r) => r.workflow?.id === 'alt-limited' && r.stage === 'create',
    );
    assert.equal(created?.code, 'STEP_POD_ALTERED', JSON.stringify(created));
  });
});
