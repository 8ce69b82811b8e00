/**
 * Red team 9, finding 5 (fixed: followed.ts watchFailure). A list or watch that fails is reported through `observer.watchRestarted(kind, 'error',
 * describeThrown(err))` (followed.ts:185), and serve logs that detail as the `reason` of
 * KUBE_API_WATCH_FAILED. For client-node's ApiException, describeThrown is its message: "HTTP-Code:
 * … Body: <the whole response body>". A 200 KB body (a proxy's page, a broken API server) made a
 * 200,579-character log line at every retry, with a U+202E bidi control in it raw. The class fix:
 * `apiCause(err)` (src/adapters/kube-errors.ts), as the other reads use, with control and format
 * characters replaced and a length bound (a thrown value that is no API answer keeps its message).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_API_OPTIONS, PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { KubePods } from '../../src/adapters/kube-pods.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';
import { waitFor } from '../support/wait.ts';

const MARKER = 'MARKER-BODY \u001b[31m\u202e';

/** The detail of the first failed list of pods, when the API server answers every list with `status` and `body`. */
async function firstFailure(status: number, body: string): Promise<string> {
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.writeHead(status);
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const details: string[] = [];
  const kc = loopbackKubeConfig(
    (server.address() as { port: number }).port,
    new PooledKubeConfig({
      ...DEFAULT_API_OPTIONS,
      observer: { requestTimedOut: () => undefined, watchRestarted: (_k, _r, detail) => details.push(detail) },
    }),
  );
  const pods = new KubePods(kc, 'ns', 'r');
  void pods.start().catch(() => undefined);
  try {
    return (await waitFor('a failed list reported', () => details[0], { timeoutMs: 30_000 })).value;
  } finally {
    await pods.stop();
    server.closeAllConnections();
    server.close();
  }
}

test('control: a failed list is reported with its HTTP status', async () => {
  const detail = await firstFailure(500, JSON.stringify({ kind: 'Status', code: 500, reason: 'InternalError' }));
  assert.match(detail, /500/);
});

test('a failed list is reported without the answer body: short, and no control or bidi character', async () => {
  const detail = await firstFailure(
    500,
    JSON.stringify({ kind: 'Status', code: 500, message: `${MARKER} ${'x'.repeat(200_000)}` }),
  );
  assert.ok(detail.length < 300, `${detail.length} characters`);
  assert.ok(!detail.includes('MARKER-BODY'), detail.slice(0, 200));
  const controls = [...detail].filter((c) => (c.codePointAt(0) ?? 0) < 0x20 || /[\u202a-\u202e\u2066-\u2069]/.test(c));
  assert.deepEqual(controls, []);
});

test('the class: whatever is thrown (API answers of any body, errors of any message), the logged reason is short and has no control or format character', async () => {
  const { ApiException } = await import('@kubernetes/client-node');
  const { watchFailure } = await import('../../src/adapters/followed.ts');
  const text = fc.string({ unit: 'binary', maxLength: 2_000 });
  const thrown = fc.oneof(
    fc.tuple(fc.integer({ min: 100, max: 599 }), text).map(([code, body]) => new ApiException(code, body, body, {})),
    fc
      .tuple(fc.integer({ min: 100, max: 599 }), text, text)
      .map(
        ([code, message, reason]) =>
          new ApiException(code, 'x', JSON.stringify({ kind: 'Status', code, message, reason }), {}),
      ),
    text.map((m) => new Error(m)),
    text,
  );
  fc.assert(
    fc.property(thrown, (t) => {
      const reason = watchFailure(t);
      assert.ok(reason.length <= 300, String(reason.length));
      assert.doesNotMatch(reason, /[\p{Cc}\p{Cf}\u2028\u2029]/u);
    }),
    { numRuns: 2_000 },
  );
});
