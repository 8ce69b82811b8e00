/**
 * A step's retries (issue 19 §5), pure: whether a failed attempt is tried again, and when.
 *
 * Each attempt is its own pod, named per attempt (src/pod/names.ts `attemptPodName`), with its own
 * policy decision and audit records. The attempt number lives in the WorkflowRun's status, so the
 * reconcile pass, which decides from what it observes, never makes two pods for one attempt: a pass
 * interrupted after an attempt's pod was created adopts it on the next pass.
 */
import { durationSeconds } from '../pod/duration.ts';
import type { Step } from '../validate/schema.ts';
import type { AttemptState, StepState } from './status.ts';

/** The backoff before the first retry when the step names none: 10 s. */
export const DEFAULT_BACKOFF_SECONDS = 10;
/** The factor each further retry multiplies the backoff by when the step names none. */
export const DEFAULT_BACKOFF_FACTOR = 2;
/** No wait between two attempts is longer than this, whatever the step asks: one hour. */
export const MAX_BACKOFF_SECONDS = 3600;

/** The attempt a step state is on: 1 until a retry (status.steps[].attempt). */
export const attemptOf = (s: StepState): number => s.attempt ?? 1;

/** True when an attempt that ended with `phase` leaves the step another attempt (only a Failed pod is retried). */
export function retriesLeft(step: Step | undefined, attempt: number, phase: string): boolean {
  return phase === 'Failed' && attempt <= (step?.retries?.limit ?? 0);
}

/**
 * Seconds to wait before attempt `next` (2, 3, ...): backoff × factor^(next − 2), at most
 * MAX_BACKOFF_SECONDS.
 */
export function backoffSeconds(step: Step | undefined, next: number): number {
  const r = step?.retries;
  const base = r?.backoff !== undefined ? durationSeconds(r.backoff) : DEFAULT_BACKOFF_SECONDS;
  const factor = r?.factor ?? DEFAULT_BACKOFF_FACTOR;
  return Math.min(MAX_BACKOFF_SECONDS, base * factor ** Math.max(0, next - 2));
}

/**
 * The step after a failed attempt that is retried: Pending on the next attempt, due at `retryAt`,
 * the ended attempt kept in `attempts` (what it ran as, how it ended).
 */
export function nextAttempt(ended: StepState, step: Step | undefined, now: Date): StepState {
  const attempt = attemptOf(ended);
  const record: AttemptState = {
    attempt,
    phase: ended.phase,
    ...(ended.pod !== undefined ? { pod: ended.pod } : {}),
    ...(ended.decision !== undefined ? { decision: ended.decision } : {}),
    ...(ended.exitCode !== undefined ? { exitCode: ended.exitCode } : {}),
    ...(ended.reason !== undefined ? { reason: ended.reason } : {}),
    ...(ended.code !== undefined ? { code: ended.code } : {}),
    ...(ended.message !== undefined ? { message: ended.message } : {}),
    ...(ended.startedAt !== undefined ? { startedAt: ended.startedAt } : {}),
    ...(ended.finishedAt !== undefined ? { finishedAt: ended.finishedAt } : {}),
  };
  const next = attempt + 1;
  const retryAt = new Date(now.getTime() + backoffSeconds(step, next) * 1000).toISOString();
  return {
    name: ended.name,
    phase: 'Pending',
    attempt: next,
    retryAt,
    attempts: [...(ended.attempts ?? []), record],
    message: `attempt ${attempt} failed (${ended.code ?? ended.phase}); attempt ${next} at ${retryAt}`,
  };
}

/** True when a Pending step may start now: no retry is waiting, or its time has come. */
export const due = (s: StepState | undefined, now: Date): boolean =>
  s?.retryAt === undefined || new Date(s.retryAt).getTime() <= now.getTime();
