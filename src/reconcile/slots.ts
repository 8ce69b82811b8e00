import type { RunObject } from '../ports/runs.ts';
import { runDone } from '../run/status.ts';

/**
 * workflow.maxConcurrent for the reconciler: which runs are Running, which wait for a slot, and
 * which this process let start and has not yet seen Running. Kept from change events (`seen`),
 * never by a scan of the run cache.
 */
export class Slots {
  private readonly get: (name: string) => RunObject | undefined;
  private readonly maxOf: () => number;
  private readonly wake: (name: string) => void;
  /** Runs whose status says Running, and runs not started yet. */
  private readonly runningNames = new Set<string>();
  private readonly pendingNames = new Set<string>();
  /** Runs this process let start and has not yet seen Running (a slot is theirs). */
  private readonly starting = new Set<string>();

  /**
   * @param get the run as last observed (RunStore.get)
   * @param max workflow.maxConcurrent, read at each decision
   * @param wake queues a pass for a waiting run whose turn it may be
   */
  constructor(get: (name: string) => RunObject | undefined, max: () => number, wake: (name: string) => void) {
    this.get = get;
    this.maxOf = max;
    this.wake = wake;
  }

  /** The run changed (`run` as observed now, undefined: deleted). A run that ended frees its slot. */
  seen(name: string, run: RunObject | undefined): void {
    this.track(name, run);
    if (run?.status !== undefined && runDone(run.status.phase)) {
      this.starting.delete(name);
      // A slot may have freed: the oldest waiting run gets its look now, not at its next resync.
      this.wakeOldestPending();
    } else if (run?.status?.phase === 'Running' || run === undefined) {
      this.starting.delete(name);
    }
  }

  /** The running count: what is Running in the API server plus what this process just let start. */
  running(): number {
    let n = this.runningNames.size;
    for (const name of this.starting) if (!this.runningNames.has(name)) n++;
    return n;
  }

  /**
   * Oldest Pending run first: a run may start when the slots left after the running runs and every
   * older waiting run still leave one for it. Decided synchronously, so two passes never race for a
   * slot; a run let start holds its slot until it is seen Running or ended.
   */
  readonly mayStart = (run: RunObject): boolean => {
    if (this.starting.has(run.name)) return true;
    const max = this.maxOf();
    let taken = this.running();
    if (taken >= max) return false;
    for (const r of this.waiting()) {
      if (r.name === run.name || !before(r, run)) continue;
      if (++taken >= max) {
        // The free slots belong to older runs: they go first (and are looked at now).
        this.wakeOldestPending();
        return false;
      }
    }
    this.starting.add(run.name);
    return true;
  };

  /** Counts the run as Running, waiting, or neither, from its status (`seen` without its side effects). */
  track(name: string, run: RunObject | undefined): void {
    const phase = run === undefined ? undefined : (run.status?.phase ?? 'Pending');
    if (phase === 'Running') this.runningNames.add(name);
    else this.runningNames.delete(name);
    if (phase === 'Pending') this.pendingNames.add(name);
    else this.pendingNames.delete(name);
  }

  private waiting(): RunObject[] {
    const runs: RunObject[] = [];
    for (const name of this.pendingNames) {
      const r = this.get(name);
      if (r !== undefined && !this.starting.has(name) && !r.cancelRequested) runs.push(r);
    }
    return runs;
  }

  private wakeOldestPending(): void {
    let oldest: RunObject | undefined;
    for (const r of this.waiting()) if (oldest === undefined || before(r, oldest)) oldest = r;
    if (oldest !== undefined) this.wake(oldest.name);
  }
}

/** Older first; the name breaks ties (creation timestamps have one-second resolution). */
function before(a: RunObject, b: RunObject): boolean {
  const d = a.createdAt.getTime() - b.createdAt.getTime();
  return d < 0 || (d === 0 && a.name < b.name);
}
