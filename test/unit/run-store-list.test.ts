/**
 * Class (issue 20 §2, completion seen and runner CPU at 5,000 runs): "listing the runs scans the
 * whole cache" — KubeRunStore.list() rebuilt every run's view from the informer on each call, and
 * intake's capacity check and every first pass's run-id check call it, so each admission cost
 * O(runs). It now keeps the views from the informer's events and this process's writes. What must
 * hold for every way a run's state changes (variants below): list() answers exactly what get()
 * answers for each known run, and nothing for an unknown one; and, while nothing changed, list()
 * hands back the same array (no copy per call).
 *   - informer: add, update, delete, a relist that drops a run;
 *   - this process: a create the informer has not delivered yet, a status write newer than the
 *     informer's copy, then the informer catching up (and an older event arriving late).
 * The informer's events go in through its own watch handler (the entry a watch stream feeds); the
 * create and status writes go to a loopback stand-in for the API server's WorkflowRun endpoints.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { KubeRunStore } from '../../src/adapters/kube-runs.ts';
import type { AdmittedRun } from '../../src/run/admitted.ts';
import type { RunStatus } from '../../src/run/status.ts';

const NS = 'wf';
let rv = 100;
let base = '';
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET') return res.end(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [] }));
    if (req.method === 'POST') {
      const obj = JSON.parse(body) as KubernetesObject;
      const name = obj.metadata?.name ?? '';
      return res.end(JSON.stringify({ ...obj, metadata: meta(name, ++rv) }));
    }
    // PATCH .../workflowruns/<name>/status with [{ op: add, path: /status, value }]
    const name = decodeURIComponent((req.url ?? '').split('/').at(-2) ?? '');
    const [op] = JSON.parse(body) as [{ value: RunStatus }];
    return res.end(JSON.stringify({ metadata: meta(name, ++rv), spec: { token: 't' }, status: op.value }));
  });
});

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

function meta(name: string, version: number): Record<string, unknown> {
  return {
    name,
    namespace: NS,
    uid: `uid-${name}`,
    resourceVersion: String(version),
    creationTimestamp: '2026-11-30T00:00:00Z',
    labels: { 'kubiya.ai/workflow': 'w', 'kubiya.ai/run': name },
  };
}

function store(): { readonly runs: KubeRunStore; event: (type: string, obj: KubernetesObject) => Promise<void> } {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: base, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const runs = new KubeRunStore(kc, NS, 'r1');
  const informer = (
    runs as unknown as { informer: { watchHandler: (t: string, o: KubernetesObject) => Promise<void> } }
  ).informer;
  return { runs, event: (type, obj) => informer.watchHandler(type, obj) };
}

const obj = (name: string, version: number, phase?: string): KubernetesObject & { status?: unknown } => ({
  metadata: meta(name, version),
  ...(phase !== undefined ? { status: { phase, steps: [] } } : {}),
});

/** list() against get() for every name ever used, and list() stable while nothing changes. */
function agrees(runs: KubeRunStore, names: readonly string[], why: string): void {
  const listed = runs.list();
  assert.equal(runs.list(), listed, `${why}: list() is the same array while nothing changed`);
  const expected = names.flatMap((n) => {
    const r = runs.get(n);
    return r === undefined ? [] : [r];
  });
  const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);
  assert.deepEqual([...listed].sort(byName), [...expected].sort(byName), why);
  for (const r of listed) assert.equal(r, runs.get(r.name), `${why}: ${r.name} is get()'s very view`);
}

const admitted = (name: string): AdmittedRun =>
  ({ name, ref: { id: 'w', jti: name, runId: name }, workflow: { runId: name } }) as unknown as AdmittedRun;

test('list() answers what get() answers, through every kind of change', async () => {
  const { runs, event } = store();
  const names = ['a', 'b', 'c', 'd'];
  agrees(runs, names, 'empty');
  await event('ADDED', obj('a', 1));
  await event('ADDED', obj('b', 2));
  agrees(runs, names, 'two added');
  await event('MODIFIED', obj('a', 3, 'Running'));
  agrees(runs, names, 'a updated');
  assert.equal(runs.get('a')?.status?.phase, 'Running');
  assert.ok((await runs.create(admitted('c'), 'token-c')).ok);
  agrees(runs, names, 'c created here, not delivered');
  assert.equal(runs.list().length, 3);
  assert.ok((await runs.writeStatus('b', { phase: 'Succeeded', steps: [] } as unknown as RunStatus)).ok);
  agrees(runs, names, 'b written newer than the informer');
  assert.equal(runs.get('b')?.status?.phase, 'Succeeded');
  await event('MODIFIED', obj('b', 4, 'Running'));
  agrees(runs, names, 'an older status of b arrives late');
  assert.equal(runs.get('b')?.status?.phase, 'Succeeded', 'the newer written status stands');
  await event('ADDED', obj('c', 1000, 'Pending'));
  agrees(runs, names, 'c delivered');
  await event('DELETED', obj('a', 1001));
  agrees(runs, names, 'a deleted');
  assert.equal(runs.get('a'), undefined);
  assert.deepEqual(
    runs
      .list()
      .map((r) => r.name)
      .sort(),
    ['b', 'c'],
  );
});

test('a relist that drops a run drops it from list() too', async () => {
  const { runs, event } = store();
  await event('ADDED', obj('x', 1));
  await event('ADDED', obj('y', 2));
  const lw = (runs as unknown as { informer: { objects: Map<string, Map<string, KubernetesObject>> } }).informer;
  // What ListWatch does on a relist without y: deleteItems → the delete callbacks.
  const cache = (await import('@kubernetes/client-node/dist/cache.js')) as {
    deleteItems: (o: unknown, n: unknown, c: unknown) => typeof lw.objects;
  };
  const callbacks = (lw as unknown as { callbackCache: Record<string, unknown[]> }).callbackCache.delete;
  lw.objects = cache.deleteItems(lw.objects, [obj('x', 1)], callbacks);
  agrees(runs, ['x', 'y'], 'relisted without y');
  assert.deepEqual(
    runs.list().map((r) => r.name),
    ['x'],
  );
});
