import type { Result } from '../errors/result.ts';
import type { AdmittedRun } from '../pipeline/types.ts';

export interface ClaimedRun {
  readonly name: string;
  readonly uid: string;
}

/**
 * The port that makes intake exactly-once: claiming a run creates its WorkflowRun, named from the
 * token's jti. A second claim of the same jti — a replay, a re-delivery, the same token sent to
 * another replica — fails with ASSIGNMENT_REPLAYED, decided by the API server.
 */
export interface RunStore {
  claim(run: AdmittedRun, token: string): Promise<Result<ClaimedRun>>;
}
