import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Issue 20 §2: API writes per one-step run ≤ 3 (the WorkflowRun, the pod, the run's status once at
 * its end), counted by the API server itself (`apiserver_request_total`, write verbs) around runs
 * through a real `serve` process.
 *
 * The metric has no user or user-agent label, so the runner's writes are told from the others' by
 * resource: kwok writes pods/status (and nodes, leases), the scheduler pods/binding, every
 * component its Lease. The runner writes workflowruns, workflowruns/status, pods, networkpolicies,
 * persistentvolumeclaims, configmaps (its trusted keys) and its own Lease; the Lease renewal is a
 * per-replica cost on a timer, not per run, and is reported apart. A warm-up run comes first, so
 * what happens once per process (the namespace's DNS policy, the first trusted key) is not counted.
 */

const ISSUER = 'https://control-plane.test';
const RUNNER = 'writes-runner';
const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE', 'APPLY']);
/** Resources only the runner writes in this cluster (resource or resource/subresource). */
const RUNNERS = new Set([
  'workflowruns',
  'workflowruns/status',
  'pods',
  'networkpolicies',
  'ciliumnetworkpolicies',
  'persistentvolumeclaims',
  'configmaps',
  'secrets',
]);
const RUNS = 4;

type Counts = Map<string, number>;

/** Write requests by `VERB resource[/subresource]`, summed over codes and scopes. */
async function writeCounts(env: TestCluster): Promise<Counts> {
  const kubeconfig = await readFile(env.cluster.kubeconfig, 'utf8');
  const token = /token: (\S+)/.exec(kubeconfig)?.[1] ?? '';
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      `${env.cluster.server}/metrics`,
      { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const counts: Counts = new Map();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const label = (k: string): string => new RegExp(`[{,]${k}="([^"]*)"`).exec(line)?.[1] ?? '';
    if (!WRITE_VERBS.has(label('verb'))) continue;
    const sub = label('subresource');
    // A dry run (dryRun=All) stores nothing: the PodSecurity probe (src/adapters/kube-pod-security.ts,
    // a dry-run POST pods every runner.security.podSecurityCheck.interval) is a per-replica cost on
    // a timer, not a write per run, and is kept apart ("dry-run POST pods", not a runner resource).
    const dry = label('dry_run') === '' ? '' : 'dry-run ';
    const key = `${dry}${label('verb')} ${label('resource')}${sub === '' ? '' : `/${sub}`}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.split(' ').at(-1)));
  }
  return counts;
}

function delta(before: Counts, after: Counts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

const runnerWrites = (d: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(d).filter(([k]) => RUNNERS.has(k.split(' ')[1] ?? '')));

describe('API writes per one-step run, counted by the API server (issue 20 §2)', () => {
  let env: TestCluster;
  let key: SigningKey;
  let serve: ServeProcess;
  let jti = 0;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    await writeFile(join(env.work, 'jwks.json'), JSON.stringify(jwks([key])));
    serve = await startServe(
      {
        runner: { name: RUNNER, workflow: { namespace: env.cluster.workflowsNamespace, maxConcurrent: 100 } },
        controlPlane: { issuer: ISSUER, jwksFile: join(env.work, 'jwks.json') },
        policy: { bundle: env.bundle },
        audit: { dir: join(env.work, 'audit') },
        server: { host: '127.0.0.1', port: 0, shutdownGrace: '10s' },
        kubernetes: { kubeconfig: env.cluster.kubeconfig, namespace: env.cluster.runnerNamespace },
      },
      env.work,
    );
    await waitFor('ready', async () => (await fetch(`${serve.base}/ready`)).status === 200, {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  });
  after(async () => {
    serve?.child.kill('SIGTERM');
    await serve?.exited;
    await env?.close();
  });

  const custom = () => env.kc.makeApiClient(CustomObjectsApi);
  const statusOf = async (name: string): Promise<RunStatus | undefined> => {
    const list = (await custom().listNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: env.cluster.workflowsNamespace,
      plural: 'workflowruns',
      labelSelector: `kubiya.ai/run=${name}`,
    })) as { items: { status?: RunStatus }[] };
    return list.items[0]?.status;
  };

  /** One one-step run through POST /v1/assignments, until its status is terminal. */
  const oneStepRun = async (runId: string): Promise<RunStatus> => {
    const token = await signAssignment(key, {
      issuer: ISSUER,
      audience: RUNNER,
      jti: `writes-${++jti}`,
      workflow: {
        id: 'writes',
        name: 'w',
        runId,
        steps: [
          {
            name: 'only',
            image: 'python:3.11-slim',
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          },
        ],
      },
    });
    const answer = await fetch(`${serve.base}/v1/assignments`, {
      method: 'POST',
      headers: { 'content-type': 'application/jwt' },
      body: token,
    });
    assert.equal(answer.status, 202, await answer.text());
    const { value } = await waitFor(
      `run ${runId} finished`,
      async () => {
        const s = await statusOf(runId);
        return s !== undefined && ['Succeeded', 'Failed', 'Cancelled'].includes(s.phase) ? s : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    return value;
  };

  test(`${RUNS} one-step runs, one after another: at most 3 runner writes each — the WorkflowRun, the pod, one status write`, async () => {
    assert.equal((await oneStepRun('warm-up')).phase, 'Succeeded');
    await sleep(1500);
    const before = await writeCounts(env);
    for (let i = 0; i < RUNS; i++) assert.equal((await oneStepRun(`counted-${String(i)}`)).phase, 'Succeeded');
    // Anything a pass writes after the status is terminal lands in the window too.
    await sleep(1500);
    const all = delta(before, await writeCounts(env));
    const mine = runnerWrites(all);
    const total = Object.values(mine).reduce((a, b) => a + b, 0);
    console.log(`runner writes over ${String(RUNS)} one-step runs: ${JSON.stringify(mine)}`);
    console.log(`everything else written meanwhile: ${JSON.stringify(all)}`);
    assert.ok(
      total / RUNS <= 3,
      `${String(total / RUNS)} runner writes per one-step run (> 3): ${JSON.stringify(mine)}`,
    );
    assert.deepEqual(
      mine,
      { 'POST workflowruns': RUNS, 'POST pods': RUNS, 'PATCH workflowruns/status': RUNS },
      'exactly: the WorkflowRun, the pod, the terminal status',
    );
  });
});
