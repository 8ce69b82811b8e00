import type { Finding } from './assess.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { AuditRecord } from './record.ts';
import type { ChainReport } from './chain-report.ts';

/**
 * One chain (one replica's directory) as the report shows it: its verification (the records it
 * counts are the timeline's whose `chain` is its `dir`).
 */
export interface ReportChain {
  readonly dir: string;
  readonly log: {
    readonly records?: readonly AuditRecord[] | undefined;
    readonly report: ChainReport & { readonly segments: number };
    readonly untrusted: number;
  };
  readonly checkpoints: readonly Checkpoint[];
}

/** The report's facts that are not counted from records: its title, the chains, their findings, the range asked for. */
export interface ReportMeta {
  readonly title: string;
  readonly chains: readonly ReportChain[];
  readonly findings: readonly Finding[];
  readonly generatedAt: string;
  /** `--since` / `--until` as given: only records in this range are counted. */
  readonly range?: { readonly since?: string | undefined; readonly until?: string | undefined } | undefined;
}

/** Everything the page is drawn from, held in memory. `records` is the timeline of every chain's trusted records. */
export interface ReportInput extends ReportMeta {
  readonly records: readonly { readonly record: AuditRecord; readonly chain: string }[];
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

/** Reason code → how many refusals it caused and one message that explains it. */
export type ReasonCounts = Map<string, { count: number; message: string }>;

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
    const key = runKey(w);
    const run = runs.get(key) ?? { key, workflow: w.id, runId: w.runId, records: [] };
    run.records.push(e);
    runs.set(key, run);
  }
  return [...runs.values()];
}

/** The key of a run: its workflow id and run id. */
export const runKey = (w: { readonly id: string; readonly runId: string }): string => JSON.stringify([w.id, w.runId]);
