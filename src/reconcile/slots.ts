import type { RunObject } from '../ports/runs.ts';
import { runDone } from '../run/status.ts';

/** A waiting run's place in line: older first, the name breaking ties. */
interface Place {
  readonly at: number;
  readonly name: string;
}

/**
 * workflow.maxConcurrent for the reconciler: which runs are Running, which wait for a slot (in
 * line, oldest first), and which this process let start and has not yet seen Running. Kept from
 * change events (`seen`, `track`), never by a scan: every answer is O(1) or O(log n) in the number
 * of runs (issue 20 §2: a decision that listed every waiting run, at each start and at each end,
 * cost O(waiting) per event, O(n²) over a burst of thousands of runs).
 */
export class Slots {
  private readonly maxOf: () => number;
  private readonly wake: (name: string) => void;
  /** Runs whose status says Running. */
  private readonly runningNames = new Set<string>();
  /** Runs this process let start and has not yet seen Running or ended (a slot is theirs). */
  private readonly starting = new Set<string>();
  /** `starting` without the runs also in `runningNames`: running() = runningNames + these. */
  private readonly startingOnly = new Set<string>();
  /** Runs not started yet, not cancelled, not `starting`: each one's place, and the line they form. */
  private readonly places = new Map<string, Place>();
  private readonly line: Place[] = [];

  /**
   * @param max workflow.maxConcurrent, read at each decision
   * @param wake queues a pass for a waiting run whose turn it may be
   */
  constructor(max: () => number, wake: (name: string) => void) {
    this.maxOf = max;
    this.wake = wake;
  }

  /** The run changed (`run` as observed now, undefined: deleted). A run that ended frees its slot. */
  seen(name: string, run: RunObject | undefined): void {
    const ended = run?.status !== undefined && runDone(run.status.phase);
    if (ended || run === undefined || run.status?.phase === 'Running') this.unstart(name);
    this.track(name, run);
    // A slot may have freed: the oldest waiting run gets its look now, not at its next resync.
    if (ended) this.wakeOldestWaiting();
  }

  /** Counts the run as Running, waiting, or neither, from its status (`seen` without its side effects). */
  track(name: string, run: RunObject | undefined): void {
    const phase = run === undefined ? undefined : (run.status?.phase ?? 'Pending');
    if (phase === 'Running') {
      this.runningNames.add(name);
      this.startingOnly.delete(name);
    } else if (this.runningNames.delete(name) && this.starting.has(name)) this.startingOnly.add(name);
    this.leaveLine(name);
    if (run !== undefined && phase === 'Pending' && !run.cancelRequested && !this.starting.has(name))
      this.joinLine({ at: run.createdAt.getTime(), name });
  }

  /** The running count: what is Running in the API server plus what this process just let start. O(1). */
  running(): number {
    return this.runningNames.size + this.startingOnly.size;
  }

  /**
   * Oldest Pending run first: a run may start when the slots left after the running runs and every
   * older waiting run still leave one for it. Decided synchronously, so two passes never race for a
   * slot; a run let start holds its slot until it is seen Running or ended. O(log n).
   */
  readonly mayStart = (run: RunObject): boolean => {
    if (this.starting.has(run.name)) return true;
    const free = this.maxOf() - this.running();
    if (free <= 0) return false;
    if (this.olderThan({ at: run.createdAt.getTime(), name: run.name }) >= free) {
      // The free slots belong to older runs: they go first (and are looked at now).
      this.wakeOldestWaiting();
      return false;
    }
    this.starting.add(run.name);
    if (!this.runningNames.has(run.name)) this.startingOnly.add(run.name);
    this.leaveLine(run.name);
    return true;
  };

  private unstart(name: string): void {
    this.starting.delete(name);
    this.startingOnly.delete(name);
  }

  private wakeOldestWaiting(): void {
    const oldest = this.line[0];
    if (oldest !== undefined) this.wake(oldest.name);
  }

  /** How many waiting runs are older than `p` (binary search: O(log n)). */
  private olderThan(p: Place): number {
    let lo = 0;
    let hi = this.line.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (before(this.line[mid] as Place, p)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private joinLine(p: Place): void {
    this.places.set(p.name, p);
    this.line.splice(this.olderThan(p), 0, p);
  }

  private leaveLine(name: string): void {
    const p = this.places.get(name);
    if (p === undefined) return;
    this.places.delete(name);
    this.line.splice(this.olderThan(p), 1);
  }
}

/** Older first; the name breaks ties (creation timestamps have one-second resolution). */
function before(a: Place, b: Place): boolean {
  return a.at < b.at || (a.at === b.at && a.name < b.name);
}
