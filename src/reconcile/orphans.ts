import type { OwnedObject } from '../ports/step-objects.ts';
import type { RunObject } from '../ports/runs.ts';

/**
 * The runner's objects that no live run owns: owned by a WorkflowRun that no longer exists (the
 * garbage collector normally removes those; this covers clusters where it lags or is off), or
 * carrying the runner label with no WorkflowRun owner at all.
 */
export function orphans(owned: readonly OwnedObject[], runs: readonly RunObject[]): OwnedObject[] {
  const live = new Set(runs.map((r) => r.uid));
  return owned.filter((o) => o.owner === undefined || !live.has(o.owner));
}
