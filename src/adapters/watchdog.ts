/**
 * Stall detection for one API watch, as pure decisions plus a timer that acts on them.
 *
 * A watch that delivers nothing — no event, no bookmark — for `idleMs` is taken for stalled: the
 * API server sends a bookmark at least every minute and about 2 s before the watch's own
 * `timeoutSeconds`, then ends it, so a healthy watch is never silent that long when `idleMs` exceeds
 * the server timeout. Independently, a watch is ended when the informer's last full list is
 * `relistMs` old, so the cache is rebuilt from a list on a bounded period whatever the watch says.
 * Times are milliseconds on one monotonic clock.
 */

export interface WatchBounds {
  /** Longest silence (ms) a watch may keep before it is taken for stalled. */
  readonly idleMs: number;
  /** Longest age (ms) of the last full list before the watch is ended for a relist. */
  readonly relistMs: number;
}

export interface WatchTimes {
  /** When the watch last delivered something (or started). */
  readonly lastSeenAt: number;
  /** When the informer's last full list completed. */
  readonly listedAt: number;
}

/** What to do with a running watch now: keep waiting (and look again after `forMs`), or end it. */
export type WatchVerdict =
  | { readonly kind: 'wait'; readonly forMs: number }
  | { readonly kind: 'idle'; readonly silentMs: number }
  | { readonly kind: 'relist'; readonly sinceListMs: number };

/** The stall decision at `now`. A stall wins over a due relist: it is the one worth reporting. */
export function judgeWatch(times: WatchTimes, bounds: WatchBounds, now: number): WatchVerdict {
  const silentMs = now - times.lastSeenAt;
  if (silentMs >= bounds.idleMs) return { kind: 'idle', silentMs };
  const sinceListMs = now - times.listedAt;
  if (sinceListMs >= bounds.relistMs) return { kind: 'relist', sinceListMs };
  return { kind: 'wait', forMs: Math.min(bounds.idleMs - silentMs, bounds.relistMs - sinceListMs) };
}

/** The clock and timers a Watchdog uses; tests pass a fake one. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The process's monotonic clock; timers do not keep the process alive. */
export const SYSTEM_TIMERS: Timers = Object.freeze({
  now: () => performance.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
});

/**
 * Watches one watch: `seen()` on every event or bookmark; `fire` is called once, with the verdict,
 * when the watch is to be ended. One timer at a time, re-armed only when it expires (a busy watch
 * costs one assignment per event, not a timer).
 */
export class Watchdog {
  private readonly bounds: WatchBounds;
  private readonly listedAt: () => number;
  private readonly fire: (verdict: Exclude<WatchVerdict, { kind: 'wait' }>) => void;
  private readonly timers: Timers;
  private lastSeenAt: number;
  private timer: unknown;
  private done = false;

  /** `listedAt` reads the informer's last list time on `timers`' clock; `fire` may run at once. */
  constructor(
    bounds: WatchBounds,
    listedAt: () => number,
    fire: (verdict: Exclude<WatchVerdict, { kind: 'wait' }>) => void,
    timers: Timers = SYSTEM_TIMERS,
  ) {
    this.bounds = bounds;
    this.listedAt = listedAt;
    this.fire = fire;
    this.timers = timers;
    this.lastSeenAt = timers.now();
    this.check();
  }

  /** The watch delivered something. */
  seen(): void {
    this.lastSeenAt = this.timers.now();
  }

  /** The watch ended by itself: never fire. */
  stop(): void {
    this.done = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    this.timer = undefined;
    if (this.done) return;
    const verdict = judgeWatch(
      { lastSeenAt: this.lastSeenAt, listedAt: this.listedAt() },
      this.bounds,
      this.timers.now(),
    );
    if (verdict.kind === 'wait') {
      this.timer = this.timers.setTimeout(() => this.check(), verdict.forMs);
      return;
    }
    this.done = true;
    this.fire(verdict);
  }
}
