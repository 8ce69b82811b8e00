/**
 * Retries (issue 19 §5) through the reconcile pass over the in-memory twins.
 *
 * The class of fault: a retried step must get exactly one pod per attempt, each with its own
 * decision and records, whatever interrupts the reconciler — a pass that dies after creating an
 * attempt's pod and before writing the status, a reconciler stopped between two attempts and
 * started again. Variants: the interruption at every pass (status writes that fail), a stop and
 * restart while a retry waits, the policy tightening between attempts, a denied attempt.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { admit } from '../../src/admission/admit.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { fail, type Result } from '../../src/errors/result.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { attemptPodName, ATTEMPT_ANNOTATION, podName } from '../../src/pod/names.ts';
import { reconcileRun } from '../../src/reconcile/reconcile.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { backoffSeconds, MAX_BACKOFF_SECONDS } from '../../src/run/retry.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { validate } from '../../src/validate/validate.ts';
import { testPipelineConfig } from '../support/config.ts';
import {
  Clock,
  engineReturning,
  MemoryAudit,
  MemoryRuns,
  MemoryTrustedKeys,
  memoryCluster,
} from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';
import { waitFor } from '../support/wait.ts';

const { key, keys } = await testKeys();
const allow = () => [{ result: { allow: true, violations: [] } }];

/** MemoryRuns whose status writes fail while `failing` says so (a pass that dies before its write). */
class FlakyRuns extends MemoryRuns {
  failing: (n: number) => boolean = () => false;
  writes = 0;
  override writeStatus(name: string, status: RunStatus): Promise<Result<void>> {
    if (this.failing(++this.writes)) return Promise.resolve(fail('RUN_NOT_FOUND', 'status write lost (test)'));
    return super.writeStatus(name, status);
  }
}

const attemptOfPod = (pod: V1Pod): number => Number(pod.metadata?.annotations?.[ATTEMPT_ANNOTATION] ?? '1');

function setup(policy: () => unknown = allow) {
  const clock = new Clock(NOW);
  let n = 0;
  const cluster = memoryCluster();
  const runs = new FlakyRuns(clock.now);
  const deps = {
    config: testPipelineConfig(),
    keys,
    policy: () => engineReturning(policy),
    audit: new MemoryAudit(),
    ...cluster,
    runs,
    trust: new MemoryTrustedKeys(),
    now: clock.now,
    newId: () => `id-${++n}`,
  } satisfies PipelineDeps;
  /** Attempts up to `failures` fail with exit code 1; later ones succeed. */
  const failFirst = (failures: number): void => {
    cluster.pods.outcomeFor = (pod) =>
      attemptOfPod(pod) <= failures
        ? { phase: 'Failed', exitCode: 1, reason: 'Error' }
        : { phase: 'Succeeded', exitCode: 0, reason: 'Completed' };
  };
  return { clock, deps, pods: cluster.pods, runs, failFirst };
}

let jti = 0;
async function admitted(deps: PipelineDeps, steps: Record<string, unknown>[]): Promise<string> {
  const body = await signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: workflow(steps),
    now: NOW,
    jti: `retry-${++jti}`,
  });
  const run = await admit({ body, contentType: 'application/jwt' }, deps);
  assert.ok(run.ok, JSON.stringify(run));
  return run.value.name;
}

/** One pass, then one turn of the event loop (the in-memory pods end on the next turn). */
async function pass(deps: PipelineDeps, runs: MemoryRuns, name: string): Promise<RunStatus | undefined> {
  const obj = runs.get(name);
  assert.ok(obj !== undefined);
  await reconcileRun(obj, deps, () => true);
  await new Promise((r) => setImmediate(r));
  return runs.get(name)?.status;
}

const retried = { name: 'flaky', image: 'python:3.11', retries: { limit: 2, backoff: '5s' } };

describe('retries: one pod per attempt, each decided and recorded', () => {
  test('the schema bounds retries: limit 0…10, factor 1…4, backoff a duration; unknown keys refused', () => {
    const ok = (r: unknown) => validate(workflow([{ name: 'a', image: 'x:1', retries: r }])).ok;
    assert.equal(ok({ limit: 0 }), true);
    assert.equal(ok({ limit: 10, backoff: '1m', factor: 4 }), true);
    for (const bad of [
      { limit: 11 },
      { limit: -1 },
      { limit: 1.5 },
      { limit: '2' },
      {},
      { limit: 1, backoff: '0s' },
      { limit: 1, backoff: 'soon' },
      { limit: 1, factor: 5 },
      { limit: 1, factor: 0 },
      { limit: 1, onError: 'retry' },
      3,
      null,
    ])
      assert.equal(ok(bad), false, JSON.stringify(bad));
  });

  test('backoff: backoff × factor^(retry − 1), capped at one hour', () => {
    const step = (retries: Record<string, unknown>) => ({ name: 'a', image: 'x:1', retries }) as never;
    assert.deepEqual(
      [2, 3, 4].map((a) => backoffSeconds(step({ limit: 3, backoff: '5s' }), a)),
      [5, 10, 20],
    );
    assert.deepEqual(
      [2, 3].map((a) => backoffSeconds(step({ limit: 3, backoff: 7, factor: 1 }), a)),
      [7, 7],
    );
    assert.equal(backoffSeconds(step({ limit: 10, backoff: '2h', factor: 4 }), 11), MAX_BACKOFF_SECONDS);
    assert.equal(backoffSeconds(undefined, 2), 10);
  });

  test('attempt names are deterministic, distinct per attempt, DNS labels; attempt 1 keeps the old name', () => {
    assert.equal(attemptPodName('run-1', 'a', 1), podName('run-1', 'a'));
    const names = [1, 2, 3, 10, 11].map((a) => attemptPodName('run-1', 'a', a));
    assert.equal(new Set(names).size, names.length);
    assert.equal(attemptPodName('run-1', 'a', 2), attemptPodName('run-1', 'a', 2));
    // The readable forms of (step "a", attempt 12) and (step "a-a1", attempt 2) are close: the hash keeps them apart.
    assert.notEqual(attemptPodName('r', 'a-a1', 2), attemptPodName('r', 'a', 12));
    for (const n of [...names, attemptPodName('r'.repeat(63), 's'.repeat(63), 10)])
      assert.match(n, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
  });

  test('a step that fails twice and then succeeds: three pods, three decisions, backoff waited, history kept', async () => {
    const { clock, deps, pods, runs, failFirst } = setup();
    failFirst(2);
    const name = await admitted(deps, [retried]);
    let status = await pass(deps, runs, name);
    assert.equal(status?.steps[0]?.phase, 'Running');
    status = await pass(deps, runs, name);
    assert.deepEqual(
      [status?.steps[0]?.phase, status?.steps[0]?.attempt, status?.phase],
      ['Pending', 2, 'Running'],
      'a failed attempt with retries left is not the step’s end',
    );
    assert.equal(status?.steps[0]?.retryAt, new Date(NOW.getTime() + 5000).toISOString());
    assert.equal((await pass(deps, runs, name))?.steps[0]?.phase, 'Pending');
    assert.equal(pods.created.length, 1, 'nothing starts before the backoff is over');
    clock.advance(5);
    await pass(deps, runs, name);
    status = await pass(deps, runs, name);
    assert.equal(status?.steps[0]?.retryAt, new Date(clock.at.getTime() + 10_000).toISOString(), 'factor 2');
    clock.advance(10);
    await pass(deps, runs, name);
    status = await pass(deps, runs, name);
    assert.equal(status?.phase, 'Succeeded');
    assert.deepEqual(
      pods.created.map((p) => p.metadata?.name),
      [1, 2, 3].map((a) => attemptPodName('run-1', 'flaky', a)),
    );
    const step = status?.steps[0];
    assert.deepEqual(
      [step?.attempt, step?.pod, step?.attempts?.map((a) => [a.attempt, a.phase, a.exitCode, a.code, a.pod])],
      [
        3,
        attemptPodName('run-1', 'flaky', 3),
        [
          [1, 'Failed', 1, 'STEP_FAILED', attemptPodName('run-1', 'flaky', 1)],
          [2, 'Failed', 1, 'STEP_FAILED', attemptPodName('run-1', 'flaky', 2)],
        ],
      ],
    );
    const rec = deps.audit.records.filter((r) => r.step === 'flaky');
    assert.deepEqual(
      rec.map((r) => `${r.stage}:${r.code ?? r.outcome}:${r.pod?.name === undefined ? '' : attemptOfName(r.pod.name)}`),
      [1, 2, 3].flatMap((a) => [
        `evaluate:allow:`,
        `mutate:allow:${a}`,
        `create:allow:${a}`,
        a < 3 ? `finish:STEP_ATTEMPT_FAILED:${a}` : `finish:success:${a}`,
      ]),
    );
    assert.deepEqual(
      rec.filter((r) => r.stage === 'evaluate').map((r) => (r.input as { attempt?: number }).attempt),
      [1, 2, 3],
      'the policy sees which attempt it decides',
    );
    assert.equal(new Set(rec.filter((r) => r.stage === 'finish').map((r) => r.decision_id)).size, 3);
  });

  test('every attempt failing: the step fails with the last attempt’s code after limit + 1 pods', async () => {
    const { clock, deps, pods, runs, failFirst } = setup();
    failFirst(99);
    const name = await admitted(deps, [retried, { name: 'after', image: 'python:3.11' }]);
    let status: RunStatus | undefined;
    for (let i = 0; i < 20 && status?.phase !== 'Failed'; i++) {
      status = await pass(deps, runs, name);
      clock.advance(30);
    }
    assert.equal(status?.phase, 'Failed');
    assert.deepEqual(
      status?.steps.map((s) => [s.name, s.phase, s.code]),
      [
        ['flaky', 'Failed', 'STEP_FAILED'],
        ['after', 'Skipped', 'STEP_SKIPPED'],
      ],
    );
    assert.equal(pods.created.length, 3);
  });

  test('a step without retries fails on its first failure, as before', async () => {
    const { deps, pods, runs, failFirst } = setup();
    failFirst(99);
    const name = await admitted(deps, [{ name: 'once', image: 'python:3.11' }]);
    await pass(deps, runs, name);
    const status = await pass(deps, runs, name);
    assert.deepEqual([status?.phase, status?.steps[0]?.attempt, pods.created.length], ['Failed', undefined, 1]);
  });

  test('a policy that denies a later attempt stops the retries: Denied, no pod for that attempt', async () => {
    let attempts = 0;
    const { clock, deps, pods, runs, failFirst } = setup(() =>
      ++attempts >= 2
        ? [
            {
              result: {
                allow: false,
                violations: [
                  { code: 'RETRIES_OVER_CAP', message: 'm', path: 'attempt', policy: 'retries', action: 'deny' },
                ],
              },
            },
          ]
        : allow(),
    );
    failFirst(99);
    const name = await admitted(deps, [retried]);
    let status: RunStatus | undefined;
    for (let i = 0; i < 10 && status?.phase !== 'Failed'; i++) {
      status = await pass(deps, runs, name);
      clock.advance(30);
    }
    assert.deepEqual([status?.steps[0]?.phase, status?.steps[0]?.attempt], ['Denied', 2]);
    assert.equal(pods.created.length, 1);
  });

  // The class: a pass interrupted anywhere (here: every pass loses its status write, in turn) never
  // makes a second pod for one attempt, nor a second decision for an attempt whose pod exists.
  for (const [label, failing] of [
    ['every other status write lost', (n: number) => n % 2 === 0],
    ['every status write but each third lost', (n: number) => n % 3 !== 0],
    ['the first five status writes lost', (n: number) => n <= 5],
  ] as const) {
    test(`exactly once per attempt when passes die before their status write (${label})`, async () => {
      const { clock, deps, pods, runs, failFirst } = setup();
      failFirst(2);
      runs.failing = failing;
      const name = await admitted(deps, [retried]);
      let status: RunStatus | undefined;
      for (let i = 0; i < 40 && status?.phase !== 'Succeeded'; i++) {
        status = await pass(deps, runs, name);
        clock.advance(3);
      }
      assert.equal(status?.phase, 'Succeeded');
      assert.deepEqual(
        pods.created.map((p) => p.metadata?.name),
        [1, 2, 3].map((a) => attemptPodName('run-1', 'flaky', a)),
      );
      const evaluated = deps.audit.records.filter((r) => r.stage === 'evaluate');
      assert.equal(evaluated.length, 3, 'one decision per attempt');
      const ends = deps.audit.records.filter((r) => r.stage === 'finish');
      assert.equal(new Set(ends.map((r) => r.decision_id)).size, 3, 'a repeated end keeps its id');
    });
  }

  test('a reconciler stopped between attempts and started again: one pod per attempt', async () => {
    const { clock, deps, pods, runs, failFirst } = setup();
    failFirst(1);
    const name = await admitted(deps, [{ ...retried, retries: { limit: 2, backoff: '1h' } }]);
    const options = { isLeader: () => true, workers: 2, resyncMs: 60_000 };
    const first = new Reconciler(deps, options);
    first.start();
    await waitFor('attempt 1 failed and attempt 2 waits', () => runs.get(name)?.status?.steps[0]?.attempt === 2);
    await first.stop();
    assert.equal(pods.created.length, 1);
    clock.advance(3600);
    const second = new Reconciler(deps, options);
    second.start();
    try {
      await waitFor('the run succeeded', () => runs.get(name)?.status?.phase === 'Succeeded');
    } finally {
      await second.stop();
    }
    assert.deepEqual(
      pods.created.map((p) => p.metadata?.name),
      [1, 2].map((a) => attemptPodName('run-1', 'flaky', a)),
    );
  });
});

function attemptOfName(pod: string): number {
  for (const a of [1, 2, 3, 4]) if (attemptPodName('run-1', 'flaky', a) === pod) return a;
  return 0;
}
