/**
 * `/ready`'s `watches` check (Followed.health). The class: a followed kind (pods, WorkflowRuns)
 * that stops being followed while the API server still answers `/version` — its RBAC revoked, its
 * CRD removed, the list refused or unreadable — must not leave the runner reporting ready: it would
 * keep taking assignments whose completions it can never see. Each variant: an API server twin on
 * loopback (real HTTP) lists and watches as a real one does (a quiet watch ends at `timeoutSeconds`
 * without an event), then answers every list and watch so; once nothing was heard of the kind for
 * `watchIdle` + `watchTimeout` it is not healthy, and once the API server answers again it is.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_API_OPTIONS, PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { KubeRunStore } from '../../src/adapters/kube-runs.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';

type Failure = (res: ServerResponse) => void;
const status =
  (code: number, reason: string): Failure =>
  (res) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code }));
  };
const FAILURES: [string, Failure][] = [
  ['401 Unauthorized (credentials revoked)', status(401, 'Unauthorized')],
  ['403 Forbidden (RBAC list/watch revoked)', status(403, 'Forbidden')],
  ['404 NotFound (the CRD removed)', status(404, 'NotFound')],
  ['500 InternalError', status(500, 'InternalError')],
  ['503 ServiceUnavailable', status(503, 'ServiceUnavailable')],
  [
    'a 200 whose body is not JSON',
    (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>proxy error</html>');
    },
  ],
  ['the connection reset', (res) => res.socket?.destroy()],
];

/** Polls `f` until it holds (the state is reached once and kept; the test runner's timeout bounds it). */
async function until(what: string, f: () => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (f()) return;
    await sleep(50);
  }
  assert.fail(`never: ${what}`);
}

for (const [what, failure] of FAILURES)
  test(`a followed kind whose list fails (${what}) is not healthy after watchIdle + watchTimeout, and healthy again once it lists`, async () => {
    let failing: Failure | undefined;
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (failing !== undefined) return failing(res); // the watch too
      if (url.searchParams.get('watch') === 'true') {
        // A real API server's quiet watch: no event (not even a bookmark), ended at timeoutSeconds (1 s).
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        setTimeout(() => res.end(), 1000).unref();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          apiVersion: 'kubiya.ai/v1alpha1',
          kind: 'WorkflowRunList',
          metadata: { resourceVersion: '5' },
          items: [],
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const kc = loopbackKubeConfig(
      port,
      new PooledKubeConfig({ ...DEFAULT_API_OPTIONS, watchIdleMs: 1500, watchTimeoutSeconds: 1 }),
    );
    const runs = new KubeRunStore(kc, 'ns', 'r');
    try {
      assert.deepEqual(runs.health(), { ok: false, detail: 'workflowruns: not listed yet' });
      await runs.start();
      assert.deepEqual(runs.health(), { ok: true });
      await sleep(4000); // quiet and healthy: watches ended cleanly keep it followed past watchIdle + watchTimeout
      assert.deepEqual(runs.health(), { ok: true });
      failing = failure;
      await until('not healthy', () => !runs.health().ok);
      assert.match(runs.health().detail ?? '', /^workflowruns: no list nor watch event for \d+\.\d s$/);
      failing = undefined;
      await until('healthy again', () => runs.health().ok);
    } finally {
      await runs.stop();
      server.closeAllConnections();
      server.close();
    }
  });
