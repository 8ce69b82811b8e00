/**
 * The allow path of the default policies calls no builtin implemented in JavaScript (issue #20).
 *
 * In the WASM module, `sprintf` (and the other builtins opa-wasm implements in JavaScript) leave
 * the module on every call: the arguments are dumped to JSON, decoded, formatted in JavaScript
 * and parsed back. On the allow path that was ~25 % of an evaluation. Paths built on every
 * evaluation use `concat` and `format_int` (native in WASM); messages, built only for a violation,
 * keep `sprintf`. The class: any rule evaluated for an allowed step that calls a JavaScript
 * builtin. Variants: every step of every allowed workflow in policy-fixtures/ and examples/ and
 * the benchmark's step; the denied fixtures show that the count sees calls when there are some.
 *
 * The count wraps each function of opa-wasm's own builtin table (the module its `_builtinCall`
 * dispatches through) and calls the real one: decisions are unchanged.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { buildPod } from '../../src/pod/build.ts';
import { validate } from '../../src/validate/validate.ts';
import { benchWorkflow } from '../../bench/fixtures.ts';
import { testPipelineConfig } from '../support/config.ts';

const sdk = createRequire(join(REPO_ROOT, 'node_modules/@open-policy-agent/opa-wasm/src/opa.js'));
const jsBuiltins = sdk('./builtins/index') as Record<string, (...args: unknown[]) => unknown>;
const calls = new Map<string, number>();
const originals = new Map(Object.entries(jsBuiltins));

let work: string;
let engine: PolicyEngine;
before(async () => {
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  work = await mkdtemp(join(tmpdir(), 'kubiya-allow-path-'));
  const { file } = await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'b.tar.gz'));
  engine = await loadEngine(await readBundle(file));
  for (const [name, fn] of originals)
    jsBuiltins[name] = (...args: unknown[]) => (calls.set(name, (calls.get(name) ?? 0) + 1), fn(...args));
});
after(async () => {
  for (const [name, fn] of originals) jsBuiltins[name] = fn;
  await rm(work, { recursive: true, force: true });
});

const config = testPipelineConfig({ runner: { name: 'bench-runner' } });

/** Every step of a workflow, evaluated: its outcome and the JavaScript builtin calls it made. */
function evaluateAll(workflow: unknown): { step: string; kind: string; calls: Record<string, number> }[] {
  const wf = validate(workflow);
  if (!wf.ok) throw new Error(`invalid workflow: ${wf.error.message}`);
  return wf.value.steps.map((step) => {
    const pod = buildPod(wf.value, step, {
      runner: config.runner,
      namespace: config.namespace,
      serviceAccount: config.serviceAccount,
      defaultTimeoutSeconds: config.defaultTimeoutSeconds,
      workspaceSize: config.workspaceSize,
      defaultResources: config.defaultResources,
    });
    calls.clear();
    const e = evaluate(policyInput(config.runner, wf.value, step, pod), engine);
    return { step: step.name, kind: e.kind, calls: Object.fromEntries(calls) };
  });
}

const FILES = [
  'policy-fixtures/allowed.yaml',
  'policy-fixtures/images.yaml',
  'policy-fixtures/secrets.yaml',
  'policy-fixtures/egress.yaml',
  'examples/trivy-scan.yaml',
  'examples/process-with-init.yaml',
  'examples/features/sidecar-readiness.yaml',
  'examples/features/deploy-identity.yaml',
  'examples/features/private-registry.yaml',
];

test('an allowed step calls no JavaScript builtin; a denied one does (the count works)', async () => {
  let allowed = 0;
  let denied = 0;
  const outcomes = [{ file: 'bench', results: evaluateAll(benchWorkflow('wf-1', 'run-1')) }];
  for (const file of FILES) {
    const { expect: _expect, ...workflow } = parse(await readFile(join(REPO_ROOT, file), 'utf8')) as {
      expect?: unknown;
    };
    outcomes.push({ file, results: evaluateAll({ runId: 'run-1', ...workflow }) });
  }
  for (const { file, results } of outcomes)
    for (const r of results) {
      if (r.kind === 'allow') {
        allowed++;
        assert.deepEqual(r.calls, {}, `${file} step ${r.step}: allowed, yet called ${JSON.stringify(r.calls)}`);
      } else if (r.kind === 'deny') {
        denied++;
        assert.ok((r.calls.sprintf ?? 0) > 0, `${file} step ${r.step}: denied, its messages use sprintf`);
      }
    }
  assert.ok(allowed >= 5 && denied >= 5, `${allowed} allowed and ${denied} denied steps seen`);
});
