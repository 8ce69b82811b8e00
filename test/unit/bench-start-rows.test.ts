/**
 * Class (issue 20, start → ready): "`npm run bench` judges what users run". Variants pinned here:
 *   - with the shipped CLI first (bench/run.ts: `startReadyBench(…, { shipped: true })`), its
 *     median is the one the goal judges, and its row says so; the checkout's row is reported and
 *     marked not judged, with its own figures;
 *   - a start section of one entry point (bench/start-ready.ts alone) keeps one row, judged;
 *   - every row carries the CPU at first ready beside the wall time.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BinResult, StartReadyResult } from '../../bench/start-ready.ts';
import { spread } from '../../bench/stats.ts';
import { sectionGoals, startRows } from '../../bench/tables.ts';

function bin(kind: BinResult['kind'], file: string, samples: number[], cpu: number[]): BinResult {
  return {
    bin: file,
    kind,
    imageCache: false,
    seconds: spread(samples),
    samples,
    cpuSeconds: spread(cpu),
    cpuSamples: cpu,
  };
}

function result(bins: BinResult[]): StartReadyResult {
  return {
    ...bins[0]!,
    compileCache: false,
    noCompileCache: false,
    pollMs: 5,
    ...(bins.length > 1 ? { bins } : {}),
  };
}

const goalsOf = (start: StartReadyResult) =>
  sectionGoals({ decision: undefined, e2e: undefined, scale: undefined, start, audit: undefined });

test('start rows: the shipped CLI is judged, the checkout reported beside it and not judged', () => {
  const shipped = bin('shipped', '/tmp/x/shipped/dist/kubiya-runner.js', [0.41, 0.37, 0.39], [0.3, 0.28, 0.29]);
  const checkout = bin('entry point', '/repo/bin/kubiya-runner.js', [0.62, 0.55, 0.58], [0.5, 0.45, 0.47]);
  const start = result([shipped, checkout]);
  const rows = startRows(start, '1.00');
  assert.equal(rows.length, 2);
  assert.match(rows[0]![1]!, /shipped CLI .*judged\)/);
  assert.match(rows[0]![1]!, /CPU at ready, median 290 ms/);
  assert.equal(rows[0]![3], '370 ms / 390 ms / 410 ms');
  assert.match(rows[1]![1]!, /checkout's bin\/kubiya-runner\.js \(not judged\)/);
  assert.equal(rows[1]![3], '550 ms / 580 ms / 620 ms');
  const [goal, ...rest] = goalsOf(start);
  assert.equal(rest.length, 0);
  assert.match(goal!.measure, /shipped CLI/);
  assert.equal(goal!.met, true);
  assert.equal(goal!.margin.includes('110 ms'), true, goal!.margin);
});

test('start rows: one entry point alone is one judged row; a missed median is MISSED with its margin', () => {
  const start = result([bin('entry point', '/repo/bin/kubiya-runner.js', [0.54, 0.55, 0.53], [0.5, 0.5, 0.5])]);
  const rows = startRows(start, '2.00');
  assert.equal(rows.length, 1);
  assert.match(rows[0]![1]!, /checkout's bin\/kubiya-runner\.js \(judged\)/);
  const [goal] = goalsOf(start);
  assert.equal(goal!.met, false);
  assert.doesNotMatch(goal!.measure, /shipped/);
});
