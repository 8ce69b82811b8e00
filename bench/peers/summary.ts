/**
 * Pure summaries of the peers scenario's rounds (issue 20 §1): percentiles of latency samples,
 * a row's figures over its rounds (steps/s spread, pooled p50/p99, writes per step, CPU-seconds
 * per 1,000 steps by process). Unit-tested in test/unit/bench-peers.test.ts.
 */
import { spread, type Spread } from '../stats.ts';

/** p50 / p99 / max of a sample (nearest-rank on the sorted sample; NaN for an empty one). */
export interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function percentiles(values: readonly number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] ?? NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s.at(-1) ?? NaN };
}

/** One row's measured round. */
export interface RoundMeasure {
  readonly round: number;
  readonly steps: number;
  /** Wall seconds of the closed loop (first submit → last pod announced). */
  readonly seconds: number;
  /**
   * Wall seconds from the first submit to the last of the round's pods seen Succeeded on the
   * harness's watch (Date.now() clock): the window in which every step was also completed, so a
   * row pays its completion work (kwok's status writes, its own terminal writes) inside it.
   */
  readonly completedSeconds: number;
  /** submit → pod ADDED on the harness's watch, ms, one per step. */
  readonly podMs: readonly number[];
  /** pod Succeeded → the row's terminal record, ms, one per step (empty: the row keeps none). */
  readonly terminalMs: readonly number[];
  /** API writes in the round's window (loop start → every terminal record), all clients. */
  readonly writes: { readonly total: number; readonly byKey: Readonly<Record<string, number>> };
  /** CPU seconds by process in the same window. */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  /** 1-minute load average after the round. */
  readonly load1: number;
}

/** A row's figures over its rounds. */
export interface RowSummary {
  readonly rounds: number;
  readonly steps: number;
  readonly perSecond: Spread;
  /** Steps completed per second: steps ÷ completedSeconds, over the rounds. */
  readonly completedPerSecond: Spread;
  readonly podMs: Percentiles;
  readonly terminalMs: Percentiles | undefined;
  readonly writesPerStep: number;
  readonly writesPerStepByKey: Readonly<Record<string, number>>;
  readonly cpuSecondsPer1000: Readonly<Record<string, number>>;
  readonly load1: Spread;
}

const perStep = (sum: number, steps: number, scale = 1): number => (steps === 0 ? NaN : (sum / steps) * scale);

/** Sums a list of per-key records. */
export function sumByKey(records: readonly Readonly<Record<string, number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of records) for (const [k, v] of Object.entries(r)) out[k] = (out[k] ?? 0) + v;
  return out;
}

/** The figures of a row from its rounds (throws on no rounds). */
export function summarize(rounds: readonly RoundMeasure[]): RowSummary {
  const steps = rounds.reduce((n, r) => n + r.steps, 0);
  const terminal = rounds.flatMap((r) => r.terminalMs);
  const byKey = sumByKey(rounds.map((r) => r.writes.byKey));
  const cpu = sumByKey(rounds.map((r) => r.cpuSeconds));
  return {
    rounds: rounds.length,
    steps,
    perSecond: spread(rounds.map((r) => r.steps / r.seconds)),
    completedPerSecond: spread(rounds.map((r) => r.steps / r.completedSeconds)),
    podMs: percentiles(rounds.flatMap((r) => r.podMs)),
    terminalMs: terminal.length > 0 ? percentiles(terminal) : undefined,
    writesPerStep: perStep(
      rounds.reduce((n, r) => n + r.writes.total, 0),
      steps,
    ),
    writesPerStepByKey: Object.fromEntries(Object.entries(byKey).map(([k, v]) => [k, perStep(v, steps)])),
    cpuSecondsPer1000: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, perStep(v, steps, 1000)])),
    load1: spread(rounds.map((r) => r.load1)),
  };
}
