import type { RunObject } from '../ports/runs.ts';

/** Callers waiting for a run to finish (Reconciler.whenDone), by run name. */
export class DoneWaiters {
  private readonly waiters = new Map<string, Set<(run: RunObject) => void>>();

  /** Resolves with the run once `ended` is called for it, or with undefined after `timeoutMs`. */
  wait(name: string, timeoutMs: number): Promise<RunObject | undefined> {
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

  /** The run has finished: every caller waiting for it gets it. */
  ended(run: RunObject): void {
    const waiting = this.waiters.get(run.name);
    this.waiters.delete(run.name);
    for (const w of waiting ?? []) w(run);
  }
}
