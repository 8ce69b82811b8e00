/**
 * The reconcile pass behind the real PodSecurity gate (`gatedDeps`), whose answers a test scripts,
 * over the in-memory twins of the ports: what test/unit/pod-security-create-wait.test.ts and
 * test/unit/precondition-wait-retry.test.ts drive. Each `pass` is a fresh reconcile pass (nothing
 * is kept between passes but the cluster and the run's status: as after a restart).
 */
import assert from 'node:assert/strict';
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
