import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '../../src/observe/logger.ts';
import { createMetrics, STEP_LABELS } from '../../src/observe/metrics.ts';
import { parseExposition } from '../support/exposition.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write: (c: Buffer, _e, cb) => {
      for (const l of c.toString().trim().split('\n')) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, stream };
}

test('log lines have the seed shape: timestamp, level as a word, runner, message', () => {
  const { lines, stream } = capture();
  const log = createLogger('production-runner', 'info', stream);
  log.info(
    { workflow_id: 'wf-123', step_name: 'deploy', image: 'kubectl:1.30', namespace: 'kubiya-workflows' },
    'Starting step execution',
  );
  const [line] = lines;
  assert.ok(line);
  assert.match(String(line.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(line.level, 'info');
  assert.equal(line.runner, 'production-runner');
  assert.equal(line.message, 'Starting step execution');
  assert.equal(line.workflow_id, 'wf-123');
});

test('tokens, credentials and env values are redacted at construction', () => {
  const { lines, stream } = capture();
  const log = createLogger('r', 'info', stream);
  log.info(
    {
      token: 'eyJhbGciOi.secret.sig',
      runner: { token: 'rt-123' },
      headers: { authorization: 'Bearer abc' },
      step: { env: { PASSWORD: 'hunter2' } },
      body: 'eyJ...',
    },
    'oops',
  );
  const text = JSON.stringify(lines);
  for (const secret of ['eyJhbGciOi', 'rt-123', 'Bearer abc', 'hunter2', 'eyJ...'])
    assert.ok(!text.includes(secret), secret);
  assert.ok(text.includes('[REDACTED]'));
});

test('step duration percentiles per step name, capped to a bounded number of series', async () => {
  const m = createMetrics('r');
  for (let i = 1; i <= 100; i++) m.stepFinished('build', i / 10);
  for (let i = 0; i < STEP_LABELS + 50; i++) m.stepFinished(`step-${i}`, 1);
  const fam = parseExposition(await m.registry.metrics()).get('kubiya_step_duration_seconds');
  const p50 = fam?.samples.find((s) => s.labels.step === 'build' && s.labels.percentile === 'p50');
  const p99 = fam?.samples.find((s) => s.labels.step === 'build' && s.labels.percentile === 'p99');
  assert.ok(p50 !== undefined && p99 !== undefined);
  assert.ok(p50.value >= 4.9 && p50.value <= 5.2, String(p50.value));
  assert.ok(p99.value >= 9.8, String(p99.value));
  const steps = new Set(fam?.samples.map((s) => s.labels.step));
  assert.equal(steps.size, STEP_LABELS + 1, 'capped, plus "other"');
  assert.ok(steps.has('other'));
});

test('process CPU and memory are fractions', async () => {
  const m = createMetrics('r');
  m.sampleProcess();
  const f = parseExposition(await m.registry.metrics());
  for (const name of ['kubiya_runner_cpu_usage', 'kubiya_runner_memory_usage']) {
    const v = f.get(name)?.samples[0]?.value ?? -1;
    assert.ok(v >= 0 && v <= 1, `${name}=${v}`);
  }
});
