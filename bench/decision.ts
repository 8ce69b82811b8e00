/**
 * Decision path benchmark (issue #9, scenario 1): verify + validate + evaluate + mutate + audit
 * append (group commit, fdatasync) in-process, against (a) the crypto floor (Ed25519 verification
 * of the same tokens + SHA-256 of the same records) and (b) the OPA sidecar architecture (the same
 * Rego over keep-alive HTTP, the rest of the pipeline unchanged).
 *
 * The three are measured in interleaved rounds (WASM, floor, sidecar; WASM, floor, sidecar; ...)
 * and each ratio is taken within a round, so a load change on the machine hits both sides of it.
 *   node --expose-gc bench/decision.ts [--quick] [--only wasm] [--decisions N]
 *   node --expose-gc bench/decision.ts --paced RATE [--seconds S] [--spin]
 * `--only wasm` runs just the in-process path (for `node --cpu-prof`, see BENCHMARKS.md).
 * `--paced RATE` runs only the latency part at a given rate (decisions/s): a warm-up, then the
 * paced open loop with the audit log on the disk and on tmpfs, without the closed-loop rounds
 * that set the rate otherwise; for many short runs interleaved with another tree's (the A/B of a
 * latency change, BENCHMARKS.md "decision latency"). The arrivals are clocked by a worker thread,
 * the main thread sleeping between them as a server does (bench/load.ts ArrivalClock); `--spin`
 * clocks them as before issue 20's latency work (the main thread polling with setImmediate), for
 * an A/B of the pacer itself.
 */
import { existsSync } from 'node:fs';
import type { FileAuditLog } from '../src/adapters/audit-file.ts';
import { decide, type Evaluator } from './decision-path.ts';
import { decisionFixture, withAudit, type Fixture } from './decision-fixture.ts';
import { diskProbe, type DiskProbe } from './disk.ts';
import { closedLoop, openLoop, type ArrivalClock, type ClosedLoopResult } from './load.ts';
import { startSidecar, type Sidecar } from './opa-sidecar.ts';
import { machineLine, quantile, spread, type Spread } from './stats.ts';

export interface DecisionCounts {
  readonly runs: number;
  /** Decisions per throughput run of the in-process path (the sidecar's are a quarter of it). */
  readonly decisions: number;
  /** Operations per run of the crypto floor. */
  readonly floorOps: number;
  /** Seconds of paced arrivals at 50 % of the measured maximum. */
  readonly latencySeconds: number;
  readonly concurrency: number;
}

export const FULL: DecisionCounts = {
  runs: 5,
  decisions: 10_000,
  floorOps: 40_000,
  latencySeconds: 10,
  concurrency: 64,
};
export const QUICK: DecisionCounts = { runs: 2, decisions: 300, floorOps: 1_000, latencySeconds: 1, concurrency: 16 };

export interface Paced {
  readonly rate: number;
  readonly arrivals: number;
  readonly p50Micros: number;
  readonly p99Micros: number;
  readonly maxMicros: number;
}

export interface PathResult {
  /** Decisions/s of each closed-loop run. */
  readonly perSecond: Spread;
  /** CPU µs per decision of each closed-loop run: the JS thread, and the whole process. */
  readonly cpuMicros?: { readonly thread: Spread; readonly process: Spread };
  /** Latency at 50 % of the median maximum rate (open loop). */
  readonly paced?: Paced;
  /** Diagnostic: the same paced run with the audit log on tmpfs (fdatasync costs nothing there). */
  readonly pacedTmpfs?: Paced | undefined;
}

export interface DecisionBenchResult {
  readonly counts: DecisionCounts;
  /** write + fdatasync of one record on the audit log's disk, just before the runs. */
  readonly disk: DiskProbe;
  readonly wasm: PathResult;
  readonly floor?: PathResult;
  readonly sidecar?: PathResult;
  /** In-process rate over the baseline's, one ratio per round. */
  readonly ratios?: { readonly vsSidecar: Spread; readonly vsFloor: Spread };
}

/** The sidecar path is slower: a quarter of the in-process count per run (at least 100). */
export const sidecarDecisions = (c: DecisionCounts) => Math.max(100, Math.floor(c.decisions / 4));

type Op = (audit: FileAuditLog) => (i: number) => Promise<unknown>;

const pathOp =
  (f: Fixture, evaluator: Evaluator): Op =>
  (audit) =>
  (i) =>
    decide(f.tokens[i % f.tokens.length] as string, f.deps(audit), evaluator);

async function throughput(f: Fixture, op: Op, decisions: number, c: DecisionCounts): Promise<ClosedLoopResult> {
  global.gc?.();
  return withAudit(f.work, async (audit) => closedLoop(op(audit), decisions, c.concurrency, 60));
}

function floorRun(f: Fixture, ops: number): number {
  const t0 = performance.now();
  const stopAt = t0 + 30_000;
  let i = 0;
  for (; i < ops && performance.now() < stopAt; i++) f.floor(i);
  return i / ((performance.now() - t0) / 1000);
}

async function pacedRun(
  op: Op,
  rate: number,
  seconds: number,
  base: string,
  log: (s: string) => void,
  label: string,
  clock: ArrivalClock = 'worker',
): Promise<Paced> {
  global.gc?.();
  const latencies = await withAudit(base, async (audit) => openLoop(op(audit), rate, seconds, clock));
  const paced = {
    rate,
    arrivals: latencies.length,
    p50Micros: quantile(latencies, 0.5),
    p99Micros: quantile(latencies, 0.99),
    maxMicros: quantile(latencies, 1),
  };
  log(
    `  ${label} at 50 % (${rate.toFixed(0)}/s, ${paced.arrivals} arrivals, ${clock} clock): p50 ${paced.p50Micros.toFixed(0)} µs, p99 ${paced.p99Micros.toFixed(0)} µs, max ${paced.maxMicros.toFixed(0)} µs (${machineLine()})`,
  );
  return paced;
}

const describe = (r: ClosedLoopResult) =>
  `${r.perSecond.toFixed(0)}/s, CPU per decision ${r.cpuMicros.thread.toFixed(0)} µs JS thread / ${r.cpuMicros.process.toFixed(0)} µs process`;

function pathResult(runs: readonly ClosedLoopResult[], paced: Paced, pacedTmpfs?: Paced): PathResult {
  return {
    perSecond: spread(runs.map((r) => r.perSecond)),
    cpuMicros: {
      thread: spread(runs.map((r) => r.cpuMicros.thread)),
      process: spread(runs.map((r) => r.cpuMicros.process)),
    },
    paced,
    pacedTmpfs,
  };
}

export async function decisionBench(
  c: DecisionCounts,
  log: (s: string) => void,
  only?: 'wasm',
): Promise<DecisionBenchResult> {
  log(
    `decision path: ${machineLine()}; ${c.runs} rounds of ${c.decisions} in-process decisions, ${c.floorOps} floor operations, ${sidecarDecisions(c)} sidecar decisions; ${c.concurrency} in flight`,
  );
  const f = await decisionFixture(Math.min(c.decisions, 2000));
  let sidecar: Sidecar | undefined;
  try {
    const disk = await diskProbe(f.work, c.runs * 100);
    log(
      `  disk under the audit log: write + fdatasync p50 ${disk.p50Micros.toFixed(0)} µs, p99 ${disk.p99Micros.toFixed(0)} µs (${disk.syncs} syncs)`,
    );
    const wasmOp = pathOp(f, f.wasm);
    const sideDecisions = sidecarDecisions(c);
    if (only !== 'wasm') {
      sidecar = await startSidecar(f.opa, f.work, f.revision);
      const probe = await sidecar.evaluate(f.input);
      if (probe.kind !== 'allow')
        throw new Error(
          `the sidecar's decision differs from WASM's: ${probe.kind === 'deny' ? 'POLICY_DENIED' : probe.error.code}`,
        );
    }
    const sidecarOp = sidecar === undefined ? undefined : pathOp(f, (input) => (sidecar as Sidecar).evaluate(input));
    // Warm-up of each path (JIT, keep-alive sockets), not measured.
    await throughput(f, wasmOp, Math.min(c.decisions, 500), c);
    if (sidecarOp !== undefined) await throughput(f, sidecarOp, Math.min(sideDecisions, 200), c);
    floorRun(f, 1000);

    const wasmRuns: ClosedLoopResult[] = [];
    const sideRuns: ClosedLoopResult[] = [];
    const floorRates: number[] = [];
    for (let r = 0; r < c.runs; r++) {
      const w = await throughput(f, wasmOp, c.decisions, c);
      wasmRuns.push(w);
      if (sidecarOp === undefined) {
        log(`  round ${r + 1}/${c.runs}: WASM ${describe(w)} (${machineLine()})`);
        continue;
      }
      floorRates.push(floorRun(f, c.floorOps));
      const s = await throughput(f, sidecarOp, sideDecisions, c);
      sideRuns.push(s);
      log(
        `  round ${r + 1}/${c.runs}: WASM ${describe(w)}; floor ${floorRates.at(-1)?.toFixed(0)}/s; sidecar ${describe(s)}; WASM/sidecar ${(w.perSecond / s.perSecond).toFixed(2)}× (${machineLine()})`,
      );
    }
    const wasmRate = spread(wasmRuns.map((r) => r.perSecond)).median / 2;
    const paced = await pacedRun(wasmOp, wasmRate, c.latencySeconds, f.work, log, 'WASM');
    const pacedTmpfs = existsSync('/dev/shm')
      ? await pacedRun(wasmOp, wasmRate, c.latencySeconds, '/dev/shm', log, 'WASM, audit on tmpfs')
      : undefined;
    const wasm = pathResult(wasmRuns, paced, pacedTmpfs);
    if (sidecarOp === undefined) return { counts: c, disk, wasm };

    const sidePaced = await pacedRun(
      sidecarOp,
      spread(sideRuns.map((r) => r.perSecond)).median / 2,
      c.latencySeconds,
      f.work,
      log,
      'sidecar',
    );
    return {
      counts: c,
      disk,
      wasm,
      floor: { perSecond: spread(floorRates) },
      sidecar: pathResult(sideRuns, sidePaced),
      ratios: {
        vsSidecar: spread(wasmRuns.map((w, i) => w.perSecond / (sideRuns[i] as ClosedLoopResult).perSecond)),
        vsFloor: spread(wasmRuns.map((w, i) => w.perSecond / (floorRates[i] as number))),
      },
    };
  } finally {
    await sidecar?.stop();
    await f.close();
  }
}

/**
 * The latency part alone, at `rate` decisions/s for `seconds` (see `--paced` above): the WASM
 * path's paced open loop with the audit log on the disk, then on tmpfs (when there is one).
 */
export async function pacedOnly(
  rate: number,
  seconds: number,
  log: (s: string) => void,
  clock: ArrivalClock = 'worker',
): Promise<{ readonly disk: Paced; readonly tmpfs?: Paced | undefined }> {
  const f = await decisionFixture(2000);
  try {
    const op = pathOp(f, f.wasm);
    await throughput(f, op, 500, QUICK); // warm-up (JIT), not measured
    const disk = await pacedRun(op, rate, seconds, f.work, log, 'WASM', clock);
    const tmpfs = existsSync('/dev/shm')
      ? await pacedRun(op, rate, seconds, '/dev/shm', log, 'WASM, audit on tmpfs', clock)
      : undefined;
    return { disk, tmpfs };
  } finally {
    await f.close();
  }
}

const flag = (name: string): number | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : undefined;
};

if (import.meta.main && flag('--paced') !== undefined) {
  const rate = flag('--paced') as number;
  const seconds = flag('--seconds') ?? FULL.latencySeconds;
  if (!(rate > 0 && seconds > 0)) throw new Error('--paced RATE [--seconds S]: both positive numbers');
  const clock = process.argv.includes('--spin') ? 'spin' : 'worker';
  console.log(JSON.stringify(await pacedOnly(rate, seconds, console.error, clock), null, 2));
} else if (import.meta.main) {
  const quick = process.argv.includes('--quick');
  const o = process.argv.indexOf('--only');
  if (o > 0 && process.argv[o + 1] !== 'wasm')
    throw new Error('--only takes one value: wasm (the in-process path alone)');
  const only = o > 0 ? 'wasm' : undefined;
  const n = process.argv.indexOf('--decisions');
  const counts = { ...(quick ? QUICK : FULL), ...(n > 0 ? { decisions: Number(process.argv[n + 1]) } : {}) };
  console.log(JSON.stringify(await decisionBench(counts, console.error, only), null, 2));
}
