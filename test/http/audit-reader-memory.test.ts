/**
 * Red team 17, finding 15, as a class: no audit reader's memory may grow with the log. Each reader
 * runs as a child process (test/support/reader-rss.ts) with V8's heap capped at 48 MiB, over a
 * log written by the runner's own appender (test/support/audit-bulk.ts) of N records and again
 * once the same log holds 4N; it must succeed both times, and its peak RSS (getrusage ru_maxrss)
 * may not grow by more than GROWTH_KB (32 MiB for 60,000 more records, ~34 MB more log). Before docs/adr/0007, `audit query --output json|ndjson|csv`
 * and `audit report` held every record: under the cap they ran out of heap at 4N (exit 134),
 * and uncapped the ndjson export grew by ~1.3 kB a record. `policy replay --audit` held every
 * evaluate record; it keeps one small entry per changed decision (its output), not records.
 *
 * What does grow, and is not a leak: V8 lets garbage (1 MiB read buffers, decoded lines) pile up
 * between collections, so the peak moves by a few MiB from one run to the next; the report's list
 * of denials grows until MAX_REFUSALS (report-limits.ts), here from ~400 to ~1,500 rows.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { writeBulk } from '../support/audit-bulk.ts';
import { childEnd } from '../support/child-end.ts';

const N = 20_000;
const GROWTH_KB = 32 * 1024;
const HEAP = ['--max-old-space-size=48', '--max-semi-space-size=2'];

/** Runs one CLI command with the heap capped; its exit code and peak RSS (kB). */
async function peak(args: readonly string[]): Promise<{ code: number | null; kb: number; stderr: string }> {
  const child = spawn(process.execPath, [...HEAP, join(REPO_ROOT, 'test', 'support', 'reader-rss.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const end = await childEnd(child, { killAfterMs: 120_000 });
  return { code: end.code, kb: Number(/maxrss (\d+)\s*$/.exec(stderr)?.[1] ?? 'NaN'), stderr };
}

test('red team 17 finding 15: every audit reader runs in the same memory over N and 4N records (heap capped at 48 MiB)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-reader-memory-'));
  try {
    const log = join(dir, 'audit');
    const tools = resolveTools(['opa']);
    if (!tools.ok) throw new Error(tools.error.message);
    const bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(dir, 'bundle.tar.gz'))).file;
    const readers = (): string[][] => [
      ['audit', 'verify', log],
      ['audit', 'query', log, '--outcome', 'allow'],
      ['audit', 'query', log, '--output', 'ndjson'],
      ['audit', 'query', log, '--output', 'json'],
      ['audit', 'query', log, '--output', 'csv'],
      ['audit', 'query', log],
      ['audit', 'report', log, '--out', join(dir, 'report.html')],
      ['policy', 'replay', '--audit', log, '--bundle', bundle, '--output', 'json'],
    ];
    const next = await writeBulk(log, N, { segmentBytes: 4 * 1024 * 1024 });
    const small: number[] = [];
    for (const args of readers()) {
      const r = await peak(args);
      assert.equal(r.code, 0, `${args.join(' ')} over ${N} records: exit ${r.code}\n${r.stderr}`);
      small.push(r.kb);
    }
    await writeBulk(log, 3 * N, { from: next, segmentBytes: 4 * 1024 * 1024 });
    const rows: string[] = [];
    for (const [i, args] of readers().entries()) {
      const r = await peak(args);
      assert.equal(r.code, 0, `${args.join(' ')} over ${4 * N} records: exit ${r.code}\n${r.stderr}`);
      const before = small[i] ?? 0;
      rows.push(`${args.filter((a) => !a.startsWith('/')).join(' ')}: ${before} kB -> ${r.kb} kB`);
      assert.ok(
        r.kb - before < GROWTH_KB,
        `${args.join(' ')}: peak RSS ${before} kB over ${N} records, ${r.kb} kB over ${4 * N}: it grows with the log\n${rows.join('\n')}`,
      );
    }
    process.stderr.write(`${rows.join('\n')}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
