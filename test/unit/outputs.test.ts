/**
 * Step outputs (issue 19 §4) through validation and the reconcile pass over the in-memory twins.
 *
 * The class of fault: a value one step writes reaches another step's pod. It must be what the
 * policy decided on (resolved before evaluation), bounded, never a secret in status or the audit
 * log, and never a placeholder when it was not written. Variants: undeclared names, overlong and
 * control-character values, malformed references, references to later or parallel steps, secret
 * outputs in args or conditions, a substituted arg past the schema's bound, a missing output.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { admit } from '../../src/admission/admit.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { reconcileRun } from '../../src/reconcile/reconcile.ts';
import { outputsOf } from '../../src/run/outputs.ts';
import type { RunStatus } from '../../src/run/status.ts';
import type { Step } from '../../src/validate/schema.ts';
import { validate } from '../../src/validate/validate.ts';
import { testPipelineConfig } from '../support/config.ts';
import { engineReturning, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();
const SECRET = 'Sup3r-s3cret-value-9f8e7d';

const podWith = (message: string): V1Pod => ({
  status: {
    phase: 'Succeeded',
    containerStatuses: [
      {
        name: 'step',
        image: '',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: { terminated: { exitCode: 0, message } },
      },
    ],
  },
});

describe('outputs: what a pod wrote', () => {
  const step: Step = { name: 'a', image: 'x:1', outputs: [{ name: 'result' }, { name: 'token', secret: true }] };
  test('declared name=value lines count; the last wins; everything else is left out', () => {
    assert.deepEqual(outputsOf(podWith(`result=one\nother=x\nresult=two\nnot a line\n=v\ntoken=${SECRET}\r\n`), step), {
      result: 'two',
      token: SECRET,
    });
  });
  test('values too long or with control characters are left out; a step without outputs reads nothing', () => {
    assert.deepEqual(outputsOf(podWith(`result=${'x'.repeat(1025)}`), step), {});
    assert.deepEqual(outputsOf(podWith('result=a\u0000b'), step), {});
    assert.deepEqual(outputsOf(podWith('result=é ok\tfine'), step), { result: 'é ok\tfine' });
    assert.deepEqual(outputsOf(podWith('result=1'), { name: 'b', image: 'x:1' }), {});
    assert.deepEqual(outputsOf(podWith('__proto__=x'), { name: 'c', image: 'x:1', outputs: [{ name: '__proto__' }] }), {
      ['__proto__']: 'x',
    });
  });
});

describe('outputs: validation', () => {
  const producer = { name: 'a', image: 'x:1', outputs: [{ name: 'result' }, { name: 'token', secret: true }] };
  const v = (steps: Record<string, unknown>[]) => validate(workflow(steps));
  test('references to a dependency’s declared outputs in env and args are valid', () => {
    const r = v([
      producer,
      {
        name: 'b',
        image: 'x:1',
        env: { R: 'v=${steps.a.outputs.result}', T: '${steps.a.outputs.token}' },
        args: ['${steps.a.outputs.result}'],
      },
    ]);
    assert.equal(r.ok, true, JSON.stringify(r));
  });
  for (const [what, steps, message] of [
    [
      'an undeclared output',
      [producer, { name: 'b', image: 'x:1', args: ['${steps.a.outputs.nope}'] }],
      /declares no output .{1,2}nope/,
    ],
    [
      'a later step',
      [{ name: 'b', image: 'x:1', args: ['${steps.a.outputs.result}'] }, producer],
      /not a step that b waits for/,
    ],
    [
      'a malformed reference',
      [producer, { name: 'b', image: 'x:1', args: ['${steps.a.outputs}'] }],
      /a reference must be/,
    ],
    [
      'a secret output in args',
      [producer, { name: 'b', image: 'x:1', args: ['${steps.a.outputs.token}'] }],
      /is secret/,
    ],
    [
      'a secret output in a condition',
      [producer, { name: 'b', image: 'x:1', when: "steps.a.outputs.token == 'x'" }],
      /is secret: not in a condition/,
    ],
    ['duplicate output names', [{ name: 'a', image: 'x:1', outputs: [{ name: 'x' }, { name: 'x' }] }], /unique/],
    [
      'an output name that is not an identifier',
      [{ name: 'a', image: 'x:1', outputs: [{ name: 'a-b' }] }],
      /C identifier/,
    ],
    [
      'seventeen outputs',
      [{ name: 'a', image: 'x:1', outputs: Array.from({ length: 17 }, (_, i) => ({ name: `o${i}` })) }],
      /.+/,
    ],
  ] as const)
    test(`refuses ${what}`, () => {
      const r = v(steps as unknown as Record<string, unknown>[]);
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.code, 'VALIDATE_SCHEMA');
        assert.match(JSON.stringify(r.error.details), message);
      }
    });
});

describe('outputs: in the reconcile pass', () => {
  async function runToEnd(steps: Record<string, unknown>[], messages: Record<string, string>) {
    let n = 0;
    const cluster = memoryCluster();
    const runs = new MemoryRuns(() => NOW);
    const inputs: unknown[] = [];
    const deps = {
      config: testPipelineConfig(),
      keys,
      policy: () => ({
        ...engineReturning(() => [{ result: { allow: true, violations: [] } }]),
        evaluate: (input: unknown) => {
          inputs.push(input);
          return [{ result: { allow: true, violations: [] } }];
        },
      }),
      audit: new MemoryAudit(),
      ...cluster,
      runs,
      trust: new MemoryTrustedKeys(),
      now: () => NOW,
      newId: () => `id-${++n}`,
    } satisfies PipelineDeps;
    // The in-memory pods end at once; the termination message is what the step "wrote".
    const create = cluster.pods.create.bind(cluster.pods);
    cluster.pods.create = async (pod) => {
      const r = await create(pod);
      const name = pod.metadata?.name ?? '';
      const step = pod.metadata?.labels?.['kubiya.ai/step'] ?? '';
      setImmediate(() => {
        const stored = cluster.pods.pods.get(name);
        const term = stored?.status?.containerStatuses?.[0]?.state?.terminated;
        if (term !== undefined && messages[step] !== undefined) term.message = messages[step];
      });
      return r;
    };
    const body = await signAssignment(key, {
      issuer: ISSUER,
      audience: RUNNER,
      workflow: workflow(steps),
      now: NOW,
      jti: `out-${Math.random()}`,
    });
    const run = await admit({ body, contentType: 'application/jwt' }, deps);
    assert.ok(run.ok);
    let status: RunStatus | undefined;
    for (let i = 0; i < 20 && !['Succeeded', 'Failed'].includes(status?.phase ?? ''); i++) {
      const obj = runs.get(run.value.name);
      assert.ok(obj !== undefined);
      await reconcileRun(obj, deps, () => true);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      status = runs.get(run.value.name)?.status;
    }
    return { status, deps, pods: cluster.pods, inputs };
  }

  const producer = {
    name: 'a',
    image: 'python:3.11',
    outputs: [{ name: 'version' }, { name: 'token', secret: true }],
  };

  test('a later step gets the values in env and args, the policy decides on them, status keeps only public ones, the audit log masks secret ones', async () => {
    const { status, deps, pods, inputs } = await runToEnd(
      [
        producer,
        {
          name: 'b',
          image: 'python:3.11',
          args: ['deploy', '--version=${steps.a.outputs.version}'],
          env: { DEPLOY_TOKEN: '${steps.a.outputs.token}' },
          when: "steps.a.outputs.version != ''",
        },
      ],
      { a: `version=1.2.3\ntoken=${SECRET}\n` },
    );
    assert.equal(status?.phase, 'Succeeded', JSON.stringify(status));
    assert.deepEqual(status?.steps[0]?.outputs, { version: '1.2.3' }, 'no secret in status');
    const b = pods.created.find((p) => p.metadata?.labels?.['kubiya.ai/step'] === 'b');
    const main = b?.spec?.containers.find((c) => c.name === 'step');
    assert.deepEqual(main?.args, ['deploy', '--version=1.2.3']);
    assert.equal(main?.env?.find((e) => e.name === 'DEPLOY_TOKEN')?.value, SECRET, 'the pod gets the secret');
    const a = pods.created.find((p) => p.metadata?.labels?.['kubiya.ai/step'] === 'a');
    assert.equal(a?.spec?.containers[0]?.env?.find((e) => e.name === 'KUBIYA_OUTPUTS')?.value, '/dev/termination-log');
    const bInput = inputs[1] as { step: Step };
    assert.deepEqual(bInput.step.args, ['deploy', '--version=1.2.3'], 'the policy saw the final values');
    const finish = deps.audit.records.find((r) => r.stage === 'finish' && r.step === 'a');
    assert.deepEqual(finish?.result, { outputs: { version: '1.2.3', token: '***' } });
    assert.ok(finish?.masked?.includes('/result/outputs/token'));
    assert.ok(!JSON.stringify(deps.audit.records).includes(SECRET), 'no secret anywhere in the audit log');
    assert.ok(!JSON.stringify(status).includes(SECRET));
  });

  test('an output that was not written: the step that needs it is Error STEP_OUTPUT_UNRESOLVED, no pod, the run fails', async () => {
    const { status, pods } = await runToEnd(
      [producer, { name: 'b', image: 'python:3.11', args: ['${steps.a.outputs.version}'] }],
      { a: 'other=1\n' },
    );
    assert.equal(status?.phase, 'Failed');
    assert.deepEqual([status?.steps[1]?.phase, status?.steps[1]?.code], ['Error', 'STEP_OUTPUT_UNRESOLVED']);
    assert.equal(pods.created.length, 1);
  });

  test('a condition on an output that was not written: STEP_CONDITION_ERROR', async () => {
    const { status } = await runToEnd(
      [producer, { name: 'b', image: 'python:3.11', when: "steps.a.outputs.version == '1'" }],
      { a: '' },
    );
    assert.deepEqual([status?.phase, status?.steps[1]?.code], ['Failed', 'STEP_CONDITION_ERROR']);
  });

  test('an argument past its bound once substituted is refused, not cut', async () => {
    const { status } = await runToEnd(
      [producer, { name: 'b', image: 'python:3.11', args: [`${'x'.repeat(8000)}\${steps.a.outputs.version}`] }],
      { a: `version=${'y'.repeat(1000)}\n` },
    );
    assert.deepEqual([status?.phase, status?.steps[1]?.code], ['Failed', 'STEP_OUTPUT_UNRESOLVED']);
  });
});
