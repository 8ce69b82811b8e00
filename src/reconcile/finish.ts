import { createHash } from 'node:crypto';
import type { RunnerError } from '../errors/result.ts';
import type { Auditor, Fields } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { attemptPodName } from '../pod/names.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import { publicOutputs, secretOutputs } from '../run/outputs.ts';
import { attemptOf, nextAttempt, retriesLeft } from '../run/retry.ts';
import type { Step } from '../validate/schema.ts';
import { MASK } from '../audit/mask.ts';
import type { StepState } from '../run/status.ts';

/**
 * The decision_id of a step's end (of one attempt's end, for attempts after the first): UUID-shaped,
 * derived from the run's uid, the step's name and the attempt.
 */
export function endId(run: AdmittedRun, step: string, attempt = 1): string {
  const h = createHash('sha256')
    .update(`${run.uid ?? run.name}\0${step}\0end${attempt > 1 ? `\0${attempt}` : ''}`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface StepEnd {
  readonly phase: 'Succeeded' | 'Failed' | 'Cancelled';
  readonly exitCode?: number | undefined;
  readonly reason?: string | undefined;
  readonly error?: RunnerError | undefined;
  /** The outputs the pod wrote (issue 19 §4); kept only when the step succeeded. */
  readonly outputs?: Readonly<Record<string, string>> | undefined;
}

/**
 * A step that will never run because an earlier step did not succeed: its end is recorded like any
 * other (a `finish` record with code STEP_SKIPPED and the id fixed per run and step, so a repeated
 * pass writes the same end), then it is Skipped in status. No pod exists for it.
 */
export async function skipStep(run: AdmittedRun, name: string, deps: PipelineDeps, audit: Auditor): Promise<StepState> {
  const error = { code: 'STEP_SKIPPED', message: `step ${name} skipped: an earlier step did not succeed` } as const;
  await audit.finished('failure', error.message, { workflow: run.ref, step: name }, error, endId(run, name));
  return {
    name,
    phase: 'Skipped',
    code: error.code,
    message: 'an earlier step did not succeed',
    finishedAt: deps.now().toISOString(),
  };
}

/**
 * The end of a step, recorded (finish) and reported. A Failed attempt with retries left is recorded
 * as STEP_ATTEMPT_FAILED and the step goes back to Pending on its next attempt (src/run/retry.ts).
 */
export async function finishStep(
  run: AdmittedRun,
  s: StepState,
  end: StepEnd,
  deps: PipelineDeps,
  audit: Auditor,
): Promise<StepState> {
  const now = deps.now();
  const attempt = attemptOf(s);
  const step = run.workflow.steps.find((x) => x.name === s.name);
  const retry = retriesLeft(step, attempt, end.phase);
  const written = end.phase === 'Succeeded' ? (end.outputs ?? {}) : {};
  const at: Fields = {
    workflow: run.ref,
    step: s.name,
    pod: endedPod(run, s, end, deps),
    ...outputsRecord(written, step),
  };
  // A pass killed after this record and before the status write records the end again on the next
  // pass; with the same decision_id, so the control plane (which de-duplicates events by id) and an
  // auditor see one end.
  const id = endId(run, s.name, attempt);
  if (end.phase === 'Succeeded') await audit.finished('success', `step ${s.name} succeeded`, at, undefined, id);
  else {
    const message = end.error?.message ?? `step ${s.name} ${end.phase.toLowerCase()}`;
    const error = retry ? attemptFailed(s.name, attempt, step?.retries?.limit ?? 0, message) : end.error;
    await audit.finished('failure', message, at, error, id);
  }
  if (s.startedAt !== undefined)
    deps.observer?.stepFinished(s.name, Math.max(0, (now.getTime() - new Date(s.startedAt).getTime()) / 1000));
  const ended: StepState = {
    ...s,
    phase: end.phase,
    exitCode: end.exitCode,
    reason: end.reason,
    code: end.error?.code,
    message: end.phase === 'Succeeded' ? 'pod succeeded' : end.error?.message,
    finishedAt: now.toISOString(),
    ...keptOutputs(written, step, end),
  };
  return retry ? nextAttempt(ended, step, now) : ended;
}

/** The pod of the finish record: its name, namespace and how it ended. */
function endedPod(run: AdmittedRun, s: StepState, end: StepEnd, deps: PipelineDeps): NonNullable<Fields['pod']> {
  // Members in code-unit order: canonical JSON copies an audit record's objects that are not.
  return {
    ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
    name: s.pod ?? attemptPodName(run.workflow.runId, s.name, attemptOf(s)),
    namespace: deps.config.namespace,
    phase: end.phase,
    ...(end.reason !== undefined ? { reason: end.reason } : {}),
  };
}

/** What status keeps of a succeeded step's outputs: the public ones (a step without outputs: nothing). */
function keptOutputs(
  written: Readonly<Record<string, string>>,
  step: Step | undefined,
  end: StepEnd,
): Partial<StepState> {
  if ((step?.outputs?.length ?? 0) === 0 || end.phase !== 'Succeeded') return {};
  return { outputs: publicOutputs(written, step) };
}

/**
 * The outputs in the finish record (`result.outputs`), a secret one's value masked ("***", its
 * pointer in `masked`) before the record is hashed.
 */
function outputsRecord(written: Readonly<Record<string, string>>, step: Step | undefined): Fields {
  if (Object.keys(written).length === 0) return {};
  const secret = secretOutputs(step);
  const outputs = Object.fromEntries(Object.entries(written).map(([k, v]) => [k, secret.has(k) ? MASK : v]));
  const masked = Object.keys(written)
    .filter((k) => secret.has(k))
    .map((k) => `/result/outputs/${k}`);
  return { result: { outputs }, ...(masked.length > 0 ? { masked } : {}) };
}

/** The end of an attempt that will be tried again (its own code, so nobody reads it as the step's end). */
function attemptFailed(step: string, attempt: number, limit: number, message: string): RunnerError {
  return {
    code: 'STEP_ATTEMPT_FAILED',
    message: `step ${step} attempt ${attempt} of ${limit + 1} failed, retrying: ${message}`,
  };
}
