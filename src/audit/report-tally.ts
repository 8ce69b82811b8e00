import { imagesOf, isRefusal, refusalsOf, revisionOf, violationsOf } from './fields.ts';
import type { AuditRecord } from './record.ts';
import { MAX_KEYS } from './report-limits.ts';
import type { ReasonCounts, RevisionSpan } from './report-model.ts';
import { RunTally } from './report-runs.ts';
import { RefusalList } from './report-refusals.ts';

/**
 * What `audit report` counts, record by record, in memory bounded whatever the log's size
 * (docs/adr/0007-bounded-audit-readers.md): totals, counts per value (at most MAX_KEYS values per
 * table), the first MAX_REFUSALS denials and errors and the first MAX_RUNS runs as the page draws
 * them (within MAX_LISTED_BYTES each). Whatever a cap left out is counted and stated on the page
 * (`capped`). A log within the caps gives the page the earlier in-memory report gave.
 */

/** Counts by value, at most `cap` values; bumps of values beyond are `untallied`. */
export class CappedCounts {
  readonly map = new Map<string, number>();
  untallied = 0;
  private readonly cap: number;
  constructor(cap = MAX_KEYS) {
    this.cap = cap;
  }
  /** Counts `by` (1) more of `k`; false when `k` is beyond the cap (counted as untallied). */
  bump(k: string, by = 1): boolean {
    const n = this.map.get(k);
    if (n !== undefined) this.map.set(k, n + by);
    else if (this.map.size < this.cap) this.map.set(k, by);
    else {
      this.untallied += by;
      return false;
    }
    return true;
  }
}

interface SpanState {
  from: string;
  to: string;
  runners: Set<string>;
  decisions: number;
  denials: number;
}

/** Decisions over time in `n` columns between `from` and `to` (ms), counted in a second pass once both are known. */
export class TimelineBuckets {
  readonly from: number;
  readonly to: number;
  readonly counts: Map<string, number>[];
  constructor(from: number, to: number, n = 24) {
    this.from = from;
    this.to = to;
    this.counts = Array.from({ length: n }, () => new Map<string, number>());
  }
  add(r: AuditRecord): void {
    const t = Date.parse(r.timestamp);
    if (!Number.isFinite(t)) return;
    const n = this.counts.length;
    const span = Math.max(1, this.to - this.from);
    const m = this.counts[Math.min(n - 1, Math.floor(((t - this.from) / span) * n))] as Map<string, number>;
    // A summary of refusals not recorded one by one stands for each of them (fields.ts, refusalsOf).
    const by = r.code === 'AUDIT_REFUSALS_AGGREGATED' ? refusalsOf(r).reduce((t2, [, k]) => t2 + k, 0) : 1;
    m.set(r.outcome, (m.get(r.outcome) ?? 0) + by);
  }
}

export class ReportTally {
  /** Records counted, in all and per chain. */
  used = 0;
  readonly usedBy = new Map<string, number>();
  /** The smallest and largest timestamp (as text, as the timeline sorts), and as instants (the chart's span). */
  first: string | undefined;
  last: string | undefined;
  from = Number.POSITIVE_INFINITY;
  to = Number.NEGATIVE_INFINITY;
  readonly runners = new CappedCounts();
  readonly outcomes = new CappedCounts();
  readonly reasons = new CappedCounts();
  readonly images = new CappedCounts();
  readonly policies = new CappedCounts();
  private readonly spans = new Map<string, SpanState>();
  private spansUntallied = 0;
  private readonly byPolicy = new Map<string, ReasonCounts>();
  private reasonPairs = 0;
  private reasonsUntallied = 0;
  readonly runs: RunTally;
  readonly refusals: RefusalList;

  /** `many`: more than one chain (the page then names each record's chain). */
  constructor(many: boolean) {
    this.runs = new RunTally(many);
    this.refusals = new RefusalList(many);
  }

  /** Counts one trusted record (in timeline order: the lists keep the first ones). */
  add(r: AuditRecord, chain: string): void {
    this.used++;
    this.usedBy.set(chain, (this.usedBy.get(chain) ?? 0) + 1);
    if (this.first === undefined || r.timestamp < this.first) this.first = r.timestamp;
    if (this.last === undefined || r.timestamp > this.last) this.last = r.timestamp;
    const t = Date.parse(r.timestamp);
    if (Number.isFinite(t)) {
      this.from = Math.min(this.from, t);
      this.to = Math.max(this.to, t);
    }
    this.runners.bump(r.runner);
    this.span(r);
    this.reasonsOf(r);
    this.charts(r);
    const run = this.runs.add(r, chain);
    if (isRefusal(r)) this.refusals.add(r, chain, run);
  }

  /** The columns of the decisions-over-time chart, to be filled by a second pass (none without a dated record). */
  buckets(): TimelineBuckets | undefined {
    return Number.isFinite(this.from) ? new TimelineBuckets(this.from, this.to) : undefined;
  }

  /** Revisions in the order they first decided, with their first and last decision. */
  revisionSpans(): RevisionSpan[] {
    return [...this.spans.entries()]
      .map(([revision, s]) => ({ revision, ...s, runners: [...s.runners].sort() }))
      .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  }

  /** Top reasons per policy (see reasonsOf). */
  reasonsByPolicy(): ReadonlyMap<string, ReasonCounts> {
    return this.byPolicy;
  }

  /** What a cap left out, one sentence each (empty when nothing was). */
  capped(): string[] {
    const out: string[] = [];
    const counts: [string, CappedCounts][] = [
      ['runners', this.runners],
      ['outcomes', this.outcomes],
      ['reasons', this.reasons],
      ['images', this.images],
      ['policies with a denial', this.policies],
    ];
    for (const [name, c] of counts)
      if (c.untallied > 0)
        out.push(
          `${name}: only the first ${MAX_KEYS} distinct values are named and counted; ${c.untallied} more count(s) of other values are not in the tables and charts`,
        );
    if (this.spansUntallied > 0)
      out.push(
        `policy revisions: only the first ${MAX_KEYS} are listed; ${this.spansUntallied} decision(s) of other revisions are not`,
      );
    if (this.reasonsUntallied > 0)
      out.push(
        `top reasons per policy: only the first ${MAX_KEYS} policy and reason pairs are counted; ${this.reasonsUntallied} count(s) of others are not`,
      );
    out.push(...this.runs.capped(), ...this.refusals.capped());
    return out;
  }

  private span(r: AuditRecord): void {
    if (r.stage !== 'evaluate') return;
    const rev = revisionOf(r) || '(none recorded)';
    let s = this.spans.get(rev);
    if (s === undefined) {
      if (this.spans.size >= MAX_KEYS) {
        this.spansUntallied++;
        return;
      }
      s = { from: r.timestamp, to: r.timestamp, runners: new Set(), decisions: 0, denials: 0 };
      this.spans.set(rev, s);
    }
    if (r.timestamp < s.from) s.from = r.timestamp;
    if (r.timestamp > s.to) s.to = r.timestamp;
    if (s.runners.size < MAX_KEYS) s.runners.add(r.runner);
    s.decisions++;
    if (r.outcome === 'deny') s.denials++;
  }

  /**
   * Top reasons per policy, each refusal counted once per reason (a POLICY_DENIED record counts its
   * deny violations, not POLICY_DENIED as well). Refusals no policy made (a bad signature, a schema
   * error) are grouped by their stage; a summary of refusals not recorded one by one
   * (AUDIT_REFUSALS_AGGREGATED) adds its counts to their codes (fields.ts, refusalsOf).
   */
  private reasonsOf(r: AuditRecord): void {
    if (!isRefusal(r)) return;
    const denies = violationsOf(r).filter((v) => v.action === 'deny');
    const items =
      denies.length > 0
        ? denies.map((v) => ({ group: v.policy || '(no policy named)', code: v.code, message: v.message, n: 1 }))
        : refusalsOf(r).map(([code, n]) => ({ group: `stage ${r.stage}`, code, message: r.message, n }));
    const seen = new Set<string>();
    for (const it of items) {
      if (seen.has(`${it.group}\u0000${it.code}`)) continue;
      seen.add(`${it.group}\u0000${it.code}`);
      const group = this.byPolicy.get(it.group);
      const c = group?.get(it.code);
      if (c !== undefined) {
        c.count += it.n;
        continue;
      }
      if (this.reasonPairs >= MAX_KEYS) {
        this.reasonsUntallied += it.n;
        continue;
      }
      this.reasonPairs++;
      const g = group ?? new Map<string, { count: number; message: string }>();
      g.set(it.code, { count: it.n, message: it.message });
      this.byPolicy.set(it.group, g);
    }
  }

  /**
   * Counts for the charts: each refusal's reasons once (a summary of refusals not recorded one by
   * one: each of them, and each as one of its outcome); images evaluated; policies with a deny.
   */
  private charts(r: AuditRecord): void {
    const summed = r.code === 'AUDIT_REFUSALS_AGGREGATED' ? refusalsOf(r) : undefined;
    this.outcomes.bump(r.outcome, summed === undefined ? 1 : summed.reduce((t, [, n]) => t + n, 0));
    if (isRefusal(r)) for (const [c, n] of refusalsOf(r)) this.reasons.bump(c, n);
    if (r.stage !== 'evaluate') return;
    for (const i of new Set(imagesOf(r))) this.images.bump(i);
    const denies = violationsOf(r).filter((v) => v.action === 'deny');
    for (const p of new Set(denies.map((v) => v.policy))) this.policies.bump(p);
  }
}
