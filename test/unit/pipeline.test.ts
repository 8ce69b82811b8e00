import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fail } from '../../src/errors/result.ts';
import { defaultPipelineConfig } from '../../src/app/runner.ts';
import { processAssignment, type PipelineDeps } from '../../src/pipeline.ts';
import { engineReturning, MemoryAudit, MemoryPods, MemoryRuns } from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, sign, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();
const allow = engineReturning(() => [{ result: { allow: true, violations: [] } }]);
const deny = engineReturning(() => [{ result: { allow: false, violations: [{ code: 'IMAGE_DENIED', message: 'no', path: 'step.image', policy: 'images', action: 'deny' }] } }]);

function deps(over: Partial<PipelineDeps> = {}): PipelineDeps & { audit: MemoryAudit; pods: MemoryPods } {
  let n = 0;
  return {
    config: defaultPipelineConfig(RUNNER, ISSUER),
    keys,
    policy: () => allow,
    audit: new MemoryAudit(),
    pods: new MemoryPods(),
    runs: new MemoryRuns(),
    now: () => NOW,
    newId: () => `id-${++n}`,
    ...over,
  } as PipelineDeps & { audit: MemoryAudit; pods: MemoryPods };
}

describe('pipeline (in-memory ports)', () => {
  test('an allowed workflow runs its steps in order, each audited before its pod is created', async () => {
    const d = deps();
    const steps = [{ name: 'one', image: 'python:3.11' }, { name: 'two', image: 'python:3.11', env: { TOKEN: 'hunter2' } }];
    const report = await processAssignment({ body: await sign(key, workflow(steps)), contentType: 'application/jwt' }, d);
    assert.deepEqual(report.steps.map((s) => s.status), ['succeeded', 'succeeded']);
    assert.deepEqual(d.pods.created.map((p) => p.metadata?.name), ['workflow-wf-1-step-one', 'workflow-wf-1-step-two']);
    assert.deepEqual(d.audit.records.map((r) => `${r.stage}:${r.step ?? ''}`), [
      'verify:', 'validate:', 'claim:', 'evaluate:one', 'mutate:one', 'create:one', 'finish:one', 'evaluate:two', 'mutate:two', 'create:two', 'finish:two',
    ]);
    const mutateRecord = d.audit.records.find((r) => r.stage === 'mutate');
    assert.ok(Array.isArray(mutateRecord?.patch) && mutateRecord.patch.length > 0, 'the applied JSON Patch is audited');
    const text = JSON.stringify(d.audit.records);
    assert.ok(!text.includes('hunter2'), 'env values are masked in the audit log');
    assert.ok(d.audit.records.some((r) => r.masked?.includes('/input/step/env/TOKEN')));
  });

  test('exactly once: the same token again is ASSIGNMENT_REPLAYED, audited, and makes no second pod', async () => {
    const d = deps();
    const token = await sign(key);
    const first = await processAssignment({ body: token }, d);
    assert.equal(first.accepted, true);
    const again = await processAssignment({ body: token }, d);
    assert.equal(again.accepted, false);
    assert.equal(again.code, 'ASSIGNMENT_REPLAYED');
    assert.equal(d.pods.created.length, 1);
    const last = d.audit.records.at(-1);
    assert.equal(`${last?.stage}:${last?.outcome}:${last?.code}`, 'claim:deny:ASSIGNMENT_REPLAYED');
  });

  test('a policy deny stops the workflow: no pod, later steps skipped', async () => {
    const d = deps({ policy: () => deny });
    const report = await processAssignment({ body: await sign(key, workflow([{ name: 'a', image: 'x:1' }, { name: 'b', image: 'x:1' }])) }, d);
    assert.deepEqual(report.steps.map((s) => s.status), ['denied', 'skipped']);
    assert.equal(d.pods.created.length, 0);
  });

  for (const [name, engine, code] of [
    ['no policy loaded', undefined, 'POLICY_NOT_LOADED'],
    ['policy throws', engineReturning(() => { throw new Error('x'); }), 'POLICY_EVAL_ERROR'],
    ['policy returns nothing', engineReturning(() => []), 'POLICY_UNDEFINED'],
  ] as const) {
    test(`fail closed when ${name}: ${code}, audited as an error, no pod`, async () => {
      const d = deps({ policy: () => engine });
      const report = await processAssignment({ body: await sign(key) }, d);
      assert.equal(report.steps[0]?.code, code);
      assert.equal(d.pods.created.length, 0);
      assert.equal(d.audit.records.at(-1)?.outcome, 'error');
    });
  }

  test('no durable audit record, no pod: AUDIT_UNAVAILABLE', async () => {
    const d = deps();
    d.audit.failing = true;
    const report = await processAssignment({ body: await sign(key) }, d);
    assert.equal(report.accepted, false);
    assert.equal(report.code, 'AUDIT_UNAVAILABLE');
    assert.equal(d.pods.created.length, 0);
  });

  test('a failed step is reported with its exit code and reason', async () => {
    const d = deps();
    d.pods.outcomeFor = () => ({ ok: true, value: { phase: 'Failed', exitCode: 137, reason: 'OOMKilled' } });
    const report = await processAssignment({ body: await sign(key) }, d);
    assert.equal(report.steps[0]?.code, 'STEP_FAILED');
    assert.equal(report.steps[0]?.exitCode, 137);
    assert.equal(d.audit.records.at(-1)?.pod?.reason, 'OOMKilled');
  });

  test('an API server refusal is an error for the step, audited', async () => {
    const d = deps();
    d.pods.create = () => Promise.resolve(fail('CREATE_REJECTED', 'violates PodSecurity'));
    const report = await processAssignment({ body: await sign(key) }, d);
    assert.equal(report.steps[0]?.code, 'CREATE_REJECTED');
    assert.equal(d.audit.records.at(-1)?.stage, 'create');
  });

  test('bad input at each admission stage is coded and audited', async () => {
    for (const [body, code] of [['x'.repeat(70_000), 'RECEIVE_TOO_LARGE'], ['not-a-jws', 'RECEIVE_MALFORMED']] as const) {
      const d = deps();
      const report = await processAssignment({ body }, d);
      assert.equal(report.code, code);
      assert.equal(d.audit.records[0]?.code, code);
      assert.equal(d.pods.created.length, 0);
    }
    const d = deps();
    const report = await processAssignment({ body: await sign(key, workflow([{ name: 'BAD', image: 'x:1' }])) }, d);
    assert.equal(report.code, 'VALIDATE_SCHEMA');
    assert.deepEqual(d.audit.records.map((r) => `${r.stage}:${r.outcome}`), ['verify:allow', 'validate:deny']);
  });
});
