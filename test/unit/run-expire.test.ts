// The class (red team 17, finding 3): state that only grows. Every finished WorkflowRun stayed for
// ever, in etcd with its whole token and in the runner's informer cache. A finished, cleaned run is
// now deleted after workflow.retainFinished (src/reconcile/expire.ts), and never while its token
// could still verify: its create conflict is what refuses a replay (ASSIGNMENT_REPLAYED), so after
// the deletion a replay must be refused at verify (expired / too old), whatever the config.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeJwt } from 'jose';
import { KubeRunStore } from '../../src/adapters/kube-runs.ts';
import { RunViews, tokenStub, type WorkflowRunResource } from '../../src/adapters/run-views.ts';
import { CLOCK_TOLERANCE_BOUNDS, VERIFY_WINDOW_BOUNDS } from '../../src/config/schema-control-plane.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { RunnerError } from '../../src/errors/result.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { RunObject } from '../../src/ports/runs.ts';
import { expiryDueMs, replayBoundMs } from '../../src/reconcile/expire.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { verifyAssignment } from '../../src/verify/verify.ts';
import type { ConfigOverrides } from '../support/config.ts';
import { loopbackKubeConfig } from '../support/api-stand-in.ts';
import { Clock } from '../support/memory.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, testKeys, verifyOptions, workflow } from '../support/tokens.ts';
import { waitFor } from '../support/wait.ts';

const { key, keys } = await testKeys();
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

const DAY = VERIFY_WINDOW_BOUNDS.max;
const TOL = CLOCK_TOLERANCE_BOUNDS.max;
const T0 = Math.floor(NOW.getTime() / 1000);

/** A compact JWS with exactly these claims (the signature is irrelevant to the bound). */
const tokenWith = (claims: Record<string, unknown>) =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

function runOf(token: string, createdAt = NOW): RunObject {
  return { name: 'wr-x', uid: 'uid-x', createdAt, workflowId: 'wf-1', runId: 'run-1', token, cancelRequested: false };
}
const finished = (at: number, cleaned?: number): RunStatus => ({
  phase: 'Succeeded',
  summary: 'done',
  steps: [],
  finishedAt: new Date(at * 1000).toISOString(),
  ...(cleaned === undefined ? {} : { cleanedAt: new Date(cleaned * 1000).toISOString() }),
});

describe('replayBoundMs / expiryDueMs: when a finished run may be deleted', () => {
  // [case, token claims (undefined: not a JWT), finishedAt, retain s, expected due (epoch s)]
  const table: [string, Record<string, unknown> | undefined, number, number, number][] = [
    ['short exp, short retain: the token bound', { iat: T0, exp: T0 + 300 }, T0 + 10, 2, T0 + 300 + TOL + 1],
    ['short exp, long retain: the retention', { iat: T0, exp: T0 + 300 }, T0 + 10, 7 * DAY, T0 + 10 + 7 * DAY],
    ['exp ten years ahead: iat + 24 h bounds it', { iat: T0, exp: T0 + 3650 * DAY }, T0 + 10, 60, T0 + DAY + TOL + 1],
    ['exp exactly iat + 24 h', { iat: T0, exp: T0 + DAY }, T0, 1, T0 + DAY + TOL + 1],
    ['no exp: iat + 24 h', { iat: T0 }, T0, 1, T0 + DAY + TOL + 1],
    ['no iat: exp', { exp: T0 + 600 }, T0, 1, T0 + 600 + TOL + 1],
    ['claims of the wrong type: the run creation', { iat: 'x', exp: null }, T0, 1, T0 + DAY + TOL + 1],
    ['undecodable token: the run creation + 24 h', undefined, T0, 1, T0 + DAY + TOL + 1],
    ['undecodable, long retain: the retention', undefined, T0, 2 * DAY, T0 + 2 * DAY],
  ];
  for (const [name, claims, fin, retain, due] of table)
    test(name, () => {
      const token = claims === undefined ? 'not-a-jwt' : tokenWith(claims);
      assert.equal(expiryDueMs(runOf(token), finished(fin, fin + 1), retain), due * 1000);
    });

  test("a cleaned run's cached stub gives the same bound as its token", async () => {
    const token = await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: workflow(), now: NOW });
    assert.equal(replayBoundMs(tokenStub(token), NOW), replayBoundMs(token, NOW));
    assert.equal(replayBoundMs(token, NOW), (T0 + 300 + TOL + 1) * 1000);
  });

  test('no finishedAt: counted from cleanedAt, then from the creation', () => {
    const token = tokenWith({ iat: T0 - 10 * DAY, exp: T0 - 10 * DAY + 300 });
    const cleaned: RunStatus = {
      phase: 'Failed',
      summary: 'x',
      steps: [],
      cleanedAt: new Date((T0 + 50) * 1000).toISOString(),
    };
    assert.equal(expiryDueMs(runOf(token), cleaned, 100), (T0 + 150) * 1000);
    assert.equal(expiryDueMs(runOf(token), { phase: 'Failed', summary: 'x', steps: [] }, 100), (T0 + 100) * 1000);
  });

  test('property: due is after finishedAt + retain and after the token bound; nothing under it in either', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4e9 }),
        fc.option(fc.integer({ min: -DAY, max: 400 * DAY })),
        fc.integer({ min: -DAY, max: DAY }),
        fc.integer({ min: 1, max: 2_147_483 }),
        (iat, expAfter, finishedAfter, retain) => {
          const claims = expAfter === null ? { iat } : { iat, exp: iat + expAfter };
          const due = expiryDueMs(runOf(tokenWith(claims)), finished(iat + finishedAfter), retain);
          const bound = Math.min(expAfter === null ? Infinity : iat + expAfter, iat + DAY) + TOL + 1;
          assert.equal(due, Math.max(iat + finishedAfter + retain, bound) * 1000);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('property: at the bound a genuine token verifies under no allowed configuration; one second before, it may', async () => {
    // The widest configuration the schema accepts: the longest maximum age, the widest tolerance.
    const widest = { ...verifyOptions(), maxTokenAgeSeconds: DAY, clockToleranceSeconds: TOL };
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 * DAY }), async (ttlSeconds) => {
        const token = await signAssignment(key, {
          issuer: ISSUER,
          audience: RUNNER,
          workflow: workflow(),
          now: NOW,
          ttlSeconds,
          jti: 'jti-prop',
        });
        const bound = replayBoundMs(token, NOW);
        const at = (ms: number) => verifyAssignment(token, widest, { keys, now: () => new Date(ms) });
        const late = await at(bound);
        assert.equal(late.ok, false);
        if (!late.ok) assert.ok(['VERIFY_EXPIRED', 'VERIFY_TOO_OLD'].includes(late.error.code), late.error.code);
        assert.equal((await at(bound - 1001)).ok, true, 'the bound is tight: one second earlier it still verifies');
      }),
      { numRuns: 40 },
    );
  });
});

/** A memory runner whose clock is moved by hand. */
async function runner(clock: Clock, config: ConfigOverrides, over: Partial<PipelineDeps> = {}) {
  const r = await memoryRunner({ keys, now: clock.now, ...over }, config);
  closers.push(r.close);
  return r;
}
let jti = 0;
const signedAt = (now: Date, runId = 'run-1', ttlSeconds = 300) =>
  signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: { ...workflow(), runId },
    now,
    ttlSeconds,
    jti: `jti-expire-${++jti}`,
  });

describe('the expire step of the reconcile pass (in-memory ports)', () => {
  test('a finished run is cleaned after the TTL, kept until its token is dead, then deleted; its replay is refused at verify and runs nothing', async () => {
    const clock = new Clock(NOW);
    const {
      deps: d,
      run,
      reconciler,
    } = await runner(clock, {
      runner: { workflow: { ttlAfterFinished: 60, retainFinished: 120 } },
    });
    const token = await signedAt(NOW);
    const report = await run({ body: token });
    assert.equal(report.phase, 'Succeeded');
    const name = d.runs.list()[0]?.name ?? '';
    const pass = async (seconds: number) => {
      clock.advance(seconds);
      reconciler.enqueue(name);
      await new Promise((resolve) => setTimeout(resolve, 50));
    };
    await pass(61);
    await waitFor('cleaned', () => d.runs.get(name)?.status?.cleanedAt !== undefined);
    assert.equal(d.pods.pods.size, 0);
    // Before the retention: kept, and a replay is refused by the API server's create conflict.
    assert.equal((await run({ body: token })).code, 'ASSIGNMENT_REPLAYED');
    await pass(60); // 121 s: past retainFinished, but the token verifies until iat + 300 + 300 s
    assert.ok(d.runs.get(name) !== undefined, 'not deleted while its token can verify');
    await pass(600 - 121); // 600 s: the bound itself; jose still accepts an age of exactly 24 h + tolerance
    assert.ok(d.runs.get(name) !== undefined);
    await pass(2); // 602 s
    await waitFor('deleted', () => d.runs.get(name) === undefined);
    assert.deepEqual(d.runs.deleted, [name]);
    // The replay: no WorkflowRun stands in its way now; verify refuses it, nothing is created.
    const created = d.pods.created.length;
    const replay = await run({ body: token });
    assert.equal(replay.code, 'VERIFY_EXPIRED');
    assert.equal(d.runs.list().length, 0);
    assert.equal(d.pods.created.length, created);
    assert.deepEqual(
      d.audit.records.filter((r) => r.stage === 'create').length,
      1,
      'the step was created once, never again',
    );
  });

  test('a long retention keeps the run past its token; a delete that fails is reported and tried again', async () => {
    const clock = new Clock(NOW);
    const problems: RunnerError[] = [];
    const {
      deps: d,
      run,
      reconciler,
    } = await runner(
      clock,
      { runner: { workflow: { ttlAfterFinished: 60, retainFinished: 7200 } } },
      {
        observer: {
          recorded: () => undefined,
          workflowsRunning: () => undefined,
          workflowFinished: () => undefined,
          stepFinished: () => undefined,
          problem: (e: RunnerError) => void problems.push(e),
          internalError: (e: unknown) => {
            throw e;
          },
        },
      },
    );
    await run({ body: await signedAt(NOW) });
    const name = d.runs.list()[0]?.name ?? '';
    clock.advance(61);
    reconciler.enqueue(name);
    await waitFor('cleaned', () => d.runs.get(name)?.status?.cleanedAt !== undefined);
    clock.advance(7000);
    reconciler.enqueue(name);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(d.runs.get(name) !== undefined, 'kept until retainFinished is over');
    d.runs.deleteFails = true;
    clock.advance(200);
    reconciler.enqueue(name);
    await waitFor('the failed delete reported', () => problems.some((p) => p.code === 'DELETE_FAILED'));
    assert.ok(d.runs.get(name) !== undefined);
    d.runs.deleteFails = false;
    reconciler.enqueue(name);
    await waitFor('deleted', () => d.runs.get(name) === undefined);
  });

  test('after the deletion a new assignment may reuse the run id (only existing WorkflowRuns are checked)', async () => {
    const clock = new Clock(NOW);
    const {
      deps: d,
      run,
      reconciler,
    } = await runner(clock, {
      runner: { workflow: { ttlAfterFinished: 1, retainFinished: 1 } },
    });
    await run({ body: await signedAt(NOW, 'run-reused') });
    assert.equal((await run({ body: await signedAt(NOW, 'run-reused') })).code, 'ASSIGNMENT_RUN_ID_REUSED');
    const name = d.runs.list()[0]?.name ?? '';
    clock.advance(2);
    reconciler.enqueue(name);
    await waitFor('cleaned', () => d.runs.get(name)?.status?.cleanedAt !== undefined);
    clock.advance(700);
    reconciler.enqueue(name);
    await waitFor('deleted', () => d.runs.get(name) === undefined);
    const again = await run({ body: await signedAt(clock.now(), 'run-reused') });
    assert.equal(again.phase, 'Succeeded');
  });

  test('an unfinished or uncleaned run is never deleted, whatever the clock says', async () => {
    const clock = new Clock(NOW);
    const { deps: d, reconciler } = await runner(clock, {
      runner: { workflow: { ttlAfterFinished: 3600, retainFinished: 3600 } },
    });
    const token = await signedAt(NOW);
    const base = { uid: 'u', createdAt: NOW, workflowId: 'wf-1', token, cancelRequested: false } as const;
    // Finished, its TTL not over yet (nothing cleaned).
    d.runs.put({ ...base, name: 'wr-finished', runId: 'run-f', status: finished(T0) });
    clock.advance(3000);
    reconciler.enqueue('wr-finished');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.ok(d.runs.get('wr-finished') !== undefined);
    assert.deepEqual(d.runs.deleted, []);
  });
});

describe('KubeRunStore.delete: a uid precondition, 404 and 409 done', () => {
  test('DELETE carries preconditions.uid; 404 and 409 are done, 500 is DELETE_FAILED', async () => {
    const seen: { method: string; url: string; body: unknown }[] = [];
    let answer = 200;
    const server = createServer((req: IncomingMessage, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        if (req.method === 'DELETE')
          seen.push({ method: req.method, url: req.url ?? '', body: JSON.parse(text || 'null') });
        res.setHeader('content-type', 'application/json');
        res.writeHead(req.method === 'DELETE' ? answer : 404);
        res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', code: answer }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const store = new KubeRunStore(loopbackKubeConfig(port), 'wf-ns', RUNNER);
      const outcomes: string[] = [];
      for (const code of [200, 404, 409, 500]) {
        answer = code;
        const r = await store.delete('wr-a', 'uid-a');
        outcomes.push(r.ok ? 'ok' : r.error.code);
      }
      assert.deepEqual(outcomes, ['ok', 'ok', 'ok', 'DELETE_FAILED']);
      assert.equal(seen[0]?.url, '/apis/kubiya.ai/v1alpha1/namespaces/wf-ns/workflowruns/wr-a');
      assert.deepEqual(seen[0]?.body, { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: 'uid-a' } });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe("the informer's delete event frees the cached run", () => {
  test('seen(run, deleted) drops it from get and list', async () => {
    const token = await signedAt(NOW);
    const cache = new Map<string, WorkflowRunResource>();
    const views = new RunViews((n) => cache.get(n));
    const run: WorkflowRunResource = {
      metadata: { name: 'wr-1', uid: 'u1', resourceVersion: '5', labels: { 'kubiya.ai/run': 'run-1' } },
      spec: { token },
      status: { ...finished(T0, T0 + 1) },
    };
    cache.set('wr-1', run);
    views.seen(run);
    assert.equal(views.list().length, 1);
    assert.deepEqual(decodeJwt(views.get('wr-1')?.token ?? '').jti, decodeJwt(token).jti);
    cache.delete('wr-1');
    views.seen(run, true);
    assert.equal(views.get('wr-1'), undefined);
    assert.deepEqual(views.list(), []);
  });
});
