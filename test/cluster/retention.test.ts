// Red team 17, finding 3: every finished WorkflowRun stayed for ever, in etcd with its whole token
// and in the runner's informer cache. Against the real API server: a finished run is cleaned after
// ttlAfterFinished, kept while its token could still verify, then deleted (a DELETE with a uid
// precondition) after retainFinished; the informer's delete event drops it from the cache; and a
// replay of its token, which no WorkflowRun refuses any more, is refused at verify and runs nothing.
// The token bound (min(exp, iat + 24 h) + 300 s) is passed by moving the runner's clock, never by
// config: the runner's own clock is what judges both the deletion and the replay.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ApiException, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { runName } from '../../src/pod/names.ts';
import { clusterRunnerConfig, runStatusOf, testCluster, type TestCluster } from '../support/cluster.ts';
import { waitFor } from '../support/wait.ts';

const ISSUER = 'https://control-plane.test';
const NAME = 'retain-runner';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

describe('finished WorkflowRuns are deleted after retainFinished (real kube-apiserver, kwok)', () => {
  let env: TestCluster;
  let key: SigningKey;
  let r: RunningRunner;
  /** How far the runner's clock is ahead of the system's, in ms. */
  let skewMs = 0;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    const config = await clusterRunnerConfig(
      env,
      { name: NAME, issuer: ISSUER, keys: [key] },
      { runner: { workflow: { ttlAfterFinished: 1, retainFinished: 2 } } },
    );
    r = await startRunner(config, { now: () => new Date(Date.now() + skewMs) });
  });
  after(async () => {
    await r?.close();
    await env?.close();
  });

  const exists = async (name: string): Promise<boolean> => {
    try {
      await env.kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
        group: 'kubiya.ai',
        version: 'v1alpha1',
        namespace: env.cluster.workflowsNamespace,
        plural: 'workflowruns',
        name,
      });
      return true;
    } catch (e) {
      if (e instanceof ApiException && e.code === 404) return false;
      throw e;
    }
  };
  const submit = (token: string) =>
    runAssignment({ body: token, contentType: 'application/jwt' }, r.deps, r.reconciler, 60_000);
  const sign = (jti: string, runId: string) =>
    signAssignment(key, {
      issuer: ISSUER,
      audience: NAME,
      jti,
      workflow: {
        id: `wf-${runId}`,
        name: 'retained',
        runId,
        steps: [{ name: 'a', image: 'python:3.11-slim', resources: R, env: { KWOK_RUN_DURATION: '100ms' } }],
      },
    });

  test('cleaned after the TTL, kept while its token can verify, deleted after; the cache forgets it; its replay is refused at verify and runs nothing', async () => {
    const ns = env.cluster.workflowsNamespace;
    const token = await sign('retain-1', 'retain-run-1');
    const other = await sign('retain-2', 'retain-run-2');
    const [first, second] = await Promise.all([submit(token), submit(other)]);
    assert.equal(first.phase, 'Succeeded', JSON.stringify(first));
    assert.equal(second.phase, 'Succeeded', JSON.stringify(second));
    const name = runName('retain-1');
    const name2 = runName('retain-2');
    await waitFor(
      'both runs cleaned (ttlAfterFinished 1s)',
      async () => {
        const [a, b] = await Promise.all([runStatusOf(env.kc, ns, name), runStatusOf(env.kc, ns, name2)]);
        return a?.cleanedAt !== undefined && b?.cleanedAt !== undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );

    // retainFinished (2 s) is over, the token bound (exp + 300 s + 1 s) is not: both stay, and the
    // API server's create conflict still refuses a replay.
    await sleep(4000);
    assert.ok(await exists(name), 'not deleted while its token can still verify');
    assert.equal((await submit(token)).code, 'ASSIGNMENT_REPLAYED');

    // The uid precondition: a delete naming another uid deletes nothing (409 from the API server: done).
    const wrongUid = await r.deps.runs.delete(name2, '00000000-0000-0000-0000-000000000000');
    assert.ok(wrongUid.ok);
    assert.ok(await exists(name2), 'a delete with another uid leaves the run');

    // The runner's clock past the token's life (exp = iat + 300 s; + 300 s tolerance + 1 s).
    skewMs = 700_000;
    r.reconciler.enqueue(name);
    r.reconciler.enqueue(name2);
    await waitFor('both WorkflowRuns deleted', async () => !(await exists(name)) && !(await exists(name2)), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    // The informer's delete event freed the cache.
    await waitFor(
      'the cache forgot them',
      () => r.deps.runs.get(name) === undefined && r.deps.runs.get(name2) === undefined,
    );
    assert.ok(!r.deps.runs.list().some((x) => x.name === name || x.name === name2));

    // The replay: verify refuses it (expired); no WorkflowRun, no pod is created again.
    const replay = await submit(token);
    assert.equal(replay.code, 'VERIFY_EXPIRED', JSON.stringify(replay));
    assert.equal(await exists(name), false);
    const pods = await env.kc
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: ns, labelSelector: `kubiya.ai/runner=${NAME}` });
    assert.deepEqual(
      pods.items.map((p) => p.metadata?.name),
      [],
    );
  });
});
