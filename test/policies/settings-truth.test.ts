import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { renderChartSettings } from '../../src/adapters/chart-settings.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { PolicyStore } from '../../src/adapters/policy-store.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { main } from '../../src/cli/main.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import { loadConfig } from '../../src/config/load.ts';
import { effectiveData, overlaySettings } from '../../src/policy/overlay.ts';
import { podContextOf } from '../../src/policy/pod-context.ts';
import { buildPod } from '../../src/pod/build.ts';
import type { Workflow } from '../../src/validate/schema.ts';

/**
 * Issue 18 §1, one source of settings truth. The class: what the security team evaluates
 * locally (`policy eval|replay|test`, with `--values <helm values>`) differs from what a runner
 * installed by the chart decides. Reported: the chart replaced the bundle's settings with its own
 * copy (which differed from policies/data.json), so a rule rolled out as `warn` in the bundle
 * came out `deny` under Helm, and an example allowed locally was denied under the chart.
 * Variants: default values, an enforcement override, a list override, runner.workflow settings
 * that change the pods; each is rendered by the real chart (pinned helm) and decided both by the
 * runner's PolicyStore (with the rendered data file mounted as `policy.data`) and by the CLI.
 */
const tools = resolveTools(['opa', 'helm']);
if (!tools.ok) throw new Error(tools.error.message);
const { opa, helm } = tools.value;

let work: string;
let warnBundle: string;
const TIMEOUTS = `package kubiya.rules.timeouts

import data.kubiya.lib

violations contains lib.violation("timeouts", "STEP_TIMEOUT_MISSING", "step.timeout", "the step must set a timeout") if {
\tnot input.step.timeout
}
`;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-truth-'));
  // The docs' warn-first rollout: a new rule, set to warn in the bundle's own data.json.
  await cp(join(REPO_ROOT, 'policies'), join(work, 'policies'), { recursive: true });
  await mkdir(join(work, 'policies', 'kubiya', 'rules', 'timeouts'), { recursive: true });
  await writeFile(join(work, 'policies', 'kubiya', 'rules', 'timeouts', 'timeouts.rego'), TIMEOUTS);
  const dataFile = join(work, 'policies', 'data.json');
  const data = JSON.parse(await readFile(dataFile, 'utf8')) as {
    kubiya: { settings: { enforcement: Record<string, string> } };
  };
  data.kubiya.settings.enforcement.STEP_TIMEOUT_MISSING = 'warn';
  await writeFile(dataFile, JSON.stringify(data, null, 2));
  await cp(join(REPO_ROOT, 'policy-fixtures'), join(work, 'policy-fixtures'), { recursive: true });
  warnBundle = (await buildBundle(opa, join(work, 'policies'), join(work, 'warn.tar.gz'))).file;
});
after(() => rm(work, { recursive: true, force: true }));

/** The runner's decision for a step, with the data file the chart renders from `values` mounted as policy.data. */
async function runnerDecides(values: string | undefined, bundle: string, workflow: Workflow) {
  const rendered = await renderChartSettings(helm, values === undefined ? [] : [values]);
  const dir = await mkdtemp(join(work, 'runner-'));
  await writeFile(join(dir, 'data.json'), rendered.dataText!);
  const store = new PolicyStore(bundle, { loaded: () => undefined, rejected: () => undefined }, join(dir, 'data.json'));
  const engine = await store.load();
  const config = loadConfig(rendered.runnerYaml, {});
  assert.ok(config.ok, JSON.stringify(!config.ok && config.error));
  const ctx = podContextOf(config.value);
  return workflow.steps.map((step) => {
    const r = evaluate(policyInput(ctx.runner, workflow, step, buildPod(workflow, step, ctx)), engine);
    const decision = r.kind === 'error' ? undefined : r.decision;
    return { step: step.name, allow: r.kind === 'allow', violations: decision?.violations, revision: engine.revision };
  });
}

const step = { name: 's', image: 'python:3.11-slim', resources: { requests: { cpu: '100m', memory: '128Mi' } } };
const workflow = { id: 'w', name: 'w', runId: 'r', steps: [step] } as unknown as Workflow;

test("the chart's default settings are policies/data.json: rendered with default values, the runner decides with exactly them", async () => {
  const rendered = await renderChartSettings(helm, []);
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as unknown;
  assert.deepEqual(effectiveData(data, JSON.parse(rendered.dataText!)), data);
});

test('warn-first under the chart: a code the bundle sets to warn stays warn with default values, as policy eval --values says', async () => {
  const wfFile = join(work, 'step.yaml');
  await writeFile(wfFile, JSON.stringify(step));
  const cases: { name: string; values?: string; action: string }[] = [
    { name: 'default values', action: 'warn' },
    {
      name: 'values set the code to deny',
      values: 'policy:\n  settings:\n    enforcement:\n      STEP_TIMEOUT_MISSING: deny\n',
      action: 'deny',
    },
    {
      name: 'values set another code',
      values: 'policy:\n  settings:\n    enforcement:\n      IMAGE_DENIED: warn\n',
      action: 'warn',
    },
  ];
  for (const c of cases) {
    let valuesFile: string | undefined;
    if (c.values !== undefined) {
      valuesFile = join(work, `${c.name.replaceAll(' ', '-')}.yaml`);
      await writeFile(valuesFile, c.values);
    }
    const [runner] = await runnerDecides(valuesFile, warnBundle, workflow);
    const v = (runner!.violations as { code: string; action: string }[]).find((x) => x.code === 'STEP_TIMEOUT_MISSING');
    assert.equal(v?.action, c.action, `${c.name}: the runner`);
    const local = await cli(
      'policy',
      'eval',
      wfFile,
      '--bundle',
      warnBundle,
      ...(valuesFile ? ['--values', valuesFile] : []),
      '--output',
      'json',
    );
    const steps = JSON.parse(local.out) as {
      revision: string;
      steps: { decision: { violations: { code: string; action: string }[] } }[];
    };
    const lv = steps.steps[0]!.decision.violations.find((x) => x.code === 'STEP_TIMEOUT_MISSING');
    assert.equal(lv?.action, c.action, `${c.name}: policy eval --values\n${local.err}`);
    if (valuesFile !== undefined || c.name === 'default values') {
      // --values names the revision the runner reports (bundle + the rendered data file)
      const withValues = valuesFile ?? (await writeFile(join(work, 'empty.yaml'), '{}\n'), join(work, 'empty.yaml'));
      const again = await cli(
        'policy',
        'eval',
        wfFile,
        '--bundle',
        warnBundle,
        '--values',
        withValues,
        '--output',
        'json',
      );
      assert.equal((JSON.parse(again.out) as { revision: string }).revision, runner!.revision, c.name);
    }
  }
});

test('every example decides the same through policy eval --values and the runner the chart configures (settings and pods)', async () => {
  const bundle = (await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'default.tar.gz'))).file;
  const values: Record<string, string> = {
    'default values': '{}\n',
    'registries replaced': 'policy:\n  settings:\n    images:\n      allowedRegistries: [ghcr.io]\n',
    'no default resources': 'runner:\n  workflow:\n    defaultResources:\n      requests: null\n      limits: null\n',
  };
  const examples = (await readdir(join(REPO_ROOT, 'examples'))).filter((f) => f.endsWith('.yaml'));
  for (const [name, text] of Object.entries(values)) {
    const file = join(work, `v-${name.replaceAll(' ', '-')}.yaml`);
    await writeFile(file, text);
    for (const example of examples) {
      const local = await cli(
        'policy',
        'eval',
        join(REPO_ROOT, 'examples', example),
        '--bundle',
        bundle,
        '--values',
        file,
        '--output',
        'json',
      );
      const steps = (JSON.parse(local.out) as { steps: { step: string; allow: boolean }[] }).steps;

      const runner = await runnerDecides(
        file,
        bundle,
        (await readWorkflowFile(join(REPO_ROOT, 'examples', example))) as unknown as Workflow,
      );
      assert.deepEqual(
        steps.map((s) => [s.step, s.allow]),
        runner.map((s) => [s.step, s.allow]),
        `${name}: ${example}`,
      );
    }
  }
});

test('overlay: objects merge, lists and values replace, prototype keys stay plain data', () => {
  assert.deepEqual(overlaySettings({ a: { b: 1, c: [1, 2] }, d: 'x' }, { a: { c: [3] } }), {
    a: { b: 1, c: [3] },
    d: 'x',
  });
  assert.deepEqual(overlaySettings({ enforcement: { A: 'warn' } }, { enforcement: {} }), {
    enforcement: { A: 'warn' },
  });
  assert.deepEqual(overlaySettings({ enforcement: { A: 'warn' } }, { enforcement: { A: 'deny' } }), {
    enforcement: { A: 'deny' },
  });
  const polluted = overlaySettings({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.hasOwn(polluted, '__proto__'));
});
