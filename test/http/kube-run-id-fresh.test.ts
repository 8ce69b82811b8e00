/**
 * The run-id check of every admission (src/adapters/kube-runs.ts `runIdTaken`), with the checks of
 * admissions asking at the same time sharing one LIST (`kubiya.ai/run in (…)`, FreshBatches,
 * kube-fresh.ts; issue 20, h-steps-6). Served by a real loopback stand-in for the API server that
 * evaluates the label selector (`=` and `in`) over the WorkflowRuns it holds and can hold a LIST.
 * The classes: "an admission is judged by a LIST that began before it asked" (a run made just
 * before its call missed: a reused run id admitted), and "an admission is judged by another run
 * id's items" (REPLAYED / RUN_ID_REUSED / admitted mixed up inside a shared LIST). Each caller must
 * get exactly what a LIST of its own, made when it asked, would have given: ASSIGNMENT_REPLAYED,
 * ASSIGNMENT_RUN_ID_REUSED or created; and a run id that is no label value is listed alone.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { KubeRunStore } from '../../src/adapters/kube-runs.ts';
import type { PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';
import type { AdmittedRun } from '../../src/run/admitted.ts';
import { pooledKubeConfigAt } from '../support/pooled-stand-in.ts';

const NS = 'wf';
const RUNNER = 'ids-runner';
const runsPath = `/apis/kubiya.ai/v1alpha1/namespaces/${NS}/workflowruns`;

const admitted = (name: string, runId: string): AdmittedRun =>
  ({ name, ref: { id: 'wf', runId, jti: `jti-${name}` }, workflow: { runId } }) as unknown as AdmittedRun;

describe('run-id checks asked at the same time share a LIST, each judged as by a LIST of its own', () => {
  /** The WorkflowRuns the stand-in holds: name → run id label (any runner's). */
  const stored = new Map<string, string>();
  let hold = false;
  const held: (() => void)[] = [];
  const lists: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const answer = (status: number, b: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(b));
      };
      const url = new URL(req.url ?? '', 'http://x');
      if (req.method === 'GET' && url.pathname === runsPath) {
        const selector = url.searchParams.get('labelSelector') ?? '';
        lists.push(selector);
        const eq = /^kubiya\.ai\/run=(.*)$/.exec(selector);
        const set = /^kubiya\.ai\/run in \((.*)\)$/.exec(selector);
        if (eq === null && set === null) return answer(400, { kind: 'Status', code: 400, reason: 'BadRequest' });
        const wanted = new Set(eq !== null ? [eq[1]] : (set?.[1] ?? '').split(','));
        if ([...wanted].some((v) => !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(v ?? '')))
          return answer(400, { kind: 'Status', code: 400, reason: 'BadRequest', message: 'invalid label value' });
        // The answer is the runs as they are when the LIST arrives (a held LIST answers that snapshot).
        const items = [...stored]
          .filter(([, runId]) => wanted.has(runId))
          .map(([name, runId]) => ({ metadata: { name, labels: { 'kubiya.ai/run': runId } } }));
        const send = (): void => answer(200, { kind: 'WorkflowRunList', items });
        if (hold) held.push(send);
        else send();
      } else if (req.method === 'POST' && url.pathname === runsPath) {
        const run = JSON.parse(body) as { metadata: { name: string; labels: Record<string, string> } };
        if (stored.has(run.metadata.name)) return answer(409, { kind: 'Status', code: 409, reason: 'AlreadyExists' });
        stored.set(run.metadata.name, run.metadata.labels['kubiya.ai/run'] ?? '');
        answer(201, { ...run, metadata: { ...run.metadata, uid: `uid-${run.metadata.name}` } });
      } else answer(404, { kind: 'Status', code: 404, reason: 'NotFound' });
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let kc: PooledKubeConfig;

  before(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    kc = pooledKubeConfigAt(port, 5000);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });

  /** Waits (5 s at most: a LIST that never comes fails the test, not hangs it) until the stand-in holds `n` LISTs. */
  const holding = async (n: number): Promise<void> => {
    for (let i = 0; held.length < n; i++) {
      if (i === 1000) assert.fail(`the stand-in holds ${held.length} LIST(s), expected ${n}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const outcome = (r: Awaited<ReturnType<KubeRunStore['create']>>): string => (r.ok ? 'created' : r.error.code);

  test('replayed, reused, free and a run made while the first LIST was in flight: each judged as by a LIST made when it asked', async () => {
    stored.clear();
    lists.length = 0;
    stored.set('run-replayed', 'id-replayed'); // the same WorkflowRun again: ASSIGNMENT_REPLAYED
    stored.set('someone-elses', 'id-reused'); // another run (of any runner) with that run id: REUSED
    const runs = new KubeRunStore(kc, NS, RUNNER);
    hold = true;
    const first = runs.create(admitted('run-first', 'id-first'), 'token');
    await holding(1);
    // Asked while the first LIST is in flight; then another runner makes a run with id-late, still before it is answered.
    const later = Promise.all([
      runs.create(admitted('run-replayed', 'id-replayed'), 'token'),
      runs.create(admitted('run-reuser', 'id-reused'), 'token'),
      runs.create(admitted('run-free', 'id-free'), 'token'),
      runs.create(admitted('run-late', 'id-late'), 'token'),
    ]);
    await new Promise((r) => setTimeout(r, 50));
    stored.set('made-meanwhile', 'id-late');
    held.shift()?.();
    assert.equal(outcome(await first), 'created');
    await holding(1);
    hold = false;
    held.shift()?.();
    assert.deepEqual((await later).map(outcome), [
      'ASSIGNMENT_REPLAYED',
      'ASSIGNMENT_RUN_ID_REUSED',
      'created',
      'ASSIGNMENT_RUN_ID_REUSED',
    ]);
    // One LIST for the first, ONE shared by the four that waited.
    assert.equal(lists.length, 2);
    assert.equal(lists[0], 'kubiya.ai/run=id-first');
    assert.equal(lists[1], 'kubiya.ai/run in (id-replayed,id-reused,id-free,id-late)');
  });

  test('a run id that is no label value is listed alone: its refusal (CREATE_FAILED) never fails the others', async () => {
    stored.clear();
    lists.length = 0;
    hold = false;
    const runs = new KubeRunStore(kc, NS, RUNNER);
    const results = await Promise.all([
      runs.create(admitted('run-a', 'id-a'), 'token'),
      runs.create(admitted('run-bad', 'bad id!'), 'token'),
      runs.create(admitted('run-b', 'id-b'), 'token'),
    ]);
    assert.deepEqual(results.map(outcome), ['created', 'CREATE_FAILED', 'created']);
    assert.ok(lists.includes('kubiya.ai/run=bad id!'), 'the bad run id had a LIST of its own');
  });

  test('checks one after another each LIST again (an answer is never reused)', async () => {
    stored.clear();
    lists.length = 0;
    hold = false;
    const runs = new KubeRunStore(kc, NS, RUNNER);
    assert.equal(outcome(await runs.create(admitted('run-1', 'id-1'), 'token')), 'created');
    assert.equal(outcome(await runs.create(admitted('run-2', 'id-1'), 'token')), 'ASSIGNMENT_RUN_ID_REUSED');
    assert.equal(outcome(await runs.create(admitted('run-1', 'id-1'), 'token')), 'ASSIGNMENT_REPLAYED');
    assert.deepEqual(lists, ['kubiya.ai/run=id-1', 'kubiya.ai/run=id-1', 'kubiya.ai/run=id-1']);
  });
});
