/**
 * Audit benchmarks: append throughput with group commit (many producers, one fdatasync per batch)
 * and `audit verify` throughput over a large log.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommitPacer } from '../src/adapters/audit-batch.ts';
import { FileAuditLog } from '../src/adapters/audit-file.ts';
import { segmentName, checkAuditDir, type CheckOptions } from '../src/adapters/audit-files.ts';
import { chainLine, GENESIS } from '../src/audit/chain.ts';
import type { AuditEntry } from '../src/audit/record.ts';
import { machineLine } from './stats.ts';

/**
 * A realistic evaluate record (policy input and decision included), ~0.9 KB as a line. Its objects
 * have their members in the order the runner's producers build them: the workflow reference
 * (src/pipeline/verified.ts), the policy input (policyInput) and the decision (evaluate) in
 * code-unit order; the step as the workflow gives it.
 */
export const sample = (i: number): AuditEntry => ({
  decision_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
  timestamp: new Date(1_790_000_000_000 + i).toISOString(),
  stage: 'evaluate',
  outcome: 'allow',
  message: 'step allowed by policy',
  runner: 'bench',
  labels: { runner: 'bench' },
  workflow: { id: `wf-${i % 100}`, jti: `jti-${i}`, runId: `run-${i}` },
  step: 'build',
  path: 'kubiya/main/decision',
  input: {
    runner: 'bench',
    step: {
      name: 'build',
      image: 'node:18-alpine',
      command: ['npm', 'run', 'build'],
      resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { memory: '1Gi' } },
      env: { MODE: '***' },
    },
    workflow: { id: `wf-${i % 100}`, name: 'build', runId: `run-${i}`, volumes: [] },
  },
  masked: ['/input/step/env/MODE'],
  result: { allow: true, revision: 'sha256-0123456789abcdef', violations: [] },
  bundles: { kubiya: { revision: 'sha256-0123456789abcdef' } },
  metrics: { timer_rego_query_eval_ns: 141000 },
});

export interface AppendBenchResult {
  readonly records: number;
  readonly producers: number;
  readonly perSecond: number;
  readonly seconds: number;
  /** Records per CPU second of this process (user + system; the disk's waits left out). */
  readonly perCpuSecond: number;
  /** Records per CPU second of the main (JS) thread alone (process.threadCpuUsage). */
  readonly perMainCpuSecond: number;
  /** Group commits (write + fdatasync each): fewer than records / producers means batches were merged, more means split. */
  readonly batches: number;
  /**
   * Share of the wall the main thread was on a CPU (its CPU seconds / wall seconds, 0..1): near 1,
   * the encoding and the producers limit the rate; well below, the thread waits (for the commits'
   * I/O, the thread pool, or a core).
   */
  readonly mainBusy: number;
  /** Seconds of the commits' durable writes, summed (each batch's write + sync, onBatch; the lock check not included). */
  readonly writeSeconds: number;
}

export interface AuditBenchResult {
  readonly append: AppendBenchResult;
  readonly verify: {
    readonly records: number;
    readonly perSecond: number;
    readonly seconds: number;
    readonly perCpuSecond: number;
    readonly bytes: number;
  };
}

/** CPU seconds (user + system) of this process since `from`. */
const cpuSeconds = (from: NodeJS.CpuUsage): number => {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
};

/**
 * Appends `records` records to a new log in `dir` from 256 concurrent producers, each awaiting its
 * own record (as pipeline stages do): wall rate, records per CPU-second (process and main thread).
 * `split`: the group commit split in two when CommitPacer says it pays (opt-in in the runner; the
 * default, false, is the runner's: one batch for all the appends at hand).
 */
export async function appendBench(
  records: number,
  dir: string,
  log: (s: string) => void = () => undefined,
  split = false,
): Promise<AppendBenchResult> {
  const producers = 256;
  const appender = await FileAuditLog.open(dir, split ? { pacer: new CommitPacer() } : {});
  let batches = 0;
  let writeSeconds = 0;
  appender.onBatch = (seconds) => {
    batches++;
    writeSeconds += seconds;
  };
  let next = 0;
  const c0 = process.cpuUsage();
  const m0 = process.threadCpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      while (next < records) await appender.append(sample(next++));
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(c0);
  const m = process.threadCpuUsage(m0);
  await appender.close();
  const mainSeconds = (m.user + m.system) / 1e6;
  log(
    `  append: ${records} records in ${seconds.toFixed(2)} s, ${batches} group commits; main thread busy ` +
      `${((100 * mainSeconds) / seconds).toFixed(0)} %, durable writes ${writeSeconds.toFixed(2)} s`,
  );
  return {
    records,
    producers,
    perSecond: records / seconds,
    seconds,
    perCpuSecond: records / cpu,
    perMainCpuSecond: records / mainSeconds,
    batches,
    mainBusy: mainSeconds / seconds,
    writeSeconds,
  };
}

export async function auditBench(
  appendRecords: number,
  verifyRecords: number,
  log: (s: string) => void = () => undefined,
): Promise<AuditBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-audit-bench-'));
  try {
    const append = await appendBench(appendRecords, join(dir, 'append'), log);

    // Verify: a log of `verifyRecords` chained records, written directly (the appender's speed is measured above).
    const vdir = join(dir, 'verify');
    const bytes = await writeVerifyLog(vdir, verifyRecords);
    log(`  verify: wrote ${verifyRecords} records (${(bytes / 2 ** 20).toFixed(0)} MiB); verifying ...`);
    const pass = await verifyPass(vdir, verifyRecords);
    return {
      append,
      verify: {
        records: verifyRecords,
        perSecond: pass.perSecond,
        seconds: pass.seconds,
        perCpuSecond: pass.perCpuSecond,
        bytes,
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---- The verify half: the log, one pass of `audit verify` over it, and the verify-only command line. ----

/** Writes a log of `records` chained sample records as one segment in `dir` (created); returns its bytes. */
export async function writeVerifyLog(dir: string, records: number): Promise<number> {
  await mkdir(dir, { recursive: true });
  const fh = await open(join(dir, segmentName(1)), 'w');
  let prev = GENESIS;
  let bytes = 0;
  try {
    for (let i = 0; i < records; i += 10_000) {
      const lines: string[] = [];
      for (let j = i; j < Math.min(records, i + 10_000); j++) {
        const { record, line } = chainLine(sample(j), j + 1, prev);
        prev = record.hash;
        lines.push(line);
      }
      const text = lines.join('\n') + '\n';
      bytes += Buffer.byteLength(text);
      await fh.write(text);
    }
  } finally {
    await fh.close();
  }
  return bytes;
}

/** One `audit verify` pass (checkAuditDir) over a log: wall and CPU rates, and what surrounded it. */
export interface VerifyPass {
  readonly records: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** Records per CPU-second of the whole process (every thread, user + system). */
  readonly perCpuSecond: number;
  /** CPU-seconds of the whole process and of the main (JS) thread, user + system. */
  readonly cpuSeconds: number;
  readonly mainThreadCpuSeconds: number;
  /** Share of the segment files' pages in the page cache before the pass (fincore), or null if unknown. */
  readonly cachedBefore: number | null;
  readonly load1: number;
  /**
   * The machine during the pass (all cores, /proc/stat): shares of its CPU time that were idle,
   * waiting for I/O, stolen by the hypervisor, and busy (user + nice + system + irq, every process).
   * Wall above this process's CPU with `busy` near 1 means the cores were shared; with `iowait`, the disk.
   */
  readonly machine: {
    readonly idle: number;
    readonly iowait: number;
    readonly steal: number;
    readonly busy: number;
  } | null;
  /** Peak resident set of the process so far (ru_maxrss), MiB. */
  readonly maxRssMiB: number;
}

/** Share (0..1) of the files' pages resident in the page cache, from util-linux `fincore`; null without it. */
function cachedShare(files: readonly string[]): number | null {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--raw', '--output', 'RES,SIZE', ...files], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return null;
  let res = 0;
  let size = 0;
  for (const l of r.stdout.trim().split('\n')) {
    const [a, b] = l.trim().split(/\s+/).map(Number);
    res += a ?? 0;
    size += b ?? 0;
  }
  return size > 0 ? res / size : null;
}

/** The `cpu` line of /proc/stat (jiffies: user nice system idle iowait irq softirq steal), or null. */
async function cpuTimes(): Promise<number[] | null> {
  const text = await readFile('/proc/stat', 'utf8').catch(() => '');
  const line = text.split('\n')[0] ?? '';
  return line.startsWith('cpu ') ? line.trim().split(/\s+/).slice(1, 9).map(Number) : null;
}

/** Shares of the machine's CPU time between two /proc/stat readings. */
function machineShares(a: number[] | null, b: number[] | null): VerifyPass['machine'] {
  if (a === null || b === null) return null;
  const d = b.map((v, i) => v - (a[i] ?? 0));
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = d;
  const total = d.reduce((x, y) => x + y, 0) || 1;
  return {
    idle: idle / total,
    iowait: iowait / total,
    steal: steal / total,
    busy: (user + nice + system + irq + softirq) / total,
  };
}

/** Verifies the log in `dir` once; throws unless it is intact with exactly `records` records. */
export async function verifyPass(dir: string, records: number, options: CheckOptions = {}): Promise<VerifyPass> {
  const files = (await readdir(dir)).filter((n) => n.startsWith('segment-')).map((n) => join(dir, n));
  const cachedBefore = cachedShare(files);
  const load1 = loadavg()[0] ?? 0;
  const s0 = await cpuTimes();
  const c0 = process.cpuUsage();
  const m0 = process.threadCpuUsage();
  const t0 = process.hrtime.bigint();
  const report = await checkAuditDir(dir, undefined, undefined, options);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(c0);
  const m = process.threadCpuUsage(m0);
  const machine = machineShares(s0, await cpuTimes());
  if (!report.ok || report.records !== records) throw new Error(`verify failed: ${JSON.stringify(report.firstBad)}`);
  return {
    records,
    seconds,
    perSecond: records / seconds,
    perCpuSecond: records / cpu,
    cpuSeconds: cpu,
    mainThreadCpuSeconds: (m.user + m.system) / 1e6,
    cachedBefore,
    load1,
    machine,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
  };
}

/** `--name value` from argv, or undefined. */
const flag = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

/**
 * `node bench/audit.ts --only verify [--records N] [--passes P] [--dir DIR]`: writes a log of N
 * records (default 1,000,000; or reuses DIR's log when it holds one, so several trees can verify
 * the same file), then verifies it P times (default 2: the second pass is warm), one JSON line
 * per pass. `--parallel on|off` forces the second thread on or off (default: checkAuditDir's 'auto').
 */
async function verifyOnly(): Promise<void> {
  const records = Number(flag('--records') ?? 1_000_000);
  const passes = Number(flag('--passes') ?? 2);
  const given = flag('--dir');
  const p = flag('--parallel');
  const options: CheckOptions = p === undefined ? {} : { parallel: p === 'on' };
  const dir = given ?? (await mkdtemp(join(tmpdir(), 'kubiya-verify-bench-')));
  try {
    const existing = await stat(join(dir, segmentName(1))).catch(() => undefined);
    if (existing === undefined) {
      const bytes = await writeVerifyLog(dir, records);
      console.error(`  wrote ${records} records (${(bytes / 2 ** 20).toFixed(1)} MiB) to ${dir}`);
    } else console.error(`  reusing ${dir} (${(existing.size / 2 ** 20).toFixed(1)} MiB)`);
    for (let pass = 1; pass <= passes; pass++) {
      const r = await verifyPass(dir, records, options);
      console.log(JSON.stringify({ pass, parallel: p ?? 'auto', ...r }));
    }
  } finally {
    if (given === undefined) await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  // --only append: the append half alone; --records N: how many records it appends;
  // --pacer split: the group commit split by CommitPacer (default: one batch, as the runner).
  const quick = process.argv.includes('--quick');
  const records = Number(flag('--records') ?? (quick ? 20_000 : 200_000));
  if (!Number.isSafeInteger(records) || records <= 0) throw new Error('--records must be a positive integer');
  console.error(`  ${machineLine()}`);
  if (flag('--only') === 'verify') await verifyOnly();
  else if (flag('--only') === 'append') {
    const dir = await mkdtemp(join(tmpdir(), 'kubiya-audit-bench-'));
    try {
      const split = flag('--pacer') === 'split';
      const append = await appendBench(records, join(dir, 'append'), console.error, split);
      console.log(JSON.stringify({ append: { ...append, pacer: split ? 'split' : 'one' } }, null, 2));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } else console.log(JSON.stringify(await auditBench(records, quick ? 50_000 : 1_000_000, console.error), null, 2));
}
