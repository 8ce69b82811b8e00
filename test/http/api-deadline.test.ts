/**
 * Every non-watch API request has a total deadline (docs/reviews/2026-11-29-red-team.md #5, issue 13 §5). The request
 * timeout bounds only silences (headers wait, each gap in the body): a response that trickles a
 * byte every 300 ms never hits it. The class: a response that keeps the connection busy without
 * ever finishing. Variants: a body trickled byte by byte (content-length), a chunked body
 * trickled chunk by chunk (each must fail within the deadline, 4 request timeouts by default or
 * `requestDeadlineMs`, counted as phase `total`), headers trickled byte by byte on a raw socket
 * (undici's headers timeout already counts from the request: phase `headers`); each must retire the pool (the next request is answered on a new connection). Not in the
 * class: a slow response that completes within the deadline (it succeeds, nothing is counted) and
 * a watch (bounded by its own idle detection: a watch that outlives the deadline is not cut).
 * Real sockets on loopback, a plain-HTTP stand-in for the API server.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, afterEach, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { PooledKubeConfig, type ApiOptions } from '../../src/adapters/kubeconfig.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';

const POD = JSON.stringify({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'x', namespace: 'wf', resourceVersion: '1' },
  status: { phase: 'Running' },
});
type Mode = 'fast' | 'trickle-body' | 'trickle-chunked' | 'trickle-headers' | 'slow-complete' | 'watch-trickle';

describe('a total deadline on every non-watch API request', () => {
  let mode: Mode = 'fast';
  const sockets = new Set<Socket>();
  let connections = 0;
  const timers = new Set<NodeJS.Timeout>();
  const every = (ms: number, tick: () => boolean): void => {
    const t = setInterval(() => {
      if (!tick()) {
        clearInterval(t);
        timers.delete(t);
      }
    }, ms);
    timers.add(t);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const m = req.url?.includes('watch=true') === true ? 'watch-trickle' : mode;
    if (m === 'fast') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(POD);
      return;
    }
    if (m === 'trickle-headers') {
      const raw = `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${POD.length}\r\n\r\n${POD}`;
      let i = 0;
      every(300, () => {
        if (res.socket === null || res.socket.destroyed || i >= 60) return false;
        res.socket.write(raw[i++] as string);
        return true;
      });
      return;
    }
    if (m === 'watch-trickle') {
      // A watch: an event (a bookmark) every 300 ms for 3 s, then it ends.
      res.writeHead(200, { 'content-type': 'application/json' });
      let n = 0;
      every(300, () => {
        if (res.destroyed) return false;
        if (++n > 10) {
          res.end();
          return false;
        }
        res.write(
          JSON.stringify({
            type: 'BOOKMARK',
            object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(n) } },
          }) + '\n',
        );
        return true;
      });
      return;
    }
    const chunked = m === 'trickle-chunked';
    res.writeHead(200, {
      'content-type': 'application/json',
      ...(chunked ? {} : { 'content-length': String(POD.length) }),
    });
    let i = 0;
    // Trickle: 40 bytes at 300 ms (12 s) then the rest; slow-complete: 10 pieces at 100 ms (1 s).
    const [gap, pieces] = m === 'slow-complete' ? [100, 10] : [300, 40];
    const size = m === 'slow-complete' ? Math.ceil(POD.length / pieces) : 1;
    every(gap, () => {
      if (res.destroyed) return false;
      if (i >= pieces) {
        res.end(POD.slice(i * size));
        return false;
      }
      res.write(POD.slice(i * size, (i + 1) * size));
      i++;
      return true;
    });
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const timeouts: string[] = [];
  const kubeconfig = (o: Partial<Omit<ApiOptions, 'observer'>> = {}): PooledKubeConfig => {
    const kc = new PooledKubeConfig({
      requestTimeoutMs: 500,
      watchTimeoutSeconds: 1,
      watchIdleMs: 1500,
      relistMs: 60_000,
      ...o,
      observer: { requestTimedOut: (p) => timeouts.push(p), watchRestarted: () => undefined },
    });
    const { port } = server.address() as { port: number };
    return loopbackKubeConfig(port, kc);
  };

  before(() => new Promise<void>((r) => server.listen(0, '127.0.0.1', r)));
  afterEach(() => {
    for (const t of timers) clearInterval(t);
    timers.clear();
    for (const s of sockets) s.destroy();
    timeouts.length = 0;
    mode = 'fast';
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  // Headers trickled are already bounded by undici's headersTimeout (it counts from the request,
  // not from the last byte): phase 'headers', one request timeout. Kept to pin that down.
  const trickles: { mode: Mode; options: Partial<Omit<ApiOptions, 'observer'>>; boundMs: number; phase: string }[] = [
    { mode: 'trickle-body', options: {}, boundMs: 2000, phase: 'total' },
    { mode: 'trickle-chunked', options: {}, boundMs: 2000, phase: 'total' },
    { mode: 'trickle-body', options: { requestDeadlineMs: 1200 }, boundMs: 1200, phase: 'total' },
    { mode: 'trickle-headers', options: {}, boundMs: 500, phase: 'headers' },
  ];
  for (const c of trickles) {
    test(`${c.mode}${c.options.requestDeadlineMs !== undefined ? ` (requestDeadlineMs ${c.options.requestDeadlineMs})` : ''}: fails within ${c.boundMs} ms, counted as '${c.phase}', the pool is retired`, async () => {
      const kc = kubeconfig(c.options);
      const core = kc.makeApiClient(CoreV1Api);
      mode = 'fast';
      await core.readNamespacedPod({ name: 'x', namespace: 'wf' });
      const before = connections;
      mode = c.mode;
      const t0 = performance.now();
      await assert.rejects(core.readNamespacedPod({ name: 'x', namespace: 'wf' }));
      const took = performance.now() - t0;
      assert.ok(
        took >= c.boundMs - 50 && took < c.boundMs + 1000,
        `ended after ${Math.round(took)} ms; the deadline is ${c.boundMs} ms`,
      );
      assert.ok(timeouts.includes(c.phase), `timeouts reported: ${JSON.stringify(timeouts)}`);
      mode = 'fast';
      const again = await core.readNamespacedPod({ name: 'x', namespace: 'wf' });
      assert.equal(again.metadata?.name, 'x');
      assert.ok(connections > before, 'the request after the deadline is answered on a new connection');
      kc.renewConnections();
    });
  }

  test('a slow response that completes within the deadline succeeds and counts nothing', async () => {
    const kc = kubeconfig();
    mode = 'slow-complete';
    const pod = await kc.makeApiClient(CoreV1Api).readNamespacedPod({ name: 'x', namespace: 'wf' });
    assert.equal(pod.metadata?.name, 'x');
    assert.deepEqual(timeouts, []);
    kc.renewConnections();
  });

  test('a watch is not cut by the deadline (its own idle detection bounds it)', async () => {
    const kc = kubeconfig({ requestDeadlineMs: 800 });
    const { Watch } = await import('@kubernetes/client-node');
    const events: string[] = [];
    const ended = await new Promise<unknown>((resolve) => {
      void new Watch(kc).watch(
        '/api/v1/namespaces/wf/pods',
        { allowWatchBookmarks: true },
        (type) => events.push(type),
        (err) => resolve(err ?? 'ended'),
      );
    });
    assert.equal(ended, 'ended', String(ended));
    assert.equal(events.length, 10, 'every event of a 3 s watch arrived');
    assert.deepEqual(timeouts, []);
    await sleep(10);
  });
});
