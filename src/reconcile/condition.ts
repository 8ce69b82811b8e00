/**
 * A step's turn with its `when` (issue 19 §6): the condition decides over the dependencies as they
 * are now; true starts the step (src/reconcile/start.ts), false skips it, an output it needs that
 * was never written fails it. Both ends are `finish` records with the id fixed per run and step,
 * so a repeated pass writes the same end.
 */
import type { RunnerError } from '../errors/result.ts';
import type { Auditor } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { StepState } from '../run/status.ts';
import { decideWhen } from '../run/when.ts';
import type { Step } from '../validate/schema.ts';
import { endId } from './finish.ts';
import { resolveOutputs } from './outputs.ts';
import { startStep } from './start.ts';

/**
 * The step started (its output references resolved first), or skipped (condition false), or failed
 * (condition could not be decided, or an output it uses was not written), each recorded.
 */
export async function startOrSkip(
  run: AdmittedRun,
  step: Step,
  states: readonly StepState[],
  deps: PipelineDeps,
  audit: Auditor,
): Promise<StepState> {
  const prior = states.find((s) => s.name === step.name);
  const when = decideWhen(step, states);
  const at = { workflow: run.ref, step: step.name };
  const id = endId(run, step.name);
  const finishedAt = deps.now().toISOString();
  if (when.kind === 'run') {
    const resolved = await resolveOutputs(run, step, states, deps);
    if (resolved.ok) return startStep(run, resolved.value, deps, audit, prior);
    await audit.finished('failure', resolved.error.message, at, resolved.error, id);
    return { name: step.name, phase: 'Error', code: resolved.error.code, message: resolved.error.message, finishedAt };
  }
  if (when.kind === 'skip') {
    const error: RunnerError = { code: 'STEP_CONDITION_FALSE', message: `step ${step.name} skipped: ${when.reason}` };
    await audit.finished('success', error.message, at, error, id);
    return { name: step.name, phase: 'Skipped', code: error.code, message: when.reason, finishedAt };
  }
  const error: RunnerError = { code: 'STEP_CONDITION_ERROR', message: when.message };
  await audit.finished('failure', error.message, at, error, id);
  return { name: step.name, phase: 'Error', code: error.code, message: error.message, finishedAt };
}
