/**
 * server.maxConnections: connections open at once on the runner's one HTTP port (intake, probes,
 * /metrics) are bounded. The class: however its connections are held — idle, headers half sent,
 * a body that never ends, keep-alive after pipelined requests — one past the bound is closed as it
 * is accepted, unread and unanswered, promptly; it is counted; the server answers /healthz again as
 * soon as one held connection closes; and nothing is left behind (file descriptors of this process,
 * which holds both ends, come back to where they were).
 * The real HTTP server (createHttpServer) on loopback with real metrics, and real sockets.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createHttpServer } from '../../src/adapters/http-server.ts';
import { fail } from '../../src/errors/result.ts';
import { createMetrics, METRIC_NAMES } from '../../src/observe/metrics.ts';
import { getAlone, openConnection, type Held } from '../support/connections.ts';
import { waitFor } from '../support/wait.ts';

const CAP = 8;
/** Connections opened past the cap in each row. */
const EXCESS = 4;
/** A refused connection must be closed within this (it is closed as it is accepted: ~1 ms here). */
const PROMPT_MS = 1000;

const metrics = createMetrics('r');
let server: Server;
let port: number;

before(async () => {
  server = createHttpServer({
    admit: () => Promise.resolve(fail('RECEIVE_TOO_LARGE', 'not reached in these tests')),
    start: () => undefined,
    cancel: () => Promise.resolve(fail('RUN_NOT_FOUND', 'not reached in these tests')),
    hasCapacity: () => true,
    draining: () => false,
    ready: () => Promise.resolve({ ready: true, checks: {} }),
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
    observed: (route, status) => metrics.httpRequest(route, status),
    maxBodyBytes: 65536,
    // Long enough that no held connection times out during a row (each row takes well under 5 s;
    // the keep-alive timeout is 5 s).
    requestTimeoutMs: 10_000,
    maxConnections: CAP,
    connectionRefused: () => metrics.httpConnectionRefused(),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const connections = (): Promise<number> =>
  new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
const fds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;
const refused = async (): Promise<number> =>
  (await metrics.registry.getSingleMetric(METRIC_NAMES.httpConnectionsRefused)?.get())?.values[0]?.value ?? 0;

const healthz = async (): Promise<number | string> => {
  const r = await getAlone(port, '/healthz');
  return typeof r === 'string' ? r : r.status;
};

const GET = 'GET /healthz HTTP/1.1\r\nhost: runner\r\n\r\n';

/** How a connection is held open, and when it is "held" (the server has all it will get for now). */
const ROWS: { name: string; bytes: string; held: (h: Held) => boolean }[] = [
  { name: 'idle (nothing sent)', bytes: '', held: () => true },
  { name: 'headers half sent', bytes: 'GET /healthz HTTP/1.1\r\nhost: runner\r\nx-slow: ', held: () => true },
  {
    name: 'a body that never ends (POST, Content-Length 1000, 10 bytes sent)',
    bytes:
      'POST /v1/assignments HTTP/1.1\r\nhost: runner\r\ncontent-type: application/jwt\r\ncontent-length: 1000\r\n\r\n0123456789',
    held: () => true,
  },
  {
    name: 'keep-alive after three pipelined requests (all answered)',
    bytes: GET + GET + GET,
    held: (h) => (h.received.match(/HTTP\/1\.1 200 /g) ?? []).length === 3,
  },
];

/** Waits (polling every 10 ms) until `probe` holds, up to `ms`; the message says what it waited for. */
const until = (what: string, ms: number, probe: () => boolean | Promise<boolean>) =>
  waitFor(what, probe, { timeoutMs: ms, intervalMs: 10 });

for (const row of ROWS)
  test(`${row.name}: ${CAP} held, ${EXCESS} more closed unread at once, /healthz answers once one closes, no fd left`, async () => {
    assert.equal(await connections(), 0, 'the previous row left nothing open');
    const fds0 = await fds();
    const refused0 = await refused();
    const held: Held[] = [];
    try {
      for (let i = 0; i < CAP; i++) held.push(await openConnection(port, row.bytes));
      await until('all held', 3000, async () => (await connections()) === CAP && held.every(row.held));

      const excess: Held[] = [];
      for (let i = 0; i < EXCESS; i++) excess.push(await openConnection(port, row.bytes));
      await until(`each excess connection closed within ${PROMPT_MS} ms`, PROMPT_MS, () =>
        excess.every((h) => h.closedAfterMs !== undefined),
      );
      assert.deepEqual(
        excess.map((h) => h.received),
        excess.map(() => ''),
        'nothing answered on a refused connection',
      );
      assert.equal(await refused(), refused0 + EXCESS, 'each counted in kubiya_http_connections_refused_total');
      assert.equal(await connections(), CAP, 'the held ones are still open');
      assert.ok(
        held.every((h) => h.closedAfterMs === undefined),
        'no held connection was closed to make room',
      );
      const atCap = await healthz();
      assert.equal(typeof atCap, 'string', `at the cap, /healthz on a new connection is refused too: ${atCap}`);

      held[0]!.socket.destroy();
      await until('the server saw one close', 2000, async () => (await connections()) < CAP);
      assert.equal(await healthz(), 200, '/healthz answers once one held connection closed');
    } finally {
      for (const h of held) h.socket.destroy();
    }
    await until('every connection closed', 3000, async () => (await connections()) === 0);
    // Both ends of every connection were in this process: its descriptors come back to where they were.
    await until(`fds back to ${fds0}`, 3000, async () => (await fds()) <= fds0);
  });

test('the count of refused connections is on /metrics', async () => {
  const r = await getAlone(port, '/metrics');
  assert.ok(typeof r !== 'string' && r.status === 200, JSON.stringify(r));
  // EXCESS a row, and the /healthz tried at the cap.
  const count = ROWS.length * (EXCESS + 1);
  assert.match(r.body, new RegExp(`^${METRIC_NAMES.httpConnectionsRefused}\\{runner="r"\\} ${count}$`, 'm'));
});
