import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMetrics, METRIC_NAMES, STEP_EXECUTION_BUCKETS, STEP_LABELS } from '../../src/observe/metrics.ts';
import { parseExposition, type Family } from '../support/exposition.ts';

/**
 * The class: a step-time metric that cannot be aggregated across replicas. The seed's
 * kubiya_step_duration_seconds{percentile} is a per-replica percentile (averaging p99s is not a
 * p99); kubiya_step_execution_seconds is a histogram of the same observations, whose buckets add up.
 * Variants: replicas with disjoint and overlapping durations, step names past the cap.
 */
const family = async (m: ReturnType<typeof createMetrics>, name: string): Promise<Family> => {
  const f = parseExposition(await m.registry.metrics()).get(name);
  assert.ok(f !== undefined, name);
  return f;
};

/** histogram_quantile over summed cumulative buckets, as Prometheus computes it (linear within a bucket). */
function quantile(q: number, buckets: Map<number, number>): number {
  const les = [...buckets.keys()].sort((a, b) => a - b);
  const total = buckets.get(Infinity) ?? 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const le of les) {
    const count = buckets.get(le) ?? 0;
    if (count >= rank)
      return le === Infinity ? prevLe : prevLe + ((le - prevLe) * (rank - prevCount)) / (count - prevCount);
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

test('kubiya_step_execution_seconds: a histogram beside the seed gauge, whose buckets sum across replicas', async () => {
  const replicas = [createMetrics('r'), createMetrics('r')];
  // Replica 0 runs fast steps, replica 1 slow ones: no per-replica percentile is the fleet's.
  for (let i = 0; i < 90; i++) replicas[0]!.stepFinished('build', 2);
  for (let i = 0; i < 10; i++) replicas[1]!.stepFinished('build', 500);
  const summed = new Map<number, number>();
  for (const m of replicas) {
    const f = await family(m, METRIC_NAMES.stepExecution);
    assert.equal(f.type, 'histogram');
    for (const s of f.samples.filter((x) => x.name.endsWith('_bucket') && x.labels.step === 'build')) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      summed.set(le, (summed.get(le) ?? 0) + s.value);
    }
    // The seed's form is still there, unchanged.
    const seed = await family(m, METRIC_NAMES.stepDuration);
    assert.equal(seed.type, 'gauge');
    assert.ok(seed.samples.some((s) => s.labels.step === 'build' && s.labels.percentile === 'p99'));
  }
  assert.deepEqual(
    [...summed.keys()].filter((k) => k !== Infinity),
    [...STEP_EXECUTION_BUCKETS],
  );
  assert.equal(summed.get(Infinity), 100, 'every observation of both replicas is counted once');
  const p50 = quantile(0.5, summed);
  const p95 = quantile(0.95, summed);
  assert.ok(p50 > 1 && p50 <= 5, `fleet p50 ${p50}`);
  assert.ok(p95 > 300 && p95 <= 600, `fleet p95 ${p95}: the slow replica's steps are in it`);
});

test('kubiya_step_execution_seconds keeps the step label bounded like the seed gauge (cap + "other")', async () => {
  const m = createMetrics('r');
  for (let i = 0; i < STEP_LABELS + 25; i++) m.stepFinished(`step-${i}`, 1);
  const f = await family(m, METRIC_NAMES.stepExecution);
  const steps = new Set(f.samples.map((s) => s.labels.step));
  assert.equal(steps.size, STEP_LABELS + 1);
  assert.ok(steps.has('other'));
  const other = f.samples.find((s) => s.name.endsWith('_count') && s.labels.step === 'other');
  assert.equal(other?.value, 25);
});

test('kubiya_runner_ready_check: each /ready check as 1 or 0, updated on every call', async () => {
  const m = createMetrics('r');
  m.readiness({ audit: { ok: true }, keys: { ok: false }, policy: { ok: true } });
  const value = async (check: string) =>
    (await family(m, METRIC_NAMES.readyCheck)).samples.find((s) => s.labels.check === check)?.value;
  assert.equal(await value('audit'), 1);
  assert.equal(await value('keys'), 0);
  m.readiness({ audit: { ok: false }, keys: { ok: true }, policy: { ok: true } });
  assert.equal(await value('audit'), 0);
  assert.equal(await value('keys'), 1);
});
