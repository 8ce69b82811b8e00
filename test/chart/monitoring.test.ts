/**
 * The chart's monitoring (issue 17): the PrometheusRule, the Grafana dashboard and the metrics they
 * read, checked with Prometheus' own checker (promtool, pinned in tools/promtool) and against the
 * runner's metric catalogue (src/observe/metrics.ts).
 *
 * The classes: an alert or panel that reads a metric the runner does not expose (silently empty
 * forever), PromQL that Prometheus refuses (the rule group is dropped), an alert without a runbook
 * section, a dashboard Grafana's sidecar does not pick up, and a new metric name against
 * Prometheus' naming rules (the seed's contract names are the only exceptions, named below).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { childEnd } from '../support/child-end.ts';
import { renderChart } from '../../src/dev/manifest.ts';
import { createMetrics, METRIC_NAMES } from '../../src/observe/metrics.ts';
import { CHART_TEST_TOKEN } from '../support/chart-values.ts';

const run = promisify(execFile);
const tools = resolveTools(['helm', 'promtool']);
if (!tools.ok) throw new Error(tools.error.message);
const { helm, promtool } = tools.value;

type Rule = { alert?: string; record?: string; expr: string; annotations?: Record<string, string> };
type Obj = {
  kind: string;
  metadata: { labels?: Record<string, string> };
  spec?: unknown;
  data?: Record<string, string>;
};
const ALERTS = [
  'KubiyaRunnerDown',
  'KubiyaAuditUnavailable',
  'KubiyaPolicyReloadFailing',
  'KubiyaJwksStale',
  'KubiyaDecisionsDeniedRateHigh',
  'KubiyaStepFailureRatioHigh',
  'KubiyaRunQueueSaturated',
  'KubiyaIntakeCapacityExceeded',
  'KubiyaHttpConnectionsRefused',
  'KubiyaAuditShippingBehind',
];
/** The names Prometheus' naming lint refuses that the seed's contract fixes (DESIGN §2): kept as written. */
const SEED_LINT_EXCEPTIONS = ['kubiya_workflows_completed counter metrics should have "_total" suffix'];

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-monitoring-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

const render = async (...sets: string[]): Promise<Obj[]> =>
  parseAllDocuments(await renderChart(helm, [...CHART_TEST_TOKEN, ...sets.flatMap((s) => ['--set', s])]))
    .map((d) => d.toJS() as Obj)
    .filter((o) => o !== null);
/** The rules as rendered with every optional alert on (audit.ship.url set), or with `sets` as given. */
const rules = async (...sets: string[]): Promise<{ groups: { name: string; rules: Rule[] }[] }> => {
  const given = sets.length > 0 ? sets : ['audit.ship.url=https://collector.example/logs'];
  const rule = (await render('metrics.prometheusRule.enabled=true', ...given)).find((o) => o.kind === 'PrometheusRule');
  assert.ok(rule !== undefined);
  return rule.spec as { groups: { name: string; rules: Rule[] }[] };
};
const dashboard = async (): Promise<{ panels: { title: string; targets: { expr: string }[] }[] }> => {
  const cm = (await render('metrics.dashboard.enabled=true')).find(
    (o) => o.kind === 'ConfigMap' && o.data?.['kubiya-runner.json'] !== undefined,
  );
  assert.ok(cm !== undefined);
  assert.equal(cm.metadata.labels?.grafana_dashboard, '1', "Grafana's sidecar label");
  return JSON.parse(cm.data!['kubiya-runner.json']!) as { panels: { title: string; targets: { expr: string }[] }[] };
};
let n = 0;
/** `promtool check rules` of a rules file: [exit code, output]. */
const checkRules = async (groups: unknown): Promise<[number, string]> => {
  const file = join(dir, `rules-${n++}.yaml`);
  await writeFile(file, stringify(groups));
  return run(promtool, ['check', 'rules', file]).then(
    (r) => [0, r.stdout + r.stderr] as [number, string],
    (e: { code: number; stdout: string; stderr: string }) => [e.code, e.stdout + e.stderr] as [number, string],
  );
};

/** The annotations alert `name` would carry for `pod` with lag `value`, its templates filled as Prometheus does. */
function ruleAnnotations(
  spec: { groups: { rules: Rule[] }[] },
  name: string,
  pod: string,
  value: number,
): Record<string, string> {
  const rule = spec.groups.flatMap((g) => g.rules).find((r) => r.alert === name);
  assert.ok(rule?.annotations !== undefined);
  const fill = (t: string) => t.replaceAll('{{ $labels.pod }}', pod).replaceAll('{{ $value }}', String(value));
  return Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, fill(v)]));
}

/** Every kubiya_* series an expression reads, as the family name the runner registers. */
function families(expr: string): string[] {
  const histograms = new Set([METRIC_NAMES.auditFsync, METRIC_NAMES.kubeApi, METRIC_NAMES.stepExecution]);
  return [...expr.matchAll(/\b(kubiya_[a-z0-9_]+)\b/g)].map(([, name]) => {
    const base = name!.replace(/_(bucket|sum|count)$/, '');
    return histograms.has(base as never) ? base : name!;
  });
}
const KNOWN = new Set<string>(Object.values(METRIC_NAMES));

describe('PrometheusRule', () => {
  test('the alerts of the issue, each linking to a runbook section that exists in docs/operations.md', async () => {
    const spec = await rules();
    const alerts = spec.groups.flatMap((g) => g.rules);
    assert.deepEqual(
      alerts.map((r) => r.alert),
      ALERTS,
    );
    const ops = await readFile(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    const anchors = new Set([...ops.matchAll(/^#{2,4} (.+)$/gm)].map(([, h]) => h!.trim().toLowerCase()));
    for (const a of alerts) {
      const url = a.annotations?.runbook_url ?? '';
      assert.equal(
        url,
        `https://github.com/kubiya/kubiya-runner/blob/main/docs/operations.md#${a.alert!.toLowerCase()}`,
      );
      assert.ok(anchors.has(a.alert!.toLowerCase()), `docs/operations.md has no section "${a.alert}"`);
    }
  });

  test('KubiyaAuditShippingBehind is rendered only when audit.ship.url is set (nothing to lag behind otherwise)', async () => {
    const without = (await rules('audit.ship.url=')).groups.flatMap((g) => g.rules).map((r) => r.alert);
    assert.deepEqual(
      without,
      ALERTS.filter((a) => a !== 'KubiyaAuditShippingBehind'),
    );
  });

  test('KubiyaAuditShippingBehind fires when records wait and none is accepted for 15 min, not otherwise (promtool test rules)', async () => {
    const spec = await rules();
    const file = join(dir, 'shipping-rules.yaml');
    await writeFile(file, stringify(spec));
    const job = 'namespace="kubiya", job="kubiya-runner", pod="kubiya-runner-0"';
    // 1-minute samples over 40 minutes; each case its own pod label.
    const series = (metric: string, pod: string, values: string) => ({
      series: `${metric}{${job.replace('kubiya-runner-0', pod)}}`,
      values,
    });
    const tests = {
      rule_files: [file],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // stuck: head grows, shipped flat at 10 → fires once 15 min flat + 5 min "for".
            series('kubiya_audit_head_seq', 'stuck', '10+1x40'),
            series('kubiya_audit_shipped_seq', 'stuck', '10x40'),
            // keeping up: shipped follows head a minute behind → never fires.
            series('kubiya_audit_head_seq', 'keeping-up', '10+5x40'),
            series('kubiya_audit_shipped_seq', 'keeping-up', '5+5x40'),
            // quiet: nothing new to ship (head = shipped, both flat) → never fires.
            series('kubiya_audit_head_seq', 'quiet', '7x40'),
            series('kubiya_audit_shipped_seq', 'quiet', '7x40'),
          ],
          alert_rule_test: [
            { eval_time: '10m', alertname: 'KubiyaAuditShippingBehind', exp_alerts: [] },
            {
              eval_time: '30m',
              alertname: 'KubiyaAuditShippingBehind',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', namespace: 'kubiya', pod: 'stuck' },
                  exp_annotations: ruleAnnotations(spec, 'KubiyaAuditShippingBehind', 'stuck', 30),
                },
              ],
            },
          ],
        },
      ],
    };
    const testFile = join(dir, 'shipping-tests.yaml');
    await writeFile(testFile, stringify(tests));
    const out = await run(promtool, ['test', 'rules', testFile]).then(
      (r) => [0, r.stdout + r.stderr] as const,
      (e: { code?: number; stdout?: string; stderr?: string }) => [e.code ?? 1, `${e.stdout}${e.stderr}`] as const,
    );
    assert.equal(out[0], 0, out[1]);
  });

  test('promtool check rules accepts them (and refuses a broken one: the checker is live)', async () => {
    const spec = await rules();
    const [code, out] = await checkRules(spec);
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
    const broken = structuredClone(spec);
    broken.groups[0]!.rules[0]!.expr = 'sum(rate(kubiya_decisions_total[5m])';
    assert.notEqual((await checkRules(broken))[0], 0);
  });

  test('every metric an alert reads is one the runner exposes', async () => {
    const unknown = (await rules()).groups
      .flatMap((g) => g.rules)
      .flatMap((r) =>
        families(r.expr)
          .filter((f) => !KNOWN.has(f))
          .map((f) => `${r.alert}: ${f}`),
      );
    assert.deepEqual(unknown, []);
  });
});

describe('Grafana dashboard', () => {
  test('every panel reads metrics the runner exposes, and its PromQL is valid (promtool)', async () => {
    const d = await dashboard();
    const exprs = d.panels.flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr })));
    assert.ok(exprs.length >= 10);
    const unknown = exprs.flatMap(({ title, expr }) =>
      families(expr)
        .filter((f) => !KNOWN.has(f))
        .map((f) => `${title}: ${f}`),
    );
    assert.deepEqual(unknown, []);
    // Each expression, with Grafana's variables given values, as a recording rule promtool parses.
    const asRules = {
      groups: [
        {
          name: 'dashboard',
          rules: exprs.map(({ expr }, i) => ({
            record: `dashboard:expr_${i}`,
            expr: expr.replaceAll('$namespace', 'kubiya').replaceAll('$runner', '.*'),
          })),
        },
      ],
    };
    const [code, out] = await checkRules(asRules);
    assert.equal(code, 0, out);
    // The seed's step-time gauge and the histogram that aggregates across replicas are both shown.
    const all = exprs.map((e) => e.expr).join('\n');
    assert.ok(all.includes(`${METRIC_NAMES.stepDuration}{`));
    assert.ok(all.includes(`${METRIC_NAMES.stepExecution}_bucket{`));
  });
});

describe('the runner metrics', () => {
  test("promtool check metrics: Prometheus' naming rules hold for every metric but the seed's contract names", async () => {
    const m = createMetrics('r');
    m.stepFinished('build', 3);
    m.readiness({ audit: { ok: true }, keys: { ok: false } });
    m.sampleProcess();
    m.workflowFinished('success');
    m.decision('verify', 'deny', 'VERIFY_KEY_NOT_FOUND');
    m.policyLoaded('rev');
    m.policyReloadFailed();
    m.auditBatch(0.001, 2);
    m.kubeApi('get', 0.01);
    m.controlPlaneError('poll');
    m.httpRequest('/ready', 200);
    m.kubeApiTimeout('headers');
    m.kubeApiWatchRestart('pods', 'idle');
    const text = await m.registry.metrics();
    for (const name of Object.values(METRIC_NAMES)) assert.ok(text.includes(`# TYPE ${name} `), `${name} exposed`);
    const child = execFile(promtool, ['check', 'metrics']);
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.stdin?.end(text);
    await childEnd(child);
    const problems = out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    assert.deepEqual(problems, SEED_LINT_EXCEPTIONS);
  });

  test('docs/operations.md lists every metric the runner exposes', async () => {
    const ops = await readFile(join(REPO_ROOT, 'docs', 'operations.md'), 'utf8');
    const missing = Object.values(METRIC_NAMES).filter((name) => !ops.includes(`| \`${name}\` |`));
    assert.deepEqual(missing, []);
  });
});
