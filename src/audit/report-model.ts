import type { Finding } from './assess.ts';
import type { Checkpoint } from './checkpoint.ts';
import { imagesOf, isRefusal, refusalsOf, revisionOf, violationsOf } from './fields.ts';
import type { AuditRecord } from './record.ts';
import type { ChainReport } from './chain-report.ts';

/** One chain (one replica's directory) as the report shows it: only its trusted records are in `records`. */
export interface ReportChain {
  readonly dir: string;
  readonly log: {
    readonly records: readonly AuditRecord[];
    readonly report: ChainReport & { readonly segments: number };
    readonly untrusted: number;
  };
  readonly checkpoints: readonly Checkpoint[];
}

/** Everything the page is drawn from. `records` is the timeline of every chain's trusted records. */
export interface ReportInput {
  readonly title: string;
  readonly chains: readonly ReportChain[];
  readonly records: readonly { readonly record: AuditRecord; readonly chain: string }[];
  readonly findings: readonly Finding[];
  readonly generatedAt: string;
}

/** A policy revision and the span over which it decided. */
export interface RevisionSpan {
  readonly revision: string;
  readonly from: string;
  readonly to: string;
  readonly runners: readonly string[];
  readonly decisions: number;
  readonly denials: number;
}

/** Revisions in the order they first decided, with their first and last decision. */
export function revisionSpans(records: readonly AuditRecord[]): RevisionSpan[] {
  const spans = new Map<
    string,
    { from: string; to: string; runners: Set<string>; decisions: number; denials: number }
  >();
  for (const r of records) {
    if (r.stage !== 'evaluate') continue;
    const rev = revisionOf(r) || '(none recorded)';
    const s = spans.get(rev) ?? { from: r.timestamp, to: r.timestamp, runners: new Set(), decisions: 0, denials: 0 };
    if (r.timestamp < s.from) s.from = r.timestamp;
    if (r.timestamp > s.to) s.to = r.timestamp;
    s.runners.add(r.runner);
    s.decisions++;
    if (r.outcome === 'deny') s.denials++;
    spans.set(rev, s);
  }
  return [...spans.entries()]
    .map(([revision, s]) => ({ revision, ...s, runners: [...s.runners].sort() }))
    .sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
}

/** Reason code → how many refusals it caused and one message that explains it. */
export type ReasonCounts = Map<string, { count: number; message: string }>;

/**
 * Top reasons per policy, each refusal counted once per reason (a POLICY_DENIED record counts its
 * deny violations, not POLICY_DENIED as well). Refusals no policy made (a bad signature, a schema
 * error) are grouped by their stage; a summary of refusals not recorded one by one
 * (AUDIT_REFUSALS_AGGREGATED) adds its counts to their codes (fields.ts, refusalsOf).
 */
export function reasonsByPolicy(records: readonly AuditRecord[]): Map<string, ReasonCounts> {
  const out = new Map<string, ReasonCounts>();
  for (const r of records) {
    if (!isRefusal(r)) continue;
    const denies = violationsOf(r).filter((v) => v.action === 'deny');
    const items =
      denies.length > 0
        ? denies.map((v) => ({ group: v.policy || '(no policy named)', code: v.code, message: v.message, n: 1 }))
        : refusalsOf(r).map(([code, n]) => ({ group: `stage ${r.stage}`, code, message: r.message, n }));
    const seen = new Set<string>();
    for (const it of items) {
      if (seen.has(`${it.group}\u0000${it.code}`)) continue;
      seen.add(`${it.group}\u0000${it.code}`);
      const group = out.get(it.group) ?? new Map<string, { count: number; message: string }>();
      const c = group.get(it.code) ?? { count: 0, message: it.message };
      c.count += it.n;
      group.set(it.code, c);
      out.set(it.group, group);
    }
  }
  return out;
}

/**
 * Counts for the charts: each refusal's reasons once (a summary of refusals not recorded one by
 * one: each of them, and each as one deny); images evaluated; policies with a deny.
 */
export function chartCounts(records: readonly AuditRecord[]): {
  reasons: Map<string, number>;
  images: Map<string, number>;
  policies: Map<string, number>;
  outcomes: Map<string, number>;
} {
  const bump = (m: Map<string, number>, k: string, n = 1): void => void m.set(k, (m.get(k) ?? 0) + n);
  const reasons = new Map<string, number>();
  const images = new Map<string, number>();
  const policies = new Map<string, number>();
  const outcomes = new Map<string, number>();
  for (const r of records) {
    const summed = r.code === 'AUDIT_REFUSALS_AGGREGATED' ? refusalsOf(r) : undefined;
    bump(outcomes, r.outcome, summed === undefined ? 1 : summed.reduce((t, [, n]) => t + n, 0));
    if (isRefusal(r)) for (const [c, n] of refusalsOf(r)) bump(reasons, c, n);
    if (r.stage !== 'evaluate') continue;
    for (const i of new Set(imagesOf(r))) bump(images, i);
    const denies = violationsOf(r).filter((v) => v.action === 'deny');
    for (const p of new Set(denies.map((v) => v.policy))) bump(policies, p);
  }
  return { reasons, images, policies, outcomes };
}

/** A run: its workflow, run id and records in time order (records before verification have no run). */
export interface RunView {
  readonly key: string;
  readonly workflow: string;
  readonly runId: string;
  readonly records: { readonly record: AuditRecord; readonly chain: string }[];
}

/** Records grouped by run (workflow id + run id), runs in order of their first record. */
export function runsOf(records: readonly { readonly record: AuditRecord; readonly chain: string }[]): RunView[] {
  const runs = new Map<string, RunView>();
  for (const e of records) {
    const w = e.record.workflow;
    if (w === undefined) continue;
    const key = JSON.stringify([w.id, w.runId]);
    const run = runs.get(key) ?? { key, workflow: w.id, runId: w.runId, records: [] };
    run.records.push(e);
    runs.set(key, run);
  }
  return [...runs.values()];
}
