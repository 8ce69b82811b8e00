/**
 * Load generators, each bounded in count and in time: a closed loop (N workers, as fast as they
 * go) for the maximum rate, and an open loop (arrivals paced at a fixed rate, latency measured from
 * each arrival's scheduled time, so a stall delays every arrival behind it) for latency under load.
 */
import { setImmediate as tick } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';

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
 * How the open loop's arrivals are clocked. `worker` (the default): a worker thread sleeps until
 * each arrival's time (Atomics.wait, sub-millisecond) and posts it to the main thread, which
 * sleeps in its event loop between arrivals like a server blocked in epoll for its next request.
 * `spin`: the main thread polls the clock with setImmediate (the pacer before issue 20's latency
 * work): it never sleeps, so its CPU is ~100 % whatever the rate, competing on a small machine
 * with the thread pool (fdatasync, WebCrypto), the GC's helper threads and other processes.
 */
export type ArrivalClock = 'worker' | 'spin';

/**
 * Arrivals every 1/rate seconds for `seconds`; returns each one's latency in µs from its scheduled
 * time, so a late launch (a busy or descheduled main thread) counts in the latency: no
 * coordinated omission. Rejects with the first operation's failure, or when operations are still
 * running 30 s after the last arrival.
 */
export async function openLoop(
  op: (i: number) => Promise<unknown>,
  rate: number,
  seconds: number,
  clock: ArrivalClock = 'worker',
): Promise<Float64Array> {
  const total = Math.max(1, Math.floor(rate * seconds));
  const latencies = new Float64Array(total);
  const interval = 1000 / rate;
  // Arrival i is due at t0 + i × interval. With the worker clock, t0 is set once the worker runs:
  // set before it (as until 2 December), the worker's start-up (tens of ms, a new isolate) fell
  // inside the schedule, and its first message delivered every arrival due meanwhile at once, each
  // timed from a schedule the system under test was never offered (BENCHMARKS.md, "the clock's start").
  let t0 = performance.now();
  let launched = 0;
  let done = 0;
  let failed: unknown;
  let settle: (() => void) | undefined;
  const finish = (i: number) => () => {
    latencies[i] = (performance.now() - t0 - i * interval) * 1000;
    if (++done === total) settle?.();
  };
  const launchUpTo = (n: number) => {
    while (launched < n) {
      const i = launched++;
      op(i).then(finish(i), (e: unknown) => {
        failed ??= e;
        settle?.();
      });
    }
  };
  const allDone = new Promise<void>((resolve) => (settle = resolve));
  if (clock === 'spin') {
    while (launched < total) {
      launchUpTo(Math.min(total, Math.floor((performance.now() - t0) / interval) + 1));
      await tick();
    }
  } else {
    await workerClock(interval, total, launchUpTo, (start) => (t0 = start));
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), 30_000)));
  const outcome = done === total || failed !== undefined ? 'done' : await Promise.race([allDone, late]);
  clearTimeout(timer);
  if (failed !== undefined)
    throw failed instanceof Error ? failed : new Error('open loop: an operation failed', { cause: failed });
  if (outcome === 'late')
    throw new Error(`open loop: ${total - done} operations still running 30 s after the last arrival`);
  return latencies;
}

/**
 * The worker that clocks the arrivals (see ArrivalClock). It says `ready` once it runs, then takes
 * the schedule's start (ms since the epoch, as performance.timeOrigin counts) from the main thread;
 * it sleeps until arrival i's time (`start` + i × `interval`) and posts how many arrivals are due
 * by then; it never waits for the main thread, so a stalled main thread gets all the arrivals due
 * meanwhile at once, each still timed from its own schedule.
 */
const CLOCK = `
const { parentPort, workerData } = require('node:worker_threads');
const { interval, total } = workerData;
parentPort.once('message', (start) => {
  const origin = start - performance.timeOrigin;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let sent = 0;
  while (sent < total) {
    const wait = origin + sent * interval - performance.now();
    if (wait > 0) Atomics.wait(nap, 0, 0, wait);
    const due = Math.min(total, Math.floor((performance.now() - origin) / interval) + 1);
    if (due > sent) parentPort.postMessage((sent = due));
  }
});
parentPort.postMessage('ready');
`;

/**
 * Runs the arrival clock: once the worker is running, `started(t0)` with the schedule's start
 * (performance.now() of this thread, one interval ahead, so arrival 0 is not already late), then
 * `launchUpTo(n)` on the main thread each time arrivals up to n are due; resolves after the last.
 */
async function workerClock(
  interval: number,
  total: number,
  launchUpTo: (n: number) => void,
  started: (t0: number) => void,
): Promise<void> {
  const worker = new Worker(CLOCK, { eval: true, workerData: { interval, total } });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.on('message', (n: number | 'ready') => {
        if (n === 'ready') {
          const t0 = performance.now() + interval;
          started(t0);
          worker.postMessage(performance.timeOrigin + t0);
          return;
        }
        launchUpTo(n);
        if (n >= total) resolve();
      });
      worker.on('error', reject);
      // Its last message is delivered before its exit (the port drains first): resolved already then.
      worker.on('exit', (code) => reject(new Error(`open loop: the arrival clock exited (${code}) early`)));
    });
  } finally {
    await worker.terminate();
  }
}
