// The class (red team 17, finding 3): state that only grows, held in the runner's heap. Finished
// WorkflowRuns stay as the record, and the runs informer caches every one of them; each held its
// stored token (up to controlPlane.maxTokenBytes, 64 KiB by default) for ever: fewer than 4,000 runs
// with 54 KB tokens exhausted the chart's 192 MiB heap. A cleaned run is now kept with a stub in
// place of its token (src/adapters/run-views.ts slimRun): its jti, iat and exp only, never
// verifiable; and the run is deleted after workflow.retainFinished (test/unit/run-expire.test.ts).
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import { RunViews, slimRun, tokenStub, type WorkflowRunResource } from '../../src/adapters/run-views.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { cancelTarget } from '../../src/pipeline/verified.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { verifyAssignment } from '../../src/verify/verify.ts';
import { ISSUER, NOW, RUNNER, testKeys, verifyOptions, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();

/** A WorkflowRun as the API server sends it (a fresh parse: its strings its own). */
function resource(name: string, token: string, status: Record<string, unknown> | undefined): WorkflowRunResource {
  return JSON.parse(
    JSON.stringify({
      apiVersion: 'kubiya.ai/v1alpha1',
      kind: 'WorkflowRun',
      metadata: {
        name,
        uid: `uid-${name}`,
        resourceVersion: '7',
        labels: { 'kubiya.ai/runner': RUNNER, 'kubiya.ai/workflow': 'wf-1', 'kubiya.ai/run': `run-${name}` },
        managedFields: [{ manager: 'kubernetes-client-javascript', operation: 'Update' }],
      },
      spec: { token, workflowId: 'wf-1', runner: RUNNER },
      ...(status === undefined ? {} : { status }),
    }),
  ) as WorkflowRunResource;
}

const FINISHED = { phase: 'Succeeded', steps: [], finishedAt: '2026-06-01T12:00:05Z' };
const CLEANED = { ...FINISHED, cleanedAt: '2026-06-01T13:00:05Z' };

async function signed(jti: string, pad = 0): Promise<string> {
  const steps = [{ name: 'a', image: 'python:3.11-slim', env: pad > 0 ? { SCRIPT: 'x'.repeat(pad) } : {} }];
  return signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: workflow(steps), now: NOW, jti });
}

describe('slimRun: a cleaned run is cached without its token', () => {
  test('the token of a cleaned run becomes a stub: its jti, iat and exp only, a few dozen bytes, never verifiable', async () => {
    const token = await signed('jti-clean', 4000);
    const slim = slimRun(resource('r1', token, CLEANED));
    const stub = slim.spec?.token ?? '';
    assert.notEqual(stub, token);
    assert.ok(stub.length < 160, `stub of ${stub.length} characters`);
    const { jti, iat, exp } = decodeJwt(token);
    // iat and exp: what the WorkflowRun's deletion waits for (src/reconcile/expire.ts replayBoundMs).
    assert.deepEqual(decodeJwt(stub), { jti, iat, exp });
    assert.equal(decodeJwt(stub).jti, 'jti-clean');
    const verified = await verifyAssignment(stub, verifyOptions(), { keys, now: () => NOW });
    assert.equal(verified.ok, false, 'a stub never verifies');
    assert.equal(slim.metadata?.managedFields, undefined);
    assert.deepEqual(slim.status, CLEANED, 'the status is kept whole');
    assert.deepEqual(slimRun(slim), slim, 'slimming again changes nothing');
  });

  for (const [name, status] of [
    ['not started (no status)', undefined],
    ['running', { phase: 'Running', steps: [] }],
    ['finished, not yet cleaned (its TTL not over)', FINISHED],
  ] as const)
    test(`${name}: the token is kept as stored`, async () => {
      const token = await signed(`jti-${name.length}`);
      assert.equal(slimRun(resource('r2', token, status)).spec?.token, token);
    });

  test('a stored token that cannot be read gives a stub with no jti', () => {
    for (const bad of ['', 'not-a-jwt', 'a.!!!.c', `x.${Buffer.from('[1]').toString('base64url')}.y`])
      assert.equal(decodeJwt(tokenStub(bad)).jti, undefined, bad);
  });

  test('claims of the wrong type are left out of the stub (a string exp, an infinite iat)', () => {
    // 1e999 in the payload's JSON text parses to Infinity.
    const odd = `x.${Buffer.from('{"jti":7,"iat":"1","exp":1e999}').toString('base64url')}.y`;
    assert.deepEqual(decodeJwt(tokenStub(odd)), {});
  });

  test("a cancellation still finds a cleaned run by its jti, and not by another's", async () => {
    const token = await signed('jti-cancel');
    const views = new RunViews(() => undefined);
    const name = 'wr-jti-cancel';
    views.wrote(name, resource(name, token, CLEANED));
    const runs = { get: (n: string) => views.get(n) } as unknown as PipelineDeps['runs'];
    const deps = { runs } as PipelineDeps;
    const target = cancelTarget('jti-cancel', deps);
    assert.ok(target !== undefined);
    if (target.found !== undefined) assert.equal(target.found.token, tokenStub(token));
  });

  test('heap: 2,000 cleaned runs with 54 KB tokens cost ~1 KB each in the cache, not 54 KB', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const base = await signed('jti-heap', 54_000);
    const cache = new Map<string, WorkflowRunResource>();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 2000; i++) {
      // a distinct 54 KB token per run, as the API server's answers parse into
      const token = `${base.slice(0, -8)}${String(i).padStart(8, '0')}`;
      cache.set(`r${i}`, slimRun(resource(`r${i}`, token, CLEANED)));
    }
    gc();
    const perRun = (process.memoryUsage().heapUsed - before) / 2000;
    assert.ok(cache.size === 2000);
    assert.ok(perRun < 4096, `${Math.round(perRun)} B of heap per cleaned run`);
  });
});
