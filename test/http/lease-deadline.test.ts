/**
 * Class: a Lease holder whose renewals stop getting answers (a silent API connection, a hung
 * request) must stop counting itself leader before any other replica may take the Lease — or two
 * replicas reconcile at once. The role lapses at the renew deadline (2/3 of the lease duration)
 * measured from the start of the last successful renewal, whatever the hung request does.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaseElector } from '../../src/adapters/lease.ts';

test('a leader whose renewals hang stops leading at its renew deadline, before the Lease expires', async () => {
  let lease: Record<string, unknown> | undefined;
  let answer = true;
  const held: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (!answer) {
        held.push(res);
        return;
      } // the API goes silent: never answer
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET') {
        if (lease === undefined) {
          res.statusCode = 404;
          res.end(JSON.stringify({ kind: 'Status', code: 404 }));
          return;
        }
        res.end(JSON.stringify(lease));
        return;
      }
      lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        ...(JSON.parse(body) as Record<string, unknown>),
        metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      };
      res.statusCode = req.method === 'POST' ? 201 : 200;
      res.end(JSON.stringify(lease));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  after(() => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    server.close();
  }); // registered first, runs last
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const elector = new LeaseElector(kc, {
    name: 'l',
    namespace: 'ns',
    identity: 'runner-0',
    durationSeconds: 3,
    renewEverySeconds: 1,
  });
  elector.start();
  // Stops the elector's timer at once (release() does so before it awaits), so no test can hang on it.
  after(() => void elector.release());
  const t0 = Date.now();
  while (elector.role() !== 'leader' && Date.now() - t0 < 5000) await sleep(20);
  assert.equal(elector.role(), 'leader');
  await sleep(1200); // at least one renewal answered
  answer = false;
  const silentAt = Date.now();
  while (elector.role() === 'leader' && Date.now() - silentAt < 6000) await sleep(20);
  const lapsedAfter = Date.now() - silentAt;
  assert.notEqual(elector.role(), 'leader', 'still leader 6 s after the API went silent');
  // The last answered renewal started at most ~1 s before silence; the deadline is 2 s after it.
  assert.ok(
    lapsedAfter < 3000,
    `leadership lapsed ${lapsedAfter} ms after the API went silent; the Lease expires for others after 3000 ms`,
  );
});
