/**
 * Class (issue 20 §2, completion seen p99 35 s and ~42 ms of runner CPU per run at 5,000 runs):
 * "work done for ONE event that grows with the number of live runs" — a scan of every run (or of
 * every waiting run) at each change makes a burst of n runs cost O(n²). Pinned here by counting
 * operations on in-memory twins at n and 4n runs (never by timing):
 *   - a run's end (a slot frees) looked at every waiting run, read from the run store, to find the
 *     oldest (reported case: `wakeOldestPending` → `waiting()`, O(waiting) per end);
 *   - a start decision (workflow.maxConcurrent, oldest first) scanned every waiting run (O(waiting)
 *     per first pass), and the running count scanned the runs let start (O(starting) per pass);
 *   - a pod event, a run event, an enqueue: no read of any other run.
 * Each variant: the run-store reads (get, list) and run-object reads (createdAt) made by one event
 * at 4n runs are at most those at n plus a constant. The decisions themselves are pinned against
 * the scanning algorithm they replace (a reference model, fast-check): same answers, same wakes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { RunObject } from '../../src/ports/runs.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { Slots } from '../../src/reconcile/slots.ts';
import type { RunStatus } from '../../src/run/status.ts';

/** Reads of run objects and of the run store, counted. */
interface Counts {
  get: number;
  list: number;
  createdAt: number;
}

function countedRun(counts: Counts, name: string, at: number, status?: RunStatus, cancel = false): RunObject {
  const createdAt = new Date(at);
  return {
    name,
    uid: `uid-${name}`,
    get createdAt(): Date {
      counts.createdAt++;
      return createdAt;
    },
    workflowId: 'w',
    runId: name,
    token: 't',
    cancelRequested: cancel,
    status,
  };
}

const pending = (): RunStatus => ({ phase: 'Pending', steps: [] }) as unknown as RunStatus;
const running = (): RunStatus => ({ phase: 'Running', steps: [] }) as unknown as RunStatus;
const succeeded = (): RunStatus =>
  ({ phase: 'Succeeded', steps: [], finishedAt: new Date(0).toISOString() }) as unknown as RunStatus;

/**
 * A reconciler (a follower: no pass runs, only the bookkeeping of events) over a twin run store
 * holding `waiting` Pending runs and `live` Running ones; returns the reads one event makes.
 */
function reconcilerAt(waiting: number, live: number, maxConcurrent: number) {
  const counts: Counts = { get: 0, list: 0, createdAt: 0 };
  const runs = new Map<string, RunObject>();
  for (let i = 0; i < waiting; i++) runs.set(`p${i}`, countedRun(counts, `p${i}`, i * 1000, pending()));
  for (let i = 0; i < live; i++) runs.set(`r${i}`, countedRun(counts, `r${i}`, i * 1000, running()));
  let runListener: (name: string) => void = () => undefined;
  let podListener: (name: string, ended?: boolean) => void = () => undefined;
  const deps = {
    config: { maxConcurrent, ttlAfterFinishedSeconds: 3600 },
    now: () => new Date(),
    runs: {
      list: () => {
        counts.list++;
        return [...runs.values()];
      },
      get: (name: string) => {
        counts.get++;
        return runs.get(name);
      },
      onChange: (l: (name: string) => void) => (runListener = l),
    },
    pods: { onChange: (l: (name: string, ended?: boolean) => void) => (podListener = l) },
  } as unknown as PipelineDeps;
  const reconciler = new Reconciler(deps, { isLeader: () => false, workers: 4, resyncMs: 3_600_000 });
  reconciler.start();
  for (const name of runs.keys()) runListener(name);
  /** The reads made by `event` alone. */
  const cost = (event: () => void): number => {
    counts.get = 0;
    counts.list = 0;
    counts.createdAt = 0;
    event();
    return counts.get + counts.list + counts.createdAt;
  };
  return {
    reconciler,
    /** A Running run's pod ends, then its status is written Succeeded (a slot frees). */
    runEnds: (i: number) =>
      cost(() => {
        podListener(`r${i}`, true);
        runs.set(`r${i}`, countedRun(counts, `r${i}`, i * 1000, succeeded()));
        runListener(`r${i}`);
      }),
    /** A new Pending run arrives. */
    runArrives: (name: string) =>
      cost(() => {
        runs.set(name, countedRun(counts, name, 1e12, pending()));
        runListener(name);
      }),
    /** A pod changes (not an end). */
    podChanges: (i: number) => cost(() => podListener(`r${i}`)),
    running: () => cost(() => reconciler.running()),
  };
}

const N = 500;

test('one event costs the same reads at 4n live and waiting runs as at n (no scan of the runs)', async () => {
  for (const max of [10, 10_000]) {
    const small = reconcilerAt(N, N, max);
    const large = reconcilerAt(4 * N, 4 * N, max);
    try {
      for (const [what, at] of [
        ['a run ends and frees a slot', (h: typeof small) => h.runEnds(7)],
        ['a Pending run arrives', (h: typeof small) => h.runArrives('new')],
        ['a pod changes', (h: typeof small) => h.podChanges(3)],
        ['the running count', (h: typeof small) => h.running()],
      ] as const) {
        const n = at(small);
        const n4 = at(large);
        assert.ok(n4 <= n + 2, `${what} (maxConcurrent ${max}): ${n} reads at n=${N}, ${n4} at 4n`);
        assert.ok(n4 <= 8, `${what} (maxConcurrent ${max}): ${n4} reads at 4n, a constant expected`);
      }
    } finally {
      await small.reconciler.stop();
      await large.reconciler.stop();
    }
  }
});

test('a start decision reads no other run: mayStart at 4n waiting runs as at n', () => {
  for (const max of [10, 10_000]) {
    const reads: number[] = [];
    for (const n of [N, 4 * N]) {
      const counts: Counts = { get: 0, list: 0, createdAt: 0 };
      const slots = new Slots(
        () => max,
        () => undefined,
      );
      for (let i = 0; i < n; i++) slots.track(`p${i}`, countedRun(counts, `p${i}`, i * 1000, pending()));
      for (let i = 0; i < max / 2 && i < 5; i++) slots.track(`r${i}`, countedRun(counts, `r${i}`, 0, running()));
      counts.createdAt = 0;
      const newest = countedRun(counts, 'newest', 1e12, pending());
      slots.track('newest', newest);
      slots.mayStart(newest);
      slots.mayStart(countedRun(counts, 'p0', 0, pending()));
      reads.push(counts.createdAt);
    }
    const [atN, at4N] = reads as [number, number];
    assert.ok(at4N <= atN + 2 && at4N <= 8, `maxConcurrent ${max}: ${atN} reads at n, ${at4N} at 4n`);
  }
});

/**
 * The scanning algorithm Slots replaces (the reconciler's before issue 20's fix), as an oracle:
 * every waiting run listed and compared at each decision.
 */
class ScanningSlots {
  readonly runningNames = new Set<string>();
  readonly pendingNames = new Set<string>();
  readonly starting = new Set<string>();
  private readonly get: (name: string) => RunObject | undefined;
  private readonly max: number;
  private readonly wake: (name: string) => void;
  constructor(get: (name: string) => RunObject | undefined, max: number, wake: (name: string) => void) {
    this.get = get;
    this.max = max;
    this.wake = wake;
  }
  seen(name: string, run: RunObject | undefined): void {
    const phase = run === undefined ? undefined : (run.status?.phase ?? 'Pending');
    if (phase === 'Running') this.runningNames.add(name);
    else this.runningNames.delete(name);
    if (phase === 'Pending') this.pendingNames.add(name);
    else this.pendingNames.delete(name);
    if (run?.status !== undefined && ['Succeeded', 'Failed', 'Cancelled'].includes(run.status.phase)) {
      this.starting.delete(name);
      this.wakeOldest();
    } else if (run?.status?.phase === 'Running' || run === undefined) this.starting.delete(name);
  }
  running(): number {
    let n = this.runningNames.size;
    for (const name of this.starting) if (!this.runningNames.has(name)) n++;
    return n;
  }
  mayStart(run: RunObject): boolean {
    if (this.starting.has(run.name)) return true;
    let taken = this.running();
    if (taken >= this.max) return false;
    for (const r of this.waiting()) {
      if (r.name === run.name || !older(r, run)) continue;
      if (++taken >= this.max) {
        this.wakeOldest();
        return false;
      }
    }
    this.starting.add(run.name);
    return true;
  }
  private waiting(): RunObject[] {
    return [...this.pendingNames]
      .map((n) => this.get(n))
      .filter((r): r is RunObject => r !== undefined && !this.starting.has(r.name) && !r.cancelRequested);
  }
  private wakeOldest(): void {
    let oldest: RunObject | undefined;
    for (const r of this.waiting()) if (oldest === undefined || older(r, oldest)) oldest = r;
    if (oldest !== undefined) this.wake(oldest.name);
  }
}

function older(a: RunObject, b: RunObject): boolean {
  const d = a.createdAt.getTime() - b.createdAt.getTime();
  return d < 0 || (d === 0 && a.name < b.name);
}

type Op =
  | { readonly kind: 'status'; readonly run: number; readonly phase: 'Pending' | 'Running' | 'Succeeded' | 'none' }
  | { readonly kind: 'cancel'; readonly run: number }
  | { readonly kind: 'delete'; readonly run: number }
  | { readonly kind: 'mayStart'; readonly run: number };

test('Slots decides as the scanning algorithm did: same starts, same wakes, same running count', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant('status' as const),
      run: fc.nat(11),
      phase: fc.constantFrom('Pending' as const, 'Running' as const, 'Succeeded' as const, 'none' as const),
    }),
    fc.record({ kind: fc.constant('cancel' as const), run: fc.nat(11) }),
    fc.record({ kind: fc.constant('delete' as const), run: fc.nat(11) }),
    fc.record({ kind: fc.constant('mayStart' as const), run: fc.nat(11) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 5 }), fc.array(op, { maxLength: 80 }), (max, ops) => {
      const counts: Counts = { get: 0, list: 0, createdAt: 0 };
      const runs = new Map<string, RunObject>();
      const wakes: [string[], string[]] = [[], []];
      const model = new ScanningSlots(
        (n) => runs.get(n),
        max,
        (n) => wakes[0].push(n),
      );
      const slots = new Slots(
        () => max,
        (n) => wakes[1].push(n),
      );
      // Creation times with ties (one-second resolution): the name breaks them.
      const at = (i: number): number => Math.floor(i / 3) * 1000;
      for (const o of ops) {
        const name = `run-${o.run}`;
        const before = runs.get(name);
        if (o.kind === 'mayStart') {
          const run = before ?? countedRun(counts, name, at(o.run), undefined);
          assert.equal(slots.mayStart(run), model.mayStart(run), `mayStart(${name})`);
        } else {
          if (o.kind === 'delete') runs.delete(name);
          else if (o.kind === 'cancel') runs.set(name, countedRun(counts, name, at(o.run), before?.status, true));
          else {
            const status =
              o.phase === 'none'
                ? undefined
                : o.phase === 'Pending'
                  ? pending()
                  : o.phase === 'Running'
                    ? running()
                    : succeeded();
            runs.set(name, countedRun(counts, name, at(o.run), status, before?.cancelRequested ?? false));
          }
          model.seen(name, runs.get(name));
          slots.seen(name, runs.get(name));
        }
        assert.equal(slots.running(), model.running(), 'running()');
        assert.deepEqual(wakes[1], wakes[0], 'the runs woken');
      }
    }),
    { numRuns: 300 },
  );
});
