// The class (red team 17, finding 5): a configured duration longer than a Node.js timer can wait
// (2^31 − 1 ms, ~24.8 days). Node replaces such a delay by 1 ms, so `jwksRefresh: 720h` fetched the
// JWKS 1,825 times in 3 s, `server.requestTimeout: 720h` answered 408 at once, and
// `audit.checkpoint.interval: 720h` signed a checkpoint per record. Every configured duration sets
// a timer, so every one is bounded by MAX_TIMER_SECONDS (src/units/units.ts); a wait the reconciler
// derives from a status (an edited finishedAt far ahead) is clamped (timerDelay).
// Its sibling (red team 18, finding 3): a timer armed with a MULTIPLE of a configured duration —
// the Kubernetes request deadline (4 × requestTimeout), a retired pool's force-close (2 ×), a
// watch's backstop (watchIdle + 10 s) — passed the bound although each duration was within it:
// `requestTimeout` over 536,870 s aborted every API request in 1 ms. The last block drives the
// real API adapters built from a config at each bound, and fails on any TimeoutOverflowWarning.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import fc from 'fast-check';
import pino from 'pino';
import { StallWatch } from '../../src/adapters/api-watch.ts';
import { BundlePoller } from '../../src/adapters/bundle-poller.ts';
import { PooledKubeConfig, requestDeadlineOf } from '../../src/adapters/kubeconfig.ts';
import { apiOptions } from '../../src/app/parts.ts';
import { createMetrics } from '../../src/observe/metrics.ts';
import { parse, stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import {
  MAX_TIMER_MS,
  MAX_TIMER_SECONDS,
  parseDuration,
  POSITIVE_DURATION,
  timerDelay,
} from '../../src/units/units.ts';
import { MINIMAL_CONFIG_YAML } from '../support/config.ts';

/** Every configured duration (dotted path) and the settings it needs besides (a URL its section requires). */
const DURATIONS: [path: string, needs?: Record<string, unknown>][] = [
  ['runner.workflow.failFastGrace'],
  ['runner.workflow.ttlAfterFinished'],
  ['runner.workflow.retainFinished'],
  ['controlPlane.jwksRefresh'],
  ['controlPlane.maxTokenAge'],
  ['controlPlane.clockTolerance'],
  ['policy.service.pollInterval', { 'policy.service.url': 'https://bundles.example/b.tar.gz' }],
  ['policy.service.maxBackoff', { 'policy.service.url': 'https://bundles.example/b.tar.gz' }],
  ['audit.checkpoint.interval'],
  ['audit.ship.interval', { 'audit.ship.url': 'https://collector.example/logs' }],
  ['server.requestTimeout'],
  ['server.shutdownGrace'],
  ['kubernetes.leaseDuration'],
  ['kubernetes.api.requestTimeout'],
  ['kubernetes.api.watchTimeout'],
  ['kubernetes.api.watchIdle'],
  ['kubernetes.api.relist'],
];

/** The minimal configuration with `values` set at their dotted paths. */
function config(values: Record<string, unknown>): ReturnType<typeof loadConfig> {
  const doc = parse(MINIMAL_CONFIG_YAML) as Record<string, unknown>;
  for (const [path, value] of Object.entries(values)) {
    const keys = path.split('.');
    let node = doc;
    for (const k of keys.slice(0, -1)) node = (node[k] ??= {}) as Record<string, unknown>;
    node[keys.at(-1)!] = value;
  }
  return loadConfig(stringify(doc), {});
}

describe('every configured duration is at most what a timer can wait', () => {
  test('the bound: 2,147,483 s (24 d 20 h 31 m 23 s), every second of it a whole timer', () => {
    assert.equal(MAX_TIMER_SECONDS, 2_147_483);
    assert.ok(MAX_TIMER_SECONDS * 1000 <= MAX_TIMER_MS && (MAX_TIMER_SECONDS + 1) * 1000 > MAX_TIMER_MS);
  });

  for (const [path, needs = {}] of DURATIONS)
    test(`${path}: 720h (the reported spelling), ${MAX_TIMER_SECONDS + 1} and 596h31m24s are refused, naming the key`, () => {
      for (const v of ['720h', MAX_TIMER_SECONDS + 1, '596h31m24s', 2 ** 31 - 1]) {
        const r = config({ ...needs, [path]: v });
        assert.equal(r.ok, false, `${path}=${v}`);
        if (r.ok) continue;
        assert.equal(r.error.code, 'CONFIG_INVALID');
        assert.ok(r.error.message.includes(path), r.error.message);
      }
    });

  test('the reported example: jwksRefresh 720h refused; 24h, and the bound itself spelled 596h31m23s, accepted', () => {
    assert.equal(config({ 'controlPlane.jwksRefresh': '720h' }).ok, false);
    assert.ok(config({ 'controlPlane.jwksRefresh': '24h' }).ok);
    // retainFinished must be at least ttlAfterFinished (config-retain.test.ts).
    assert.ok(
      config({ 'runner.workflow.ttlAfterFinished': '596h31m23s', 'runner.workflow.retainFinished': '596h31m23s' }).ok,
    );
    assert.ok(config({ 'audit.checkpoint.interval': MAX_TIMER_SECONDS }).ok); // jwksRefresh: at most 24 h (verify-windows.test.ts)
  });

  test('any duration the grammar accepts, in seconds × 1000, is a delay a timer keeps (property)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), fc.nat({ max: 59 }), fc.nat({ max: 59 }), (h, m, s) => {
        const parsed = parseDuration(`${h}h${m}m${s}s`, POSITIVE_DURATION);
        if (parsed.ok) assert.ok(parsed.seconds * 1000 <= MAX_TIMER_MS);
        else assert.ok(h * 3600 + m * 60 + s > MAX_TIMER_SECONDS || h * 3600 + m * 60 + s === 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('timerDelay: a derived wait a timer can keep', () => {
  test('clamped to 0 … MAX_TIMER_MS; NaN, negatives and Infinity handled', () => {
    for (const [ms, want] of [
      [0, 0],
      [-5, 0],
      [Number.NaN, 0],
      [1500, 1500],
      [MAX_TIMER_MS, MAX_TIMER_MS],
      [MAX_TIMER_MS + 1, MAX_TIMER_MS],
      [1e15, MAX_TIMER_MS],
      [Infinity, MAX_TIMER_MS],
    ] as const)
      assert.equal(timerDelay(ms), want, String(ms));
  });

  test('Node fires an overflowing delay at once; the clamped one waits', async () => {
    const fired = (ms: number): Promise<boolean> =>
      new Promise((resolve) => {
        const t = setTimeout(() => resolve(true), ms);
        setTimeout(() => {
          clearTimeout(t);
          resolve(false);
        }, 100);
      });
    // Node prints a TimeoutOverflowWarning for the unclamped one: expected here
    const quiet = (w: Error): void => void w;
    process.on('warning', quiet);
    assert.equal(await fired(1e15), true, 'unclamped: fires within 100 ms');
    process.off('warning', quiet);
    assert.equal(await fired(timerDelay(1e15)), false, 'clamped: still waiting after 100 ms');
  });
});

describe('timers derived from configured durations (red team 18, finding 3)', () => {
  /** A stand-in API server on loopback: namespaces answer after 50 ms; a pod watch stays open, silent. */
  async function apiServer(): Promise<{ url: string; close: () => Promise<void> }> {
    const server = createServer((req, res) => {
      if (req.url?.includes('watch=true')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        return; // open and silent until closed
      }
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'kubiya' } }));
      }, 50);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: async () => {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      },
    };
  }

  const API_AT_BOUND: [name: string, values: Record<string, unknown>][] = [
    [
      'requestTimeout at the bound (the reported 536,871 s and more)',
      { 'kubernetes.api.requestTimeout': MAX_TIMER_SECONDS },
    ],
    ['requestTimeout 536,871 s (the reported example)', { 'kubernetes.api.requestTimeout': 536_871 }],
    ['requestTimeout 1,073,742 s (2× over the bound)', { 'kubernetes.api.requestTimeout': 1_073_742 }],
    [
      'watchIdle at the bound (its backstop is 10 s more)',
      { 'kubernetes.api.watchIdle': MAX_TIMER_SECONDS, 'kubernetes.api.watchTimeout': 60 },
    ],
    ['relist at the bound', { 'kubernetes.api.relist': MAX_TIMER_SECONDS }],
    [
      'every kubernetes.api duration at the bound',
      {
        'kubernetes.api.requestTimeout': MAX_TIMER_SECONDS,
        'kubernetes.api.watchTimeout': MAX_TIMER_SECONDS - 1,
        'kubernetes.api.watchIdle': MAX_TIMER_SECONDS,
        'kubernetes.api.relist': MAX_TIMER_SECONDS,
      },
    ],
  ];

  for (const [name, values] of API_AT_BOUND)
    test(`${name}: requests succeed, a watch and a pool retirement arm no overflowing timer`, async () => {
      const loaded = config(values);
      assert.ok(loaded.ok, loaded.ok ? '' : loaded.error.message);
      const warnings: string[] = [];
      const onWarning = (w: Error): void => {
        if (w.name === 'TimeoutOverflowWarning') warnings.push(w.message);
      };
      process.on('warning', onWarning);
      const server = await apiServer();
      const timedOut: string[] = [];
      const api = apiOptions(loaded.value, pino({ level: 'silent' }), createMetrics('t'));
      const kc = new PooledKubeConfig({
        ...api,
        observer: { ...api.observer, requestTimedOut: (p) => timedOut.push(p) },
      });
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: server.url, skipTLSVerify: true }],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      try {
        assert.ok(requestDeadlineOf(kc.api) <= MAX_TIMER_MS);
        const core = kc.makeApiClient(CoreV1Api);
        for (let i = 0; i < 3; i++)
          assert.equal((await core.readNamespace({ name: 'kubiya' })).metadata?.name, 'kubiya');
        const watch = new StallWatch(kc, 'pods', kc.api, () => performance.now());
        const controller = await watch.watch(
          '/api/v1/namespaces/kubiya/pods',
          {},
          () => undefined,
          () => undefined,
        );
        await new Promise((r) => setTimeout(r, 50));
        controller.abort();
        watch.close?.();
        assert.ok(kc.renewConnections() >= 1, 'a pool was retired (its force-close timer armed)');
        await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
        assert.deepEqual(timedOut, []);
        assert.deepEqual(warnings, []);
      } finally {
        process.off('warning', onWarning);
        await server.close();
      }
    });
});

test('the bundle poller: its jitter (×0.8–1.2) of any configured interval or backoff keeps within a timer (red team 19, finding 4)', () => {
  const MAX_MS = MAX_TIMER_SECONDS * 1000;
  fc.assert(
    fc.property(
      fc.integer({ min: 1000, max: MAX_MS }),
      fc.integer({ min: 1000, max: MAX_MS }),
      fc.nat({ max: 40 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (intervalMs, maxBackoffMs, failures, r) => {
        const poller = new BundlePoller(
          { url: 'https://b.example/b.tgz', target: '/nonexistent', intervalMs, maxBackoffMs },
          {} as never,
          {
            polled: () => undefined,
          },
        );
        Reflect.set(poller, 'failures', failures);
        const delay = poller.nextDelay(() => r);
        assert.ok(delay >= 0 && delay <= MAX_TIMER_MS, `${delay}`);
      },
    ),
    { numRuns: 500 },
  );
  // The reported example: a pollInterval over 1,789,569 s, jitter at its top.
  const p = new BundlePoller(
    { url: 'https://b.example/b.tgz', target: '/nonexistent', intervalMs: 1_789_570_000, maxBackoffMs: 1_789_570_000 },
    {} as never,
    {
      polled: () => undefined,
    },
  );
  assert.equal(
    p.nextDelay(() => 1),
    MAX_TIMER_MS,
  );
});
