/**
 * Class: a Lease holder whose renewals stop getting answers (a silent API connection, a hung
 * request) must stop counting itself leader before any other replica may take the Lease — or two
 * replicas reconcile at once. The role lapses at the renew deadline (2/3 of the lease duration)
 * measured from the start of the last successful renewal, whatever the hung request does.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseElector } from '../../src/adapters/lease.ts';
import { leaseApi } from '../support/lease-api.ts';

test('a leader whose renewals hang stops leading at its renew deadline, before the Lease expires', async () => {
  const api = await leaseApi();
  after(() => api.close()); // registered first, runs last
  const elector = new LeaseElector(api.kc, {
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
  api.silent = true; // the API goes silent: never answers
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
