/**
 * Red team 12, finding 3: a create-time PodSecurity refusal must not end the step.
 *
 * The class: a refusal that describes the cluster's state now (retryable), at the create stage,
 * taken as a terminal verdict on the step. Its members here are the gate's codes
 * (POD_SECURITY_NOT_ENFORCED, POD_SECURITY_UNKNOWN; src/errors/waits.ts), which the gate returns
 * before any API call. The gate is asked twice per step start: at the pass's precondition
 * (`ensureStepDns`) and at `pods.create`; its state may change between the two and between passes.
 * Variants (fast-check): sequences of gate answers, one per question, over workflows of 1–3 steps
 * (parallel or chained, granted egress or DNS only, retried after a failed first attempt or not).
 * The real reconcile pass and the real `gatedDeps` over the in-memory twins of the ports.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { eventOf } from '../../src/adapters/control-plane-event.ts';
import { WAIT_AT_CREATE, waitsAtCreate } from '../../src/errors/waits.ts';
import { ATTEMPT_ANNOTATION, LABELS } from '../../src/pod/names.ts';
import { runDone, stepDone, type RunStatus } from '../../src/run/status.ts';
import { admit } from '../../src/admission/admit.ts';
import { gatedDeps } from '../../src/app/pod-security-gate.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import {
  admitted,
  createRecords,
  GATE_CODE,
  gateShape,
  pass,
  setup,
  shapeSteps,
  type Gate,
} from '../support/gate-pass.ts';
import { MemoryPods, memoryCluster, type MemoryAudit } from '../support/memory.ts';
import { NOW, RUNNER, sign, testKeys } from '../support/tokens.ts';

describe('a PodSecurity refusal at create: the step waits, it does not end', () => {
  test('regression: open at the precondition, unknown at the create → Pending, no pod, one create record, requeue 5 s; then it runs', async () => {
    const { deps, cluster, asked } = setup(['open', 'unknown']);
    const name = await admitted(deps, [{ name: 'analyze', image: 'python:3.11-slim' }]);
    const first = await pass(deps, name);
    assert.deepEqual(asked, { precondition: 1, create: 1 });
    const step = first.status?.steps[0];
    assert.equal(step?.phase, 'Pending', JSON.stringify(first.status));
    assert.equal(step?.code, undefined);
    assert.equal(step?.attempt, undefined);
    assert.match(step?.message ?? '', /^waiting to start \(POD_SECURITY_UNKNOWN\): /);
    assert.notEqual(first.status?.phase, 'Failed');
    assert.equal(first.requeue, 5000);
    assert.equal(cluster.created.length, 0, 'no pod while the gate is closed');
    const records = createRecords(deps);
    assert.deepEqual(
      records.map((r) => [r.outcome, r.code]),
      [['error', 'POD_SECURITY_UNKNOWN']],
    );
    assert.match(records[0]?.message ?? '', /was not created, the step waits$/);
    // The next pass (gate open) decides it again and starts it; the one after sees it end.
    const second = await pass(deps, name);
    assert.equal(second.status?.steps[0]?.phase, 'Running');
    const third = await pass(deps, name);
    assert.equal(third.status?.phase, 'Succeeded', JSON.stringify(third.status));
    assert.equal(cluster.created.length, 1);
    assert.deepEqual(
      createRecords(deps).map((r) => [r.outcome, r.code]),
      [
        ['error', 'POD_SECURITY_UNKNOWN'],
        ['allow', undefined],
      ],
    );
    const decided = (deps.audit as MemoryAudit).records.filter((r) => r.stage === 'evaluate' && r.step === 'analyze');
    assert.equal(decided.length, 2, 'decided again on the pass that created the pod');
  });

  test('a retried step refused at create keeps its attempt and ended attempts, without its past retryAt', async () => {
    const { clock, deps, cluster, answer } = setup([], new Set(), new Set(['flaky']));
    const name = await admitted(deps, [{ name: 'flaky', image: 'x:1', retries: { limit: 1, backoff: '5s' } }]);
    await pass(deps, name); // attempt 1 created
    const failed = await pass(deps, name); // attempt 1 failed: attempt 2 waits 5 s
    assert.equal(failed.status?.steps[0]?.attempt, 2);
    clock.advance(6);
    answer('open', 'not-enforced');
    const waiting = await pass(deps, name);
    const step = waiting.status?.steps[0];
    assert.equal(step?.phase, 'Pending');
    assert.equal(step?.attempt, 2);
    assert.equal(step?.attempts?.length, 1);
    assert.equal(step?.retryAt, undefined);
    assert.equal(waiting.requeue, 5000, 'not at once (a past retryAt would requeue in 50 ms)');
    assert.equal(cluster.created.length, 1, 'attempt 2 not created');
    const done = await pass(deps, name);
    assert.equal(done.status?.steps[0]?.phase, 'Running');
    assert.equal((await pass(deps, name)).status?.phase, 'Succeeded');
  });
});

test('through the Reconciler (its status hold, real timers): the run waits, then succeeds with one pod', async () => {
  const answers: Gate[] = ['open', 'unknown'];
  const cluster = new MemoryPods();
  const gated = gatedDeps({ ...memoryCluster(cluster) } as unknown as PipelineDeps, () => {
    const next = answers.shift() ?? 'open';
    return next === 'open' ? undefined : { code: 'POD_SECURITY_UNKNOWN', message: 'cannot be told (test)' };
  });
  const { key, keys } = await testKeys();
  const r = await memoryRunner({ keys, pods: gated.pods, objects: gated.objects, logs: cluster });
  try {
    const run = await admit({ body: await sign(key), contentType: 'application/jwt' }, r.deps);
    assert.ok(run.ok);
    r.reconciler.enqueue(run.value.name);
    const done = await r.reconciler.whenDone(run.value.name, 30_000);
    assert.equal(done?.status?.phase, 'Succeeded', JSON.stringify(done?.status));
    assert.equal(cluster.created.length, 1);
    assert.deepEqual(
      createRecords(r.deps).map((x) => [x.outcome, x.code]),
      [
        ['error', 'POD_SECURITY_UNKNOWN'],
        ['allow', undefined],
      ],
    );
  } finally {
    await r.close();
  }
});

describe('property: whatever the gate answers, and when', () => {
  test('no pod while closed; no step ends with a gate code; every step runs once it stays open; one create record per create', async () => {
    await fc.assert(
      fc.asyncProperty(gateShape, async (shape) => {
        const { answers, steps } = shape;
        const { names, granted, retried, steps: wf } = shapeSteps(shape);
        const { clock, deps, cluster, created, asked } = setup(answers, granted, retried);
        const name = await admitted(deps, wf);
        let status: RunStatus | undefined;
        // Bounded: every answer closes at most one question; each step needs at most 2 attempts × 2 passes.
        for (let i = 0; i < answers.length + 8 * steps + 4 && !(status !== undefined && runDone(status.phase)); i++) {
          ({ status } = await pass(deps, name));
          for (const s of status?.steps ?? []) {
            assert.doesNotMatch(s.code ?? '', GATE_CODE, `step ${s.name} carries a gate code`);
            if (s.phase === 'Pending')
              assert.ok(
                ![...cluster.pods.values()].some(
                  (p) =>
                    p.metadata?.labels?.[LABELS.step] === s.name &&
                    Number(p.metadata.annotations?.[ATTEMPT_ANNOTATION] ?? '1') === (s.attempt ?? 1),
                ),
                `step ${s.name} Pending while its attempt's pod exists`,
              );
            if (s.phase === 'Pending' && (s.attempt ?? 1) === 1)
              assert.ok(
                !cluster.egress.some((e) => e.metadata?.labels?.[LABELS.step] === s.name),
                `step ${s.name} not started, its egress policy left behind`,
              );
            if (stepDone(s)) assert.ok(s.phase === 'Succeeded' || s.phase === 'Skipped' || s.code !== undefined);
          }
          clock.advance(2);
        }
        assert.equal(status?.phase, 'Succeeded', JSON.stringify(status));
        assert.doesNotMatch(status?.code ?? '', GATE_CODE);
        for (const c of created) assert.equal(c.gate, 'open', `pod ${c.pod} created while the gate said ${c.gate}`);
        assert.equal(cluster.egress.length, granted.size, 'one egress policy per granted step');
        const attempts = names.length + retried.size;
        assert.equal(cluster.created.length, attempts, 'one pod per attempt');
        const records = createRecords(deps);
        assert.equal(records.length, asked.create, 'one create record per create');
        assert.equal(records.filter((r) => r.outcome === 'allow').length, attempts);
        for (const r of records.filter((x) => x.outcome !== 'allow')) assert.match(r.code ?? '', GATE_CODE);
        const mutates = (deps.audit as MemoryAudit).records.filter((r) => r.stage === 'mutate');
        assert.equal(mutates.length, asked.create, 'each create decided and recorded once before it');
      }),
      { numRuns: 150, seed: 1203 },
    );
  });
});

describe('the siblings: which create-stage codes wait (docs/operations.md, "Create-stage refusals")', () => {
  // Every code the create stage can end a step with (createStepObjects, the gated ports, the egress render).
  const ENDS = [
    'CREATE_REJECTED',
    'CREATE_FAILED',
    'CREATE_EXISTS',
    'STEP_OBJECT_CONFLICT',
    'STEP_POD_ALTERED',
    'DELETE_FAILED',
    'EGRESS_HOST_UNPINNED',
  ] as const;
  const WAITS = ['POD_SECURITY_NOT_ENFORCED', 'POD_SECURITY_UNKNOWN'] as const;
  test('the gate codes wait; every other create-stage code ends the step', () => {
    for (const code of WAITS) assert.equal(waitsAtCreate(code), true, code);
    for (const code of ENDS) assert.equal(waitsAtCreate(code), false, code);
    assert.deepEqual([...WAIT_AT_CREATE].sort(), [...WAITS].sort());
    assert.equal(waitsAtCreate(undefined), false);
  });
  test('the control plane hears Error for a step that ended at create, nothing for one that waits', () => {
    const record = (code: string) => ({
      decision_id: 'd',
      stage: 'create',
      outcome: 'error',
      code,
      workflow: { id: 'wf-1', runId: 'run-1' },
      step: 'a',
      timestamp: NOW.toISOString(),
    });
    for (const code of WAITS) assert.equal(eventOf(record(code), RUNNER), undefined, code);
    for (const code of ENDS) assert.equal(eventOf(record(code), RUNNER)?.phase, 'Error', code);
  });
});
