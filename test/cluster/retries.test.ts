/**
 * Retries on the local control plane (real kube-apiserver with PodSecurity restricted, kwok): each
 * attempt is its own pod the API server admits, the WorkflowRun's status keeps the attempts (the
 * CRD schema must not prune them), and a runner stopped between two attempts and started again
 * makes exactly one pod per attempt. Issue 19 §5; docs/workflows.md, Retries.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { admit } from '../../src/admission/admit.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { ATTEMPT_ANNOTATION, attemptPodName, LABELS, runName } from '../../src/pod/names.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { clusterRunnerConfig, testCluster, type TestCluster } from '../support/cluster.ts';
import { waitFor } from '../support/wait.ts';
import { join } from 'node:path';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';

const ISSUER = 'https://control-plane.test';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

describe('retries on kwok (real API server, PodSecurity restricted)', () => {
  let env: TestCluster;
  let key: SigningKey;
  let core: CoreV1Api;
  const runners: RunningRunner[] = [];
  let jti = 0;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    core = env.kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    for (const r of runners) await r.close();
    await env?.close();
  });

  const runner = async (name: string): Promise<RunningRunner> => {
    const r = await startRunner(await clusterRunnerConfig(env, { name, issuer: ISSUER, keys: [key] }));
    runners.push(r);
    return r;
  };
  const token = (audience: string, workflow: Record<string, unknown> & { id: string }) =>
    signAssignment(key, { issuer: ISSUER, audience, workflow, jti: `retry-${++jti}` });
  const statusOf = async (run: string): Promise<RunStatus | undefined> => {
    const custom = env.kc.makeApiClient(CustomObjectsApi);
    const wr = (await custom.getNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: env.cluster.workflowsNamespace,
      plural: 'workflowruns',
      name: run,
    })) as { status?: RunStatus };
    return wr.status;
  };
  const podsOf = async (runId: string) =>
    (
      await core.listNamespacedPod({
        namespace: env.cluster.workflowsNamespace,
        labelSelector: `${LABELS.run}=${runId}`,
      })
    ).items;

  test('examples/features/retries.yaml as written: the default policy admits its retries, attempt 1 succeeds, no further attempt', async () => {
    const r = await runner('example-runner');
    const workflow = await readWorkflowFile(join(REPO_ROOT, 'examples', 'features', 'retries.yaml'));
    const report = await runAssignment(
      { body: await token('example-runner', workflow), contentType: 'application/jwt' },
      r.deps,
      r.reconciler,
      60_000,
    );
    assert.equal(report.phase, 'Succeeded');
    const pods = (
      await core.listNamespacedPod({
        namespace: env.cluster.workflowsNamespace,
        labelSelector: `${LABELS.workflow}=flaky-tests`,
      })
    ).items;
    assert.equal(pods.length, 1, 'one attempt, one pod');
    const runId = pods[0]?.metadata?.labels?.[LABELS.run] ?? '';
    assert.equal(pods[0]?.metadata?.name, attemptPodName(runId, 'integration-tests', 1));
    const records = (await readAuditLog(join(env.work, 'audit-example-runner'))).filter((x) => x.stage === 'evaluate');
    assert.deepEqual(
      records.map((x) => x.outcome),
      ['allow'],
    );
  });

  test('a step that fails every attempt: one admitted pod per attempt, the attempts in the WorkflowRun status, one finish record each', async () => {
    const r = await runner('retry-runner');
    const workflow = {
      id: 'retry',
      name: 'retry',
      runId: 'retry-1',
      steps: [
        {
          name: 'flaky',
          image: 'python:3.11-slim',
          resources: R,
          env: { KWOK_EXIT_CODE: '3' },
          retries: { limit: 2, backoff: '1s', factor: 1 },
        },
      ],
    };
    const report = await runAssignment(
      { body: await token('retry-runner', workflow), contentType: 'application/jwt' },
      r.deps,
      r.reconciler,
      60_000,
    );
    assert.equal(report.phase, 'Failed');
    const pods = await podsOf('retry-1');
    assert.deepEqual(
      pods.map((p) => p.metadata?.name).sort(),
      [1, 2, 3].map((a) => attemptPodName('retry-1', 'flaky', a)).sort(),
    );
    assert.deepEqual(pods.map((p) => p.metadata?.annotations?.[ATTEMPT_ANNOTATION] ?? '1').sort(), ['1', '2', '3']);
    const status = await statusOf(runName(`retry-${jti}`));
    const step = status?.steps[0];
    assert.deepEqual(
      [step?.phase, step?.attempt, step?.code, step?.exitCode],
      ['Failed', 3, 'STEP_FAILED', 3],
      'the API server kept the attempt (the CRD schema has it)',
    );
    assert.deepEqual(
      step?.attempts?.map((a) => [a.attempt, a.phase, a.exitCode, a.pod]),
      [1, 2].map((a) => [a, 'Failed', 3, attemptPodName('retry-1', 'flaky', a)]),
    );
    await r.close();
    runners.splice(runners.indexOf(r), 1);
    const records = (await readAuditLog(join(env.work, 'audit-retry-runner'))).filter((x) => x.step === 'flaky');
    assert.deepEqual(
      records.filter((x) => x.stage === 'finish').map((x) => x.code),
      ['STEP_ATTEMPT_FAILED', 'STEP_ATTEMPT_FAILED', 'STEP_FAILED'],
    );
    assert.equal(records.filter((x) => x.stage === 'evaluate' && x.outcome === 'allow').length, 3);
  });

  test('a runner stopped between two attempts and started again: exactly one pod per attempt', async () => {
    const a = await runner('crash-runner');
    const workflow = {
      id: 'crash',
      name: 'crash',
      runId: 'crash-1',
      steps: [
        {
          name: 'flaky',
          image: 'python:3.11-slim',
          resources: R,
          env: { KWOK_EXIT_CODE: '3' },
          retries: { limit: 1, backoff: '3s' },
        },
      ],
    };
    const admitted = await admit(
      { body: await token('crash-runner', workflow), contentType: 'application/jwt' },
      a.deps,
    );
    assert.ok(admitted.ok);
    const run = admitted.value.name;
    await waitFor('attempt 1 failed, attempt 2 waiting', async () => (await statusOf(run))?.steps[0]?.attempt === 2, {
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    await a.close();
    runners.splice(runners.indexOf(a), 1);
    assert.equal((await podsOf('crash-1')).length, 1, 'nothing was created for attempt 2 before the stop');
    const b = await runner('crash-runner');
    await waitFor('the run ended', async () => (await statusOf(run))?.phase === 'Failed', {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    assert.deepEqual(
      (await podsOf('crash-1')).map((p) => p.metadata?.name).sort(),
      [1, 2].map((n) => attemptPodName('crash-1', 'flaky', n)).sort(),
    );
    await b.close();
    runners.splice(runners.indexOf(b), 1);
    const records = (await readAuditLog(join(env.work, 'audit-crash-runner'))).filter((x) => x.step === 'flaky');
    assert.deepEqual(
      records.filter((x) => x.stage === 'create').map((x) => x.pod?.name),
      [1, 2].map((n) => attemptPodName('crash-1', 'flaky', n)),
    );
  });
});
