import { stepDnsPolicyName } from '../egress/network-policy.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { OwnedObject } from '../ports/step-objects.ts';

/**
 * The orphan sweep: deletes what no live run owns, and returns how many objects were deleted (the
 * leader's resync calls it; Reconciler.collectOrphans). The live runs are a fresh complete list from
 * the API server (RunStore.liveUids) joined with the cache, read after the objects, so a run
 * created in between is known; when that list fails nothing is deleted (red team 7, finding 1: an
 * incomplete cache took every live run's objects for orphans). The runner's own DNS policy is never
 * swept. No fresh list is read when the runner owns nothing.
 */
export async function collectOrphans(deps: PipelineDeps): Promise<number> {
  const owned = await deps.objects.owned();
  if (!owned.ok || owned.value.length === 0) return 0;
  const fresh = await deps.runs.liveUids();
  if (!fresh.ok) {
    deps.observer?.problem?.(fresh.error);
    return 0;
  }
  const live = new Set(fresh.value);
  for (const run of deps.runs.list()) live.add(run.uid);
  const keep = new Set([`NetworkPolicy/${stepDnsPolicyName(deps.config.runner)}`]);
  const lost = orphans(owned.value, live, keep);
  if (lost.length === 0) return 0;
  const deleted = await deps.objects.deleteObjects(lost);
  return deleted.ok ? deleted.value : 0;
}

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
