/**
 * The pure parts of the peers benchmark (bench/peers/, issue 20 §1): the API server's write
 * counter parsed from its Prometheus text, /proc stat and status parsing, percentiles and the
 * per-row summary, and the parity check's comparison and restricted-securityContext gaps.
 *
 * Classes of mistakes covered (each a table row below):
 * - metrics: a read verb counted as a write; a dry run counted; a refused request counted as a
 *   write of the same kind; a label value with an escaped quote or comma breaking the parse;
 *   another metric with the same prefix counted; NaN/garbage values summed.
 * - /proc: a command name with spaces or ")" shifting the fields; a truncated line giving numbers.
 * - stats: off-by-one percentiles; an empty sample giving a number; per-1,000 scaling.
 * - parity: a missing answer read as agreement; an unhardened admitted pod passing; a privileged
 *   container passing because the pod-level context is restricted.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseStatTicks, parseVmHwm, parseWrites, sampleLabels, writesDelta } from '../../bench/peers/metrics.ts';
import { FIXTURES, parityMismatches, parityPods, restrictedGaps } from '../../bench/peers/parity.ts';
import { hardened, stepContainer, stepPod } from '../../bench/peers/step.ts';
import { percentiles, summarize, type RoundMeasure } from '../../bench/peers/summary.ts';
import { sustainedLines } from '../../bench/peers/report.ts';
import { peersResult } from '../support/peers-result.ts';
import { workflowOfPod } from '../../bench/peers/runner-row.ts';

const METRICS = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 300
apiserver_request_total{code="201",component="apiserver",dry_run="All",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 7
apiserver_request_total{code="403",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="POST",version="v1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="status",verb="PATCH",version="v1"} 600
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="binding",verb="POST",version="v1"} 300
apiserver_request_total{code="200",component="apiserver",dry_run="",group="kubiya.ai",resource="workflowruns",scope="resource",subresource="status",verb="APPLY",version="v1alpha1"} 9
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="DELETECOLLECTION",version="v1"} 1
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 50
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="WATCH",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="GET",version="v1"} 20
apiserver_request_total{code="200",component="apiserver",dry_run="",group="x",resource="odd\\"name,with=comma",scope="resource",subresource="",verb="PUT",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="resource",subresource="",verb="PUT",version="v1"} NaN
apiserver_request_total_other{code="200",dry_run="",group="",resource="pods",subresource="",verb="POST"} 99
apiserver_request_duration_seconds_bucket{verb="POST",le="0.1"} 5
`;

describe('apiserver_request_total writes', () => {
  const w = parseWrites(METRICS);
  const table: [string, number | undefined][] = [
    ['POST /pods', 300], // dry run (7) excluded
    ['POST /pods 403', 4], // refused: apart, with its code
    ['PATCH /pods/status', 600],
    ['POST /pods/binding', 300],
    ['APPLY kubiya.ai/workflowruns/status', 9],
    ['DELETECOLLECTION /pods', 1],
    ['PUT x/odd\\"name,with=comma', 2],
    ['LIST /pods', undefined],
    ['WATCH /pods', undefined],
    ['GET /pods', undefined],
    ['PUT /pods', undefined], // NaN value skipped
  ];
  for (const [key, want] of table) it(`${key} → ${want}`, () => assert.equal(w.get(key), want));
  it('counts no other metric sharing the prefix', () => assert.equal(w.size, 7));
  it('the delta drops unchanged keys and sums the rest', () => {
    const after = parseWrites(METRICS.replace('verb="POST",version="v1"} 300', 'verb="POST",version="v1"} 330'));
    assert.deepEqual(writesDelta(w, after), { total: 30, byKey: { 'POST /pods': 30 } });
    assert.deepEqual(writesDelta(new Map(), new Map([['POST /pods', 2]])), { total: 2, byKey: { 'POST /pods': 2 } });
  });
  it('reads labels with escaped quotes', () => assert.equal(sampleLabels('m{a="x\\"y",b="z"} 1')?.a, 'x\\"y'));
  it('a line without labels has none', () => assert.equal(sampleLabels('m 1'), undefined));
});

describe('/proc parsing', () => {
  const tail = 'S 1 2 3 4 5 6 7 8 9 10 111 222 0 0 20 0 8 0 100 200';
  const table: [string, number | undefined][] = [
    [`123 (kube-apiserver) ${tail}`, 333],
    [`123 (my proc) ${tail}`, 333],
    [`123 (a) b) (c) ${tail}`, 333],
    ['123 (short) S 1 2', undefined],
    ['garbage', undefined],
    ['', undefined],
  ];
  for (const [line, want] of table)
    it(JSON.stringify(line.slice(0, 24)), () => assert.equal(parseStatTicks(line), want));
  it('VmHWM in bytes', () => {
    assert.equal(parseVmHwm('Name:\tetcd\nVmPeak:\t  999 kB\nVmHWM:\t   1024 kB\nVmRSS:\t 10 kB\n'), 1024 * 1024);
    assert.equal(parseVmHwm('Name:\tx\n'), undefined);
  });
});

describe('percentiles and summaries', () => {
  it('nearest rank', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    assert.deepEqual(percentiles(hundred), { n: 100, p50: 50, p99: 99, max: 100 });
    assert.deepEqual(percentiles([7]), { n: 1, p50: 7, p99: 7, max: 7 });
    assert.deepEqual(percentiles([1, 2]), { n: 2, p50: 1, p99: 2, max: 2 });
    const empty = percentiles([]);
    assert.ok(Number.isNaN(empty.p50) && Number.isNaN(empty.p99) && empty.n === 0);
  });
  it('a row over its rounds: spread of rates, pooled latencies, per-step writes, per-1,000 CPU', () => {
    const round = (r: number, seconds: number, cpu: number): RoundMeasure => ({
      round: r,
      steps: 100,
      seconds,
      completedSeconds: seconds * 2,
      podMs: [r + 1, r + 2],
      terminalMs: [],
      writes: { total: 500, byKey: { 'POST /pods': 100, 'PATCH /pods/status': 400 } },
      cpuSeconds: { 'kube-apiserver': cpu, row: 1 },
      load1: r,
    });
    const s = summarize([round(0, 2, 3), round(1, 4, 5), round(2, 1, 4)]);
    assert.deepEqual(s.perSecond, { runs: 3, min: 25, median: 50, max: 100 });
    assert.deepEqual(s.completedPerSecond, { runs: 3, min: 12.5, median: 25, max: 50 });
    assert.equal(s.steps, 300);
    assert.equal(s.podMs.n, 6);
    assert.equal(s.terminalMs, undefined);
    assert.equal(s.writesPerStep, 5);
    assert.deepEqual(s.writesPerStepByKey, { 'POST /pods': 1, 'PATCH /pods/status': 4 });
    assert.deepEqual(s.cpuSecondsPer1000, { 'kube-apiserver': 40, row: 10 });
    assert.throws(() => summarize([]));
  });
  it('the sustained view: ADDED and completed rates and the CPU per step, each as the runner ÷ the row', () => {
    const round = (seconds: number, completedSeconds: number, cpu: number): RoundMeasure => ({
      round: 0,
      steps: 100,
      seconds,
      completedSeconds,
      podMs: [1],
      terminalMs: [],
      writes: { total: 0, byKey: {} },
      cpuSeconds: { 'kube-apiserver': cpu, harness: 1 },
      load1: 1,
    });
    const row = (slug: 'runner' | 'bare', r: RoundMeasure) => ({
      slug,
      name: slug,
      lacks: [],
      summary: summarize([r]),
    });
    // runner: 50 steps/s to ADDED, 40 completed/s, 4 CPU-s per 100 steps; bare: 100, 50, 3
    const p = peersResult([row('runner', round(2, 2.5, 3)), row('bare', round(1, 2, 2))], 100);
    const lines = sustainedLines(p);
    assert.ok(lines.includes('| runner | 50.0 | 40.0 | 40.0 | 1.00× | 1.00× | 1.00× |'), lines.join('\n'));
    assert.ok(lines.includes('| bare | 100.0 | 50.0 | 30.0 | 0.50× | 0.80× | 0.75× |'), lines.join('\n'));
  });
});

describe('parity', () => {
  const base = (runId: string) => stepPod('peer-x', runId);
  it('five fixtures, each a different change, named after the fixture', () => {
    const pods = parityPods(base);
    assert.deepEqual(
      pods.map((p) => p.name),
      FIXTURES.map((f) => f.name),
    );
    assert.equal(new Set(pods.map((p) => p.pod.metadata?.name)).size, 5);
    const step = (i: number) => stepContainer(pods[i]!.pod)!;
    assert.equal(step(0).image, 'python:3.11-slim');
    assert.equal(step(1).image, 'python:latest');
    assert.match(step(2).image ?? '', /^registry\.example\.com\//);
    assert.equal(step(3).resources?.limits, undefined);
    assert.ok(step(3).resources?.requests?.memory);
    assert.equal(step(4).securityContext?.privileged, true);
  });
  it('the runner expects the bench step allowed and the other four denied', () =>
    assert.deepEqual(
      FIXTURES.map((f) => f.expected),
      ['allow', 'deny', 'deny', 'deny', 'deny'],
    ));
  const ref = Object.fromEntries(FIXTURES.map((f) => [f.name, f.expected]));
  const mismatchTable: [string, Record<string, string>, number][] = [
    ['same answers', { ...ref }, 0],
    ['a denial missed', { ...ref, 'latest-tag': 'allow' }, 1],
    ['the bench step denied', { ...ref, 'bench-step': 'deny' }, 1],
    ['an answer missing is not agreement', { 'bench-step': 'allow' }, 4],
  ];
  for (const [name, row, n] of mismatchTable)
    it(name, () => assert.equal(parityMismatches(ref, row as never).length, n));
  it('the unhardened step pod has gaps, the runner-hardened one none', () => {
    const pod = base('r0-0');
    assert.ok(restrictedGaps(pod).length >= 4);
    assert.deepEqual(restrictedGaps(hardened(pod)), []);
  });
  it('a privileged container is a gap even under a restricted pod context', () => {
    const pod = hardened(base('r0-1'));
    stepContainer(pod)!.securityContext!.privileged = true;
    assert.deepEqual(restrictedGaps(pod), ['step: privileged']);
  });
  it('capabilities that do not drop ALL, and an init container, are gaps', () => {
    const pod = hardened(base('r0-2'));
    stepContainer(pod)!.securityContext!.capabilities = { drop: ['NET_RAW'] };
    pod.spec!.initContainers = [{ name: 'init', image: 'busybox:1' }];
    assert.deepEqual(
      restrictedGaps(pod).filter((g) => !g.startsWith('init: runAsNonRoot') && !g.startsWith('init: seccomp')),
      [
        'init: allowPrivilegeEscalation not false',
        'init: capabilities do not drop ALL',
        'step: capabilities do not drop ALL',
      ],
    );
  });
});

describe('the runner row reads a step pod back into its workflow', () => {
  it('image, command, env, resources and run id; a securityContext passes on (the intake refuses it)', () => {
    const pods = parityPods((runId) => stepPod('peer-x', runId));
    const { runId, workflow } = workflowOfPod(pods[0]!.pod);
    assert.equal(runId, 'parity-bench-step');
    const step = (workflow.steps as Record<string, unknown>[])[0]!;
    assert.equal(step.image, 'python:3.11-slim');
    assert.deepEqual(step.command, ['python3', '-c', 'print("step")']);
    assert.deepEqual(step.env, { KWOK_RUN_DURATION: '1s' });
    assert.deepEqual(step.resources, { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } });
    assert.equal('securityContext' in step, false);
    const priv = (workflowOfPod(pods[4]!.pod).workflow.steps as Record<string, unknown>[])[0]!;
    assert.deepEqual(priv.securityContext, { privileged: true });
  });
  it('a pod without the run label is refused', () => assert.throws(() => workflowOfPod({ spec: { containers: [] } })));
});
