/**
 * The class (red team 20, finding 4; red team 19, finding 5 was its first example): a duration
 * measured on the wall clock. `Date.now()` follows the wall clock, which NTP or an operator can
 * step, back or forward, by any amount; a wait, a deadline, a cache age or a Lease judged on it is
 * off by the step. Seen: the control-plane poll pause stopped polling for as long as the clock went
 * back, /ready kept the API server's last verdict for the step, and (found with them) a Lease holder
 * whose renewals failed would have kept counting itself leader for the step, and a follower took a
 * Lease early or late by the skew between its clock and the holder's. Each row steps this process's
 * wall clock (Date.now) and checks that the behaviour is what it is without a step; real HTTP
 * against loopback twins. test/unit/wall-clock-uses.test.ts keeps every remaining Date.now() in
 * src/ a timestamp, not a duration.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ControlPlaneClient } from '../../src/adapters/control-plane-client.ts';
import { EMPTY_POLL_INTERVAL_MS } from '../../src/adapters/control-plane-pacing.ts';
import { LeaseElector } from '../../src/adapters/lease.ts';
import { apiServerCheck } from '../../src/app/readiness.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';
import { loopback } from '../support/hostile-answers.ts';
import { leaseApi, type LeaseApi } from '../support/lease-api.ts';

const HOUR = 3_600_000;
/** The wall clock as it really is (what Date.now() says when nobody stepped it). */
const wall = (): number => performance.timeOrigin + performance.now();
/** Steps this process's wall clock by `ms` from now on (restored after the test). */
const stepClock = (t: TestContext, ms: number): void => void t.mock.method(Date, 'now', () => wall() + ms);

describe("/ready's API-server check asks again once a second, whatever the wall clock does", () => {
  for (const step of [-HOUR, -5_000, HOUR])
    test(`clock stepped ${step / 1000} s after a failed probe`, async (t) => {
      let asked = 0;
      const server = createServer((_req, res) => {
        asked++;
        res.setHeader('content-type', 'application/json');
        res.statusCode = asked === 1 ? 500 : 200;
        res.end(JSON.stringify(asked === 1 ? { kind: 'Status', code: 500 } : { major: '1', minor: '37' }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      t.after(() => {
        server.closeAllConnections();
        server.close();
      });
      const check = apiServerCheck(loopbackKubeConfig((server.address() as AddressInfo).port));
      assert.equal((await check()).ok, false, 'the first answer is a failure');
      stepClock(t, step);
      const seen: boolean[] = [];
      for (let i = 0; i < 25; i++, await sleep(100)) seen.push((await check()).ok);
      assert.ok(seen.includes(true), `never asked again in 2.5 s: ${asked} request(s)`);
      assert.ok(
        seen.slice(0, 15).includes(true),
        `the verdict was not renewed within ~1.5 s of the failure: ${seen.join(',')}`,
      );
      assert.ok(asked <= 4, `asked ${asked} times in ~2.5 s: at most once a second`);
    });
});

const DURATION_S = 3;
const elector = (api: LeaseApi): LeaseElector =>
  new LeaseElector(api.kc, {
    name: 'l',
    namespace: 'ns',
    identity: 'runner-0',
    durationSeconds: DURATION_S,
    renewEverySeconds: 1,
  });
/** Polls `what` every 20 ms for up to `ms`; the time it first held, or undefined. */
async function within(ms: number, what: () => boolean): Promise<number | undefined> {
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    if (what()) return performance.now() - t0;
    await sleep(20);
  }
  return undefined;
}
/** Another replica holding the Lease, its renewTime `skewMs` off the real wall clock; renews every second while `renewing`. */
function otherHolder(api: LeaseApi, skewMs: number): { renewing: boolean; stop: () => void } {
  const holder = { renewing: true, stop: () => clearInterval(timer) };
  const write = (): void => {
    const at = new Date(wall() + skewMs).toISOString().replace('Z', '000Z');
    api.write({ holderIdentity: 'other_0123456789', leaseDurationSeconds: DURATION_S, acquireTime: at, renewTime: at });
  };
  write();
  const timer = setInterval(() => holder.renewing && write(), 1000);
  return holder;
}

describe('the Lease, whatever the wall clocks of its holder and of this process do', () => {
  let api: LeaseApi;
  const started: LeaseElector[] = [];
  const start = (e: LeaseElector): LeaseElector => {
    started.push(e);
    e.start();
    return e;
  };
  after(async () => {
    for (const e of started) await e.release().catch(() => undefined);
    api?.close();
  });

  test('a leader whose renewals hang, its clock stepped back 1 h: it stops leading at its renew deadline', async (t) => {
    api = await leaseApi();
    const e = start(elector(api));
    assert.notEqual(await within(5000, () => e.role() === 'leader'), undefined, 'it leads');
    await sleep(1200); // a renewal answered
    api.silent = true;
    stepClock(t, -HOUR);
    const lapsed = await within(6000, () => e.role() !== 'leader');
    assert.notEqual(lapsed, undefined, 'still leader 6 s after the API went silent');
    assert.ok((lapsed ?? 0) < DURATION_S * 1000, `lapsed after ${lapsed} ms; others may take the Lease after 3000`);
    api.close();
  });

  // [the other holder's renewTime against the real clock, this process's clock step, renewing?, takes it?]
  const rows: readonly [string, number, number, boolean, 'never' | 'after the duration'][] = [
    ['a holder renewing with its clock 1 h behind: never taken', -HOUR, 0, true, 'never'],
    ['a holder renewing, this clock stepped 1 h forward: never taken', 0, HOUR, true, 'never'],
    ['a holder renewing, this clock stepped 1 h back: never taken', 0, -HOUR, true, 'never'],
    [
      'a holder that stopped with its clock 1 h ahead: taken after the duration, not after an hour',
      HOUR,
      0,
      false,
      'after the duration',
    ],
    [
      'a holder that stopped, this clock stepped 1 h back: taken after the duration',
      0,
      -HOUR,
      false,
      'after the duration',
    ],
    [
      'a holder that stopped, this clock stepped 1 h forward: taken after the duration, not at once',
      0,
      HOUR,
      false,
      'after the duration',
    ],
  ];
  for (const [name, skew, step, renewing, takes] of rows)
    test(name, async (t) => {
      api = await leaseApi();
      const other = otherHolder(api, skew);
      t.after(() => other.stop());
      other.renewing = renewing;
      stepClock(t, step);
      const e = start(elector(api));
      const took = await within(takes === 'never' ? 5000 : 8000, () => e.role() === 'leader');
      if (takes === 'never') assert.equal(took, undefined, `took a Lease renewed every second after ${took} ms`);
      else {
        assert.notEqual(took, undefined, 'never took a Lease left for 8 s (duration 3 s)');
        assert.ok((took ?? 0) >= DURATION_S * 1000 - 100, `took it after ${took} ms, before the duration`);
      }
      await e.release();
      api.close();
    });
});

describe('the control-plane poll pause is one second, whatever the wall clock does', () => {
  for (const step of [-HOUR, -5_000, HOUR])
    test(`clock stepped ${step / 1000} s while polls are answered with nothing at once`, async (t) => {
      let polls = 0;
      const cp = await loopback((req, res) => {
        if (req.url?.includes('/assignments')) polls++;
        if (polls === 2) stepClock(t, step); // during the second poll
        res
          .writeHead(req.url?.includes('/assignments') ? 204 : 200)
          .end(req.url?.includes('/assignments') ? undefined : '{}');
      });
      const client = new ControlPlaneClient(
        {
          url: cp.url,
          runner: 'clock',
          token: 't',
          version: '0',
          capabilities: {},
          pollWaitSeconds: 20,
          heartbeatMs: 300,
          backoff: { initialMs: 100, maxMs: 400 },
          requestTimeoutMs: 1000,
          eventBatch: 100,
          eventQueueMax: 1000,
          maxTokenBytes: 64 * 1024,
        },
        () => Promise.resolve(true),
        () => true,
      );
      try {
        client.start();
        await sleep(5 * EMPTY_POLL_INTERVAL_MS + 500);
      } finally {
        await client.stop(0);
        await cp.close();
      }
      // One at the start and one a second after: 5 or 6 in 5.5 s (4 allows a loaded machine's start).
      assert.ok(polls >= 4 && polls <= 7, `${polls} polls in 5.5 s: one a second expected`);
    });
});
