import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { parseAllDocuments, stringify } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { CHART, KUBE_VERSION, renderChart } from '../../src/dev/manifest.ts';

/**
 * Where the runner pods are scheduled (chart values nodeSelector, tolerations, affinity,
 * topologySpreadConstraints, priorityClassName). The class: a platform team that runs system
 * workloads on a tainted node pool cannot place the runner there, or a value the chart renders is
 * one the API server refuses (a crash at apply time), or both replicas land on one node. So: every
 * value reaches the pod template as given; the default spreads the replicas by hostname with a
 * selector that matches the StatefulSet's own pods; the values schema refuses malformed values,
 * naming their path, before anything is rendered.
 */
const run = promisify(execFile);
const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const helm = tools.value.helm;

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-chart-placement-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

async function statefulSet(values: Record<string, unknown>): Promise<V1StatefulSet> {
  const file = join(dir, `v-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, stringify({ ...values, runner: { token: 't0ken', ...(values.runner as object | undefined) } }));
  const docs = parseAllDocuments(await renderChart(helm, ['--values', file])).map((d) => d.toJS() as V1StatefulSet);
  const sts = docs.find((o) => o?.kind === 'StatefulSet');
  assert.ok(sts, 'a StatefulSet is rendered');
  return sts;
}

const podSpec = (sts: V1StatefulSet): NonNullable<V1Pod['spec']> => sts.spec!.template.spec!;

test("default: a preferred anti-affinity by hostname between this release's replicas, and nothing else placed", async () => {
  const sts = await statefulSet({});
  const spec = podSpec(sts);
  const terms = spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
  assert.equal(terms?.length, 1);
  assert.equal(terms[0]!.podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
  // The selector must select exactly the StatefulSet's own pods: the same labels as its selector.
  assert.deepEqual(terms[0]!.podAffinityTerm.labelSelector?.matchLabels, sts.spec!.selector.matchLabels);
  assert.equal(spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution, undefined);
  for (const k of ['nodeSelector', 'tolerations', 'topologySpreadConstraints', 'priorityClassName'] as const)
    assert.equal(spec[k], undefined, k);
});

test('every placement value reaches the pod template as given; affinity replaces the default', async () => {
  const values = {
    nodeSelector: { 'kubernetes.io/os': 'linux', pool: 'system' },
    tolerations: [
      { key: 'dedicated', operator: 'Equal', value: 'system', effect: 'NoSchedule' },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 },
    ],
    affinity: {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['system'] }] }],
        },
      },
    },
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' },
    ],
    priorityClassName: 'platform-high',
  };
  const spec = podSpec(await statefulSet(values));
  assert.deepEqual(spec.nodeSelector, values.nodeSelector);
  assert.deepEqual(spec.tolerations, values.tolerations);
  assert.deepEqual(spec.affinity, values.affinity);
  assert.deepEqual(spec.topologySpreadConstraints, values.topologySpreadConstraints);
  assert.equal(spec.priorityClassName, 'platform-high');
});

test('the values schema refuses malformed placement values, naming the path', async () => {
  const rows: [Record<string, unknown>, string][] = [
    [{ nodeSelector: { pool: 7 } }, '/nodeSelector/pool'],
    [{ nodeSelector: { 'bad key!': 'x' } }, '/nodeSelector'],
    [{ nodeSelector: { pool: 'has space' } }, '/nodeSelector/pool'],
    [{ nodeSelector: ['pool=system'] }, '/nodeSelector'],
    [{ tolerations: [{ key: 'k', operator: 'In' }] }, '/tolerations/0/operator'],
    [{ tolerations: [{ key: 'k', effect: 'NoExecution' }] }, '/tolerations/0/effect'],
    [{ tolerations: [{ key: 'k', tolerationSeconds: -1 }] }, '/tolerations/0/tolerationSeconds'],
    [{ tolerations: [{ key: 'k', colour: 'blue' }] }, '/tolerations/0'],
    [{ tolerations: { key: 'k' } }, '/tolerations'],
    [{ affinity: { nodeAfinity: {} } }, '/affinity'],
    [{ affinity: { podAntiAffinity: 'spread' } }, '/affinity/podAntiAffinity'],
    [{ topologySpreadConstraints: [{ maxSkew: 1 }] }, '/topologySpreadConstraints/0'],
    [{ priorityClassName: 'High_Priority' }, '/priorityClassName'],
  ];
  for (const [values, path] of rows) {
    const file = join(dir, 'bad.yaml');
    await writeFile(
      file,
      stringify({ ...values, runner: { token: 't0ken', ...(values.runner as object | undefined) } }),
    );
    const r = await run(helm, ['template', 'x', CHART, '--kube-version', KUBE_VERSION, '--values', file]).then(
      () => ({ stderr: '' }),
      (e: { stderr: string }) => e,
    );
    assert.ok(r.stderr.includes(path), `${JSON.stringify(values)}: ${r.stderr || 'rendered'}`);
  }
});
