/**
 * Audit benchmarks: append throughput with group commit (many producers, one fdatasync per batch)
 * and `audit verify` throughput over a large log.
 */
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileAuditLog } from '../src/adapters/audit-file.ts';
import { segmentName, checkAuditDir } from '../src/adapters/audit-files.ts';
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
 */
export async function appendBench(
  records: number,
  dir: string,
  log: (s: string) => void = () => undefined,
): Promise<AppendBenchResult> {
  const producers = 256;
  const appender = await FileAuditLog.open(dir);
  let batches = 0;
  appender.onBatch = () => void batches++;
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
  log(`  append: ${records} records in ${seconds.toFixed(2)} s, ${batches} group commits`);
  const perCpuSecond = records / cpu;
  const perMainCpuSecond = records / ((m.user + m.system) / 1e6);
  return { records, producers, perSecond: records / seconds, seconds, perCpuSecond, perMainCpuSecond, batches };
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
    await (await import('node:fs/promises')).mkdir(vdir);
    const fh = await open(join(vdir, segmentName(1)), 'w');
    let prev = GENESIS;
    let bytes = 0;
    for (let i = 0; i < verifyRecords; i += 10_000) {
      const lines: string[] = [];
      for (let j = i; j < Math.min(verifyRecords, i + 10_000); j++) {
        const { record, line } = chainLine(sample(j), j + 1, prev);
        prev = record.hash;
        lines.push(line);
      }
      const text = lines.join('\n') + '\n';
      bytes += Buffer.byteLength(text);
      await fh.write(text);
    }
    await fh.close();
    log(`  verify: wrote ${verifyRecords} records (${(bytes / 2 ** 20).toFixed(0)} MiB); verifying ...`);
    const c1 = process.cpuUsage();
    const t1 = process.hrtime.bigint();
    const report = await checkAuditDir(vdir, undefined);
    const verifySeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    const verifyCpu = cpuSeconds(c1);
    if (!report.ok || report.records !== verifyRecords)
      throw new Error(`verify failed: ${JSON.stringify(report.firstBad)}`);
    return {
      append,
      verify: {
        records: verifyRecords,
        perSecond: verifyRecords / verifySeconds,
        seconds: verifySeconds,
        perCpuSecond: verifyRecords / verifyCpu,
        bytes,
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The value after `flag` on the command line, if given. */
const option = (flag: string): string | undefined => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? process.argv[i + 1] : undefined;
};

if (import.meta.main) {
  // --only append: the append half alone; --records N: how many records it appends.
  const quick = process.argv.includes('--quick');
  const records = Number(option('--records') ?? (quick ? 20_000 : 200_000));
  if (!Number.isSafeInteger(records) || records <= 0) throw new Error('--records must be a positive integer');
  console.error(`  ${machineLine()}`);
  if (option('--only') === 'append') {
    const dir = await mkdtemp(join(tmpdir(), 'kubiya-audit-bench-'));
    try {
      console.log(JSON.stringify({ append: await appendBench(records, join(dir, 'append'), console.error) }, null, 2));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } else console.log(JSON.stringify(await auditBench(records, quick ? 50_000 : 1_000_000, console.error), null, 2));
}
