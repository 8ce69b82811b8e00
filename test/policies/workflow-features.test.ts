import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { main } from '../../src/cli/main.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { evaluate, policyInput } from '../../src/evaluate/evaluate.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { buildPod } from '../../src/pod/build.ts';
import { replay } from '../../src/policy/replay.ts';
import { validate } from '../../src/validate/validate.ts';

/**
 * Issue 19 items 1, 2, 3, 7 through the compiled bundle: the examples of examples/features under
 * the default settings (the default-deny features are denied with their codes) and under chart
 * values that allow them (allowed), and `policy replay` of records made before these packages
 * existed (their inputs have none of the new fields) decides exactly as recorded.
 */
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;

let work: string;
let bundle: string;
let engine: PolicyEngine;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-features-'));
  bundle = (await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'b.tar.gz'))).file;
  engine = await loadEngine(await readBundle(bundle));
});
after(() => rm(work, { recursive: true, force: true }));

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const DIR = join(REPO_ROOT, 'examples', 'features');
/** Deny codes per example under policies/data.json (pull secrets and service accounts: none allowed). */
const DEFAULT_CODES: Readonly<Record<string, readonly string[]>> = {
  'private-registry.yaml': ['PULL_SECRET_NOT_ALLOWED'],
  'gpu-training.yaml': [],
  'deploy-identity.yaml': ['SERVICE_ACCOUNT_NOT_ALLOWED', 'SERVICE_ACCOUNT_TOKEN_NOT_ALLOWED'],
  'sidecar-readiness.yaml': [],
  'retries.yaml': [],
  'outputs.yaml': [],
};
/** Chart values a security team would set to allow the examples (docs/workflows.md). */
const ALLOW_VALUES = `policy:
  settings:
    pullSecrets:
      allowed: [{ name: acme-registry, registries: [ghcr.io/acme] }]
    serviceAccounts:
      allowed: [{ name: deployer, token: { audiences: [sts.amazonaws.com], maxExpirationSeconds: 900 } }]
`;

interface Evaluated {
  steps: { step: string; allow: boolean; decision?: { violations: { code: string }[] } }[];
}

test('every feature example is covered, and decides as documented under the default settings and under allowing values', async () => {
  const files = (await readdir(DIR)).filter((f) => f.endsWith('.yaml')).sort();
  assert.deepEqual(files, Object.keys(DEFAULT_CODES).sort());
  const values = join(work, 'allow.yaml');
  await writeFile(values, ALLOW_VALUES);
  for (const file of files) {
    const byDefault = await cli('policy', 'eval', join(DIR, file), '--bundle', bundle, '--output', 'json');
    const steps = (JSON.parse(byDefault.out) as Evaluated).steps;
    const codes = [...new Set(steps.flatMap((s) => (s.decision?.violations ?? []).map((v) => v.code)))].sort();
    assert.deepEqual(codes, [...DEFAULT_CODES[file]!].sort(), file);
    const allowed = await cli(
      'policy',
      'eval',
      join(DIR, file),
      '--bundle',
      bundle,
      '--values',
      values,
      '--output',
      'json',
    );
    assert.ok(
      (JSON.parse(allowed.out) as Evaluated).steps.every((s) => s.allow),
      `${file} under allowing values: ${allowed.out}`,
    );
  }
});

const R = { requests: { cpu: '1m', memory: '1Mi' }, limits: { memory: '1Mi' } };

/** An evaluate record as the runner wrote it before issue 19 (no new fields in step or pod). */
function record(id: string, input: unknown, result: { allow: boolean; violations: unknown[] }): AuditRecord {
  return {
    stage: 'evaluate',
    outcome: result.allow ? 'allow' : 'deny',
    decision_id: id,
    input,
    result,
    step: 's',
    workflow: { id: 'w' },
  } as unknown as AuditRecord;
}

// The class: a new rule that reads a field old records do not have, or have in another shape, and
// so changes past decisions on replay. Variants: a pipeline-made input of every seed example, and
// the hand-written input of the docs (a pod spec with no automountServiceAccountToken).
test('policy replay: records made before issue 19 replay unchanged under the new packages', async () => {
  const records: AuditRecord[] = [];
  const ctx = {
    runner: 'r',
    namespace: 'kubiya-workflows',
    serviceAccount: 'kubiya-workflow',
    defaultTimeoutSeconds: 60,
  };
  const seed = (await readdir(join(REPO_ROOT, 'examples'))).filter((f) => f.endsWith('.yaml'));
  for (const file of seed) {
    const wf = validate(await readWorkflowFile(join(REPO_ROOT, 'examples', file)));
    assert.ok(wf.ok, file);
    for (const step of wf.value.steps) {
      const input = policyInput('r', wf.value, step, buildPod(wf.value, step, ctx));
      const r = evaluate(input, engine);
      assert.notEqual(r.kind, 'error');
      if (r.kind !== 'error') records.push(record(`${file}/${step.name}`, input, r.decision));
    }
  }
  records.push(
    record(
      'hand-written',
      {
        runner: 'r',
        workflow: { id: 'w', name: 'w', runId: 'r', volumes: [] },
        step: {
          name: 's',
          image: 'alpine:3.19.1',
          resources: R,
        },
        pod: { spec: { containers: [{ name: 'step', image: 'alpine:3.19.1', resources: R }] } },
      },
      { allow: true, violations: [] },
    ),
  );
  const report = replay(records, engine);
  assert.equal(report.replayed, records.length);
  assert.deepEqual(
    [...report.newlyDenied, ...report.newlyAllowed, ...report.errors].map((c) => [c.decision_id, c.after]),
    [],
  );
  assert.equal(report.unchanged, records.length);
});
