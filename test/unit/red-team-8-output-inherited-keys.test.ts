/**
 * Red team 8, finding 1 (docs/reviews/2026-11-30-red-team-8.md). Class: an output that was NOT
 * written read as if it were, because the lookup of an output by name reads an inherited property
 * of a plain object. The run's status comes back from the API server as plain JSON objects, so a
 * step's `outputs` is `{}` with Object.prototype behind it; `outputs['constructor']` is a function,
 * not undefined. An output may be declared under any C identifier, and every name Object.prototype
 * carries is one (`constructor`, `toString`, `valueOf`, `hasOwnProperty`, `__proto__`, ...).
 *
 * docs/workflows.md promises, for an output the producing step never wrote: a reference is
 * `STEP_OUTPUT_UNRESOLVED` ("nothing runs with a placeholder") and a condition is
 * `STEP_CONDITION_ERROR`. What happens: `substitute` puts the text of a function in the value
 * ("function Object() { [native code] }", "[object Object]" for `__proto__`), and the text check
 * then throws on the function itself (TypeError in hiddenIn): the reconcile pass dies in
 * observer.internalError with no record and no status, and the run never ends. The condition
 * compares the function with the literal, so `!=` is true and the step is started.
 *
 * Variants: every C-identifier name of Object.prototype, through the reconcile's own resolver
 * (`resolveOutputs`, public outputs: no pod read) and through `decideWhen`; a written output of
 * the same name must still resolve to what was written (the control row).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { admit } from '../../src/admission/admit.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { reconcileRun } from '../../src/reconcile/reconcile.ts';
import { resolveOutputs } from '../../src/reconcile/outputs.ts';
import type { AdmittedRun } from '../../src/run/admitted.ts';
import type { StepState } from '../../src/run/status.ts';
import { decideWhen } from '../../src/run/when.ts';
import { validate } from '../../src/validate/validate.ts';
import { testPipelineConfig } from '../support/config.ts';
import { engineReturning, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key: signingKey, keys } = await testKeys();
const R = { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '64Mi' } };

/** Every name an empty object answers through its prototype that a workflow may declare as an output. */
const INHERITED = Object.getOwnPropertyNames(Object.prototype).filter((k) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k));

function runFor(key: string): AdmittedRun {
  const checked = validate({
    id: 'w',
    name: 'w',
    runId: 'r',
    steps: [
      { name: 'a', image: 'alpine:3.19.1', resources: R, outputs: [{ name: key }] },
      {
        name: 'b',
        image: 'alpine:3.19.1',
        resources: R,
        dependsOn: ['a'],
        args: [`--v=\${steps.a.outputs.${key}}`],
        when: `steps.a.outputs.${key} != 'approved'`,
      },
    ],
  });
  assert.ok(checked.ok, `${key}: ${checked.ok ? '' : checked.error.message}`);
  return { name: 'run', ref: { id: 'w', runId: 'r' }, workflow: checked.value };
}

/** The status as the API server hands it back: plain JSON, step a succeeded and wrote `written`. */
const statesOf = (written: Record<string, string>): StepState[] =>
  JSON.parse(JSON.stringify([{ name: 'a', phase: 'Succeeded', outputs: written }])) as StepState[];

// Public outputs only: resolveOutputs reads no pod, so no port is used.
const deps = {} as PipelineDeps;

describe('red team 8 finding 1: an unwritten output named like an Object.prototype member', () => {
  test('the table covers the names', () => {
    assert.ok(INHERITED.includes('constructor') && INHERITED.includes('__proto__') && INHERITED.length >= 8);
  });

  test('control: a written output of such a name resolves to what was written', async () => {
    for (const key of INHERITED) {
      const run = runFor(key);
      const r = await resolveOutputs(run, run.workflow.steps[1]!, statesOf({ [key]: 'v1' }), deps);
      assert.ok(r.ok, key);
      assert.deepEqual(r.value.args, ['--v=v1'], key);
    }
  });

  test('a reference to it is STEP_OUTPUT_UNRESOLVED, never the text of an inherited member', async () => {
    for (const key of INHERITED) {
      const run = runFor(key);
      // Today this throws (TypeError "value is not iterable" in hiddenIn, handed a function): the
      // reconcile pass ends in observer.internalError, with no record and no status; the run hangs.
      let got: string;
      try {
        const r = await resolveOutputs(run, run.workflow.steps[1]!, statesOf({}), deps);
        got = r.ok ? `resolved to ${JSON.stringify(r.value.args)}` : r.error.code;
      } catch (e) {
        got = `threw ${String(e)}`;
      }
      assert.equal(got, 'STEP_OUTPUT_UNRESOLVED', key);
    }
  });

  test('a condition on it cannot be decided (STEP_CONDITION_ERROR), it does not run the step', () => {
    for (const key of INHERITED) {
      const run = runFor(key);
      assert.equal(decideWhen(run.workflow.steps[1]!, statesOf({})).kind, 'error', key);
    }
  });

  test('through the reconcile pass: the run fails with STEP_OUTPUT_UNRESOLVED and records it', async () => {
    const r = await reconcileToEnd('constructor');
    // Today: every pass throws inside resolveOutputs (internalError "value is not iterable"),
    // reconcileRun asks again in 30 s, and after 10 passes the run is Running with b Pending.
    assert.deepEqual(r.internal, [], 'no pass ends in an internal error');
    assert.equal(r.phase, 'Failed');
    assert.deepEqual(r.b, ['Error', 'STEP_OUTPUT_UNRESOLVED']);
  });

  test('control, through the reconcile pass: a plain name that was not written fails the run as documented', async () => {
    const r = await reconcileToEnd('version');
    assert.deepEqual(r.internal, []);
    assert.equal(r.phase, 'Failed');
    assert.deepEqual(r.b, ['Error', 'STEP_OUTPUT_UNRESOLVED']);
  });
});

/** Step a declares output `name` and writes another; step b references `name`. The pass driven until the run ends (at most 10 passes). */
async function reconcileToEnd(name: string): Promise<{ phase: string | undefined; b: unknown[]; internal: string[] }> {
  let n = 0;
  const internal: string[] = [];
  const cluster = memoryCluster();
  const runs = new MemoryRuns(() => NOW);
  const deps = {
    config: testPipelineConfig(),
    keys,
    policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
    audit: new MemoryAudit(),
    ...cluster,
    runs,
    trust: new MemoryTrustedKeys(),
    now: () => NOW,
    newId: () => `id-${++n}`,
    observer: {
      recorded: () => undefined,
      workflowsRunning: () => undefined,
      workflowFinished: () => undefined,
      stepFinished: () => undefined,
      internalError: (e: unknown) => void internal.push(String(e)),
    },
  } satisfies PipelineDeps;
  const create = cluster.pods.create.bind(cluster.pods);
  cluster.pods.create = async (pod) => {
    const created = await create(pod);
    const podName = pod.metadata?.name ?? '';
    setImmediate(() => {
      const term = cluster.pods.pods.get(podName)?.status?.containerStatuses?.[0]?.state?.terminated;
      if (term !== undefined) term.message = 'other=1\n';
    });
    return created;
  };
  const body = await signAssignment(signingKey, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: workflow([
      { name: 'a', image: 'python:3.11', outputs: [{ name }] },
      { name: 'b', image: 'python:3.11', args: [`\${steps.a.outputs.${name}}`] },
    ]),
    now: NOW,
    jti: `rt8-${name}`,
  });
  const admitted = await admit({ body, contentType: 'application/jwt' }, deps);
  assert.ok(admitted.ok);
  for (let i = 0; i < 10; i++) {
    const obj = runs.get(admitted.value.name);
    assert.ok(obj !== undefined);
    if (['Succeeded', 'Failed'].includes(obj.status?.phase ?? '')) break;
    await reconcileRun(obj, deps, () => true);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
  }
  const status = runs.get(admitted.value.name)?.status;
  return { phase: status?.phase, b: [status?.steps[1]?.phase, status?.steps[1]?.code], internal };
}

/**
 * Siblings of finding 1: the status is editable by whoever may patch the WorkflowRun, so what it
 * holds under `outputs` is read as data, never trusted for more. A value that is not a string is
 * no value; a secret output is never in status (only its pod holds it), so one found there is not
 * used.
 */
describe('red team 8 finding 1, siblings: outputs in an edited status', () => {
  const secretRun = (): AdmittedRun => {
    const checked = validate({
      id: 'w',
      name: 'w',
      runId: 'r',
      steps: [
        { name: 'a', image: 'alpine:3.19.1', resources: R, outputs: [{ name: 'tok', secret: true }, { name: 'v' }] },
        { name: 'b', image: 'alpine:3.19.1', resources: R, dependsOn: ['a'], env: { T: '${steps.a.outputs.tok}' } },
        { name: 'c', image: 'alpine:3.19.1', resources: R, dependsOn: ['a'], args: ['${steps.a.outputs.v}'] },
      ],
    });
    assert.ok(checked.ok, checked.ok ? '' : checked.error.message);
    return { name: 'run', ref: { id: 'w', runId: 'r' }, workflow: checked.value };
  };

  test('a secret output planted in status (no pod) is not used: STEP_OUTPUT_UNRESOLVED', async () => {
    const run = secretRun();
    const r = await resolveOutputs(run, run.workflow.steps[1]!, statesOf({ tok: 'planted' }), deps);
    assert.equal(r.ok ? 'resolved' : r.error.code, 'STEP_OUTPUT_UNRESOLVED');
  });

  test('a value that is not a string is no value, in a reference and in a condition', async () => {
    const run = secretRun();
    for (const planted of [1, true, null, ['x'], { toString: 'x' }]) {
      const states = JSON.parse(
        JSON.stringify([{ name: 'a', phase: 'Succeeded', outputs: { v: planted } }]),
      ) as StepState[];
      const r = await resolveOutputs(run, run.workflow.steps[2]!, states, deps);
      assert.equal(r.ok ? 'resolved' : r.error.code, 'STEP_OUTPUT_UNRESOLVED', JSON.stringify(planted));
      const when = decideWhen({ ...run.workflow.steps[2]!, when: "steps.a.outputs.v != 'x'" }, states);
      assert.equal(when.kind, 'error', JSON.stringify(planted));
    }
  });
});
