import { createHash } from 'node:crypto';
import type { RunnerError } from '../errors/result.ts';
import type { Auditor, Fields } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { podName } from '../pod/names.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { StepState } from '../run/status.ts';

/** The decision_id of a step's end: UUID-shaped, derived from the run's uid and the step's name. */
function endId(run: AdmittedRun, step: string): string {
  const h = createHash('sha256')
    .update(`${run.uid ?? run.name}\0${step}\0end`)
    .digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export interface StepEnd {
  readonly phase: 'Succeeded' | 'Failed' | 'Cancelled';
  readonly exitCode?: number | undefined;
  readonly reason?: string | undefined;
  readonly error?: RunnerError | undefined;
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

/** The end of a step, recorded (finish) and reported. */
export async function finishStep(
  run: AdmittedRun,
  s: StepState,
  end: StepEnd,
  deps: PipelineDeps,
  audit: Auditor,
): Promise<StepState> {
  const now = deps.now();
  const pod = {
    name: s.pod ?? podName(run.workflow.runId, s.name),
    namespace: deps.config.namespace,
    phase: end.phase,
    ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
    ...(end.reason !== undefined ? { reason: end.reason } : {}),
  };
  const at: Fields = { workflow: run.ref, step: s.name, pod };
  // A pass killed after this record and before the status write records the end again on the next
  // pass; with the same decision_id, so the control plane (which de-duplicates events by id) and an
  // auditor see one end.
  const id = endId(run, s.name);
  if (end.phase === 'Succeeded') await audit.finished('success', `step ${s.name} succeeded`, at, undefined, id);
  else
    await audit.finished(
      'failure',
      end.error?.message ?? `step ${s.name} ${end.phase.toLowerCase()}`,
      at,
      end.error,
      id,
    );
  if (s.startedAt !== undefined)
    deps.observer?.stepFinished(s.name, Math.max(0, (now.getTime() - new Date(s.startedAt).getTime()) / 1000));
  return {
    ...s,
    phase: end.phase,
    exitCode: end.exitCode,
    reason: end.reason,
    code: end.error?.code,
    message: end.phase === 'Succeeded' ? 'pod succeeded' : end.error?.message,
    finishedAt: now.toISOString(),
  };
}
