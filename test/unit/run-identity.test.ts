/**
 * WorkflowRun identity (issue 13 §1/§2; docs/reviews/2026-11-29-red-team.md findings 7 and 3).
 *
 * (7) The class: a WorkflowRun's name is a function of its assignment's EXACT jti, injective (two
 * jtis never share a name: case, `_` against `-`, truncation) and deterministic (the same jti
 * always gives the same name, so a replay still collides). Variants: case pairs, punctuation
 * DNS-safing maps away, long jtis sharing a prefix; a cancellation reaches only the run whose
 * stored jti is exactly its `cancel`; runs named the old way by an older version keep running only
 * if that version had reconciled them (they have a status).
 *
 * (3) The class: WorkflowRun `create` is equivalent to intake. A run the reconciler has never seen
 * (no status) gets verify and validate records, and intake's claim check (run id reuse) applies,
 * its refusal audited; a copied token still gets VERIFY_RUN_MISMATCH; labels must be the token's.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { admit } from '../../src/admission/admit.ts';
import { cancelRun } from '../../src/admission/cancel.ts';
import { signAssignment, signCancellation } from '../../src/dev/sign.ts';
import { dnsSafeName, runName } from '../../src/pod/names.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});
async function runner() {
  const r = await memoryRunner({ keys, now: () => NOW });
  closers.push(r.close);
  return r;
}
const token = (jti: string, runId = `run-${jti.toLowerCase().replace(/[^a-z0-9]/g, '')}`) =>
  signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: { ...workflow(), runId }, now: NOW, jti });
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Pairs of distinct jtis that the old naming (`dnsSafeName('wr-' + jti)`) mapped to one name. */
const OLD_COLLISIONS: [string, string][] = [
  ['CaseJti', 'casejti'],
  ['x_y', 'x-y'],
  ['a.b', 'a-b'],
  ['a~b', 'a:b'],
  ['a--b', 'a-b'],
  ['-a', 'a'],
  ['j'.repeat(128), `${'j'.repeat(127)}J`],
];

describe('(7) run names are injective in the jti', () => {
  for (const [a, b] of OLD_COLLISIONS) {
    test(`${a.slice(0, 20)} / ${b.slice(0, 20)}: one name before, two now`, () => {
      assert.equal(
        dnsSafeName(`wr-${a}`) === dnsSafeName(`wr-${b}`) || a.length > 60,
        true,
        'the pair collided under the old naming',
      );
      assert.notEqual(runName(a), runName(b));
      assert.equal(runName(a), runName(a), 'the same jti, the same name (a replay collides)');
      assert.match(runName(a), DNS_LABEL);
      assert.ok(runName(a).startsWith('wr-'));
    });
  }
  test('property: distinct jtis, distinct names; every name a DNS label of at most 63', () => {
    const jti = fc.stringMatching(/^[A-Za-z0-9._~:-]{1,128}$/);
    fc.assert(
      fc.property(jti, jti, (a, b) => {
        assert.match(runName(a), DNS_LABEL);
        assert.ok(runName(a).length <= 63);
        assert.equal(runName(a) === runName(b), a === b);
      }),
      { numRuns: 500 },
    );
  });

  test('reported example: CaseJti and casejti are two runs, not a false ASSIGNMENT_REPLAYED', async () => {
    const { deps: d } = await runner();
    const first = await admit({ body: await token('CaseJti', 'run-a') }, d);
    const second = await admit({ body: await token('casejti', 'run-b') }, d);
    assert.ok(first.ok && second.ok, second.ok ? '' : second.error.code);
    assert.notEqual(first.value.name, second.value.name);
    const replay = await admit({ body: await token('casejti', 'run-b') }, d);
    assert.equal(replay.ok ? 'OK' : replay.error.code, 'ASSIGNMENT_REPLAYED');
  });

  test('a cancellation reaches only the run whose jti is exactly its cancel', async () => {
    const { deps: d, reconciler } = await runner();
    d.pods.outcomeFor = () => undefined;
    const admitted = await admit({ body: await token('casejti', 'run-c') }, d);
    assert.ok(admitted.ok);
    for (const other of ['CASEJTI', 'CaseJti', 'case_jti']) {
      const r = await cancelRun(
        { body: await signCancellation(key, { issuer: ISSUER, audience: RUNNER, run: other, now: NOW }) },
        d,
      );
      assert.equal(r.ok ? 'OK' : r.error.code, 'RUN_NOT_FOUND', other);
    }
    assert.equal(d.runs.get(admitted.value.name)?.cancelRequested, false);
    // A run whose stored jti is not its name's (a collision, or a hand-made run) is not a target either.
    const other = await token('other', 'run-o');
    d.runs.put({
      name: runName('victim'),
      uid: 'u-v',
      createdAt: NOW,
      workflowId: 'wf-1',
      runId: 'run-o',
      token: other,
      cancelRequested: false,
      status: { phase: 'Failed', steps: [] } as never,
    });
    const v = await cancelRun(
      { body: await signCancellation(key, { issuer: ISSUER, audience: RUNNER, run: 'victim', now: NOW }) },
      d,
    );
    assert.equal(v.ok ? 'OK' : v.error.code, 'RUN_NOT_FOUND');
    assert.equal(d.runs.get(runName('victim'))?.cancelRequested, false);
    const exact = await cancelRun(
      { body: await signCancellation(key, { issuer: ISSUER, audience: RUNNER, run: 'casejti', now: NOW }) },
      d,
    );
    assert.ok(exact.ok);
    assert.equal(d.runs.get(admitted.value.name)?.cancelRequested, true);
    await reconciler.whenDone(admitted.value.name, 5000);
  });

  test('upgrade: a run named the old way runs on only if an older version had reconciled it (it has a status)', async () => {
    const { deps: d, reconciler } = await runner();
    // The key is trusted as intake would have made it (admit another token first).
    assert.ok((await admit({ body: await token('seed', 'run-seed') }, d)).ok);
    const reconciled = await token('Legacy_1', 'run-l1');
    d.runs.put({
      name: dnsSafeName('wr-Legacy_1'),
      uid: 'u-l1',
      createdAt: NOW,
      workflowId: 'wf-1',
      runId: 'run-l1',
      token: reconciled,
      cancelRequested: false,
      status: { phase: 'Running', summary: '0/1 succeeded', steps: [{ name: 'analyze', phase: 'Pending' }] } as never,
    });
    const fresh = await token('Legacy_2', 'run-l2');
    d.runs.put({
      name: dnsSafeName('wr-Legacy_2'),
      uid: 'u-l2',
      createdAt: NOW,
      workflowId: 'wf-1',
      runId: 'run-l2',
      token: fresh,
      cancelRequested: false,
    });
    const [a, b] = await Promise.all([
      reconciler.whenDone(dnsSafeName('wr-Legacy_1'), 5000),
      reconciler.whenDone(dnsSafeName('wr-Legacy_2'), 5000),
    ]);
    assert.equal(a?.status?.phase, 'Succeeded');
    assert.equal(b?.status?.code, 'VERIFY_RUN_MISMATCH');
  });
});

describe('(3) a WorkflowRun made by hand is admitted as intake would admit it', () => {
  test('reported example: a genuine, never-admitted token runs, with verify and validate records (its claim check passed)', async () => {
    const { deps: d, reconciler } = await runner();
    assert.ok((await admit({ body: await token('jti-1', 'run-1') }, d)).ok);
    const never = await token('jti-2', 'run-2');
    d.runs.put({
      name: runName('jti-2'),
      uid: 'u-2',
      createdAt: NOW,
      workflowId: 'wf-1',
      runId: 'run-2',
      token: never,
      cancelRequested: false,
    });
    const done = await reconciler.whenDone(runName('jti-2'), 5000);
    assert.equal(done?.status?.phase, 'Succeeded');
    const stages = d.audit.records.filter((r) => r.workflow?.jti === 'jti-2').map((r) => `${r.stage}:${r.outcome}`);
    assert.deepEqual(stages.slice(0, 3), ['verify:allow', 'validate:allow', 'evaluate:allow']);
    assert.ok(stages.includes('create:allow') && stages.includes('finish:success'), stages.join(' '));
  });

  test("a hand-made run with a genuine token reusing an older run's run id fails ASSIGNMENT_RUN_ID_REUSED, audited, nothing created", async () => {
    const { deps: d, reconciler } = await runner();
    const admitted = await admit({ body: await token('jti-1', 'run-1') }, d);
    assert.ok(admitted.ok);
    await reconciler.whenDone(admitted.value.name, 5000);
    const pods = d.pods.created.length;
    const reuse = await token('jti-3', 'run-1');
    d.runs.put({
      name: runName('jti-3'),
      uid: 'u-3',
      createdAt: new Date(NOW.getTime() + 1000),
      workflowId: 'wf-1',
      runId: 'run-1',
      token: reuse,
      cancelRequested: false,
    });
    const done = await reconciler.whenDone(runName('jti-3'), 5000);
    assert.equal(done?.status?.phase, 'Failed');
    assert.equal(done?.status?.code, 'ASSIGNMENT_RUN_ID_REUSED');
    assert.equal(d.pods.created.length, pods, 'no pod for the second run');
    const claim = d.audit.records.find((r) => r.workflow?.jti === 'jti-3' && r.stage === 'claim');
    assert.equal(claim?.outcome, 'deny');
    assert.equal(claim?.code, 'ASSIGNMENT_RUN_ID_REUSED');
    // The older run is untouched by its copy.
    assert.equal(d.runs.get(admitted.value.name)?.status?.phase, 'Succeeded');
  });

  test('two hand-made runs with one run id, created in the same second: exactly one runs', async () => {
    const { deps: d, reconciler } = await runner();
    assert.ok((await admit({ body: await token('seed', 'run-seed') }, d)).ok);
    for (const jti of ['twin-a', 'twin-b'])
      d.runs.put({
        name: runName(jti),
        uid: `u-${jti}`,
        createdAt: NOW,
        workflowId: 'wf-1',
        runId: 'run-twin',
        token: await token(jti, 'run-twin'),
        cancelRequested: false,
      });
    const ends = await Promise.all(['twin-a', 'twin-b'].map((j) => reconciler.whenDone(runName(j), 5000)));
    assert.deepEqual(ends.map((e) => e?.status?.code ?? e?.status?.phase).sort(), [
      'ASSIGNMENT_RUN_ID_REUSED',
      'Succeeded',
    ]);
  });

  test("labels that are not the token's: VERIFY_RUN_MISMATCH, nothing created", async () => {
    const { deps: d, reconciler } = await runner();
    const seed = await admit({ body: await token('seed', 'run-seed') }, d);
    assert.ok(seed.ok);
    await reconciler.whenDone(seed.value.name, 5000);
    const pods = d.pods.created.length;
    const t = await token('jti-4', 'run-4');
    d.runs.put({
      name: runName('jti-4'),
      uid: 'u-4',
      createdAt: NOW,
      workflowId: 'wf-1',
      runId: 'run-other',
      token: t,
      cancelRequested: false,
    });
    d.runs.put({
      name: runName('jti-5'),
      uid: 'u-5',
      createdAt: NOW,
      workflowId: 'wf-other',
      runId: 'run-5',
      token: await token('jti-5', 'run-5'),
      cancelRequested: false,
    });
    const ends = await Promise.all([runName('jti-4'), runName('jti-5')].map((n) => reconciler.whenDone(n, 5000)));
    assert.deepEqual(
      ends.map((e) => e?.status?.code),
      ['VERIFY_RUN_MISMATCH', 'VERIFY_RUN_MISMATCH'],
    );
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(d.pods.created.length, pods);
  });
});
