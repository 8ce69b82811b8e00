/**
 * One measured round of one row (issue 20 §1): the closed loop (N submitters; each submits a step
 * and waits for its pod on the harness's own watch), then every pod Succeeded and every terminal
 * record, with the API server's write counters and every process's CPU time read before the loop
 * and after the last terminal record. Bounded: the loop stops issuing after `maxSeconds`, every
 * wait has a timeout.
 */
import { loadavg } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import { apiWrites, cpuSeconds, writesDelta, type WriteCounts } from './metrics.ts';
import type { PeerRow, StepSpec } from './peer.ts';
import type { PodWatch } from './pod-watch.ts';
import type { RoundMeasure } from './summary.ts';

/** A process the harness measures: a name in the tables and its PID. */
export interface Proc {
  readonly name: string;
  readonly pid: number;
}

export interface RoundSetup {
  readonly kc: KubeConfig;
  /** The control plane's processes, and the other rows' processes (named "other rows"). */
  readonly procs: readonly Proc[];
  readonly concurrency: number;
  readonly maxSeconds: number;
  readonly log: (s: string) => void;
}

interface Snapshot {
  readonly writes: WriteCounts;
  readonly cpu: Record<string, number>;
}

async function snapshot(kc: KubeConfig, procs: readonly Proc[]): Promise<Snapshot> {
  const cpu: Record<string, number> = {};
  for (const p of procs) cpu[p.name] = (cpu[p.name] ?? 0) + ((await cpuSeconds(p.pid)) ?? 0);
  const u = process.cpuUsage();
  cpu.harness = (u.user + u.system) / 1e6;
  return { writes: await apiWrites(kc), cpu };
}

const cpuDelta = (a: Snapshot, b: Snapshot): Record<string, number> =>
  Object.fromEntries(Object.keys(b.cpu).map((k) => [k, (b.cpu[k] ?? 0) - (a.cpu[k] ?? 0)]));

/**
 * `count` jobs on `concurrency` workers, no new job after `maxSeconds`; wall seconds and jobs done.
 * The first failing job stops every worker from issuing more; closedLoop returns (throws that first
 * error) only once every worker has ended, so no job of an abandoned round runs into the next one.
 */
export async function closedLoop(
  count: number,
  concurrency: number,
  maxSeconds: number,
  job: (i: number) => Promise<void>,
): Promise<{ readonly seconds: number; readonly done: number }> {
  let next = 0;
  let done = 0;
  let failure: { readonly error: unknown } | undefined;
  const t0 = performance.now();
  const stopAt = t0 + maxSeconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (failure === undefined && next < count && performance.now() < stopAt) {
        try {
          await job(next++);
          done++;
        } catch (error) {
          failure ??= { error };
        }
      }
    }),
  );
  if (failure !== undefined) throw failure.error;
  return { seconds: (performance.now() - t0) / 1000, done };
}

/** Every promise settled, then the values; throws the first rejection (none is left pending or unobserved). */
export async function allSettledOrThrow<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Measures one round of `row` over `steps` (already built); throws naming the row on any failure. */
export async function measureRound(
  name: string,
  row: PeerRow,
  watch: PodWatch,
  steps: readonly StepSpec[],
  s: RoundSetup,
): Promise<RoundMeasure> {
  const procs = [...s.procs, ...row.pids().map((pid) => ({ name: 'row', pid }))];
  const podNames: string[] = [];
  const podMs: number[] = [];
  const before = await snapshot(s.kc, procs);
  const startedAt = Date.now();
  const loop = await closedLoop(steps.length, s.concurrency, s.maxSeconds, async (i) => {
    const step = steps[i] as StepSpec;
    const t0 = performance.now();
    const { podName } = await row.submit(step);
    podNames[i] = podName;
    const added = await watch.added(podName, 60_000).catch((e: unknown) => {
      throw new Error(
        `${name}: ${e instanceof Error ? e.message : String(e)} (pod watch restarts: ${watch.restarts()})`,
        {
          cause: e,
        },
      );
    });
    podMs.push(added - t0);
  });
  if (loop.done < steps.length)
    throw new Error(
      `${name}: only ${loop.done} of ${steps.length} steps in ${s.maxSeconds} s (round ${steps[0]?.round})`,
    );
  const succeeded = await allSettledOrThrow(podNames.map((p) => watch.succeeded(p, 180_000)));
  const lastSucceeded = succeeded.reduce((a, b) => Math.max(a, b), startedAt);
  const records = await allSettledOrThrow(steps.map((step) => row.terminalRecordAt(step)));
  const terminalMs = records.flatMap((t, i) => (t === undefined ? [] : [t - (succeeded[i] ?? t)]));
  const after = await snapshot(s.kc, procs);
  return {
    round: steps[0]?.round ?? 0,
    steps: steps.length,
    seconds: loop.seconds,
    completedSeconds: (lastSucceeded - startedAt) / 1000,
    podMs,
    terminalMs,
    writes: writesDelta(before.writes, after.writes),
    cpuSeconds: cpuDelta(before, after),
    load1: loadavg()[0] ?? NaN,
  };
}
