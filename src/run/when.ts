/**
 * Evaluating a step's `when` (issue 19 §6), pure: the parsed condition (src/validate/condition.ts)
 * over the dependencies' states as they are now. Short-circuit: `a && b` does not look at b when a
 * is false, so `steps.x.phase == 'Succeeded' && steps.x.outputs.k == 'v'` never asks for the
 * output of a step that did not succeed.
 */
import { parseCondition, type Condition, type ConditionValue } from '../validate/condition.ts';
import type { Step } from '../validate/schema.ts';
import type { StepState } from './status.ts';
import { outputValue } from './outputs.ts';

/** What a step's condition says now: run it, skip it (false), or it cannot be decided (an output is missing). */
export type WhenOutcome =
  | { readonly kind: 'run' }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'error'; readonly message: string };

/** A step skipped because its condition was false: done, and not a failure (its dependents run). */
export const skippedByCondition = (s: StepState | undefined): boolean =>
  s?.phase === 'Skipped' && s.code === 'STEP_CONDITION_FALSE';

class Unresolved extends Error {}

/** The step's condition over `states` (a step without `when` runs). Never throws. */
export function decideWhen(step: Step, states: readonly StepState[]): WhenOutcome {
  if (step.when === undefined) return { kind: 'run' };
  const parsed = parseCondition(step.when);
  // Validation refused unparseable conditions; one here is a run made by an older schema: fail closed.
  if (!parsed.ok) return { kind: 'error', message: `condition of step ${step.name} is invalid: ${parsed.message}` };
  const byName = new Map(states.map((s) => [s.name, s]));
  try {
    return evaluate(parsed.condition, byName)
      ? { kind: 'run' }
      : { kind: 'skip', reason: `condition is false: ${step.when}` };
  } catch (e) {
    if (e instanceof Unresolved) return { kind: 'error', message: `condition of step ${step.name}: ${e.message}` };
    throw e;
  }
}

function evaluate(c: Condition, states: ReadonlyMap<string, StepState>): boolean {
  switch (c.kind) {
    case 'bool':
      return c.value;
    case 'not':
      return !evaluate(c.of, states);
    case 'and':
      return evaluate(c.left, states) && evaluate(c.right, states);
    case 'or':
      return evaluate(c.left, states) || evaluate(c.right, states);
    case 'eq':
      return value(c.left, states) === value(c.right, states);
    case 'ne':
      return value(c.left, states) !== value(c.right, states);
    case 'in':
    case 'notin': {
      const left = value(c.left, states);
      const found = c.values.some((v) => value(v, states) === left);
      return c.kind === 'in' ? found : !found;
    }
  }
}

function value(v: ConditionValue, states: ReadonlyMap<string, StepState>): string {
  if (v.kind === 'string') return v.value;
  const state = states.get(v.step);
  if (state === undefined) throw new Unresolved(`no step ${v.step}`);
  if (v.kind === 'phase') return state.phase;
  const out = outputValue(state.outputs, v.key);
  if (out === undefined) throw new Unresolved(`step ${v.step} has no output "${v.key}" (it did not write it)`);
  return out;
}
