import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildBundle } from '../../src/adapters/opa-cli.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import type { Step } from '../../src/validate/schema.ts';

const run = promisify(execFile);
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

/** Fixture table: a step and what the compiled WASM policy must decide for it. */
const fixtures: { name: string; step: Step; allow: boolean; codes: string[] }[] = [
  { name: 'pinned docker hub image', step: { name: 's', image: 'python:3.11-slim' }, allow: true, codes: [] },
  { name: 'digest-pinned ghcr image', step: { name: 's', image: 'ghcr.io/org/tool@sha256:abc' }, allow: true, codes: [] },
  { name: ':latest', step: { name: 's', image: 'aquasec/trivy:latest' }, allow: false, codes: ['IMAGE_TAG_NOT_PINNED'] },
  { name: 'untagged', step: { name: 's', image: 'ghcr.io/org/tool' }, allow: false, codes: ['IMAGE_TAG_NOT_PINNED'] },
  { name: 'look-alike registry', step: { name: 's', image: 'docker.io.evil.com/x:1' }, allow: false, codes: ['IMAGE_REGISTRY_NOT_ALLOWED'] },
  { name: 'registry with port', step: { name: 's', image: 'localhost:5000/x:1' }, allow: false, codes: ['IMAGE_REGISTRY_NOT_ALLOWED'] },
  { name: 'bad sidecar', step: { name: 's', image: 'python:3.11', sidecars: [{ name: 'db', image: 'evil.example.com/pg:15' }] }, allow: false, codes: ['IMAGE_REGISTRY_NOT_ALLOWED'] },
  { name: 'bad init container', step: { name: 's', image: 'python:3.11', initContainers: [{ name: 'dl', image: 'amazon/aws-cli' }] }, allow: false, codes: ['IMAGE_TAG_NOT_PINNED'] },
];

describe('compiled WASM policy (opa build -t wasm, @open-policy-agent/opa-wasm)', () => {
  let work: string;
  let engine: PolicyEngine;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-policy-'));
    const { file } = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
    engine = await loadEngine(await readBundle(file));
  });
  after(async () => rm(work, { recursive: true, force: true }));

  for (const f of fixtures) {
    test(`${f.name}: ${f.allow ? 'allow' : f.codes.join(', ')} — and the Go evaluator agrees`, async () => {
      const input = policyInput('r', { id: 'wf', name: 'n', runId: 'run', steps: [f.step] }, f.step);
      const r = evaluate(input, engine);
      const decision = r.ok ? r.value : (r.error.details as { decision?: { allow: boolean; violations: { code: string }[] } } | undefined)?.decision;
      assert.ok(decision, `no decision: ${JSON.stringify(r)}`);
      assert.equal(decision.allow, f.allow);
      assert.deepEqual(decision.violations.map((v) => v.code).sort(), [...f.codes].sort());
      const inputFile = join(work, `${f.name.replace(/\W+/g, '-')}.json`);
      await writeFile(inputFile, JSON.stringify(input));
      const { stdout } = await run(opa, ['eval', '--format', 'json', '-d', join(REPO_ROOT, 'policies'), '-i', inputFile, 'data.kubiya.main.decision'], { maxBuffer: 16 * 1024 * 1024 });
      const go = (JSON.parse(stdout) as { result: { expressions: { value: unknown }[] }[] }).result[0]?.expressions[0]?.value;
      const { revision: _revision, ...wasm } = decision as typeof decision & { revision?: string };
      const order = (d: unknown) => ({ ...(d as object), violations: [...(d as { violations: { code: string }[] }).violations].sort((a, b) => a.code.localeCompare(b.code)) });
      assert.deepEqual(order(wasm), order(go), 'WASM and Go evaluators agree');
    });
  }

  test('the bundle refuses builtins the JS SDK lacks (capabilities)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubiya-caps-'));
    try {
      await mkdir(join(dir, 'kubiya', 'main'), { recursive: true });
      await writeFile(join(dir, 'kubiya', 'main', 'main.rego'), 'package kubiya.main\n\ndecision := {"allow": true, "violations": [], "t": time.now_ns()}\n');
      await assert.rejects(buildBundle(opa, dir, join(dir, 'out.tar.gz')), /time\.now_ns|undefined function/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
