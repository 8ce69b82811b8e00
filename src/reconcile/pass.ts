import type { Auditor } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { RunObject } from '../ports/runs.ts';
import { runDone, type RunStatus } from '../run/status.ts';
import { mustWriteNow, type StatusHold } from './hold.ts';

/** What one reconcile pass works with: the run as observed, its status before the pass, the ports, the auditor. */
export interface PassContext {
  readonly obj: RunObject;
  /** The run's status as observed at the start of the pass (undefined on its first pass). */
  readonly previous: RunStatus | undefined;
  /**
   * The run's status as this process knows it: `previous`, or the newer one it holds unwritten
   * (hold.ts `known`). Steps are decided from it; writes compare with `previous`.
   */
  readonly known?: RunStatus | undefined;
  readonly deps: PipelineDeps;
  readonly audit: Auditor;
  /** Holds progress (non-terminal) status writes; absent: every change is written at once. */
  readonly hold?: StatusHold | undefined;
}

/** What a reconcile pass asks of the loop that runs it. */
export interface Pass {
  /** Look at this run again after this long even if nothing changes (a deadline, a TTL). */
  readonly requeueAfterMs?: number | undefined;
}

/**
 * The run's status, written when it differs from what the pass saw (a failed write asks for a
 * pass again in 1 s); a terminal status at once, a progress one once it has been held (hold.ts:
 * until then, a pass again when the hold is over). The end of a run is counted once, when it is
 * first written. Then when to look again: after the TTL for a finished run, in 5 s for a waiting one.
 */
export async function writeStatus(pass: PassContext, status: RunStatus): Promise<Pass> {
  const { deps, previous, hold } = pass;
  const uid = pass.obj.uid;
  if (previous === undefined || JSON.stringify(previous) !== JSON.stringify(status)) {
    const held = mustWriteNow(previous, status) ? 0 : (hold?.wait(uid, status, previous) ?? 0);
    if (held > 0) return { requeueAfterMs: held };
    const written = await deps.runs.writeStatus(pass.obj.name, status);
    if (!written.ok) return { requeueAfterMs: 1000 };
    hold?.written(uid);
    // Counted once, when the end is written (also for a rejected token or a cancellation).
    if (runDone(status.phase) && (previous === undefined || !runDone(previous.phase)))
      deps.observer?.workflowFinished(status.phase === 'Succeeded' ? 'success' : 'failed');
  } else hold?.written(uid);
  return runDone(status.phase)
    ? { requeueAfterMs: deps.config.ttlAfterFinishedSeconds * 1000 }
    : status.phase === 'Pending'
      ? { requeueAfterMs: 5000 }
      : {};
}

/**
 * After the TTL, a finished run's pods, egress policies and volumes are deleted (`status.cleanedAt`);
 * the WorkflowRun stays until its `expire` step (expire.ts, workflow.retainFinished).
 */
export async function cleanUp(pass: PassContext, status: RunStatus): Promise<Pass> {
  const { obj, deps } = pass;
  if (status.cleanedAt !== undefined) return {};
  const due = new Date(status.finishedAt ?? 0).getTime() + deps.config.ttlAfterFinishedSeconds * 1000;
  const wait = due - deps.now().getTime();
  if (wait > 0) return { requeueAfterMs: wait };
  const owned = await deps.objects.owned(obj.runId);
  if (!owned.ok) return { requeueAfterMs: 5000 };
  const deleted = await deps.objects.deleteObjects(owned.value.filter((o) => o.owner === obj.uid));
  if (!deleted.ok) return { requeueAfterMs: 5000 };
  return writeStatus(pass, { ...status, cleanedAt: deps.now().toISOString() });
}
