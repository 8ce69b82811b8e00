/**
 * Refusals before verification, as the audit log keeps them (docs/adr/0008): one RefusalBudget
 * per audit log (per AuditSink object, so every admission writing to one log shares it), and the
 * writer of its summaries — one `AUDIT_REFUSALS_AGGREGATED` record per stage per window in which
 * some refusal was only counted. A summary that cannot be written is kept (merged per stage, so
 * at most one per stage waits) and written with the next one.
 */
import type { AuditSink } from '../audit/record.ts';
import type { PipelineDeps } from './deps.ts';
import { mergeSummaries, RefusalBudget, type RefusalStage, type RefusalSummary } from './refusal-budget.ts';

/** A pipeline's refusal budget and its unwritten summaries; see the module comment. */
export class Refusals {
  readonly budget: RefusalBudget;
  private readonly unwritten = new Map<RefusalStage, RefusalSummary>();

  constructor(budget: RefusalBudget) {
    this.budget = budget;
  }

  /**
   * One refusal: true when it is to be recorded one by one. Starts writing the summaries of a
   * window that has ended first (not awaited: the refusal's answer never waits for them), so the
   * refusal counts in the new window.
   */
  take(stage: RefusalStage, code: string, deps: PipelineDeps): boolean {
    if (this.budget.due(deps.now())) void this.flush(deps);
    return this.budget.take(stage, code);
  }

  /**
   * Ends the window when it is due (or at once with `force`: shutdown) and writes its summaries
   * and any left unwritten, each once it is durable. Never rejects: a summary that cannot be made
   * durable is kept for the next flush (and reported through `observer.problem`).
   */
  async flush(deps: PipelineDeps, force = false): Promise<void> {
    const now = deps.now();
    if (!force && !this.budget.due(now)) return;
    for (const s of this.budget.close(now)) {
      const kept = this.unwritten.get(s.stage);
      this.unwritten.set(s.stage, kept === undefined ? s : mergeSummaries(kept, s));
    }
    const due = [...this.unwritten.values()];
    this.unwritten.clear();
    await Promise.all(due.map((s) => this.write(s, deps)));
  }

  /** True while some refusal is counted but in no durable record yet (tests, shutdown). */
  pending(): boolean {
    return this.unwritten.size > 0 || this.budget.pending();
  }

  private async write(s: RefusalSummary, deps: PipelineDeps): Promise<void> {
    const runner = deps.config.runner;
    const total = Object.values(s.unrecorded).reduce((a, b) => a + b, 0);
    const message =
      `${total} refusals at stage ${s.stage} from ${s.from.toISOString()} to ${s.to.toISOString()} were not recorded ` +
      `one by one (the first ${this.budget.limits.perCode} of each code per ${this.budget.limits.windowSeconds} s are): ` +
      Object.entries(s.unrecorded)
        .map(([code, n]) => `${code} ${n}`)
        .join(', ');
    try {
      await deps.audit.append({
        decision_id: deps.newId(),
        timestamp: s.to.toISOString(),
        stage: s.stage,
        outcome: 'deny',
        code: 'AUDIT_REFUSALS_AGGREGATED',
        message,
        runner,
        labels: { runner },
        result: { from: s.from.toISOString(), to: s.to.toISOString(), recorded: s.recorded, unrecorded: s.unrecorded },
      });
      deps.observer?.problem?.({ code: 'AUDIT_REFUSALS_AGGREGATED', message });
    } catch (e) {
      const kept = this.unwritten.get(s.stage);
      this.unwritten.set(s.stage, kept === undefined ? s : mergeSummaries(s, kept));
      deps.observer?.problem?.({
        code: 'AUDIT_UNAVAILABLE',
        message: `the summary of ${total} refusals not recorded one by one could not be written (kept for the next window): ${e instanceof Error ? e.message : String(e)}`,
      });
    }
  }
}

const BY_LOG = new WeakMap<AuditSink, Refusals>();

/**
 * The refusal budget of `deps.audit` (made at first use, with `deps.config.refusals` and the
 * window opening at `deps.now()`): one per audit log, whichever admission asks.
 */
export function refusalsOf(deps: PipelineDeps): Refusals {
  let r = BY_LOG.get(deps.audit);
  if (r === undefined) BY_LOG.set(deps.audit, (r = new Refusals(new RefusalBudget(deps.config.refusals, deps.now()))));
  return r;
}
