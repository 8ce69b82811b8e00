import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { VERIFY_WINDOW_BOUNDS } from '../../src/config/schema-control-plane.ts';
import { POD_SECURITY_CHECK_BOUNDS } from '../../src/config/schema-runner.ts';
import { configRenderer } from '../support/render-config.ts';
import { ANY_DURATION, parseDuration, STEP_TIMEOUT_BOUNDS, type DurationBounds } from '../../src/units/units.ts';
import { DEFAULT_RESOURCES } from '../../src/pod/resources.ts';

/**
 * The chart accepts exactly what the runner accepts, for the values it passes through to the
 * runner's config: every duration (the runner's one grammar and bounds, src/units/units.ts) and
 * runner.workflow.defaultResources (strict, zero refused). The class: a value Helm renders that the
 * runner then refuses at start (a crash-looping rollout), or one Helm refuses that the runner
 * would take. Each spelling below goes through `helm template` (values schema + templates) and
 * through the runner's parser; the two answers must be the same, and an accepted value must reach
 * the rendered config as the same number of seconds.
 */
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-chart-values-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

const render = configRenderer(() => dir);

const FIELDS: {
  path: string[];
  bounds: DurationBounds;
  read: (c: ReturnType<typeof loadConfig> & { ok: true }) => number;
}[] = [
  {
    path: ['runner', 'workflow', 'defaultTimeout'],
    bounds: STEP_TIMEOUT_BOUNDS,
    read: (c) => c.value.runner.workflow.defaultTimeout,
  },
  {
    path: ['runner', 'workflow', 'failFastGrace'],
    bounds: ANY_DURATION,
    read: (c) => c.value.runner.workflow.failFastGrace,
  },
  {
    path: ['controlPlane', 'maxTokenAge'],
    bounds: VERIFY_WINDOW_BOUNDS,
    read: (c) => c.value.controlPlane.maxTokenAge,
  },
  {
    path: ['runner', 'security', 'podSecurityCheck', 'interval'],
    bounds: POD_SECURITY_CHECK_BOUNDS,
    read: (c) => c.value.runner.security.podSecurityCheck.interval,
  },
];

const SPELLINGS: unknown[] = [
  '30m',
  '1h30m',
  '45s',
  '1s',
  '00s',
  '0s',
  '0h0m0s',
  '0m',
  '168h',
  '604800s',
  '604801s',
  '168h0m1s',
  '2147483s',
  '2147484s',
  '596h31m23s',
  '596h31m24s',
  '720h',
  '2147483647s',
  '2147483648s',
  '596523h14m7s',
  '596523h14m8s',
  '000000000000000000000000001s',
  '99999999999999999999999999999h',
  '1'.repeat(33) + 's',
  '7d',
  '1.5h',
  'PT1H',
  '1H',
  '30 m',
  '-1s',
  '1m1h',
  '10ms',
  '1e3',
  '1800',
  '',
  'h',
  0,
  1,
  1800,
  604800,
  604801,
  2147483,
  2147484,
  2147483647,
  2147483648,
  -1,
  1.5,
];

const withPath = (path: string[], value: unknown): Record<string, unknown> => {
  const root: Record<string, unknown> = {};
  let o = root;
  for (const k of path.slice(0, -1)) o = o[k] = {};
  o[path.at(-1)!] = value;
  return root;
};

test("every duration the chart passes to the runner: Helm accepts a spelling exactly when the runner's parser does, and the runner reads the same seconds", async () => {
  for (const f of FIELDS) {
    for (const v of SPELLINGS) {
      const expected = parseDuration(v, f.bounds);
      const r = await render(withPath(f.path, v));
      const what = `${f.path.join('.')}=${JSON.stringify(v)}`;
      assert.equal(
        r.ok,
        expected.ok,
        `${what}: helm ${r.ok ? 'accepted' : 'refused'}, the runner ${expected.ok ? 'accepts' : 'refuses'}${r.ok ? '' : `\n${r.stderr}`}`,
      );
      if (!r.ok) {
        assert.ok(
          r.stderr.includes(f.path.join('.')) || r.stderr.includes(`/${f.path.join('/')}`),
          `${what}: the error names the path: ${r.stderr}`,
        );
        continue;
      }
      const config = loadConfig(r.config, { RUNNER_TOKEN: 't' });
      assert.ok(config.ok, `${what}: ${JSON.stringify(!config.ok && config.error)}`);
      assert.equal(f.read(config), expected.ok ? expected.seconds : NaN, what);
    }
  }
});

test('runner.workflow.defaultResources: the schema defaults by default, a custom list passed through, opting out with null, zero and unknown keys refused by both', async () => {
  const rendered = async (values: unknown) => {
    const r = await render(values);
    if (!r.ok) return r;
    const config = loadConfig(r.config, { RUNNER_TOKEN: 't' });
    assert.ok(config.ok, JSON.stringify(!config.ok && config.error));
    return { ok: true as const, resources: config.value.runner.workflow.defaultResources };
  };
  const byDefault = await rendered({});
  assert.ok(byDefault.ok);
  assert.deepEqual(
    byDefault.resources,
    { requests: { ...DEFAULT_RESOURCES.requests }, limits: { ...DEFAULT_RESOURCES.limits } },
    "the chart's default is the runner's",
  );

  const custom = await rendered({
    runner: {
      workflow: { defaultResources: { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '1Gi' } } },
    },
  });
  assert.ok(custom.ok);
  assert.deepEqual(custom.resources, { requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '1', memory: '1Gi' } });

  const none = await rendered({ runner: { workflow: { defaultResources: { requests: null, limits: null } } } });
  assert.ok(none.ok);
  assert.deepEqual(none.resources, {}, 'null requests and limits give none');

  const base =
    'runner: { name: r, workflow: { defaultResources: DR } }\ncontrolPlane: { issuer: "https://cp", jwksFile: /j }\npolicy: { bundle: /b }\naudit: { dir: /a }\n';
  for (const q of [
    '0',
    '0m',
    '0Mi',
    '0.0',
    '00',
    '0.0Gi',
    '0E',
    '000.000Ki',
    'lots',
    '-1',
    '1e3',
    '1',
    '100m',
    '0.5',
    '0.1Gi',
    '1.0',
    '10Gi',
    '00.01',
  ]) {
    const runner = loadConfig(base.replace('DR', JSON.stringify({ limits: { memory: q } })), {});
    const chart = await render({ runner: { workflow: { defaultResources: { limits: { memory: q } } } } });
    assert.equal(
      chart.ok,
      runner.ok,
      `limits.memory=${q}: helm ${chart.ok ? 'accepted' : 'refused'}, the runner ${runner.ok ? 'accepts' : 'refuses'}`,
    );
    if (!chart.ok) assert.ok(chart.stderr.includes('/runner/workflow/defaultResources/limits/memory'), chart.stderr);
  }
  for (const extra of [
    { requests: { 'ephemeral-storage': '1Gi' } },
    { limit: { memory: '1Gi' } },
    { requests: { memory: 128 } },
  ]) {
    const chart = await render({ runner: { workflow: { defaultResources: extra } } });
    assert.equal(chart.ok, false, JSON.stringify(extra));
    assert.equal(loadConfig(base.replace('DR', JSON.stringify(extra)), {}).ok, false, JSON.stringify(extra));
  }
});
