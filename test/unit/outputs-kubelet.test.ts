/**
 * Outputs as a real kubelet hands them back (issue 19 §4; test/node/step-features.test.ts runs the
 * same cases on a real node). The class: the termination message is not the file the step wrote.
 * The kubelet keeps the LAST 4096 bytes of a longer file (the first line kept is a fragment that
 * can read as `name=value`: a forged output), and splits the pod's 12 KiB over all its containers,
 * cutting each message at its END (a value silently shortened). Bytes that are not UTF-8 arrive
 * as U+FFFD. None of these may become an output: each is refused with a stable code.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { admit } from '../../src/admission/admit.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { reconcileRun } from '../../src/reconcile/reconcile.ts';
import { messageBudget, outputsOf, readOutputs } from '../../src/run/outputs.ts';
import type { RunStatus } from '../../src/run/status.ts';
import type { Step } from '../../src/validate/schema.ts';
import { testPipelineConfig } from '../support/config.ts';
import { engineReturning, MemoryAudit, MemoryRuns, MemoryTrustedKeys, memoryCluster } from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();

const step: Step = { name: 'produce', image: 'x:1', outputs: [{ name: 'tag' }, { name: 'note' }] };

const c = (name: string): V1Container => ({ name, image: 'x:1' });

/** A succeeded pod with `containers` containers in all (the step plus init containers) and this message. */
function pod(message: string, containers = 2): V1Pod {
  return {
    spec: { containers: [c('step')], initContainers: Array.from({ length: containers - 1 }, (_, i) => c(`i${i}`)) },
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
  };
}

/** What the kubelet keeps of a file: its last 4096 bytes, then at most the pod's share from the front. */
function kubelet(file: string, containers: number): string {
  const bytes = Buffer.from(file, 'utf8');
  const tail = bytes.subarray(Math.max(0, bytes.length - 4096));
  const share = Math.floor(12_288 / containers);
  return tail.subarray(0, Math.min(tail.length, share)).toString('utf8');
}

describe('outputs: what the kubelet keeps of the termination message', () => {
  test('the budget: 4096 bytes, or 12288 split over every container of the pod', () => {
    const table: [number, number][] = [
      [1, 4096],
      [2, 4096],
      [3, 4096],
      [4, 3072],
      [5, 2457],
      [18, 682],
    ];
    for (const [n, budget] of table) {
      assert.equal(messageBudget(pod('', n)), budget, `${n} containers`);
      // Reported on the real node: the runner's pod cache keeps no spec; the status lists every container.
      const slim = pod('', n);
      delete slim.spec;
      slim.status = {
        ...slim.status,
        initContainerStatuses: Array.from({ length: n - 1 }, (_, i) => ({
          name: `i${i}`,
          image: '',
          imageID: '',
          ready: false,
          restartCount: 0,
        })),
      };
      assert.equal(messageBudget(slim), budget, `${n} containers, status only`);
    }
    assert.equal(messageBudget(undefined), 4096);
  });

  const refused: { what: string; file: string; containers: number; code: string }[] = [
    {
      // Reported on the real node: the front cut lands on "tag=forged" inside a note line.
      what: 'a file over 4096 bytes whose front cut leaves a forged line',
      file: `note=${'0'.repeat(100)}tag=forged\nfiller=${'0'.repeat(4077)}\n`,
      containers: 2,
      code: 'STEP_OUTPUT_TOO_LARGE',
    },
    {
      // Reported on the real node: 5 containers, 2457 bytes kept, the tag cut short.
      what: "a file over the pod's share whose end cut shortens a value",
      file: `note=${'0'.repeat(2430)}\ntag=1.4.2-release-candidate-0123456789\n`,
      containers: 5,
      code: 'STEP_OUTPUT_TOO_LARGE',
    },
    {
      what: 'a front cut through a multi-byte character (U+FFFD at the start)',
      file: `note=${'é'.repeat(3000)}\ntag=1\n`,
      containers: 2,
      code: 'STEP_OUTPUT_TOO_LARGE',
    },
    {
      what: 'a value over 1024 characters',
      file: `tag=${'x'.repeat(1025)}\n`,
      containers: 2,
      code: 'STEP_OUTPUT_TOO_LARGE',
    },
    { what: 'a control character in a value', file: 'tag=a\u0001b\n', containers: 2, code: 'STEP_OUTPUT_INVALID' },
    { what: 'bytes that are not UTF-8 (U+FFFD)', file: 'tag=a\uFFFDb\n', containers: 2, code: 'STEP_OUTPUT_INVALID' },
  ];
  for (const r of refused)
    test(`refused: ${r.what} (${r.code}), and outputsOf takes nothing`, () => {
      const p = pod(kubelet(r.file, r.containers), r.containers);
      const read = readOutputs(p, step);
      assert.equal(read.ok ? 'ok' : read.error.code, r.code);
      assert.deepEqual(outputsOf(p, step), {});
    });

  test('just under the budget, UTF-8 values and a tab are taken whole; undeclared lines do not count', () => {
    for (const containers of [2, 4, 5, 18]) {
      const budget = messageBudget(pod('', containers));
      const tagLine = 'tag=héllo ✓ 日本\tok\n';
      const pad = budget - 1 - Buffer.byteLength(tagLine) - 'other=\n'.length;
      const file = `other=${'0'.repeat(pad)}\n${tagLine}`;
      assert.equal(Buffer.byteLength(file), budget - 1);
      assert.equal(kubelet(file, containers), file, 'nothing cut');
      const read = readOutputs(pod(file, containers), step);
      assert.deepEqual(read.ok ? read.value : read.error, { tag: 'héllo ✓ 日本\tok' }, `${containers} containers`);
    }
  });

  test('a message of exactly the budget may have been cut: refused', () => {
    const file = `tag=${'x'.repeat(1000)}\n`.padEnd(4096, 'y');
    const read = readOutputs(pod(file, 2), step);
    assert.equal(read.ok ? 'ok' : read.error.code, 'STEP_OUTPUT_TOO_LARGE');
  });

  test('a step without outputs reads nothing, whatever the message', () => {
    const read = readOutputs(pod('x'.repeat(5000)), { name: 'n', image: 'x:1' });
    assert.deepEqual(read.ok ? read.value : read.error, {});
  });
});

describe('outputs refused in the reconcile pass: the producer fails, its dependents never run', () => {
  /** Runs `steps` to their end over the in-memory twins; each step's pod "writes" messages[step]. */
  async function runToEnd(steps: Record<string, unknown>[], messages: Record<string, string>) {
    let n = 0;
    const cluster = memoryCluster();
    const runs = new MemoryRuns(() => NOW);
    const deps = {
      config: testPipelineConfig(),
      keys,
      policy: () => engineReturning(() => [{ result: { allow: true, violations: [] } }]),
      audit: new MemoryAudit(),
      ...cluster,
      runs,
      trust: new MemoryTrustedKeys(),
      now: () => NOW,
      newId: () => `id-${++n}`,
    } satisfies PipelineDeps;
    const create = cluster.pods.create.bind(cluster.pods);
    cluster.pods.create = async (created) => {
      const r = await create(created);
      const step = created.metadata?.labels?.['kubiya.ai/step'] ?? '';
      setImmediate(() => {
        const term = cluster.pods.pods.get(created.metadata?.name ?? '')?.status?.containerStatuses?.[0]?.state
          ?.terminated;
        if (term !== undefined && messages[step] !== undefined) term.message = messages[step];
      });
      return r;
    };
    const body = await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: workflow(steps), now: NOW });
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
    return { status, audit: deps.audit, pods: cluster.pods };
  }

  const cases = [
    {
      what: 'a front-cut message (4096 bytes kept)',
      message: kubelet(`note=${'0'.repeat(100)}tag=forged\nfiller=${'0'.repeat(4077)}\n`, 2),
      code: 'STEP_OUTPUT_TOO_LARGE',
    },
    { what: 'a value over 1024 characters', message: `tag=${'x'.repeat(1025)}\n`, code: 'STEP_OUTPUT_TOO_LARGE' },
    { what: 'a value with a control character', message: 'tag=a\u001bb\n', code: 'STEP_OUTPUT_INVALID' },
  ];
  for (const c of cases)
    test(`${c.what}: ${c.code}, the step Failed (OutputsRefused), no output kept or recorded, the dependent not run`, async () => {
      const { status, audit, pods } = await runToEnd(
        [
          { name: 'produce', image: 'python:3.11', outputs: [{ name: 'tag' }] },
          { name: 'use', image: 'python:3.11', args: ['${steps.produce.outputs.tag}'] },
        ],
        { produce: c.message },
      );
      assert.equal(status?.phase, 'Failed');
      const produced = status?.steps[0];
      assert.deepEqual([produced?.phase, produced?.code, produced?.reason], ['Failed', c.code, 'OutputsRefused']);
      assert.equal(produced?.outputs, undefined);
      assert.equal(status?.steps[1]?.phase, 'Skipped');
      assert.equal(pods.created.length, 1, 'no pod for the dependent');
      const finish = audit.records.find((r) => r.stage === 'finish' && r.step === 'produce');
      assert.deepEqual([finish?.outcome, finish?.code, finish?.result], ['failure', c.code, undefined]);
    });
});
