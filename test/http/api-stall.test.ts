import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { CoreV1Api, VersionApi, type V1Pod } from '@kubernetes/client-node';
import { KubePods } from '../../src/adapters/kube-pods.ts';
import { PooledKubeConfig, type ApiOptions, type WatchRestartReason } from '../../src/adapters/kubeconfig.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../support/fake-kube-api.ts';
import { startFreezeProxy, type FreezeProxy } from '../support/freeze-proxy.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The class (issue 13 §5): the runner's connection to the API server goes silent without closing
 * (a proxy or middlebox stops forwarding) while new connections still get through. Every variant
 * must end within a bound, on a NEW connection, with a metric and a log line:
 *  - a request waiting for its answer on the silent connection (request timeout),
 *  - the request after it (must not land on the silent pool again),
 *  - the informer's watch (idle detection; resumes from its resourceVersion, loses no change),
 *  - a change no watch ever delivers (a lost event: the periodic relist repairs the cache, read
 *    behind the running watch, which is not ended for it: src/adapters/relist.ts).
 * Real sockets on loopback: a plain-HTTP stand-in for the API server behind a freezing TCP proxy.
 */

const NS = 'wf';
const RUNNER = 'r1';

function pod(name: string, run: string, phase = 'Running'): V1Pod {
  return {
    metadata: {
      name,
      labels: { 'kubiya.ai/runner': RUNNER },
      ownerReferences: [{ apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: run, uid: `uid-${run}` }],
    },
    status: { phase },
  };
}

describe('a silent API connection is noticed', () => {
  let api: FakeKubeApi;
  let proxy: FreezeProxy;
  // Each kubeconfig's own watch restarts: a watch of an earlier test's gateway still ending while
  // the next test runs (the proxy freezes every open connection) is never counted as this one's
  // (CI saw a second 'idle' entry in the frozen-watch test, once).
  type Restart = { kind: string; reason: WatchRestartReason };
  const restartLog = new WeakMap<PooledKubeConfig, Restart[]>();
  const restarts = (kc: PooledKubeConfig): Restart[] => restartLog.get(kc) ?? [];
  const timeouts: string[] = [];
  const options = (o: Partial<Omit<ApiOptions, 'observer'>>, own: Restart[]): ApiOptions => ({
    requestTimeoutMs: 500,
    watchTimeoutSeconds: 1,
    watchIdleMs: 1500,
    relistMs: 60_000,
    ...o,
    observer: {
      requestTimedOut: (phase) => timeouts.push(phase),
      watchRestarted: (kind, reason) => own.push({ kind, reason }),
    },
  });
  /** A kubeconfig to `port` (default: through the freeze proxy to the stand-in). */
  const kubeconfig = (o?: Partial<Omit<ApiOptions, 'observer'>>, port?: number): PooledKubeConfig => {
    const own: Restart[] = [];
    const kc = new PooledKubeConfig(options(o ?? {}, own));
    restartLog.set(kc, own);
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${port ?? proxy.port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-a-secret' }],
      contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  };
  const gateways: KubePods[] = [];

  before(async () => {
    api = await startFakeKubeApi(NS);
    proxy = await startFreezeProxy({ host: '127.0.0.1', port: api.port });
  });
  afterEach(async () => {
    for (const g of gateways.splice(0)) await g.stop();
    timeouts.length = 0;
  });
  after(async () => {
    await proxy.close();
    await api.close();
  });

  /** Starts `call`, freezes the proxy once the stand-in has the request (its answer is then lost). */
  const frozenInFlight = async <T>(call: () => Promise<T>): Promise<{ result: Promise<T>; t0: number }> => {
    const reads = api.reads();
    api.delay(200);
    const result = call();
    result.catch(() => undefined);
    await waitFor('the request at the server', () => api.reads() > reads || undefined, 2000);
    assert.ok(proxy.freeze() >= 1, 'the connection is frozen');
    api.delay(0);
    return { result, t0: performance.now() };
  };

  test('a request whose answer never comes fails within the request timeout; the next one goes through on a new connection', async () => {
    const kc = kubeconfig();
    const version = kc.makeApiClient(VersionApi);
    assert.equal((await version.getCode()).gitVersion, 'v1.35.0-fake');
    const acceptedBefore = proxy.accepted();
    const { result, t0 } = await frozenInFlight(() => version.getCode());
    await assert.rejects(result);
    const waited = performance.now() - t0;
    assert.ok(waited < 500 + 1000, `failed after ${Math.round(waited)} ms (request timeout 500 ms)`);
    assert.deepEqual(timeouts, ['headers']);
    assert.equal((await version.getCode()).gitVersion, 'v1.35.0-fake', 'the next request is answered');
    assert.ok(proxy.accepted() > acceptedBefore, 'on a new connection');
  });

  test('after a timeout the pool is replaced: requests do not land on the silent connections kept alive in it', async () => {
    const kc = kubeconfig();
    const version = kc.makeApiClient(VersionApi);
    // Several kept-alive connections in the pool, all frozen below.
    await Promise.all(Array.from({ length: 4 }, () => version.getCode()));
    const { result } = await frozenInFlight(() => version.getCode());
    await assert.rejects(result);
    const t0 = performance.now();
    for (let i = 0; i < 8; i++) assert.equal((await version.getCode()).gitVersion, 'v1.35.0-fake');
    assert.ok(performance.now() - t0 < 500, 'no later request waited for a timeout');
    assert.deepEqual(timeouts, ['headers']);
  });

  test('every watch asks for bookmarks and a server-side timeout, and is resumed when the server ends it', async () => {
    const kc = kubeconfig({ watchTimeoutSeconds: 1 });
    const pods = new KubePods(kc, NS, RUNNER);
    gateways.push(pods);
    await pods.start();
    const seen = api.watches.length;
    await waitFor('two more watches', () => api.watches.length >= seen + 2 || undefined, 5000);
    for (const q of api.watches.slice(seen)) {
      assert.equal(q.get('allowWatchBookmarks'), 'true');
      assert.equal(q.get('timeoutSeconds'), '1');
      assert.equal(q.get('labelSelector'), `kubiya.ai/runner=${RUNNER}`);
    }
    assert.deepEqual(restarts(kc), [], 'a watch the server ends is not a stall');
  });

  test('a frozen watch is noticed within the idle bound and resumed on a new connection; no change is lost', async () => {
    // The server-side timeout is long here: only the idle bound can end the frozen watch.
    const kc = kubeconfig({ watchTimeoutSeconds: 60, watchIdleMs: 1500 });
    const pods = new KubePods(kc, NS, RUNNER);
    gateways.push(pods);
    const changed: string[] = [];
    pods.onChange((run) => changed.push(run));
    await pods.start();
    api.put(pod('p-a', 'run-a'));
    await waitFor('run-a seen', () => changed.includes('run-a') || undefined, 2000);
    const acceptedBefore = proxy.accepted();
    assert.ok(proxy.freeze() >= 1);
    const t0 = performance.now();
    api.put(pod('p-a', 'run-a', 'Succeeded'));
    const { elapsedMs } = await waitFor(
      'the Succeeded phase in the cache',
      () => pods.cached('p-a')?.status?.phase === 'Succeeded' || undefined,
      10_000,
    );
    const total = performance.now() - t0;
    assert.ok(total <= 1500 + 1000, `noticed after ${Math.round(elapsedMs)} ms (idle bound 1500 ms)`);
    assert.deepEqual(
      restarts(kc).filter((r) => r.reason === 'idle'),
      [{ kind: 'pods', reason: 'idle' }],
    );
    assert.ok(proxy.accepted() > acceptedBefore, 'the watch resumed on a new connection');
  });

  // client-node's ListWatch checks `stopped` before it lists and connects again, not after: a stop()
  // while the next watch is connecting left that watch running, following the kind for a stopped
  // informer until the server ended it (and counted as the next test's restart here, once in CI).
  test('a watch still connecting when the informer stops is ended as it arrives: nothing is followed after stop()', async () => {
    // A stand-in of its own: the watches the proxy froze in earlier tests stay open at the shared one.
    const fake = await startFakeKubeApi(NS);
    try {
      const pods = new KubePods(kubeconfig({ watchTimeoutSeconds: 1 }, fake.port), NS, RUNNER);
      const changed: string[] = [];
      pods.onChange((run) => changed.push(run));
      await pods.start();
      await waitFor('the first watch', () => fake.liveWatches() >= 1 || undefined, 3000);
      fake.holdWatches(500);
      // The stand-in ends the watch at 1 s; the informer asks again at once, and that answer is held.
      await waitFor('the next watch asked', () => fake.watches.length >= 2 || undefined, 4000);
      await pods.stop();
      await new Promise((r) => setTimeout(r, 800)); // the held answer arrives meanwhile
      assert.equal(fake.liveWatches(), 0, 'a watch is still open after stop()');
      fake.put(pod('p-late', 'run-late'));
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(changed, [], 'a change reached the stopped informer');
    } finally {
      await fake.close();
    }
  });

  test('a change no watch delivered (a lost event) is repaired by the periodic relist', async () => {
    const kc = kubeconfig({ watchTimeoutSeconds: 1, watchIdleMs: 1500, relistMs: 2000 });
    const pods = new KubePods(kc, NS, RUNNER);
    gateways.push(pods);
    api.put(pod('p-lost', 'run-lost'));
    await pods.start();
    assert.equal(pods.cached('p-lost')?.status?.phase, 'Running');
    const lists = api.lists();
    const restartsBefore = restarts(kc).length;
    api.put(pod('p-lost', 'run-lost', 'Succeeded'), { silently: true });
    api.remove('p-a', { silently: true });
    await waitFor(
      'the relist',
      () => (pods.cached('p-lost')?.status?.phase === 'Succeeded' && pods.cached('p-a') === undefined) || undefined,
      5000,
    );
    assert.ok(api.lists() > lists, 'by a new list');
    assert.deepEqual(
      restarts(kc)
        .slice(restartsBefore)
        .filter((r) => r.kind === 'pods' && r.reason === 'relist'),
      [],
      'the watch was ended for the relist',
    );
  });

  test('a list that fails is retried, and the failure counted', async () => {
    const kc = kubeconfig();
    // A pod gateway on a namespace the stand-in does not serve: every list answers 404.
    const pods = new KubePods(kc, 'elsewhere', RUNNER);
    gateways.push(pods);
    // start() resolves only on a complete first list (red team 7, finding 1): here, never.
    let started = false;
    void pods.start().then(
      () => (started = true),
      () => undefined,
    );
    await waitFor(
      'two error restarts',
      () => restarts(kc).filter((r) => r.reason === 'error').length >= 2 || undefined,
      5000,
    );
    assert.ok(restarts(kc).every((r) => r.kind === 'pods'));
    assert.equal(started, false, 'start() resolved although no list succeeded');
  });

  test('CoreV1Api reads go through the same bounded pool (a frozen read is bounded too)', async () => {
    const kc = kubeconfig();
    const core = kc.makeApiClient(CoreV1Api);
    api.put(pod('p-read', 'run-read'));
    assert.equal((await core.readNamespacedPod({ name: 'p-read', namespace: NS })).metadata?.name, 'p-read');
    const { result, t0 } = await frozenInFlight(() => core.readNamespacedPod({ name: 'p-read', namespace: NS }));
    await assert.rejects(result);
    assert.ok(performance.now() - t0 < 1500);
    assert.equal((await core.readNamespacedPod({ name: 'p-read', namespace: NS })).metadata?.name, 'p-read');
  });
});
