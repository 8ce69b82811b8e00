import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { runName } from '../../src/pod/names.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { runStatusOf, testCluster, type TestCluster } from '../support/cluster.ts';
import { startFreezeProxy, type FreezeProxy } from '../support/freeze-proxy.ts';
import { startServe, type ServeProcess } from '../support/serve-process.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Issue 13 §5, end to end: `serve` talks to the real API server through a TCP proxy that FREEZES
 * every connection open at one moment (no byte either way, nothing closed) while it still forwards
 * new ones. The step's pod then succeeds (kwok, on the API server directly); the run's end must be
 * recorded within a bound although the runner's connections stay silent: its watches are ended as
 * stalled after `watchIdle`, resumed on new connections, and its requests on the silent pool time
 * out after `requestTimeout` and move to a new one. On a9d3b7b nothing bounded those waits: every
 * request and both watches shared one HTTP/2 connection, and the run's end was recorded 125.5 s
 * after the freeze, only when undici's keepalive ping gave up on that connection (measured).
 *
 * Bound asserted (from the freeze to the run's recorded end): watchIdle + requestTimeout + SLACK_S,
 * SLACK_S covering a reconcile pass, the status write and the audit append on a loaded machine.
 */

const ISSUER = 'https://control-plane.test';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const API = { requestTimeout: 3, watchTimeout: 10, watchIdle: 12, relist: 300 };
const SLACK_S = 10;
const BOUND_S = API.watchIdle + API.requestTimeout + SLACK_S;

describe('a silent API connection is noticed (serve behind a freezing proxy)', () => {
  let env: TestCluster;
  let key: SigningKey;
  let proxy: FreezeProxy;
  let serve: ServeProcess | undefined;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    await writeFile(join(env.work, 'jwks.json'), JSON.stringify(jwks([key])));
    const server = new URL(env.kc.getCurrentCluster()?.server ?? '');
    proxy = await startFreezeProxy({ host: server.hostname, port: Number(server.port) });
    // The same kubeconfig, its server the proxy (TLS passes through; the certificate names 127.0.0.1).
    const text = await readFile(env.cluster.kubeconfig, 'utf8');
    assert.ok(text.includes(server.origin), 'the kubeconfig names the API server by its origin');
    await writeFile(
      join(env.work, 'proxied-kubeconfig'),
      text.replaceAll(server.origin, `https://127.0.0.1:${proxy.port}`),
    );
  });
  after(async () => {
    serve?.child.kill('SIGKILL');
    await proxy?.close();
    await env?.close();
  });

  const ns = () => env.cluster.workflowsNamespace;
  const statusOf = (run: string): Promise<RunStatus | undefined> => runStatusOf(env.kc, ns(), run);

  test(`the run's end is recorded within ${BOUND_S} s of the freeze although the old connections stay silent, twice`, async () => {
    serve = await startServe(
      {
        runner: { name: 'stall-runner', workflow: { namespace: ns() } },
        controlPlane: { issuer: ISSUER, jwksFile: join(env.work, 'jwks.json') },
        policy: { bundle: env.bundle },
        audit: { dir: join(env.work, 'audit') },
        server: { host: '127.0.0.1', port: 0 },
        kubernetes: {
          kubeconfig: join(env.work, 'proxied-kubeconfig'),
          namespace: env.cluster.runnerNamespace,
          api: API,
        },
      },
      env.work,
    );
    const base = serve.base;
    await waitFor('ready', async () => (await fetch(`${base}/ready`)).status === 200, {
      timeoutMs: 30_000,
      intervalMs: 250,
    });
    // A healthy quiet watch is never taken for stalled: nothing happens for longer than watchIdle
    // (the server ends each watch after watchTimeout, with a bookmark, and it is resumed). Nor for
    // longer than watchIdle + watchTimeout, the bound of /ready's watches check: the bookmarks keep
    // both kinds followed.
    await sleep((API.watchIdle + API.watchTimeout + 3) * 1000);
    const quiet = (await (await fetch(`${base}/ready`)).json()) as { checks: { watches: unknown } };
    assert.deepEqual(quiet.checks.watches, { ok: true }, 'a quiet, healthy watch keeps /ready ready');
    assert.deepEqual(
      serve.lines.filter((l) => l.code === 'KUBE_API_WATCH_STALLED' || l.code === 'KUBE_API_TIMEOUT'),
      [],
      'no stall while the connection is healthy',
    );

    // Twice: the connections made after the first stall must be watched as closely (not one-shot).
    const core = env.kc.makeApiClient(CoreV1Api);
    for (const round of [1, 2]) {
      const id = `stall-${round}`;
      const jti = `${id}-jti`;
      const token = await signAssignment(key, {
        issuer: ISSUER,
        audience: 'stall-runner',
        jti,
        workflow: {
          id,
          name: id,
          runId: id,
          steps: [{ name: 'work', image: 'python:3.11-slim', resources: R, env: { KWOK_RUN_DURATION: '8s' } }],
        },
      });
      const posted = await fetch(`${base}/v1/assignments`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: token,
      });
      assert.equal(posted.status, 202, await posted.text());
      const run = runName(jti);
      const podOf = async () =>
        (await core.listNamespacedPod({ namespace: ns(), labelSelector: `kubiya.ai/workflow=${id}` })).items[0];
      await waitFor(
        "the step Running, in the run's status",
        async () => (await podOf())?.status?.phase === 'Running' && (await statusOf(run))?.phase === 'Running',
        { timeoutMs: 30_000, intervalMs: 250 },
      );

      const frozen = proxy.freeze();
      const frozenAt = Date.now();
      assert.ok(frozen >= 1, "the runner's connections are frozen");
      const accepted = proxy.accepted();

      // The pod ends on the API server (kwok, not through the proxy).
      await waitFor('the pod Succeeded', async () => (await podOf())?.status?.phase === 'Succeeded', {
        timeoutMs: 30_000,
        intervalMs: 250,
      });
      const podEndedAt = Date.now();
      await waitFor("the run's end recorded", async () => (await statusOf(run))?.phase === 'Succeeded', {
        timeoutMs: BOUND_S * 1000 + 60_000,
        intervalMs: 250,
      });
      const recordedAt = Date.now();
      const sinceFreeze = (recordedAt - frozenAt) / 1000;
      const sincePod = (recordedAt - podEndedAt) / 1000;
      console.log(
        `# stall bound, round ${round}: run end recorded ${sinceFreeze.toFixed(1)} s after the freeze, ${sincePod.toFixed(1)} s after its pod succeeded (bound ${BOUND_S} s; watchIdle ${API.watchIdle} s, requestTimeout ${API.requestTimeout} s); ${frozen} connections frozen, ${proxy.accepted() - accepted} new`,
      );
      assert.ok(
        sinceFreeze <= BOUND_S,
        `round ${round}: recorded ${sinceFreeze.toFixed(1)} s after the freeze (bound ${BOUND_S} s)`,
      );
      assert.ok(proxy.accepted() > accepted, 'on new connections');
    }

    const lines = serve.lines;
    assert.ok(
      lines.some((l) => l.code === 'KUBE_API_WATCH_STALLED' && l.kind === 'pods'),
      'a log line names the stalled pod watch',
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /kubiya_kube_api_watch_restarts_total\{[^}]*kind="pods"[^}]*reason="idle"[^}]*\} [1-9]/);
  });
});
