import type { RunObject } from '../create/run-store.ts';
import { reconcileRun } from '../pipeline.ts';
import type { PipelineDeps } from '../pipeline/types.ts';
import { orphans } from './orphans.ts';
import { runDone } from './status.ts';

export interface ReconcilerOptions {
  /** Only the Lease holder reconciles; the others keep their caches warm and wait. */
  readonly isLeader: () => boolean;
  /** Runs reconciled at the same time (each run's passes are serial). */
  readonly workers: number;
  /** Every run is looked at again this often even without a change (level-based safety net). */
  readonly resyncMs: number;
}

/**
 * The loop around reconcileRun: a work queue keyed by run name, fed by changes to runs and to
 * their pods (one watch per kind, in the adapters) and by the requeue each pass asks for. A run
 * is never reconciled by two passes at once; a change during a pass queues one more pass.
 */
export class Reconciler {
  private readonly deps: PipelineDeps;
  private readonly o: ReconcilerOptions;
  private readonly due = new Map<string, number>();
  private readonly busy = new Set<string>();
  private readonly again = new Set<string>();
  /** Runs this process let start and has not yet seen Running (a slot is theirs). */
  private readonly starting = new Set<string>();
  private readonly waiters = new Map<string, Set<(run: RunObject) => void>>();
  private readonly inflight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private resync: NodeJS.Timeout | undefined;
  private stopped = true;

  constructor(deps: PipelineDeps, o: ReconcilerOptions) {
    this.deps = deps;
    this.o = o;
    deps.runs.onChange((name) => this.changed(name));
    deps.pods.onChange((name) => this.enqueue(name));
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    for (const run of this.deps.runs.list()) this.enqueue(run.name);
    this.resync = setInterval(() => {
      for (const run of this.deps.runs.list()) this.enqueue(run.name);
      void this.collectOrphans();
    }, this.o.resyncMs);
    this.resync.unref();
  }

  /** Stops taking work and waits for the passes in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.resync !== undefined) clearInterval(this.resync);
    await Promise.allSettled([...this.inflight]);
  }

  /** Deletes what no live run owns (leader only). Returns how many objects were deleted. */
  async collectOrphans(): Promise<number> {
    if (!this.o.isLeader() || this.stopped) return 0;
    const owned = await this.deps.pods.owned();
    if (!owned.ok) return 0;
    // Read the runs after the objects: a run created in between is then known, never mistaken for gone.
    const lost = orphans(owned.value, this.deps.runs.list());
    if (lost.length === 0) return 0;
    const deleted = await this.deps.pods.deleteObjects(lost);
    return deleted.ok ? deleted.value : 0;
  }

  /** Resolves with the run once it has finished (or undefined after timeoutMs). */
  whenDone(name: string, timeoutMs: number): Promise<RunObject | undefined> {
    const done = this.deps.runs.get(name);
    if (done?.status !== undefined && runDone(done.status.phase)) return Promise.resolve(done);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.get(name)?.delete(waiter);
        resolve(undefined);
      }, timeoutMs);
      const waiter = (run: RunObject): void => {
        clearTimeout(timer);
        resolve(run);
      };
      const set = this.waiters.get(name) ?? new Set();
      set.add(waiter);
      this.waiters.set(name, set);
    });
  }

  enqueue(name: string, afterMs = 0): void {
    if (this.busy.has(name) && afterMs === 0) {
      this.again.add(name);
      return;
    }
    const at = Date.now() + afterMs;
    const current = this.due.get(name);
    if (current === undefined || at < current) this.due.set(name, at);
    this.schedule();
  }

  /** The running count: what is Running in the API server plus what this process just let start. */
  running(): number {
    return this.deps.runs.list().filter((r) => r.status?.phase === 'Running' || (this.starting.has(r.name) && !(r.status !== undefined && runDone(r.status.phase)))).length;
  }

  private changed(name: string): void {
    const run = this.deps.runs.get(name);
    if (run?.status !== undefined && runDone(run.status.phase)) {
      this.starting.delete(name);
      const waiting = this.waiters.get(name);
      this.waiters.delete(name);
      for (const w of waiting ?? []) w(run);
      // A slot may have freed: the oldest waiting runs get their look now, not at their next resync.
      for (const r of this.deps.runs.list()) if ((r.status?.phase ?? 'Pending') === 'Pending') this.enqueue(r.name);
    } else if (run?.status?.phase === 'Running') {
      this.starting.delete(name);
    } else if (run === undefined) {
      this.starting.delete(name);
    }
    this.enqueue(name);
  }

  /** workflow.maxConcurrent, oldest Pending run first; decided synchronously, so two passes never race for a slot. */
  private mayStart = (run: RunObject): boolean => {
    if (this.starting.has(run.name)) return true;
    if (this.running() >= this.deps.config.maxConcurrent) return false;
    const older = this.deps.runs.list().filter((r) => (r.status?.phase ?? 'Pending') === 'Pending' && !this.starting.has(r.name) && !r.cancelRequested && (r.createdAt < run.createdAt || (r.createdAt.getTime() === run.createdAt.getTime() && r.name < run.name)));
    if (older.length > 0) return false;
    this.starting.add(run.name);
    return true;
  };

  private schedule(): void {
    if (this.stopped) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const next = Math.min(...this.due.values());
    if (!Number.isFinite(next)) return;
    this.timer = setTimeout(() => this.drain(), Math.max(0, next - Date.now()));
  }

  private drain(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const now = Date.now();
    for (const [name, at] of [...this.due].sort((a, b) => a[1] - b[1])) {
      if (this.busy.size >= this.o.workers) break;
      if (at > now || this.busy.has(name)) continue;
      this.due.delete(name);
      if (!this.o.isLeader()) {
        // Not ours to act on; look again later in case we become the leader.
        this.due.set(name, now + 1000);
        continue;
      }
      this.process(name);
    }
    this.schedule();
  }

  private process(name: string): void {
    this.busy.add(name);
    const pass = (async () => {
      const run = this.deps.runs.get(name);
      if (run === undefined) return;
      const result = await reconcileRun(run, this.deps, this.mayStart);
      if (result.requeueAfterMs !== undefined) this.enqueue(name, result.requeueAfterMs);
      this.deps.observer?.workflowsRunning(this.running());
    })().catch((e: unknown) => this.deps.observer?.internalError(e)).finally(() => {
      this.busy.delete(name);
      this.inflight.delete(pass);
      if (this.again.delete(name)) this.enqueue(name);
      else this.schedule();
    });
    this.inflight.add(pass);
  }
}
