import type { OwnedObject } from '../ports/step-objects.ts';

/**
 * The runner's objects that no live run owns: owned by a WorkflowRun that no longer exists (the
 * garbage collector normally removes those; this covers clusters where it lags or is off), or
 * carrying the runner label with no WorkflowRun owner at all — except the objects in `keep`, the
 * runner's own namespace-wide ones (its DNS policy, `kind/name`): owned by no run by design, they
 * are the default deny of every step pod and must outlive every run (red team 7 / h-scale: the
 * sweep deleted it every 30 s, leaving running step pods without it until the next start).
 *
 * @param live the uids of the live WorkflowRuns, from a complete list (RunStore.liveUids) and the cache
 * @param keep `${kind}/${name}` of objects never swept
 */
export function orphans(
  owned: readonly OwnedObject[],
  live: ReadonlySet<string>,
  keep: ReadonlySet<string> = new Set(),
): OwnedObject[] {
  return owned.filter((o) => !keep.has(`${o.kind}/${o.name}`) && (o.owner === undefined || !live.has(o.owner)));
}
