/**
 * Key rotation and JWKS outages against a real `serve` process, a real API server and kwok
 * (issue 13 §2, DESIGN §2b). The JWKS URL is a small HTTP server this test controls: it answers
 * 503 for longer than the runner's stale-if-error bound (so the runner has no keys at all), then
 * serves a rotated set without the kid that signed the running assignment. The run in flight
 * must go on and start its next step; the trusted-key store (a ConfigMap in the runner's
 * namespace) is what re-verification uses. And a run stopped because its stored token no longer
 * verifies ends cleanly: its pods deleted, a finish record with a code per unfinished step, every
 * record naming the run.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { ConfigMapTrustedKeys } from '../../src/adapters/trusted-keys-configmap.ts';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { runName } from '../../src/pod/names.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { waitFor } from '../support/wait.ts';

const ISSUER = 'https://control-plane.test';
const RUNNER = 'rot-runner';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

describe('key rotation and JWKS outages never abandon an admitted run (serve, real API server)', () => {
  let env: TestCluster;
  let k1: SigningKey;
  let k2: SigningKey;
  let jwksServer: Server;
  let serve: ServeProcess;
  /** What the JWKS URL answers now. */
  let published: 'k1' | 'down' | 'k2' = 'k1';
  let fetches = 0;

  before(async () => {
    env = await testCluster();
    [k1, k2] = [await newSigningKey('EdDSA', 'rot-k1'), await newSigningKey('EdDSA', 'rot-k2')];
    jwksServer = createServer((_req, res) => {
      fetches++;
      if (published === 'down') return res.writeHead(503).end('maintenance');
      const body = JSON.stringify(jwks(published === 'k1' ? [k1] : [k2]));
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
    serve = await startServe(
      {
        runner: { name: RUNNER, workflow: { namespace: env.cluster.workflowsNamespace } },
        // Refreshed every second; past one more second of failures the runner holds no keys at all.
        controlPlane: { issuer: ISSUER, jwksUrl: url, jwksRefresh: 1, jwksStaleIfError: 1 },
        policy: { bundle: env.bundle },
        audit: { dir: join(env.work, 'audit') },
        server: { host: '127.0.0.1', port: 0 },
        kubernetes: { kubeconfig: env.cluster.kubeconfig, namespace: env.cluster.runnerNamespace, leaseDuration: '4s' },
      },
      env.work,
      { HOSTNAME: 'rot-0' },
    );
  });
  after(async () => {
    serve?.child.kill('SIGKILL');
    await new Promise<void>((resolve) => (jwksServer === undefined ? resolve() : jwksServer.close(() => resolve())));
    await env?.close();
  });

  const ns = () => env.cluster.workflowsNamespace;
  const custom = () => env.kc.makeApiClient(CustomObjectsApi);
  const runObject = async (name: string) =>
    (await custom().getNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: ns(),
      plural: 'workflowruns',
      name,
    })) as { spec: { token: string }; status?: RunStatus };
  const statusOf = async (name: string): Promise<RunStatus | undefined> => (await runObject(name)).status;
  const podsOf = async (runId: string) =>
    (
      await env.kc
        .makeApiClient(CoreV1Api)
        .listNamespacedPod({ namespace: ns(), labelSelector: `kubiya.ai/run=${runId}` })
    ).items;
  const ready = async () =>
    (await fetch(`${serve.base}/ready`)).json() as Promise<{ checks: { keys: { ok: boolean } } }>;
  const post = async (token: string) =>
    fetch(`${serve.base}/v1/assignments`, {
      method: 'POST',
      headers: { 'content-type': 'application/jwt' },
      body: token,
    });
  const assign = async (key: SigningKey, id: string, steps: Record<string, unknown>[]): Promise<string> => {
    const r = await post(
      await signAssignment(key, {
        issuer: ISSUER,
        audience: RUNNER,
        workflow: { id, name: id, runId: id, steps },
        jti: `${id}-jti`,
      }),
    );
    assert.equal(r.status, 202, await r.text());
    return runName(`${id}-jti`);
  };

  test('503 past stale-if-error, then a rotation that drops the kid: the run goes on, its next step starts, and it succeeds', async () => {
    published = 'k1';
    await waitFor('keys loaded', async () => (await ready()).checks.keys.ok, { timeoutMs: 20_000, intervalMs: 200 });
    const run = await assign(k1, 'rot-outage', [
      { name: 'one', image: 'python:3.11-slim', resources: R, env: { KWOK_RUN_DURATION: '6s' } },
      { name: 'two', image: 'python:3.11-slim', resources: R, env: { KWOK_RUN_DURATION: '6s' } },
      { name: 'three', image: 'python:3.11-slim', resources: R },
    ]);
    await waitFor(
      'step one running',
      async () => (await statusOf(run))?.steps.find((s) => s.name === 'one')?.phase === 'Running',
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    // The outage: the runner has no keys at all (the step ends during it and the next must start).
    published = 'down';
    await waitFor('the runner without keys', async () => !(await ready()).checks.keys.ok, {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    const refused = await post(
      await signAssignment(k1, {
        issuer: ISSUER,
        audience: RUNNER,
        workflow: {
          id: 'late',
          name: 'late',
          runId: 'late',
          steps: [{ name: 'x', image: 'python:3.11-slim', resources: R }],
        },
        jti: 'late-jti',
      }),
    );
    assert.equal(refused.status, 401, 'new work is refused while there are no keys (fail closed)');
    await waitFor(
      'step two started during the outage',
      async () => (await statusOf(run))?.steps.find((s) => s.name === 'two')?.phase === 'Running',
      { timeoutMs: 30_000, intervalMs: 200 },
    );

    // The rotation: k1 is gone from the JWKS for good.
    published = 'k2';
    await waitFor('keys again', async () => (await ready()).checks.keys.ok, { timeoutMs: 20_000, intervalMs: 200 });
    assert.equal(
      (
        await post(
          await signAssignment(k1, {
            issuer: ISSUER,
            audience: RUNNER,
            workflow: {
              id: 'old',
              name: 'old',
              runId: 'old',
              steps: [{ name: 'x', image: 'python:3.11-slim', resources: R }],
            },
            jti: 'old-jti',
          }),
        )
      ).status,
      401,
      'new work signed with the dropped key is refused',
    );
    await waitFor('the run succeeded', async () => (await statusOf(run))?.phase === 'Succeeded', {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const status = await statusOf(run);
    assert.deepEqual(
      status?.steps.map((s) => [s.name, s.phase]),
      [
        ['one', 'Succeeded'],
        ['two', 'Succeeded'],
        ['three', 'Succeeded'],
      ],
    );
    const records = await readAuditLog(join(env.work, 'audit'));
    const ofRun = records.filter((r) => r.workflow?.runId === 'rot-outage');
    assert.ok(
      !ofRun.some((r) => r.outcome === 'deny' || r.outcome === 'error'),
      JSON.stringify(ofRun.filter((r) => r.outcome !== 'allow' && r.outcome !== 'success')),
    );
    assert.deepEqual(
      ofRun.filter((r) => r.stage === 'finish').map((r) => [r.step, r.outcome]),
      [
        ['one', 'success'],
        ['two', 'success'],
        ['three', 'success'],
      ],
    );
    // The key that verified the run is in the store, with its period.
    const store = await env.kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({
      name: `kubiya-runner-${RUNNER}-trusted-keys`,
      namespace: env.cluster.runnerNamespace,
    });
    const kids = Object.values(store.data ?? {})
      .map((v) => (JSON.parse(v) as { jwk: { kid?: string } }).jwk.kid)
      .sort();
    assert.deepEqual(kids, ['rot-k1', 'rot-k2']);
    assert.ok(fetches > 3);
  });

  test('a run whose stored token no longer verifies (replaced with one signed by a key never trusted) is stopped: pods deleted, a finish record with the code per unfinished step, every record names the run', async () => {
    published = 'k2';
    const run = await assign(k2, 'rot-stop', [
      { name: 'left', image: 'python:3.11-slim', resources: R, env: { KWOK_RUN_DURATION: '120s' } },
      { name: 'right', image: 'python:3.11-slim', resources: R, env: { KWOK_RUN_DURATION: '120s' }, dependsOn: [] },
      { name: 'after', image: 'python:3.11-slim', resources: R, dependsOn: ['left', 'right'] },
    ]);
    await waitFor(
      'two pods running',
      async () => (await statusOf(run))?.steps.filter((s) => s.phase === 'Running').length === 2,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    assert.equal((await podsOf('rot-stop')).length, 2);

    const stranger = await newSigningKey('EdDSA', 'rot-stranger');
    const forged = await signAssignment(stranger, {
      issuer: ISSUER,
      audience: RUNNER,
      workflow: {
        id: 'rot-stop',
        name: 'rot-stop',
        runId: 'rot-stop',
        steps: [{ name: 'left', image: 'evil.example.com/miner:1', resources: R }],
      },
      jti: 'rot-stop-jti',
    });
    const obj = await runObject(run);
    await custom().replaceNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: ns(),
      plural: 'workflowruns',
      name: run,
      body: { ...obj, spec: { ...obj.spec, token: forged } },
    });

    await waitFor('the run stopped', async () => (await statusOf(run))?.phase === 'Failed', {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const status = await statusOf(run);
    assert.equal(status?.code, 'VERIFY_KEY_NOT_TRUSTED');
    assert.deepEqual(
      status?.steps.map((s) => [s.name, s.phase, s.code]),
      [
        ['left', 'Cancelled', 'VERIFY_KEY_NOT_TRUSTED'],
        ['right', 'Cancelled', 'VERIFY_KEY_NOT_TRUSTED'],
        ['after', 'Cancelled', 'VERIFY_KEY_NOT_TRUSTED'],
      ],
    );
    assert.ok(status?.steps.every((s) => s.finishedAt !== undefined));
    await waitFor('its pods deleted', async () => (await podsOf('rot-stop')).length === 0, {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    const records = (await readAuditLog(join(env.work, 'audit'))).filter(
      (r) => r.workflow?.runId === 'rot-stop' || r.workflow?.runId === 'rot-stop-jti',
    );
    assert.deepEqual(
      records
        .filter((r) => r.stage === 'finish')
        .map((r) => [r.step, r.code])
        .sort(),
      [
        ['after', 'VERIFY_KEY_NOT_TRUSTED'],
        ['left', 'VERIFY_KEY_NOT_TRUSTED'],
        ['right', 'VERIFY_KEY_NOT_TRUSTED'],
      ],
    );
    const deny = records.find((r) => r.stage === 'verify' && r.outcome === 'deny');
    assert.equal(deny?.code, 'VERIFY_KEY_NOT_TRUSTED');
    assert.deepEqual(deny?.workflow, { id: 'rot-stop', runId: 'rot-stop' }, 'the deny names the run');
    assert.ok(
      records.length > 0 && records.every((r) => r.workflow?.id === 'rot-stop'),
      'every record of the run names it',
    );
  });

  test('the store across replicas: two writers at once (optimistic concurrency) both land; a new process reads every key', async () => {
    const name = 'race-trusted-keys';
    const namespace = env.cluster.runnerNamespace;
    const [a, b] = [
      new ConfigMapTrustedKeys(env.kc, { name, namespace }),
      new ConfigMapTrustedKeys(env.kc, { name, namespace }),
    ];
    const keys = await Promise.all(Array.from({ length: 8 }, (_, i) => newSigningKey('EdDSA', `race-${i}`)));
    const at = new Date();
    // Each writer records its own four keys, all eight writes racing.
    const results = await Promise.all(keys.map((k, i) => (i % 2 === 0 ? a : b).observe([k.publicJwk], at)));
    assert.ok(
      results.every((r) => r.ok),
      JSON.stringify(results.filter((r) => !r.ok)),
    );
    const listed = await new ConfigMapTrustedKeys(env.kc, { name, namespace }).list(true);
    assert.ok(listed.ok);
    assert.deepEqual(listed.value.map((k) => k.jwk.kid).sort(), keys.map((k) => k.kid).sort());
  });
});
