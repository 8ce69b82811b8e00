/**
 * Red team 15: a value set to null (`--set k=null`, `k: ~` in a values file). Helm drops the key
 * from the merged values, the schema only checks keys that are present, and a template reads the
 * missing key as false or empty: `networkPolicy.enabled=null` rendered no NetworkPolicy,
 * `audit.storage.retainOnUninstall=null` an audit volume deleted on uninstall, `crds.keep=null` a
 * CRD (every WorkflowRun) deleted on uninstall, `runner.security.runAsNonRoot=null` a config
 * without it. The class: every key values.yaml sets is required by the schema (its `allOf`
 * overlay), except where null is documented. This file checks the overlay against values.yaml, and
 * every key of values.yaml through `helm template`: refused naming the key, or (documented) rendered.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { parse, parseAllDocuments } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { CHART, KUBE_VERSION } from '../../src/dev/manifest.ts';
import { CHART_TEST_TOKEN } from '../support/chart-values.ts';

const run = promisify(execFile);
const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const helm = tools.value.helm;

/** Keys whose null is documented (values.yaml, README, docs/policies.md): not required. */
const NULLABLE = new Set([
  'policy.settings',
  'networkPolicy.controlPlane.cidrs',
  'networkPolicy.controlPlane.ports',
  'runner.workflow.defaultResources',
]);
/** Maps of the operator's own keys: the map is required, its keys are not (a default label may be dropped). */
const FREE = new Set(['metrics.dashboard.labels']);

type Json = Record<string, unknown>;
const isMap = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The overlay the schema must carry for `values` at `path`: its keys required, recursively. */
function expectedOverlay(values: Json, path: string): Json {
  const required = Object.keys(values).filter((k) => !NULLABLE.has(path === '' ? k : `${path}.${k}`));
  const properties: Json = {};
  for (const k of required) {
    const at = path === '' ? k : `${path}.${k}`;
    const v = values[k];
    if (isMap(v) && Object.keys(v).length > 0 && !FREE.has(at)) properties[k] = expectedOverlay(v, at);
  }
  return Object.keys(properties).length > 0 ? { required, properties } : { required };
}

/** Every key path of values.yaml (maps included), helm's --set spelling (dots in a key escaped). */
function keyPaths(values: Json, prefix: string[] = []): string[][] {
  return Object.entries(values).flatMap(([k, v]) => [
    [...prefix, k],
    ...(isMap(v) && !FREE.has([...prefix, k].join('.')) ? keyPaths(v, [...prefix, k]) : []),
  ]);
}

const values = parse(await readFile(join(CHART, 'values.yaml'), 'utf8')) as Json;
const schema = JSON.parse(await readFile(join(CHART, 'values.schema.json'), 'utf8')) as { allOf: Json[] };

test('the schema requires every key values.yaml sets, except the documented nulls (overlay in step with values.yaml)', () => {
  const { $comment: _, ...overlay } = schema.allOf[0]!;
  assert.deepEqual(overlay, expectedOverlay(values, ''));
});

const template = async (args: string[]): Promise<{ ok: boolean; out: string }> => {
  try {
    const { stdout } = await run(
      helm,
      ['template', 'r', CHART, '--kube-version', KUBE_VERSION, ...CHART_TEST_TOKEN, ...args],
      {
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return { ok: true, out: stdout };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: string }).stderr ?? e) };
  }
};

test('every key of values.yaml set to null: refused naming the key, or rendered where null is documented (helm template)', async () => {
  const paths = keyPaths(values);
  assert.ok(paths.length > 100, `${paths.length} keys`);
  const wrong: string[] = [];
  const queue = [...paths];
  const worker = async (): Promise<void> => {
    for (let p = queue.shift(); p !== undefined; p = queue.shift()) {
      const dotted = p.join('.');
      const documented =
        [...NULLABLE].some((n) => dotted === n || dotted.startsWith(`${n}.`)) ||
        [...FREE].some((f) => dotted.startsWith(`${f}.`));
      const r = await template(['--set', `${p.map((k) => k.replace(/\./g, '\\.')).join('.')}=null`]);
      const parent = p.length > 1 ? `/${p.slice(0, -1).join('/')}` : '';
      const named = r.out.includes(`at '${parent}': missing property '${p.at(-1)}'`);
      if (documented ? !r.ok : r.ok || !named)
        wrong.push(`${dotted}=null: ${r.ok ? 'rendered' : r.out.split('\n').slice(0, 4).join(' ')}`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.deepEqual(wrong, []);
});

test('the concrete case: networkPolicy.enabled: ~ in a values file is refused (it rendered no NetworkPolicy)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-values-null-'));
  try {
    const file = join(dir, 'v.yaml');
    await writeFile(file, 'networkPolicy:\n  enabled: ~\n');
    const r = await template(['-f', file]);
    assert.equal(r.ok, false);
    assert.match(r.out, /at '\/networkPolicy': missing property 'enabled'/);
    const plain = await template([]);
    const kinds = parseAllDocuments(plain.out).map((d) => (d.toJS() as { kind?: string } | null)?.kind);
    assert.ok(kinds.includes('NetworkPolicy'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
