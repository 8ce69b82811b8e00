/**
 * Small statistics and reporting helpers shared by the benchmarks: repeated runs summarised as
 * min/median/max, percentiles of a latency sample, and goals judged with their margin.
 */
import { cpus, loadavg } from 'node:os';

export interface Spread {
  readonly runs: number;
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('spread of no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { runs: s.length, min: s[0] as number, median, max: s[s.length - 1] as number };
}

/** The q-quantile (0..1) of a sample; sorts the array in place. */
export function quantile(sample: Float64Array, q: number): number {
  sample.sort();
  return sample[Math.min(sample.length - 1, Math.floor(q * sample.length))] ?? 0;
}

/** What every scenario prints first: the machine it ran on, as it was at that moment. */
export function machineLine(): string {
  return `${cpus().length} cores, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

export interface Goal {
  readonly measure: string;
  /** The goal as written in the issue. */
  readonly goal: string;
  readonly met: boolean;
  /** How far from the goal, e.g. "+42 %" (met with room) or "−0.8 ms" (missed by). */
  readonly margin: string;
}

/** A goal of the form `value ≥ target` (higher is better). */
export function atLeast(measure: string, goal: string, value: number, target: number): Goal {
  const pct = ((value - target) / target) * 100;
  return { measure, goal, met: value >= target, margin: `${pct >= 0 ? '+' : '−'}${Math.abs(pct).toFixed(0)} %` };
}

/** A goal of the form `value ≤ target` (lower is better); `unit` formats the margin. */
export function atMost(
  measure: string,
  goal: string,
  value: number,
  target: number,
  unit: (v: number) => string,
): Goal {
  const under = target - value;
  return { measure, goal, met: value <= target, margin: under >= 0 ? `${unit(under)} under` : `${unit(-under)} over` };
}

export const fmt = {
  rate: (v: number) => Math.round(v).toLocaleString('en-US'),
  micros: (v: number) => `${v.toFixed(0)} µs`,
  ms: (v: number) => `${v.toFixed(2)} ms`,
  ratio: (v: number) => `${v.toFixed(2)}×`,
  spread: (s: Spread, unit: (v: number) => string) => `${unit(s.min)} / ${unit(s.median)} / ${unit(s.max)}`,
};
