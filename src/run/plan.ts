import { prerequisites } from '../validate/graph.ts';
import type { Step, Workflow } from '../validate/schema.ts';
import { stepDone, stepFailed, type RunPhase, type StepState } from './status.ts';
import { skippedByCondition } from './when.ts';

/** A prerequisite that lets its dependents start: it succeeded, or its condition skipped it (issue 19 §6). */
const passed = (s: StepState | undefined): boolean => s?.phase === 'Succeeded' || skippedByCondition(s);

export interface Plan {
  /** Steps whose prerequisites all succeeded and that have not started: start them now. */
  readonly start: readonly Step[];
  /** Steps that will never run because a step failed: mark them Skipped. */
  readonly skip: readonly string[];
}

/**
 * Level-based: decided from the step states as they are now. Stops at the first failure: once a
 * step failed, nothing new starts (steps already running on other branches finish) and every step
 * still Pending is skipped.
 */
export function plan(workflow: Workflow, states: readonly StepState[]): Plan {
  const byName = new Map(states.map((s) => [s.name, s]));
  const pending = workflow.steps.filter((s) => (byName.get(s.name)?.phase ?? 'Pending') === 'Pending');
  if (states.some(stepFailed)) return { start: [], skip: pending.map((s) => s.name) };
  const deps = prerequisites(workflow);
  const start = pending.filter((s) => (deps.get(s.name) ?? []).every((d) => passed(byName.get(d))));
  return { start, skip: [] };
}

/** The phase of a started run from its steps: Running until every step is done, then Succeeded, Failed or Cancelled. */
export function runPhaseOf(states: readonly StepState[]): RunPhase {
  if (!states.every(stepDone)) return 'Running';
  if (states.some((s) => s.phase === 'Cancelled')) return 'Cancelled';
  return states.every(passed) ? 'Succeeded' : 'Failed';
}
