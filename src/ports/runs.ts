import type { Result } from '../errors/result.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { RunStatus } from '../run/status.ts';

export interface CreatedRun {
  readonly name: string;
  readonly uid: string;
}

/** A WorkflowRun as observed: what the reconciler decides from. */
export interface RunObject {
  readonly name: string;
  readonly uid: string;
  /** Set by the API server: the instant the token's validity is judged at (DESIGN §1). */
  readonly createdAt: Date;
  /** The workflow id and run id (its kubiya.ai/workflow and kubiya.ai/run labels), as intake recorded them. */
  readonly workflowId: string;
  readonly runId: string;
  /** The signed assignment as received; verified again before every pod. */
  readonly token: string;
  /** Set when the control plane cancelled the run. */
  readonly cancelRequested: boolean;
  readonly status?: RunStatus | undefined;
}

/**
 * The WorkflowRuns of this runner. Creating a run creates its WorkflowRun, named from the token's
 * jti: a second create of the same jti — a replay, a re-delivery, the same token sent to another
 * replica — fails with ASSIGNMENT_REPLAYED, decided by the API server. A different assignment
 * whose run id a WorkflowRun in the namespace already has (live or finished) fails with
 * ASSIGNMENT_RUN_ID_REUSED: a run id names one run (its pods, egress policies, events), so a second
 * run under it is refused rather than mixed with the first. Only existing WorkflowRuns count: a
 * finished run deleted after workflow.retainFinished (src/reconcile/expire.ts) no longer holds its
 * run id, nor its jti (its token can no longer verify by then). The rest is what the
 * reconciler needs: the runs as last observed, their status, cancellation, change notifications.
 */
export interface RunStore {
  /** Returns a Result, never throws: ASSIGNMENT_REPLAYED, ASSIGNMENT_RUN_ID_REUSED, CREATE_REJECTED, CREATE_FAILED. */
  create(run: AdmittedRun, token: string): Promise<Result<CreatedRun>>;
  /** Every WorkflowRun of this runner as last observed (the cache; no API call). Never throws. */
  list(): readonly RunObject[];
  /**
   * The uids of this runner's WorkflowRuns as the API server has them NOW: a fresh, complete list
   * (every page), not the cache. For decisions that destroy (the orphan sweep): a cache can be
   * incomplete (a first list that failed, a page whose continue token expired, a broken watch), a
   * fresh list either is complete or fails. Returns a Result (LIST_FAILED), never throws.
   */
  liveUids(): Promise<Result<ReadonlySet<string>>>;
  /** One WorkflowRun as last observed (the cache); undefined when unknown. Never throws. */
  get(name: string): RunObject | undefined;
  /** Replaces the run's status (the status subresource). Returns a Result (RUN_UPDATE_FAILED), never throws. */
  writeStatus(name: string, status: RunStatus): Promise<Result<void>>;
  /** Marks the run cancelled. Returns a Result (RUN_NOT_FOUND, RUN_UPDATE_FAILED), never throws. */
  requestCancel(name: string): Promise<Result<void>>;
  /**
   * Deletes the WorkflowRun `name` if it is still the one with `uid` (a precondition the API server
   * checks: a run re-created under the same name is never deleted). Gone already, or replaced by
   * another uid: done. Its cache entry goes with the delete event. Returns a Result
   * (DELETE_FAILED), never throws.
   */
  delete(name: string, uid: string): Promise<Result<void>>;
  /** Called with a run's name whenever it is added, changed or deleted. */
  onChange(listener: (name: string) => void): void;
}
