/**
 * The audit budget of refusals made before a token is verified (docs/adr/0008): in each window of
 * `windowSeconds`, the first `perCode` refusals of each (stage, code) are recorded one by one;
 * the others are only counted here, and the window's counts become one summary per stage
 * (`AUDIT_REFUSALS_AGGREGATED`, src/pipeline/refusals.ts). Pure bookkeeping: no clock, no I/O;
 * memory is bounded by the stages × the catalogue's codes, whatever the traffic.
 */

/** The audit stages a refusal before verification is recorded at (receive, verify; a cancellation's verify is `cancel`). */
export type RefusalStage = 'receive' | 'verify' | 'cancel';

/** audit.refusals, as the pipeline takes it (src/app/pipeline-config.ts). */
export interface RefusalLimits {
  /** Refusals of one code recorded one by one per window, 1–100. */
  readonly perCode: number;
  /** The window, in seconds (10–3600). */
  readonly windowSeconds: number;
}

/**
 * One stage's refusals in one window [from, to): per code, how many were recorded one by one and
 * how many were only counted. Present only when `unrecorded` has at least one count.
 */
export interface RefusalSummary {
  readonly stage: RefusalStage;
  readonly from: Date;
  readonly to: Date;
  /** code → refusals recorded one by one in the window. */
  readonly recorded: Readonly<Record<string, number>>;
  /** code → refusals not recorded one by one (counted here and in kubiya_decisions_total). */
  readonly unrecorded: Readonly<Record<string, number>>;
}

interface Counts {
  recorded: number;
  unrecorded: number;
}

/** See the module comment. */
export class RefusalBudget {
  readonly limits: RefusalLimits;
  private from: Date;
  private readonly counts = new Map<RefusalStage, Map<string, Counts>>();

  /** `start`: when the first window opens. */
  constructor(limits: RefusalLimits, start: Date) {
    this.limits = limits;
    this.from = start;
  }

  /**
   * One refusal of `code` at `stage`: true when it is to be recorded one by one (within the
   * window's budget for its code), false when it is only counted.
   */
  take(stage: RefusalStage, code: string): boolean {
    let codes = this.counts.get(stage);
    if (codes === undefined) this.counts.set(stage, (codes = new Map<string, Counts>()));
    let counts = codes.get(code);
    if (counts === undefined) codes.set(code, (counts = { recorded: 0, unrecorded: 0 }));
    if (counts.recorded < this.limits.perCode) {
      counts.recorded++;
      return true;
    }
    counts.unrecorded++;
    return false;
  }

  /**
   * True once the window that opened at `from` is `windowSeconds` old at `now` — or when `now` is
   * before `from`: the wall clock stepped back, and the window ends now rather than stay open (and
   * its only-counted refusals unwritten) until the clock catches up (red team 19, finding 5).
   */
  due(now: Date): boolean {
    const age = now.getTime() - this.from.getTime();
    return age < 0 || age >= this.limits.windowSeconds * 1000;
  }

  /** True when some refusal of the open window was only counted. */
  pending(): boolean {
    for (const codes of this.counts.values()) for (const c of codes.values()) if (c.unrecorded > 0) return true;
    return false;
  }

  /**
   * Ends the open window at `now` and opens the next: the summaries of the window that ended, one
   * per stage with a refusal only counted (none when every refusal was recorded one by one). A
   * window never ends before it opened: after the clock stepped back its `to` is its `from`.
   */
  close(now: Date): RefusalSummary[] {
    const to = now.getTime() < this.from.getTime() ? this.from : now;
    const out: RefusalSummary[] = [];
    for (const [stage, codes] of this.counts) {
      const recorded: Record<string, number> = {};
      const unrecorded: Record<string, number> = {};
      // Code-unit order: the audit record's canonical form sorts members anyway; this keeps messages stable.
      for (const code of [...codes.keys()].sort()) {
        const c = codes.get(code) as Counts;
        if (c.recorded > 0) recorded[code] = c.recorded;
        if (c.unrecorded > 0) unrecorded[code] = c.unrecorded;
      }
      if (Object.keys(unrecorded).length > 0) out.push({ stage, from: this.from, to, recorded, unrecorded });
    }
    this.counts.clear();
    this.from = now;
    return out;
  }
}

/** Two summaries of one stage as one (a summary not yet written, and the next): counts added, the span of both. */
export function mergeSummaries(a: RefusalSummary, b: RefusalSummary): RefusalSummary {
  const add = (x: Readonly<Record<string, number>>, y: Readonly<Record<string, number>>) => {
    const sum: Record<string, number> = { ...x };
    for (const [k, v] of Object.entries(y)) sum[k] = (sum[k] ?? 0) + v;
    return Object.fromEntries(Object.entries(sum).sort(([p], [q]) => (p < q ? -1 : p > q ? 1 : 0)));
  };
  return {
    stage: a.stage,
    from: a.from < b.from ? a.from : b.from,
    to: a.to > b.to ? a.to : b.to,
    recorded: add(a.recorded, b.recorded),
    unrecorded: add(a.unrecorded, b.unrecorded),
  };
}
