import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import type { Gauge, Histogram } from 'prom-client';
import { STEP_LABELS } from './metric-names.ts';

const WINDOW = 512;
const PERCENTILES = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p99', 0.99],
] as const;

/**
 * Records a finished step: into the histogram, and into a window of the last 512 durations of its
 * step name whose p50/p90/p99 are set on the percentile gauge. The first STEP_LABELS distinct step
 * names get their own series; later ones share "other".
 */
export function stepRecorder(stepDuration: Gauge, stepExecution: Histogram): (step: string, seconds: number) => void {
  const windows = new Map<string, number[]>();
  return (step, seconds) => {
    const key = windows.has(step) || windows.size < STEP_LABELS ? step : 'other';
    const w = windows.get(key) ?? [];
    w.push(seconds);
    if (w.length > WINDOW) w.shift();
    windows.set(key, w);
    stepExecution.observe({ step: key }, seconds);
    const sorted = [...w].sort((a, b) => a - b);
    for (const [label, q] of PERCENTILES) {
      stepDuration.set(
        { step: key, percentile: label },
        sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0,
      );
    }
  };
}

/** The cgroup (v2, then v1) memory limit in bytes when there is one below the machine's memory; else the machine's. */
function memoryLimitBytes(): number {
  for (const file of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    try {
      const v = readFileSync(file, 'utf8').trim();
      const n = Number(v);
      if (v !== 'max' && Number.isFinite(n) && n > 0 && n < totalmem()) return n;
    } catch {
      // not in a cgroup with a limit
    }
  }
  return totalmem();
}

/**
 * Samples the process on each call: CPU since the previous call as a fraction of all cores (0..1),
 * and resident memory as a fraction of the memory limit (read once, here).
 */
export function processSampler(cpu: Gauge, memory: Gauge): () => void {
  let lastCpu = process.cpuUsage();
  let lastAt = process.hrtime.bigint();
  const limit = memoryLimitBytes();
  const cores = Math.max(1, cpus().length);
  return () => {
    const now = process.hrtime.bigint();
    const used = process.cpuUsage(lastCpu);
    const elapsedMicros = Number(now - lastAt) / 1000;
    if (elapsedMicros > 0) cpu.set(Math.min(1, (used.user + used.system) / elapsedMicros / cores));
    lastCpu = process.cpuUsage();
    lastAt = now;
    memory.set(process.memoryUsage.rss() / limit);
  };
}
