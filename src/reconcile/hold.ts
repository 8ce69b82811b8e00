import { runDone, stepDone, type RunStatus, type StepState } from '../run/status.ts';

/**
 * Progress status writes held back (issue 20 §2: API writes per one-step run ≤ 3). A run's status
 * is written once at its end, and whenever a step's end (or an attempt's) is new, at once: an end is
 * recorded once, and a pass must never find it unwritten and record it again. Any OTHER change
 * (Pending → Running, a waiting reason) is written only after it has waited `holdMs` unwritten,
 * so a step that ends within the hold costs no intermediate write, and a burst of changes costs one. What is held
 * is never lost: the pass that holds asks to be run again when the hold is over, and every pass
 * recomputes the status from what it observes (level-based). What a held write delays is what
 * `kubectl get workflowruns` shows, by at most `holdMs`; the control plane's events come from the
 * audit records, not from the status, and are not delayed.
 */
export class StatusHold {
  private readonly holdMs: number;
  private readonly now: () => number;
  /**
   * Run uid → when a change not yet written was first seen (ms of `now`), the status held last, and
   * the API server's status it was decided from (`base`, JSON; '' for none).
   */
  private readonly since = new Map<string, { readonly at: number; readonly base: string; status: RunStatus }>();

  constructor(holdMs: number, now: () => number = () => performance.now()) {
    this.holdMs = holdMs;
    this.now = now;
  }

  /**
   * How long the run's progress write of `status` must still wait (0: write it now). The first call
   * starts the hold; `status` is kept as the run's held status.
   */
  wait(uid: string, status: RunStatus, base?: RunStatus): number {
    const t = this.now();
    const held = this.since.get(uid) ?? { at: t, base: baseOf(base), status };
    held.status = status;
    this.since.set(uid, held);
    return Math.max(0, held.at + this.holdMs - t);
  }

  /**
   * The run as this process knows it: with the status it holds (newer than the API server's: a step
   * it started, a waiting reason) while the API server still has the status that one was decided
   * from. A pass decides from it, never from an older one (red team 4 finding 1: a step started
   * inside the hold is Running, so its pod deleted meanwhile is STEP_POD_LOST, not created again);
   * its token checks see a run already past its first pass, and record their passes once, as for a
   * written status (src/pipeline/verified.ts). A status written by someone else (another leader)
   * drops the held one.
   */
  known<T extends { readonly uid: string; readonly status?: RunStatus | undefined }>(obj: T): T {
    const held = this.since.get(obj.uid);
    if (held === undefined) return obj;
    if (held.base !== baseOf(obj.status)) {
      this.since.delete(obj.uid);
      return obj;
    }
    return { ...obj, status: held.status };
  }

  /** The run's status was written (or needs no write): the next change starts a new hold. */
  written(uid: string): void {
    this.since.delete(uid);
  }
}

function baseOf(status: RunStatus | undefined): string {
  return status === undefined ? '' : JSON.stringify(status);
}

/** How long a progress status write is held: longer than a short step, short for a human watching. */
export const STATUS_HOLD_MS = 2000;

/** True when `status` must not be held: the run ended, or a step (or an attempt) ended since `previous`. */
export function mustWriteNow(previous: RunStatus | undefined, status: RunStatus): boolean {
  if (runDone(status.phase)) return true;
  const before = new Map<string, StepState>((previous?.steps ?? []).map((s) => [s.name, s]));
  return status.steps.some((s) => {
    const old = before.get(s.name);
    const ended = stepDone(s) && (old === undefined || !stepDone(old));
    return ended || (s.attempts?.length ?? 0) > (old?.attempts?.length ?? 0);
  });
}
