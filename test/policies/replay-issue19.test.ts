/**
 * `policy replay` across issue 19 (retries, when, outputs) with the compiled default bundle: audit
 * records written before these fields existed (no `attempt` in the input, steps without retries,
 * when or outputs) replay unchanged; a recorded step whose retries are over the cap is newly denied
 * (RETRIES_OVER_CAP); an attempt within the cap is allowed. The reported concern, kept as a class:
 * a new input field must not make old inputs undecidable or change their decision.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chain, GENESIS } from '../../src/audit/chain.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { loadEngine, readBundle } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { policyInput } from '../../src/evaluate/evaluate.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { buildPod } from '../../src/pod/build.ts';
import { DEFAULT_RESOURCES } from '../../src/pod/resources.ts';
import { replay } from '../../src/policy/replay.ts';
import type { Step, Workflow } from '../../src/validate/schema.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
let work: string;
let engine: PolicyEngine;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-replay19-'));
  const { file } = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'));
  engine = await loadEngine(await readBundle(file));
});
after(async () => rm(work, { recursive: true, force: true }));

const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

/** An allowed evaluate record as the runner wrote it; `old` drops what issue 19 added to the input. */
function record(seq: number, step: Step, attempt: number, old = false): AuditRecord {
  const workflow: Workflow = { id: 'wf', name: 'n', runId: 'run', steps: [step] };
  const pod = buildPod(workflow, step, {
    runner: 'r',
    namespace: 'kubiya-workflows',
    serviceAccount: 'kubiya-workflow',
    defaultTimeoutSeconds: 3600,
    defaultResources: DEFAULT_RESOURCES,
  });
  const full = policyInput('r', workflow, step, pod, attempt);
  const { attempt: _dropped, ...input } = full;
  return chain(
    {
      decision_id: `id-${seq}`,
      timestamp: '2026-11-01T00:00:00.000Z',
      stage: 'evaluate',
      outcome: 'allow',
      message: 'step allowed by policy',
      runner: 'r',
      labels: { runner: 'r' },
      workflow: { id: 'wf', runId: 'run' },
      step: step.name,
      input: old ? input : full,
      result: { allow: true, violations: [], revision: 'old' },
    },
    seq,
    GENESIS,
  );
}

test('old records (no attempt, no new fields) replay unchanged; retries over the cap are newly denied; attempts within it are not', () => {
  const records = [
    record(1, { name: 'plain', image: 'alpine:3.19.1', resources: R }, 1, true),
    record(2, { name: 'within', image: 'alpine:3.19.1', resources: R, retries: { limit: 3 } }, 4),
    record(3, { name: 'over', image: 'alpine:3.19.1', resources: R, retries: { limit: 4 } }, 1),
    record(
      4,
      {
        name: 'conditioned',
        image: 'alpine:3.19.1',
        resources: R,
        when: "steps.a.phase == 'Succeeded'",
        outputs: [{ name: 'tag' }],
      },
      1,
    ),
  ];
  const report = replay(records, engine);
  assert.equal(report.replayed, 4);
  assert.deepEqual(report.errors, []);
  assert.deepEqual(
    report.newlyDenied.map((c) => [c.step, c.after]),
    [['over', ['RETRIES_OVER_CAP']]],
  );
  assert.equal(report.unchanged, 3);
});
