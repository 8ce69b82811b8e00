/**
 * Red team 13 on the create-time wait (red team 12, finding 3; docs/reviews/2026-12-02-red-team-13.md).
 *
 * Finding 1, the class: one rule kept in two lists. The gate's codes were written twice
 * (`GATE_CODES` in src/app/pod-security-gate.ts, `WAIT_AT_CREATE` in src/errors/waits.ts); now one
 * list (`POD_SECURITY_REFUSALS`), to which `refusalCode`'s return type is bound. Variants: every
 * state kind of the gate, every code of the catalogue through `quietGateProblems`.
 *
 * Finding 2, the class: a reader of the audit log that takes every `error` record for an end. A
 * waited create is an `error` record that ends nothing; the control plane skipped it, the HTML
 * report's run verdict did not (a run that waited once and then succeeded read "error"). Variants
 * (fast-check): the real reconcile pass behind the real gate, gate answers and workflow shapes as in
 * pod-security-create-wait.test.ts; after every pass both readers are asked about the records so far.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { eventOf } from '../../src/adapters/control-plane-event.ts';
import { quietGateProblems } from '../../src/app/pod-security-gate.ts';
import { refusalCode, type PodSecurityState } from '../../src/app/pod-security.ts';
import { runsOf } from '../../src/audit/report-model.ts';
import { verdict } from '../../src/audit/report-runs.ts';
import { renderReport } from '../../src/audit/report.ts';
import { POD_SECURITY_REFUSALS, WAIT_AT_CREATE } from '../../src/errors/waits.ts';
import { ERROR_CODES } from '../../src/errors/codes.ts';
import type { RunnerError } from '../../src/errors/result.ts';
import { runDone, type RunStatus } from '../../src/run/status.ts';
import { admitted, gateShape, pass, setup, shapeSteps, type Gate } from '../support/gate-pass.ts';
import type { MemoryAudit } from '../support/memory.ts';
import { NOW, RUNNER } from '../support/tokens.ts';

describe('finding 1: the gate codes are one list', () => {
  const STATES: PodSecurityState[] = [
    { kind: 'unprobed' },
    { kind: 'off' },
    { kind: 'enforced', level: 'restricted' },
    { kind: 'not-enforced', detail: 'baseline' },
    { kind: 'unknown', detail: 'timeout' },
  ];
  test('every code the gate refuses with is a wait code, and every listed code is one the gate uses', () => {
    const used = new Set(STATES.map(refusalCode).filter((c) => c !== undefined));
    assert.deepEqual([...used].sort(), [...POD_SECURITY_REFUSALS].sort());
    for (const code of used) assert.ok(WAIT_AT_CREATE.has(code), code);
  });
  test('quietGateProblems silences exactly the listed codes (every code of the catalogue)', () => {
    const heard: string[] = [];
    const observer = quietGateProblems({ problem: (e: RunnerError) => void heard.push(e.code) } as never);
    for (const code of ERROR_CODES) observer.problem?.({ code, message: 'm' });
    const silenced = ERROR_CODES.filter((c) => !heard.includes(c));
    assert.deepEqual(silenced.sort(), [...POD_SECURITY_REFUSALS].sort());
  });
});

/** The run's records so far as the HTML report groups them. */
const records = (audit: MemoryAudit) => audit.records.map((record) => ({ record, chain: 'audit-0' }));

describe('finding 2: a waited create is not read as an end', () => {
  test('regression: waited once at create, then succeeded → the report says succeeded (it said error)', async () => {
    const { deps } = setup(['open', 'unknown']);
    const name = await admitted(deps, [{ name: 'analyze', image: 'python:3.11-slim' }]);
    const audit = deps.audit as MemoryAudit;
    await pass(deps, name);
    const [waiting] = runsOf(records(audit));
    assert.ok(waiting !== undefined);
    assert.equal(verdict(waiting), 'waiting');
    await pass(deps, name);
    const last = await pass(deps, name);
    assert.equal(last.status?.phase, 'Succeeded');
    const [run] = runsOf(records(audit));
    assert.ok(run !== undefined);
    assert.equal(verdict(run), 'succeeded');
    const page = renderReport({
      title: 't',
      chains: [],
      records: records(audit),
      findings: [],
      generatedAt: NOW.toISOString(),
    });
    assert.match(page, /— <span class="ok">succeeded<\/span>/);
  });

  test('regression (same class): a first attempt failed and retried, then succeeded → succeeded (it said failed)', async () => {
    const { clock, deps } = setup([], new Set(), new Set(['flaky']));
    const name = await admitted(deps, [{ name: 'flaky', image: 'x:1', retries: { limit: 1, backoff: '1s' } }]);
    let status: RunStatus | undefined;
    for (let i = 0; i < 8 && !(status !== undefined && runDone(status.phase)); i++) {
      ({ status } = await pass(deps, name));
      clock.advance(2);
    }
    assert.equal(status?.phase, 'Succeeded');
    const audit = deps.audit as MemoryAudit;
    assert.ok(audit.records.some((r) => r.stage === 'finish' && r.code === 'STEP_ATTEMPT_FAILED'));
    const [run] = runsOf(records(audit));
    assert.ok(run !== undefined);
    assert.equal(verdict(run), 'succeeded');
  });

  test('property: after every pass, verdict is waiting iff a step waits; no Error event; one Running event per pod', async () => {
    await fc.assert(
      fc.asyncProperty(gateShape, async (shape) => {
        const { answers, steps } = shape;
        const { granted, retried, steps: wf } = shapeSteps(shape);
        const { clock, deps, cluster } = setup(answers, granted, retried);
        const name = await admitted(deps, wf);
        const audit = deps.audit as MemoryAudit;
        let status: RunStatus | undefined;
        for (let i = 0; i < answers.length + 8 * steps + 4 && !(status !== undefined && runDone(status.phase)); i++) {
          ({ status } = await pass(deps, name));
          const [run] = runsOf(records(audit));
          assert.ok(run !== undefined);
          const waits = (status?.steps ?? []).some(
            (s) => s.phase === 'Pending' && /^waiting to start/.test(s.message ?? ''),
          );
          const v = verdict(run);
          assert.equal(v === 'waiting', waits, `verdict ${v} with steps ${JSON.stringify(status?.steps)}`);
          assert.notEqual(v, 'error');
          clock.advance(2);
        }
        assert.equal(status?.phase, 'Succeeded', JSON.stringify(status));
        const [run] = runsOf(records(audit));
        assert.ok(run !== undefined);
        assert.equal(verdict(run), 'succeeded');
        const events = audit.records.map((r) => eventOf(r, RUNNER)).filter((e) => e !== undefined);
        assert.deepEqual(
          events.filter((e) => e.phase === 'Error'),
          [],
        );
        assert.equal(events.filter((e) => e.phase === 'Running').length, cluster.created.length);
        assert.equal(
          events.filter((e) => e.phase === 'Succeeded').length,
          steps,
          'the final outcome of each step is reported',
        );
      }),
      { numRuns: 150, seed: 1302 },
    );
  });
});

describe('attack: how long a step waits, and what ends it', () => {
  test('closed for an hour: still waiting, no pod, no record per pass; cancel ends it, recorded, and the control plane hears Cancelled', async () => {
    // Open at the first precondition, closed at that create and at every precondition after (720 passes, 5 s apart).
    const { clock, deps, cluster, asked } = setup(['open', 'not-enforced', ...Array<Gate>(720).fill('not-enforced')]);
    const name = await admitted(deps, [{ name: 'a', image: 'x:1', timeout: '60s' }]);
    const audit = deps.audit as MemoryAudit;
    let last: { status: RunStatus | undefined; requeue?: number } = { status: undefined };
    let afterFirst = 0;
    for (let i = 0; i < 720; i++) {
      last = await pass(deps, name);
      if (i === 0) afterFirst = audit.records.length;
      clock.advance(5);
    }
    assert.equal(audit.records.length, afterFirst, 'the wait adds no record per pass');
    assert.equal(asked.create, 1, 'the precondition held every later pass back');
    assert.equal(last.status?.phase, 'Running', 'no deadline ends it: the step timeout counts from its pod');
    assert.equal(last.status?.steps[0]?.phase, 'Pending');
    assert.equal(last.requeue, 5000);
    assert.equal(cluster.created.length, 0);
    const before = audit.records.length;
    await (deps.runs as unknown as { requestCancel(n: string): Promise<unknown> }).requestCancel(name);
    const cancelled = await pass(deps, name);
    assert.equal(cancelled.status?.phase, 'Cancelled', JSON.stringify(cancelled.status));
    const added = audit.records.slice(before);
    assert.ok(
      added.some((r) => r.stage === 'finish' && r.step === 'a' && r.code === 'STEP_CANCELLED'),
      JSON.stringify(added.map((r) => [r.stage, r.step, r.code])),
    );
    const events = audit.records.map((r) => eventOf(r, RUNNER)).filter((e) => e !== undefined);
    assert.equal(events.at(-1)?.phase, 'Cancelled');
    assert.deepEqual(
      events.filter((e) => e.phase === 'Error'),
      [],
    );
  });
});
