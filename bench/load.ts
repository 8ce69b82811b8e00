/**
 * Load generators, each bounded in count and in time: a closed loop (N workers, as fast as they
 * go) for the maximum rate, and an open loop (arrivals paced at a fixed rate, latency measured from
 * each arrival's scheduled time, so a stall delays every arrival behind it) for latency under load.
 */
import { setImmediate as tick } from 'node:timers/promises';

export interface ClosedLoopResult {
  readonly done: number;
  readonly seconds: number;
  readonly perSecond: number;
  /**
   * CPU time per operation: of the JS thread (what "one core" bounds; less sensitive than wall
   * time to other processes on the machine) and of the whole process (libuv pool included).
   */
  readonly cpuMicros: { readonly thread: number; readonly process: number };
}

const cpuMicros = (u: NodeJS.CpuUsage) => u.user + u.system;

export async function closedLoop(
  op: (i: number) => Promise<unknown>,
  count: number,
  concurrency: number,
  maxSeconds: number,
): Promise<ClosedLoopResult> {
  const t0 = performance.now();
  const thread0 = process.threadCpuUsage();
  const process0 = process.cpuUsage();
  const stopAt = t0 + maxSeconds * 1000;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && performance.now() < stopAt) await op(next++);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = {
    thread: cpuMicros(process.threadCpuUsage(thread0)) / next,
    process: cpuMicros(process.cpuUsage(process0)) / next,
  };
  return { done: next, seconds, perSecond: next / seconds, cpuMicros: cpu };
}

/**
 * Arrivals every 1/rate seconds for `seconds`; returns each one's latency in µs from its scheduled
 * time. Pacing polls with setImmediate (timers are 1 ms coarse), which costs idle CPU only.
 */
export async function openLoop(
  op: (i: number) => Promise<unknown>,
  rate: number,
  seconds: number,
): Promise<Float64Array> {
  const total = Math.max(1, Math.floor(rate * seconds));
  const latencies = new Float64Array(total);
  const interval = 1000 / rate;
  const t0 = performance.now();
  const giveUpAt = t0 + (seconds + 30) * 1000;
  let launched = 0;
  let done = 0;
  let failed: unknown;
  const finish = (i: number) => () => {
    latencies[i] = (performance.now() - t0 - i * interval) * 1000;
    done++;
  };
  while (launched < total) {
    const now = performance.now() - t0;
    while (launched < total && launched * interval <= now) {
      const i = launched++;
      op(i).then(finish(i), (e: unknown) => (failed ??= e));
    }
    await tick();
  }
  while (done < total && failed === undefined) {
    if (performance.now() > giveUpAt)
      throw new Error(`open loop: ${total - done} operations still running after ${seconds + 30} s`);
    await tick();
  }
  if (failed !== undefined)
    throw failed instanceof Error ? failed : new Error('open loop: an operation failed', { cause: failed });
  return latencies;
}
