import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { createRemoteJWKSet } from 'jose';
import { ControlPlaneClient } from '../../src/adapters/control-plane-client.ts';
import { eventOf } from '../../src/adapters/control-plane-event.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { testPipelineConfig } from '../support/config.ts';
import { startControlPlane } from '../../src/dev/control-plane.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { admit } from '../../src/admission/admit.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { engineReturning, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { waitFor } from '../support/wait.ts';

const RUNNER = 'cp-runner';

async function harness(fault?: (cp: Awaited<ReturnType<typeof startControlPlane>>) => Promise<void>) {
  const cp = await startControlPlane({ token: 'runner-secret' });
  const errors: string[] = [];
  const ref: { client?: ControlPlaneClient } = {};
  const runs: Promise<unknown>[] = [];
  const deps: PipelineDeps = {
    config: testPipelineConfig({ runner: { name: RUNNER }, controlPlane: { issuer: cp.issuer } }),
    keys: createRemoteJWKSet(new URL(`${cp.url}/.well-known/jwks.json`)),
    policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
    audit: new MemoryAudit(),
    ...memoryCluster(),
    runs: new MemoryRuns(),
    trust: new MemoryTrustedKeys(),
    now: () => new Date(),
    newId: () => crypto.randomUUID(),
    observer: {
      recorded: (r) => {
        const e = eventOf(r, RUNNER);
        if (e !== undefined) ref.client?.enqueue(e);
      },
      workflowsRunning: () => undefined,
      workflowFinished: () => undefined,
      stepFinished: () => undefined,
      internalError: () => undefined,
    },
  };
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 4, resyncMs: 60_000 });
  reconciler.start();
  const client = new ControlPlaneClient(
    {
      url: cp.url,
      runner: RUNNER,
      token: 'runner-secret',
      version: '0.1.0',
      capabilities: { maxConcurrent: 10, namespaces: ['kubiya-workflows'], gpu: false },
      pollWaitSeconds: 1,
      heartbeatMs: 200,
      backoff: { initialMs: 20, maxMs: 400 },
      requestTimeoutMs: 1000,
      eventBatch: 5,
      eventQueueMax: 1000,
      maxTokenBytes: 64 * 1024,
      onError: (op, m) => errors.push(`${op}: ${m}`),
    },
    async (token) => {
      const run = await admit({ body: token, contentType: 'application/jwt' }, deps);
      if (run.ok) {
        runs.push(reconciler.whenDone(run.value.name, 30_000));
        reconciler.enqueue(run.value.name);
      }
    },
    () => true,
  );
  ref.client = client;
  return { cp, client, errors, runs, deps, fault, reconciler };
}

test('reference control plane ↔ runner: register, heartbeat, long-poll, step events for the seed examples', async () => {
  const { cp, client, errors, reconciler } = await harness();
  try {
    client.start();
    for (const f of ['python-analyze.yaml', 'node-build.yaml', 'trivy-scan.yaml', 'aws-deploy.yaml'])
      await cp.assign(RUNNER, await readWorkflowFile(join(REPO_ROOT, 'examples', f)));
    await waitFor('four Succeeded events', () => cp.events.filter((e) => e.phase === 'Succeeded').length >= 4, 30_000);
    assert.deepEqual(cp.registered.get(RUNNER), {
      name: RUNNER,
      version: '0.1.0',
      capabilities: { maxConcurrent: 10, namespaces: ['kubiya-workflows'], gpu: false },
    });
    assert.ok((cp.heartbeats.get(RUNNER) ?? 0) >= 1);
    for (const wf of ['analyze', 'build', 'security-scan', 'deploy']) {
      assert.deepEqual(
        cp.events.filter((e) => e.workflow === wf).map((e) => e.phase),
        ['Accepted', 'Running', 'Succeeded'],
        `${wf}: ${JSON.stringify(errors)}`,
      );
    }
    // A batch the control plane has stored stays pending until its response reaches the client:
    // under load that is later than the control plane's own view, so wait for it (bounded).
    await waitFor('every event acknowledged', () => client.pendingEvents === 0, 10_000);
  } finally {
    await client.stop(1000);
    await reconciler.stop();
    await cp.close();
  }
});

test('a control plane that is down for 30 s, then answers 500s, garbage, and slowly: the runner keeps going and loses no event', async () => {
  const { cp, client, errors, reconciler } = await harness();
  try {
    cp.fault = 'down'; // connections reset, as if the control plane were gone
    client.start();
    await sleep(30_000);
    assert.equal(client.registered, false, 'not registered while the control plane is down');
    cp.fault = 'none';
    while (!client.registered) await sleep(20);
    // Work arrives, then the control plane degrades while events are being posted.
    for (let i = 0; i < 6; i++)
      await cp.assign(RUNNER, {
        id: `wf-${i}`,
        name: 'n',
        runId: `r-${i}`,
        steps: [{ name: 's', image: 'python:3.11' }],
      });
    await sleep(150);
    cp.fault = 'error';
    await sleep(500);
    cp.fault = 'garbage';
    await sleep(500);
    cp.fault = 'error';
    await sleep(500);
    cp.fault = 'slow';
    await sleep(1500);
    cp.fault = 'none';
    await waitFor('six Succeeded events', () => cp.events.filter((e) => e.phase === 'Succeeded').length >= 6, 30_000);
    assert.ok(errors.length > 0, 'the faults were seen');
    for (let i = 0; i < 6; i++)
      assert.deepEqual(
        cp.events.filter((e) => e.workflow === `wf-${i}`).map((e) => e.phase),
        ['Accepted', 'Running', 'Succeeded'],
        `wf-${i}`,
      );
    assert.equal(new Set(cp.events.map((e) => e.id)).size, cp.events.length, 'each event recorded once');
    await waitFor('every event acknowledged', () => client.pendingEvents === 0, 10_000); // see the test above
  } finally {
    await client.stop(1000);
    await reconciler.stop();
    await cp.close();
  }
});

test('a full event queue stops polling (intake pushes back) instead of dropping events', async () => {
  const cp = await startControlPlane({ token: 't' });
  const taken: string[] = [];
  const client = new ControlPlaneClient(
    {
      url: cp.url,
      runner: RUNNER,
      token: 't',
      version: 'v',
      capabilities: {},
      pollWaitSeconds: 1,
      heartbeatMs: 1000,
      backoff: { initialMs: 10, maxMs: 50 },
      requestTimeoutMs: 1000,
      eventBatch: 10,
      eventQueueMax: 2,
      maxTokenBytes: 64 * 1024,
    },
    (token) => {
      taken.push(token);
      return Promise.resolve();
    },
    () => true,
  );
  const event = (id: string) => ({
    id,
    runner: RUNNER,
    workflow: 'w',
    runId: 'r',
    phase: 'Accepted' as const,
    time: '',
  });
  try {
    cp.fault = 'events'; // events cannot be delivered
    client.start();
    while (!client.registered) await sleep(20);
    assert.equal(client.enqueue(event('a')), true);
    assert.equal(client.enqueue(event('b')), true);
    assert.equal(client.enqueue(event('c')), false, 'full: refused, not dropped silently');
    await cp.assign(RUNNER, { id: 'waiting', name: 'n', runId: 'r', steps: [{ name: 's', image: 'python:3.11' }] });
    await sleep(700);
    assert.deepEqual(taken, [], 'no polling while the queue is full');
    cp.fault = 'none';
    await waitFor('polling to resume', () => taken.length > 0, { timeoutMs: 20_000, intervalMs: 20 });
    assert.equal(taken.length, 1, 'polling resumes once events are acknowledged');
    assert.deepEqual(
      cp.events.map((e) => e.id),
      ['a', 'b'],
    );
  } finally {
    await client.stop(500);
    await cp.close();
  }
});
