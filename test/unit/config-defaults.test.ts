import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { parse } from 'yaml';
import { DEFAULT_API_OPTIONS } from '../../src/adapters/kubeconfig.ts';
import { apiOptions } from '../../src/app/parts.ts';
import { createMetrics } from '../../src/observe/metrics.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { ANY_DURATION, parseDuration } from '../../src/units/units.ts';
import { CHART } from '../../src/dev/manifest.ts';
import { testConfig } from '../support/config.ts';

/**
 * One set of defaults (issue 15 §2). The class: a default written in more than one place that
 * drifts — the schema says one thing, the docs or the chart's values.yaml another, so an operator
 * reads one value and runs another, or a chart install runs settings the docs never describe.
 * The schema (src/config/schema.ts) is the one source; every default it fills is compared with
 * docs/configuration.md's table and, for the keys the chart passes through to the runner's config
 * under the same path, with the chart's values.yaml. Differences the chart makes on purpose are
 * listed below with their reason; any other difference fails, and so does a listed one that went away.
 */

/** Keys every config must give (no default): BASE in test/support/config.ts sets them. */
const REQUIRED = new Set(['runner.name', 'controlPlane.issuer', 'controlPlane.jwksFile', 'policy.bundle', 'audit.dir']);

/** The chart's values.yaml sets these differently from the schema's default, on purpose. */
const CHART_DIFFERS: Readonly<Record<string, string>> = {
  // The seed's values.yaml (the product contract) spells these; the schema keeps DESIGN §2's defaults.
  'runner.workflow.serviceAccount':
    "the seed's values.yaml says kubiya-executor; DESIGN §2 and the pod spec say kubiya-workflow",
  'runner.storage.storageClass': "the seed's values.yaml example fast-ssd; the schema leaves the cluster default",
};

/** Every leaf of a parsed config as `a.b.c` → value (arrays are leaves). */
function leaves(value: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    out.set(prefix, value);
    return out;
  }
  for (const [k, v] of Object.entries(value))
    for (const e of leaves(v, prefix === '' ? k : `${prefix}.${k}`)) out.set(...e);
  return out;
}

const at = (doc: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((node, k) => (node as Record<string, unknown> | undefined)?.[k], doc);

/** A default as the docs or the chart spell it, in the schema's terms (durations → seconds). */
function normalise(spelled: unknown, schemaValue: unknown): unknown {
  if (typeof schemaValue === 'number' && typeof spelled === 'string') {
    const d = parseDuration(spelled, ANY_DURATION);
    return d.ok ? d.seconds : Number(spelled);
  }
  if (typeof spelled === 'string' && typeof schemaValue !== 'string') return parse(spelled) as unknown;
  return spelled;
}

const schemaDefaults = [...leaves(testConfig())].filter(([k]) => !REQUIRED.has(k));

/** docs/configuration.md: `| \`key\` | default | meaning |` → the first `code` span of the default column. */
async function documented(): Promise<Map<string, string | undefined>> {
  const text = await readFile(join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');
  const rows = new Map<string, string | undefined>();
  for (const line of text.split('\n')) {
    const m = /^\| `([a-zA-Z.]+)` \| ([^|]*) \|/.exec(line);
    if (m === null) continue;
    const [, key = '', cell = ''] = m;
    rows.set(key, /`([^`]*)`/.exec(cell)?.[1] ?? (/^\s*([0-9]+)/.exec(cell)?.[1] || undefined));
  }
  return rows;
}

test('docs/configuration.md states every schema default as the schema has it', async () => {
  const docs = await documented();
  const checked: string[] = [];
  for (const [key, value] of schemaDefaults) {
    // defaultResources is an object the docs write out in prose; runner-values.test.ts and the chart test below compare it.
    if (key.startsWith('runner.workflow.defaultResources.')) continue;
    assert.ok(docs.has(key), `${key} (default ${JSON.stringify(value)}) is not in docs/configuration.md`);
    const spelled = docs.get(key);
    if (value === undefined) {
      assert.equal(spelled, undefined, `${key}: the schema has no default, the docs say ${String(spelled)}`);
      continue;
    }
    assert.deepEqual(
      normalise(spelled, value),
      value,
      `${key}: docs say ${String(spelled)}, the schema ${JSON.stringify(value)}`,
    );
    checked.push(key);
  }
  assert.ok(checked.length >= 30, `only ${checked.length} defaults compared`);
});

test("the chart's values.yaml agrees with the schema on every default it passes through (or the difference is listed)", async () => {
  const values = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as unknown;
  let compared = 0;
  for (const [key, value] of schemaDefaults) {
    const chart = at(values, key);
    if (key in CHART_DIFFERS || chart === undefined || chart === '') continue; // not a chart value under this path (or left empty: the schema decides)
    assert.deepEqual(
      normalise(chart, value),
      value,
      `${key}: values.yaml says ${JSON.stringify(chart)}, the schema ${JSON.stringify(value)}`,
    );
    compared++;
  }
  const schema = testConfig();
  for (const key of Object.keys(CHART_DIFFERS)) {
    const chart = at(values, key);
    assert.notEqual(chart, undefined, `${key} is listed in CHART_DIFFERS but values.yaml does not set it`);
    assert.notDeepEqual(
      normalise(chart, at(schema, key)),
      at(schema, key),
      `${key} now agrees: remove it from CHART_DIFFERS`,
    );
  }
  assert.ok(compared >= 15, `only ${compared} chart values compared`);
});

test('a test config is made by the schema: its defaults are the schema defaults, frozen', () => {
  const config = testConfig({ runner: { workflow: { failFastGrace: '5s' } } });
  assert.equal(config.runner.workflow.failFastGrace, 5, 'durations are parsed as serve parses them');
  assert.equal(testConfig().runner.workflow.failFastGrace, 60, "the schema's fail-fast grace");
  assert.ok(Object.isFrozen(config.runner.workflow));
  assert.throws(() => testConfig({ runner: { workflow: { colour: 'red' } as object } }), /Unrecognized key/);
});

test("the Kubernetes API fallback of adapters given a plain KubeConfig is the schema's kubernetes.api defaults", () => {
  // DEFAULT_API_OPTIONS serves tests that hand an adapter a KubeConfig of their own; `serve` and
  // startRunner always pass apiOptions(config). A second copy of four defaults: kept equal here.
  const { observer: _o, ...fallback } = DEFAULT_API_OPTIONS;
  const { observer: _p, ...fromSchema } = apiOptions(testConfig(), pino({ level: 'silent' }), createMetrics('t'));
  assert.deepEqual(fallback, fromSchema);
});
