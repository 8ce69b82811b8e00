import type { RunObject } from '../ports/runs.ts';
import type { RunnerError } from '../errors/result.ts';
import { stepDone, summary, type RunStatus, type StepState } from '../run/status.ts';
import type { Auditor } from '../pipeline/auditor.ts';
import { finishStep } from './finish.ts';
import { writeStatus, type Pass, type PassContext } from './pass.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { LABELS } from '../pod/names.ts';
import type { OwnedObject } from '../ports/step-objects.ts';

/** Why and how a run is stopped before its steps have all ended. */
export interface Stop {
  readonly phase: 'Failed' | 'Cancelled';
  /** The run's code and message. */
  readonly cause: RunnerError;
  /** The code and message given to each step that had not ended. */
  readonly stepError: RunnerError;
  /** status.summary; the step counts when absent. */
  readonly summary?: string | undefined;
}

/**
 * A run stopped for good (token rejected, cancelled, its volumes refused): every unfinished step
 * gets its pod deleted, a `finish` record with the code, and its end in status; a pod that a
 * crashed pass created for a step still Pending in status is found by its owner and deleted too.
 * Finished steps keep their pods (for logs) until the TTL. Returns the run's final status, or
 * undefined when a delete failed (nothing recorded as ended; the caller repeats the pass, and the
 * finish records carry ids fixed per step, so a repeat is recognisably the same end).
 * `verified`: the run as its verified token describes it; absent when the token did not verify,
 * and the run is then named as its labels name it.
 */
async function stopRun(
  obj: RunObject,
  steps: readonly StepState[],
  why: Stop,
  deps: PipelineDeps,
  audit: Auditor,
  previous: RunStatus | undefined,
  verified?: AdmittedRun,
): Promise<RunStatus | undefined> {
  const run: AdmittedRun = verified ?? {
    name: obj.name,
    uid: obj.uid,
    ref: { id: obj.workflowId, runId: obj.runId },
    workflow: { id: obj.workflowId, name: obj.workflowId, runId: obj.runId, steps: [] },
  };
  const named = new Set(steps.flatMap((s) => (s.pod !== undefined ? [s.pod] : [])));
  const owned = await deps.objects.owned(obj.runId);
  if (!owned.ok) return undefined;
  const strays = owned.value.filter((o) => o.kind === 'Pod' && o.owner === obj.uid && !named.has(o.name));
  // Each stray pod given to its step (by its label) before anything is deleted.
  const all = withStrays(steps, strays, deps);
  const running = all.flatMap((s) => (!stepDone(s) && s.pod !== undefined ? [s.pod] : []));
  for (const pod of running) if (!(await deps.pods.delete(pod)).ok) return undefined;
  const unclaimed = strays.filter((o) => !running.includes(o.name));
  if (unclaimed.length > 0 && !(await deps.objects.deleteObjects(unclaimed)).ok) return undefined;
  const ended = await Promise.all(
    all.map(async (s): Promise<StepState> => {
      if (stepDone(s)) return s;
      const end = await finishStep(
        run,
        s,
        { phase: 'Cancelled', reason: why.phase === 'Cancelled' ? 'Cancelled' : 'Stopped', error: why.stepError },
        deps,
        audit,
      );
      // A step that never had a pod keeps none in its status.
      return s.pod === undefined ? { ...end, pod: undefined } : end;
    }),
  );
  return {
    phase: why.phase,
    code: why.cause.code,
    message: why.cause.message,
    summary: why.summary ?? summary(ended),
    steps: ended,
    ...(previous?.startedAt !== undefined ? { startedAt: previous.startedAt } : {}),
    finishedAt: deps.now().toISOString(),
  };
}

/** A run stopped for good (stopRun), then its status written; asked again in 2 s when a delete failed. */
export async function stop(
  pass: PassContext,
  steps: readonly StepState[],
  why: Stop,
  run?: AdmittedRun,
): Promise<Pass> {
  const stopped = await stopRun(pass.obj, steps, why, pass.deps, pass.audit, pass.known, run);
  return stopped === undefined ? { requeueAfterMs: 2000 } : writeStatus(pass, stopped);
}

/**
 * The steps with the pods found by their owner that the status does not name (a pass created them,
 * then crashed or held its status write, hold.ts): each such pod's step, by its kubiya.ai/step
 * label, is given the pod, or added when the status does not list it (its first status never
 * written), so its end is recorded with it.
 */
function withStrays(steps: readonly StepState[], strays: readonly OwnedObject[], deps: PipelineDeps): StepState[] {
  const out = [...steps];
  for (const o of strays) {
    const step = deps.pods.cached(o.name)?.metadata?.labels?.[LABELS.step];
    if (step === undefined) continue;
    const i = out.findIndex((s) => s.name === step);
    const s = out[i];
    if (s === undefined) out.push({ name: step, phase: 'Running', pod: o.name });
    else if (!stepDone(s) && s.pod === undefined) out[i] = { ...s, pod: o.name };
  }
  return out;
}
