/**
 * How the control-plane client paces its calls (docs/control-plane.md): exponential backoff with
 * full jitter after a failed call or an answer that made no progress, and the shortest interval
 * between two polls that delivered nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The shortest time, in ms, from the start of a poll that delivered nothing (a `204`, or a `200`
 * without assignments or cancellations) to the start of the next. A long-poll answers nothing only
 * after holding the request for `wait` seconds (docs/control-plane.md); a control plane, or a proxy
 * in front of it, that answers nothing at once would otherwise be asked again at once, as fast as
 * the network allows (a loop that goes round again when the peer's answer made no progress).
 */
export const EMPTY_POLL_INTERVAL_MS = 1000;

/**
 * Waits until EMPTY_POLL_INTERVAL_MS have passed since `started` (a performance.now() value: on the
 * wall clock, a step back during a poll paused polling for as long as the step, red team 20, finding 4).
 */
export const emptyPollPause = (started: number): Promise<unknown> =>
  sleep(Math.min(EMPTY_POLL_INTERVAL_MS, Math.max(0, EMPTY_POLL_INTERVAL_MS - (performance.now() - started))));

/** The backoff's bounds, in ms: the first wait's bound, doubled after each wait up to `maxMs`. */
export interface BackoffBounds {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * Exponential backoff with full jitter: wait number n (from 0) since the last reset sleeps a
 * random time up to min(maxMs, initialMs * 2^n) ms.
 */
export class Backoff {
  private attempt = 0;
  private readonly o: BackoffBounds;
  constructor(o: BackoffBounds) {
    this.o = o;
  }
  /** After progress: the next wait is bounded by initialMs again. */
  reset(): void {
    this.attempt = 0;
  }
  /** Full jitter: a random wait up to the exponential bound. */
  async wait(): Promise<void> {
    const bound = Math.min(this.o.maxMs, this.o.initialMs * 2 ** this.attempt++);
    await sleep(Math.random() * bound);
  }
}
