/**
 * The control-plane client's poll loop (docs/control-plane.md, `GET
 * /v1/runners/{name}/assignments?wait=…`): long-polls while the runner can take work, hands each
 * cancellation and assignment on, and paces itself when the answer made no progress.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlaneCall } from './control-plane-call.ts';
import { readPollAnswer } from './control-plane-answers.ts';
import { Backoff, emptyPollPause, type BackoffBounds } from './control-plane-pacing.ts';

/**
 * What the client hands an assignment to (the same path as push intake): resolves `false` when it
 * was refused (nothing admitted), anything else when it was taken. An answer whose every item was
 * refused is no progress: the next poll waits with backoff (red team 19, finding 3: a control plane
 * re-delivering a refused assignment at once drew 1,629 polls and 4,887 audit records in 2 s).
 */
export type Intake = (token: string) => Promise<boolean | void>;
/** What the client hands a cancellation to (the same path as POST /v1/cancellations); `false` as Intake's. */
export type Cancel = (token: string) => Promise<boolean | void>;

/** What the poll loop reads and calls. */
export interface PollLoop {
  /** The poll's path below the control plane's base URL, with its `?wait=`. */
  readonly path: string;
  /** The long-poll's `wait`, in seconds: each poll may take this plus 10 s before it times out. */
  readonly waitSeconds: number;
  /** `controlPlane.maxTokenBytes`: bounds what a poll answer may hold (pollAnswerMaxBytes). */
  readonly maxTokenBytes: number;
  readonly backoff: BackoffBounds;
  readonly call: ControlPlaneCall;
  readonly intake: Intake;
  readonly cancel: Cancel;
  /** Reports a failed poll (`operation` is 'poll'), before the backoff's wait. */
  readonly fail: (operation: string, e: unknown) => void;
  /** False once the client stops: the loop ends. */
  readonly running: () => boolean;
  /** Whether to poll now (registered, intake can accept, room for events); asked again every 200 ms while not. */
  readonly ready: () => boolean;
}

/**
 * Polls until `running()` is false. A failed poll is reported and retried with
 * backoff. A poll that delivered nothing (`204`, or no assignments and no cancellations) is
 * followed by the next no sooner than EMPTY_POLL_INTERVAL_MS after it started; one whose every
 * item was refused (Intake, Cancel) by a wait of its own backoff.
 */
export async function pollLoop(p: PollLoop): Promise<void> {
  const backoff = new Backoff(p.backoff);
  const refusedAll = new Backoff(p.backoff);
  while (p.running()) {
    if (!p.ready()) {
      await sleep(200);
      continue;
    }
    const started = performance.now();
    try {
      const res = await p.call('poll', 'GET', p.path, undefined, (p.waitSeconds + 10) * 1000);
      if (res.status === 204) {
        backoff.reset();
        await emptyPollPause(started);
        continue;
      }
      const { assignments, cancellations } = await readPollAnswer(res, p.maxTokenBytes);
      backoff.reset();
      if (assignments.length === 0 && cancellations.length === 0) await emptyPollPause(started);
      let taken = 0;
      for (const token of cancellations) if ((await p.cancel(token)) !== false) taken++;
      for (const token of assignments) if ((await p.intake(token)) !== false) taken++;
      if (taken > 0) refusedAll.reset();
      else if (assignments.length + cancellations.length > 0) await refusedAll.wait();
    } catch (e) {
      p.fail('poll', e);
      await backoff.wait();
    }
  }
}
