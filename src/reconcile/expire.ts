/**
 * The end of a finished WorkflowRun (docs/adr/0009-finished-run-retention.md): once its pods,
 * egress policies and volumes are cleaned up (`status.cleanedAt`, pass.ts cleanUp), the run itself
 * is deleted `workflow.retainFinished` after it finished, and never while its token could still
 * verify. Its create conflict in the API server is what refuses a replay of that token
 * (ASSIGNMENT_REPLAYED): deleted earlier, a replay would run the workflow a second time.
 */
import { decodeJwt } from 'jose';
import { CLOCK_TOLERANCE_BOUNDS, VERIFY_WINDOW_BOUNDS } from '../config/schema-control-plane.ts';
import type { RunObject } from '../ports/runs.ts';
import type { RunStatus } from '../run/status.ts';
import type { Pass, PassContext } from './pass.ts';

/** The longest any configuration lets a token live after its `iat` (controlPlane.maxTokenAge at most), in seconds. */
const MAX_TOKEN_AGE_SECONDS = VERIFY_WINDOW_BOUNDS.max;
/** The widest clock tolerance any configuration allows (controlPlane.clockTolerance at most), in seconds. */
const MAX_TOLERANCE_SECONDS = CLOCK_TOLERANCE_BOUNDS.max;

/**
 * The first instant, in epoch milliseconds, at which `token` cannot verify as an assignment under
 * ANY configuration the schema accepts (whatever maxTokenAge and clockTolerance are set now or
 * later): `min(exp, iat + 24 h) + 300 s + 1 s`. jose judges in whole seconds and refuses only
 * past the bound (`now - tolerance >= exp`; `now - iat - tolerance > maxTokenAge`): at
 * `iat + 24 h + 300 s` itself a token still verifies, one second later it does not.
 * The claims are read without verification (decodeJwt): a forged token cannot verify anyway, and
 * a claim larger than the truth only delays the deletion. A token whose `iat` and `exp` cannot be
 * read (a hand-made run, a stub without them): `createdAt + 24 h + 300 s + 1 s`, as if issued
 * when the run was created (assignment tokens must carry both, so such a token never verified).
 * Never throws.
 */
export function replayBoundMs(token: string, createdAt: Date): number {
  const ends: number[] = [];
  try {
    const { exp, iat } = decodeJwt(token);
    if (typeof exp === 'number' && Number.isFinite(exp)) ends.push(exp);
    if (typeof iat === 'number' && Number.isFinite(iat)) ends.push(iat + MAX_TOKEN_AGE_SECONDS);
  } catch {
    // Undecodable: judged from the run's creation below.
  }
  const created = Math.floor(createdAt.getTime() / 1000);
  const last = ends.length > 0 ? Math.min(...ends) : created + MAX_TOKEN_AGE_SECONDS;
  return (last + MAX_TOLERANCE_SECONDS + 1) * 1000;
}

/**
 * When the finished run may be deleted, in epoch milliseconds: the later of `finishedAt +
 * retainFinished` (finishedAt missing: cleanedAt, then the run's creation) and replayBoundMs.
 * `retainSeconds` in seconds. Never throws; an unreadable date counts as the run's creation.
 */
export function expiryDueMs(run: RunObject, status: RunStatus, retainSeconds: number): number {
  const finished = dateMs(status.finishedAt) ?? dateMs(status.cleanedAt) ?? run.createdAt.getTime();
  const retained = finished + retainSeconds * 1000;
  return Math.max(Number.isFinite(retained) ? retained : 0, replayBoundMs(run.token, run.createdAt));
}

function dateMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = new Date(text).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The `expire` step of a cleaned run: a pass again when it is due (expiryDueMs), then the
 * WorkflowRun deleted (RunStore.delete, only this uid: a run re-created under the same name
 * stays). A delete that fails is reported (observer.problem, DELETE_FAILED) and tried again in 30 s.
 * No audit record: see the ADR.
 */
export async function expire(pass: PassContext, status: RunStatus): Promise<Pass> {
  const { obj, deps } = pass;
  const wait = expiryDueMs(obj, status, deps.config.retainFinishedSeconds) - deps.now().getTime();
  if (wait > 0) return { requeueAfterMs: wait };
  const deleted = await deps.runs.delete(obj.name, obj.uid);
  if (deleted.ok) return {};
  deps.observer?.problem?.(deleted.error);
  return { requeueAfterMs: EXPIRE_RETRY_MS };
}

/** How soon a failed delete of an expired run is tried again. */
const EXPIRE_RETRY_MS = 30_000;
