/**
 * Red team 7 (issue 20, h-scale-2): the informers list in pages. Class: a list that does not
 * complete (a page answered 410 Gone because its continue token expired, or any page failing) taken
 * as complete. client-node's ListWatch.start() resolves even when the list throws (it hands the
 * error to the 'error' listeners and returns), so the runner goes on with an EMPTY run cache, and
 * the leader's resync (Reconciler.collectOrphans) then deletes every pod and volume claim of every
 * live run: none of their owners is in the cache. A real HTTP API server twin on loopback answers
 * the first page and refuses the second with 410 (an unpaged list, main's, gets everything).
 *
 * `RT7_SRC=/work/wt/scale/src node --test test/unit/red-team-7-list-expired.test.ts` fails on h-scale-2.
 * Fixed on main (Followed.start() waits for a complete list; the sweep reads a fresh complete list,
 * RunStore.liveUids, and deletes nothing when it fails): test/unit/orphan-sweep.test.ts has the class.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, test } from 'node:test';
import type * as KubeRuns from '../../src/adapters/kube-runs.ts';
import type * as Reconcile from '../../src/reconcile/reconciler.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';

const SRC = process.env.RT7_SRC ?? new URL('../../src', import.meta.url).pathname;
const { KubeRunStore } = (await import(`${SRC}/adapters/kube-runs.ts`)) as typeof KubeRuns;
const { Reconciler } = (await import(`${SRC}/reconcile/reconciler.ts`)) as typeof Reconcile;

const run = (name: string): object => ({
  apiVersion: 'kubiya.ai/v1alpha1',
  kind: 'WorkflowRun',
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: '5', labels: { 'kubiya.ai/runner': 'r' } },
  spec: { token: 't', workflowId: 'w', runner: 'r' },
});

/** Lists: unpaged, both runs; paged (limit), one run and a continue token that has expired (410). */
function apiServer(): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.setHeader('content-type', 'application/json');
    if (url.searchParams.get('watch') === 'true') {
      res.writeHead(200); // a watch that stays open and quiet
      return;
    }
    if (url.searchParams.get('continue') === 'expired') {
      res.writeHead(410);
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 }));
      return;
    }
    const paged = url.searchParams.has('limit');
    res.end(
      JSON.stringify({
        apiVersion: 'kubiya.ai/v1alpha1',
        kind: 'WorkflowRunList',
        metadata: { resourceVersion: '5', ...(paged ? { continue: 'expired' } : {}) },
        items: paged ? [run('a')] : [run('a'), run('b')],
      }),
    );
  });
}

const server = apiServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => {
  server.closeAllConnections();
  server.close();
});

test('a list cut by an expired continue token: no live run is taken as gone, nothing of it deleted', async () => {
  const { port } = server.address() as { port: number };
  const kc = loopbackKubeConfig(port);
  const runs = new (KubeRunStore as unknown as new (...a: unknown[]) => KubeRuns.KubeRunStore)(kc, 'ns', 'r', {
    pageItems: 1,
  });
  const deleted: unknown[] = [];
  const objects = {
    owned: () =>
      Promise.resolve({
        ok: true,
        value: [
          { kind: 'Pod', name: 'a-step-1', owner: 'uid-a' },
          { kind: 'PersistentVolumeClaim', name: 'b-work', owner: 'uid-b' },
        ],
      }),
    deleteObjects: (l: unknown[]) => (deleted.push(...l), Promise.resolve({ ok: true, value: l.length })),
  };
  const deps = { config: { runner: 'r' }, runs, pods: { onChange: () => undefined }, objects };
  const reconciler = new Reconciler(deps as never, { isLeader: () => true, workers: 2, resyncMs: 3_600_000 });
  try {
    // Since the fix, start() resolves only once a list is complete (here: never, every try meets the
    // 410), so it is raced against 3 s; pending or not, the sweep deletes nothing of the live runs.
    const started = await Promise.race([
      runs.start().then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 3000).unref()),
    ]);
    if (!started) {
      reconciler.start();
      assert.equal(await reconciler.collectOrphans(), 0, 'the sweep deleted objects of live runs');
      assert.deepEqual(deleted, []);
    } else {
      // Started means listed: both runs are known, and the resync deletes nothing of theirs.
      assert.deepEqual(
        runs
          .list()
          .map((r) => r.name)
          .sort(),
        ['a', 'b'],
      );
      reconciler.start();
      assert.equal(await reconciler.collectOrphans(), 0);
      assert.deepEqual(deleted, []);
    }
  } finally {
    await reconciler.stop();
    await runs.stop();
  }
});
