/**
 * The reconcile pass behind the real PodSecurity gate (`gatedDeps`), whose answers a test scripts,
 * over the in-memory twins of the ports: what test/unit/pod-security-create-wait.test.ts,
 * test/unit/precondition-wait-retry.test.ts and test/unit/red-team-13-waits.test.ts drive (the first and
 * the last draw their runs from `gateShape`). Each `pass` is a fresh reconcile pass (nothing
 * is kept between passes but the cluster and the run's status: as after a restart).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { admit } from '../../src/admission/admit.ts';
import { gatedDeps } from '../../src/app/pod-security-gate.ts';
import type { RunnerError } from '../../src/errors/result.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { ATTEMPT_ANNOTATION, LABELS } from '../../src/pod/names.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { reconcileRun } from '../../src/reconcile/reconcile.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { testPipelineConfig } from './config.ts';
import { Clock, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from './memory.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from './tokens.ts';

const { key, keys } = await testKeys();

/** What the gate answers one question with. */
export type Gate = 'open' | 'not-enforced' | 'unknown';
const REFUSAL: Record<Exclude<Gate, 'open'>, RunnerError> = {
  'not-enforced': { code: 'POD_SECURITY_NOT_ENFORCED', message: 'the workflows namespace does not enforce restricted' },
  unknown: {
    code: 'POD_SECURITY_UNKNOWN',
    message: 'whether the workflows namespace enforces restricted cannot be told',
  },
};
/** The gate's codes. */
export const GATE_CODE = /^POD_SECURITY_/;

/** A policy engine allowing every step, granting egress to the steps named in `granted`. */
const allowing = (granted: ReadonlySet<string>): PolicyEngine => ({
  revision: 'test-rev',
  entrypoints: ['kubiya/main/decision'],
  evaluate: (input) => {
    const name = (input as { step?: { name?: string } }).step?.name ?? '';
    const egress = granted.has(name) ? { egress: [{ cidr: '10.0.0.0/24', ports: [443] }] } : {};
    return [{ result: { allow: true, violations: [], ...egress } }];
  },
});

/**
 * The reconcile pass over the in-memory cluster behind the real gate, whose answers come from
 * `answers` (one per question, then open for good). Counts what reached the cluster and when.
 */
export function setup(
  answers: readonly Gate[],
  granted: ReadonlySet<string> = new Set(),
  failFirst = new Set<string>(),
) {
  const clock = new Clock(NOW);
  const cluster = memoryCluster();
  const queue = [...answers];
  let last: Gate = 'open';
  const asked = { precondition: 0, create: 0 };
  const refusal = (): RunnerError | undefined => {
    last = queue.shift() ?? 'open';
    return last === 'open' ? undefined : REFUSAL[last];
  };
  let n = 0;
  const plain = {
    config: testPipelineConfig(),
    keys,
    policy: () => allowing(granted),
    audit: new MemoryAudit(),
    ...cluster,
    runs: new MemoryRuns(clock.now),
    trust: new MemoryTrustedKeys(),
    now: clock.now,
    newId: () => `id-${++n}`,
  } satisfies PipelineDeps;
  const created: { pod: string; gate: Gate }[] = [];
  const inner = cluster.pods.create.bind(cluster.pods);
  cluster.pods.create = (pod) => {
    created.push({ pod: pod.metadata?.name ?? '', gate: last });
    return inner(pod);
  };
  cluster.pods.outcomeFor = (pod) => {
    const step = pod.metadata?.labels?.[LABELS.step] ?? '';
    const attempt = Number(pod.metadata?.annotations?.[ATTEMPT_ANNOTATION] ?? '1');
    return failFirst.has(step) && attempt === 1
      ? { phase: 'Failed', exitCode: 1, reason: 'Error' }
      : { phase: 'Succeeded', exitCode: 0, reason: 'Completed' };
  };
  const gated = gatedDeps(plain, refusal);
  const deps: PipelineDeps = {
    ...gated,
    objects: {
      ...gated.objects,
      ensureStepDns: (p) => (asked.precondition++, gated.objects.ensureStepDns(p)),
    },
    pods: { ...gated.pods, create: (p) => (asked.create++, gated.pods.create(p)) },
  };
  /** More answers, after those not asked yet. */
  const answer = (...more: Gate[]): void => void queue.push(...more);
  return { clock, deps, cluster: cluster.pods, created, asked, answer };
}

let jti = 0;
/** A run of `steps` admitted (a new run id each time; `extra`: more workflow fields, e.g. `volumes`); its WorkflowRun's name. */
export async function admitted(
  deps: PipelineDeps,
  steps: Record<string, unknown>[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const body = await signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: { ...workflow(steps), ...extra, runId: `gate-${++jti}` },
    now: NOW,
    jti: `gate-${jti}`,
  });
  const run = await admit({ body, contentType: 'application/jwt' }, deps);
  assert.ok(run.ok, JSON.stringify(run));
  return run.value.name;
}

/** One pass (a fresh one each time: nothing is kept between passes but the cluster and the status), then one turn. */
export async function pass(
  deps: PipelineDeps,
  name: string,
): Promise<{ status: RunStatus | undefined; requeue?: number }> {
  const obj = (deps.runs as MemoryRuns).get(name);
  assert.ok(obj !== undefined);
  const done = await reconcileRun(obj, deps, () => true);
  await new Promise((r) => setImmediate(r));
  return { status: (deps.runs as MemoryRuns).get(name)?.status, requeue: done.requeueAfterMs };
}

/** The `create` records of steps (not the gate's own change-of-state records). */
export const createRecords = (deps: PipelineDeps) =>
  (deps.audit as MemoryAudit).records.filter((r) => r.stage === 'create' && r.step !== undefined);

/** A drawn run for the gate properties: 1–3 steps, chained or parallel, which steps are granted egress and which retried once, and up to 24 gate answers. */
export const gateShape = fc.record({
  steps: fc.integer({ min: 1, max: 3 }),
  chained: fc.boolean(),
  granted: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  retried: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  answers: fc.array(fc.constantFrom<Gate>('open', 'not-enforced', 'unknown'), { maxLength: 24 }),
});
/** The drawn run as `gateShape` gives it. */
export type GateShape = typeof gateShape extends fc.Arbitrary<infer T> ? T : never;

/**
 * The drawn run's steps (`a`, `b`, `c`, image `x:1`; one retry after 1 s where drawn; each after the
 * previous one when chained, else none waits) and its names, the granted and the retried steps.
 */
export function shapeSteps({ steps, chained, granted, retried }: GateShape): {
  names: string[];
  steps: Record<string, unknown>[];
  granted: Set<string>;
  retried: Set<string>;
} {
  const names = ['a', 'b', 'c'].slice(0, steps);
  return {
    names,
    granted: new Set(names.filter((_, i) => granted[i])),
    retried: new Set(names.filter((_, i) => retried[i])),
    steps: names.map((n, i) => ({
      name: n,
      image: 'x:1',
      ...(retried[i] ? { retries: { limit: 1, backoff: '1s' } } : {}),
      dependsOn: i > 0 && chained ? [names[i - 1]] : [],
    })),
  };
}
