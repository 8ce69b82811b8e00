import type { RunObject } from '../ports/runs.ts';
import { reconcileRun } from './reconcile.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { STATUS_HOLD_MS, StatusHold } from './hold.ts';
import { collectOrphans } from './orphans.ts';
import { Slots } from './slots.ts';
import { DoneWaiters } from './waiters.ts';
import { runDone } from '../run/status.ts';
import { timerDelay } from '../units/units.ts';

/** When passes of both queues wait, every RESYNC_SHARE-th pass started is a resync one (never starved). */
const RESYNC_SHARE = 8;
/** Resync passes in flight at once, at most: the other workers (and the CPU) stay for the changes. */
const RESYNC_AT_ONCE = 8;
/** Passes for a pod's end that may start beyond `workers` (all of them busy with starts): an end is short. */
export const ENDS_BEYOND_WORKERS = 16;

export interface ReconcilerOptions {
  /** Only the Lease holder reconciles; the others keep their caches warm and wait. */
  readonly isLeader: () => boolean;
  /** Runs reconciled at the same time (each run's passes are serial). */
  readonly workers: number;
  /** Every run is looked at again this often even without a change (level-based safety net). */
  readonly resyncMs: number;
  /**
   * The clock of the resync's ages and of requeue times, in ms: monotonic, `performance.now()`
   * unless a test gives its own. Never the wall clock (Date.now()), which can be stepped.
   */
  readonly now?: () => number;
}

/**
 * The loop around reconcileRun: a work queue keyed by run name, fed by changes to runs and to
 * their pods (one watch per kind, in the adapters) and by the requeue each pass asks for. A run
 * is never reconciled by two passes at once; a change during a pass queues one more pass.
 * Enqueueing is O(1): thousands of runs do not make every change cost a scan.
 *
 * The periodic resync (the level-based safety net) queues apart, behind the changes: with
 * thousands of runs it would otherwise put thousands of passes in front of a pod's end (issue 20
 * §2, completion seen p99). It skips a run that had a pass within the last resync period, takes
 * one start in RESYNC_SHARE while changes wait (so a missed event is still seen within two
 * periods), and has at most RESYNC_AT_ONCE passes in flight: passes that find nothing new still
 * cost CPU (the token's re-verification), which a pod's end would otherwise share with all of them.
 */
export class Reconciler {
  private readonly deps: PipelineDeps;
  private readonly o: ReconcilerOptions;
  private readonly now: () => number;
  /** Runs whose pod ended, to reconcile before `ready`'s: the end is recorded first (completion seen). */
  private readonly ending = new Set<string>();
  /** Runs to reconcile now, in arrival order (a Set: a run waits at most once). */
  private readonly ready = new Set<string>();
  /** Runs queued by the resync only: started after `ready`'s (see RESYNC_SHARE). */
  private readonly resyncing = new Set<string>();
  /** Resync passes in flight (at most RESYNC_AT_ONCE). */
  private readonly resyncBusy = new Set<string>();
  /** When each run's last pass started (performance.now() ms): the resync skips runs looked at within its period. */
  private readonly lastPass = new Map<string, number>();
  /** Passes started, for RESYNC_SHARE. */
  private started = 0;
  /** Runs to reconcile later: one timer each, the earliest wins. */
  private readonly later = new Map<string, { readonly at: number; readonly timer: NodeJS.Timeout }>();
  private readonly busy = new Set<string>();
  private readonly again = new Set<string>();
  /** Runs in `again` whose next pass is for a pod's end (queued in `ending`). */
  private readonly againEnding = new Set<string>();
  private readonly waiters = new DoneWaiters();
  private readonly inflight = new Set<Promise<void>>();
  /** Progress status writes held (hold.ts); terminal ones are never held. */
  private readonly hold = new StatusHold(STATUS_HOLD_MS);
  /** workflow.maxConcurrent: running, waiting and starting runs (slots.ts). */
  private readonly slots: Slots;
  private kicked = false;
  private resync: NodeJS.Timeout | undefined;
  private stopped = true;

  constructor(deps: PipelineDeps, o: ReconcilerOptions) {
    this.deps = deps;
    this.o = o;
    this.now = o.now ?? (() => performance.now());
    this.slots = new Slots(
      () => deps.config.maxConcurrent,
      (name) => this.enqueue(name),
    );
    deps.runs.onChange((name) => this.changed(name));
    deps.pods.onChange((name, ended) => this.enqueue(name, 0, ended === true));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    for (const run of this.deps.runs.list()) {
      this.slots.track(run.name, run);
      this.enqueue(run.name);
    }
    this.resync = setInterval(() => {
      this.resyncAll();
      void this.collectOrphans();
    }, this.o.resyncMs);
    this.resync.unref();
  }

  /** Stops taking work and waits for the passes in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.resync !== undefined) clearInterval(this.resync);
    for (const { timer } of this.later.values()) clearTimeout(timer);
    this.later.clear();
    await Promise.allSettled([...this.inflight]);
  }

  /** The orphan sweep (orphans.ts), by the leader only: how many objects were deleted. */
  async collectOrphans(): Promise<number> {
    if (!this.o.isLeader() || this.stopped) return 0;
    return collectOrphans(this.deps);
  }

  /** Resolves with the run once it has finished (or undefined after timeoutMs). */
  whenDone(name: string, timeoutMs: number): Promise<RunObject | undefined> {
    const done = this.deps.runs.get(name);
    if (done?.status !== undefined && runDone(done.status.phase)) return Promise.resolve(done);
    return this.waiters.wait(name, timeoutMs);
  }

  /**
   * Queues a pass for the run: now, or after `asked` ms (the earliest asked wins; at most
   * MAX_TIMER_MS, units.ts). `ended`: one of
   * its pods has just ended, so its pass goes before every other waiting one (ending-first: the
   * end is what a user waits on, and its pass frees the run's memory; a start can wait).
   */
  enqueue(name: string, asked = 0, ended = false): void {
    if (this.stopped) return;
    // A wait derived from a status (an edited finishedAt far ahead) may exceed what a timer can
    // wait; clamped, the pass comes early and asks again (each pass recomputes its wait).
    const afterMs = timerDelay(asked);
    if (afterMs > 0) {
      const at = this.now() + afterMs;
      const current = this.later.get(name);
      if (current !== undefined && current.at <= at) return;
      if (current !== undefined) clearTimeout(current.timer);
      const timer = setTimeout(() => {
        this.later.delete(name);
        this.enqueue(name);
      }, afterMs);
      timer.unref();
      this.later.set(name, { at, timer });
      return;
    }
    if (this.busy.has(name)) {
      this.again.add(name);
      if (ended) this.againEnding.add(name);
      return;
    }
    this.resyncing.delete(name);
    if (ended || this.ending.has(name)) {
      this.ready.delete(name);
      this.ending.add(name);
    } else this.ready.add(name);
    this.kick();
  }

  /** Queues, behind the changes, every run no pass has looked at within the resync period. */
  private resyncAll(): void {
    if (this.stopped) return;
    const since = this.now() - this.o.resyncMs;
    for (const { name } of this.deps.runs.list()) {
      if ((this.lastPass.get(name) ?? -Infinity) > since || this.queued(name)) continue;
      this.resyncing.add(name);
    }
    if (this.resyncing.size > 0) this.kick();
  }

  /** True when the run has a pass running or queued as a change's. */
  private queued(name: string): boolean {
    return this.ready.has(name) || this.ending.has(name) || this.busy.has(name);
  }

  /** True when no pass is running or queued to run now (timers for later passes may be set). */
  idle(): boolean {
    const waiting = this.ready.size + this.ending.size + this.resyncing.size + this.again.size;
    return this.busy.size === 0 && waiting === 0;
  }

  /** The running count: what is Running in the API server plus what this process just let start. */
  running(): number {
    return this.slots.running();
  }

  private changed(name: string): void {
    const run = this.deps.runs.get(name);
    this.slots.seen(name, run);
    if (run?.status !== undefined && runDone(run.status.phase)) this.waiters.ended(run);
    if (run === undefined) this.lastPass.delete(name);
    this.enqueue(name);
  }

  private kick(): void {
    if (this.kicked || this.stopped) return;
    this.kicked = true;
    setImmediate(() => {
      this.kicked = false;
      this.drain();
    });
  }

  private drain(): void {
    if (this.stopped) return;
    const leader = this.o.isLeader();
    while (this.busy.size < this.o.workers + (this.ending.size > 0 ? ENDS_BEYOND_WORKERS : 0)) {
      const { name, resync } = this.next();
      if (name === undefined) break;
      // A resync entry whose run a change pass took meanwhile: that pass looks at it.
      if (this.busy.has(name)) continue;
      if (resync && leader) this.resyncBusy.add(name);
      if (!leader) {
        // Not ours to act on; look again later in case we become the leader.
        this.enqueue(name, 1000);
        continue;
      }
      this.process(name);
    }
  }

  /**
   * The next run to pass: a pod's end first, then a change's, but one in RESYNC_SHARE from the
   * resync queue when both wait; a resync one only while fewer than RESYNC_AT_ONCE are in flight.
   * Past `workers` busy (ENDS_BEYOND_WORKERS), only ends start.
   */
  private next(): { readonly name: string | undefined; readonly resync: boolean } {
    if (this.busy.size >= this.o.workers) return this.take(this.ending, false);
    const open = this.resyncing.size > 0 && this.resyncBusy.size < RESYNC_AT_ONCE;
    const changes = this.ending.size + this.ready.size;
    const resync = open && (changes === 0 || (this.started + 1) % RESYNC_SHARE === 0);
    return this.take(resync ? this.resyncing : this.ending.size > 0 ? this.ending : this.ready, resync);
  }

  private take(queue: Set<string>, resync: boolean): { readonly name: string | undefined; readonly resync: boolean } {
    const name = queue.values().next().value;
    if (name === undefined) return { name: undefined, resync };
    queue.delete(name);
    this.started++;
    return { name, resync };
  }

  private process(name: string): void {
    this.busy.add(name);
    this.lastPass.set(name, this.now());
    const pass = (async () => {
      const run = this.deps.runs.get(name);
      if (run === undefined) return;
      const result = await reconcileRun(run, this.deps, this.slots.mayStart, this.hold);
      if (result.requeueAfterMs !== undefined) this.enqueue(name, result.requeueAfterMs);
    })()
      .catch((e: unknown) => this.deps.observer?.internalError(e))
      .finally(() => {
        this.busy.delete(name);
        this.resyncBusy.delete(name);
        this.inflight.delete(pass);
        this.deps.observer?.workflowsRunning(this.running());
        if (this.again.delete(name)) this.enqueue(name, 0, this.againEnding.delete(name));
        this.kick();
      });
    this.inflight.add(pass);
  }
}
