import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CoordinationV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { LeaseElector } from '../../src/adapters/lease.ts';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir } from '../../src/adapters/audit-files.ts';
import { decodeJwt } from 'jose';
import { startControlPlane } from '../../src/dev/control-plane.ts';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { runStatusOf, testCluster, type TestCluster } from '../support/cluster.ts';
import { watchAll } from '../support/watch.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { podName, runName } from '../../src/pod/names.ts';
import { waitFor } from '../support/wait.ts';

const ISSUER = 'https://control-plane.test';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

describe('crash and HA: serve processes against the local control plane', () => {
  let env: TestCluster;
  let key: SigningKey;
  const children: ServeProcess[] = [];
  const config = (name: string, audit: string) => ({
    runner: { name, workflow: { namespace: env.cluster.workflowsNamespace } },
    controlPlane: { issuer: ISSUER, jwksFile: join(env.work, 'jwks.json') },
    policy: { bundle: env.bundle },
    audit: { dir: join(env.work, audit) },
    server: { host: '127.0.0.1', port: 0 },
    kubernetes: { kubeconfig: env.cluster.kubeconfig, namespace: env.cluster.runnerNamespace, leaseDuration: '4s' },
  });
  const serve = async (name: string, audit: string, identity: string): Promise<ServeProcess> => {
    const s = await startServe(config(name, audit), env.work, { HOSTNAME: identity });
    children.push(s);
    return s;
  };

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    await writeFile(join(env.work, 'jwks.json'), JSON.stringify(jwks([key])));
  });
  after(async () => {
    for (const c of children) c.child.kill('SIGKILL');
    await env?.close();
  });

  const ns = () => env.cluster.workflowsNamespace;
  const workflow = (id: string) => ({
    id,
    name: id,
    runId: id,
    steps: ['one', 'two', 'three', 'four'].map((name) => ({
      name,
      image: 'python:3.11-slim',
      resources: R,
      env: { KWOK_RUN_DURATION: '2s' },
    })),
  });
  const post = async (base: string, runner: string, id: string): Promise<string> => {
    const jti = `${id}-jti`;
    const token = await signAssignment(key, { issuer: ISSUER, audience: runner, workflow: workflow(id), jti });
    const r = await fetch(`${base}/v1/assignments`, {
      method: 'POST',
      headers: { 'content-type': 'application/jwt' },
      body: token,
    });
    assert.equal(r.status, 202, await r.text());
    return runName(jti);
  };
  const phaseOf = (run: string): Promise<RunStatus | undefined> => runStatusOf(env.kc, ns(), run);
  /** Every pod of a run as the API server announced it: name → uids (a duplicate shows two). */
  const trackPods = async (runId: string) => {
    const uids = new Map<string, Set<string>>();
    const w = await watchAll<V1Pod>(env.kc, `/api/v1/namespaces/${ns()}/pods`, `kubiya.ai/run=${runId}`, (_t, pod) => {
      const n = pod.metadata?.name ?? '';
      uids.set(n, (uids.get(n) ?? new Set()).add(pod.metadata?.uid ?? ''));
    });
    return { uids, stop: () => w.stop() };
  };
  const ready = async (s: ServeProcess) =>
    waitFor('ready', async () => (await fetch(`${s.base}/ready`)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });

  test('kill -9 mid-run, start again: the run continues where it was, with no duplicate pod, and the audit chain verifies', async () => {
    const first = await serve('crash-runner', 'audit-crash', 'crash-0');
    await ready(first);
    const pods = await trackPods('crash');
    try {
      const run = await post(first.base, 'crash-runner', 'crash');
      await waitFor('the second step running', () => Promise.resolve(pods.uids.has(podName('crash', 'two'))), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      first.child.kill('SIGKILL');
      await first.exited;
      const again = await serve('crash-runner', 'audit-crash', 'crash-0'); // a StatefulSet pod keeps its name
      await waitFor('the run finished', async () => (await phaseOf(run))?.phase === 'Succeeded', {
        timeoutMs: 60_000,
        intervalMs: 100,
      });
      const status = await phaseOf(run);
      assert.deepEqual(
        status?.steps.map((s) => s.phase),
        ['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded'],
      );
      assert.deepEqual(
        [...pods.uids.keys()].sort(),
        [podName('crash', 'four'), podName('crash', 'one'), podName('crash', 'three'), podName('crash', 'two')].sort(),
      );
      assert.deepEqual(
        [...pods.uids.values()].map((u) => u.size),
        [1, 1, 1, 1],
        'no step ever had a second pod',
      );
      again.child.kill('SIGTERM');
      await again.exited;
      const verified = await checkAuditDir(join(env.work, 'audit-crash'), undefined);
      assert.equal(verified.ok, true, JSON.stringify(verified.firstBad));
      const finishes = (await readAuditLog(join(env.work, 'audit-crash'))).filter(
        (r) => r.stage === 'finish' && r.workflow?.id === 'crash',
      );
      // A pass killed between a step's end record and its status write records that end again
      // after the restart: with the same decision_id, so it is one end to every reader.
      const ends = new Map(finishes.map((r) => [r.decision_id, r.step]));
      assert.deepEqual(
        [...ends.values()],
        ['one', 'two', 'three', 'four'],
        'each step ended once, in order, across the crash',
      );
    } finally {
      pods.stop();
    }
  });

  test('cancellation from the control plane (long-poll): the running pod is deleted, the run ends Cancelled, the control plane hears it', async () => {
    const cp = await startControlPlane({ token: 'cp-token' });
    const base = config('cancel-runner', 'audit-cancel');
    const s = await startServe(
      { ...base, controlPlane: { url: cp.url, issuer: cp.issuer, jwksUrl: `${cp.url}/.well-known/jwks.json` } },
      env.work,
      { RUNNER_TOKEN: 'cp-token', HOSTNAME: 'cancel-0' },
    );
    children.push(s);
    try {
      const token = await cp.assign('cancel-runner', {
        id: 'cancel-me',
        name: 'c',
        runId: 'cancel-me',
        steps: [
          { name: 'long', image: 'python:3.11-slim', resources: R, env: { KWOK_RUN_DURATION: '120s' } },
          { name: 'next', image: 'python:3.11-slim', resources: R },
        ],
      });
      const { jti } = decodeJwt(token);
      await waitFor(
        'the step running',
        () => Promise.resolve(cp.events.some((e) => e.workflow === 'cancel-me' && e.phase === 'Running')),
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      await cp.cancel('cancel-runner', jti ?? '');
      await waitFor('the run cancelled', async () => (await phaseOf(runName(jti ?? '')))?.phase === 'Cancelled', {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      await waitFor(
        'the Cancelled event',
        () => Promise.resolve(cp.events.some((e) => e.workflow === 'cancel-me' && e.phase === 'Cancelled')),
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      const status = await phaseOf(runName(jti ?? ''));
      assert.deepEqual(
        status?.steps.map((x) => [x.name, x.phase, x.code]),
        [
          ['long', 'Cancelled', 'STEP_CANCELLED'],
          ['next', 'Cancelled', 'STEP_CANCELLED'],
        ],
      );
      const core = env.kc.makeApiClient(CoreV1Api);
      await waitFor(
        'the pod gone',
        async () =>
          (await core.listNamespacedPod({ namespace: ns(), labelSelector: 'kubiya.ai/run=cancel-me' })).items.length ===
          0,
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      const records = await readAuditLog(join(env.work, 'audit-cancel'));
      assert.ok(
        records.some((r) => r.stage === 'cancel' && r.outcome === 'allow'),
        'the verified cancellation is audited',
      );
    } finally {
      s.child.kill('SIGKILL');
      await cp.close();
    }
  });

  test('two replicas: only the Lease holder reconciles; kill -9 it and the other takes over within the Lease duration and finishes the run', async () => {
    const a = await serve('ha-runner', 'audit-ha-a', 'ha-a');
    const b = await serve('ha-runner', 'audit-ha-b', 'ha-b');
    await Promise.all([ready(a), ready(b)]);
    const leases = env.kc.makeApiClient(CoordinationV1Api);
    // The holder identity is the replica's identity plus a per-process suffix: compare the replica part.
    const holder = async () =>
      (
        (await leases.readNamespacedLease({ name: 'kubiya-runner-ha-runner', namespace: env.cluster.runnerNamespace }))
          .spec?.holderIdentity ?? ''
      ).replace(/_[0-9a-f]{10}$/, '');
    const leaderId = await holder();
    assert.ok(leaderId === 'ha-a' || leaderId === 'ha-b', leaderId);
    const [leader, follower, followerId, followerAudit] =
      leaderId === 'ha-a' ? [a, b, 'ha-b', 'audit-ha-b'] : [b, a, 'ha-a', 'audit-ha-a'];
    const pods = await trackPods('ha');
    try {
      // Intake on the follower (any replica admits); the leader does the work.
      const run = await post(follower.base, 'ha-runner', 'ha');
      await waitFor('the first step running', () => Promise.resolve(pods.uids.has(podName('ha', 'one'))), {
        timeoutMs: 30_000,
        intervalMs: 100,
      });
      const followerRecords = await readAuditLog(join(env.work, followerAudit));
      assert.deepEqual(
        followerRecords.map((r) => r.stage),
        ['verify', 'validate', 'claim'],
        'the follower admitted the run and did nothing else',
      );

      leader.child.kill('SIGKILL');
      const killed = Date.now();
      await waitFor('the follower holds the Lease', async () => (await holder()) === followerId, {
        timeoutMs: 15_000,
        intervalMs: 100,
      });
      const takeover = (Date.now() - killed) / 1000;
      assert.ok(takeover <= 4 + 1.5, `took over in ${takeover.toFixed(1)} s (Lease duration 4 s)`);
      await waitFor('the run finished', async () => (await phaseOf(run))?.phase === 'Succeeded', {
        timeoutMs: 60_000,
        intervalMs: 100,
      });
      assert.deepEqual(
        [...pods.uids.values()].map((u) => u.size),
        [1, 1, 1, 1],
        'no step ever had a second pod',
      );
      const records = await readAuditLog(join(env.work, followerAudit));
      assert.ok(
        records.some((r) => r.stage === 'finish' && r.step === 'four'),
        'the new leader finished the run',
      );
    } finally {
      pods.stop();
    }
  });

  // Class (issue 13 §4): two processes with one identity (a copied manifest, one HOSTNAME on one
  // host) each believed "the Lease is mine" and both led. The holder identity is now unique per
  // process; variants: two electors in one process, two serve processes, a restart after kill -9.
  test('two electors with the same identity never both lead, round after round', async () => {
    const options = {
      name: 'twin-lease',
      namespace: env.cluster.runnerNamespace,
      identity: 'twin',
      durationSeconds: 3,
      renewEverySeconds: 1,
    };
    const a = new LeaseElector(env.kc, options);
    const b = new LeaseElector(env.kc, options);
    assert.notEqual(a.holder, b.holder);
    assert.match(a.holder, /^twin_[0-9a-f]{10}$/);
    for (let i = 0; i < 6; i++) {
      const roles = [await a.tryAcquireOrRenew(), await b.tryAcquireOrRenew()];
      assert.deepEqual(roles.filter((r) => r === 'leader').length, 1, `round ${i}: ${roles.join(', ')}`);
    }
    // The leader stops without handing over (a crash): the other leads only once the Lease expired.
    const other = (await a.tryAcquireOrRenew()) === 'leader' ? b : a;
    const t0 = Date.now();
    while ((await other.tryAcquireOrRenew()) !== 'leader') await sleep(200);
    assert.ok(Date.now() - t0 >= 2500, `took over after ${Date.now() - t0} ms (Lease duration 3 s)`);
  });

  test('two serve processes with the same HOSTNAME: exactly one leads at any time; kill -9 it and the other takes over', async () => {
    const a = await serve('twin-runner', 'audit-twin-a', 'twin-0');
    const b = await serve('twin-runner', 'audit-twin-b', 'twin-0');
    await Promise.all([ready(a), ready(b)]);
    const roleOf = async (s: ServeProcess) =>
      ((await (await fetch(`${s.base}/ready`)).json()) as { checks: { lease: { detail: string } } }).checks.lease
        .detail;
    for (let i = 0; i < 8; i++) {
      const roles = await Promise.all([roleOf(a), roleOf(b)]);
      assert.equal(roles.filter((r) => r === 'leader').length, 1, `round ${i}: ${roles.join(', ')}`);
      await sleep(700);
    }
    const leases = env.kc.makeApiClient(CoordinationV1Api);
    const holder = async () =>
      (await leases.readNamespacedLease({ name: 'kubiya-runner-twin-runner', namespace: env.cluster.runnerNamespace }))
        .spec?.holderIdentity ?? '';
    const holders = [a, b].map((s) => String(s.lines.find((l) => l.message === 'runner listening')?.lease_holder));
    assert.ok(holders.every((h) => h.startsWith('twin-0_')) && holders[0] !== holders[1], holders.join(', '));
    const [leader, follower] = (await roleOf(a)) === 'leader' ? [a, b] : [b, a];
    assert.equal(await holder(), holders[leader === a ? 0 : 1]);
    leader.child.kill('SIGKILL');
    await waitFor('the other process leads', async () => (await roleOf(follower)) === 'leader', {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    assert.equal(await holder(), holders[follower === a ? 0 : 1]);
  });
});
