import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fail } from '../../src/errors/result.ts';
import { admit } from '../../src/admission/admit.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import type { ConfigOverrides } from '../support/config.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { Clock, endedStatus, engineReturning } from '../support/memory.ts';
import { allowAll, allowWithEgress, memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, sign, testKeys, workflow } from '../support/tokens.ts';
import { podName } from '../../src/pod/names.ts';
import { waitFor } from '../support/wait.ts';

const { key, keys } = await testKeys();
const deny = engineReturning(() => [
  {
    result: {
      allow: false,
      violations: [{ code: 'IMAGE_DENIED', message: 'no', path: 'step.image', policy: 'images', action: 'deny' }],
    },
  },
]);
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

async function runner(over: Partial<PipelineDeps> = {}, config: ConfigOverrides = {}) {
  const r = await memoryRunner({ keys, ...over }, config);
  closers.push(r.close);
  return r;
}

let jti = 0;
const signed = (wf = workflow(), now = NOW) =>
  signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: wf, now, jti: `jti-${++jti}` });

describe('pipeline and reconciler (in-memory ports)', () => {
  test('an allowed workflow runs its steps in order, each audited before its pod is created', async () => {
    const { deps: d, run } = await runner();
    const steps = [
      { name: 'one', image: 'python:3.11' },
      { name: 'two', image: 'python:3.11', env: { TOKEN: 'hunter2' } },
    ];
    const report = await run({ body: await signed(workflow(steps)), contentType: 'application/jwt' });
    assert.equal(report.phase, 'Succeeded');
    assert.deepEqual(
      report.steps.map((s) => s.status),
      ['succeeded', 'succeeded'],
    );
    assert.deepEqual(
      d.pods.created.map((p) => p.metadata?.name),
      [podName('run-1', 'one'), podName('run-1', 'two')],
    );
    assert.deepEqual(
      d.audit.records.map((r) => `${r.stage}:${r.step ?? ''}`),
      [
        // Intake's three, then the reconciler's first pass re-verifies and records it (WorkflowRun create ≡ intake: SECURITY.md).
        'verify:',
        'validate:',
        'claim:',
        'verify:',
        'validate:',
        'evaluate:one',
        'mutate:one',
        'create:one',
        'finish:one',
        'evaluate:two',
        'mutate:two',
        'create:two',
        'finish:two',
      ],
    );
    const mutateRecord = d.audit.records.find((r) => r.stage === 'mutate');
    assert.ok(Array.isArray(mutateRecord?.patch) && mutateRecord.patch.length > 0, 'the applied JSON Patch is audited');
    const text = JSON.stringify(d.audit.records);
    assert.ok(!text.includes('hunter2'), 'env values are masked in the audit log');
    assert.ok(d.audit.records.some((r) => r.masked?.includes('/input/step/env/TOKEN')));
    const status = [...d.runs.runs.values()][0]?.status;
    assert.equal(status?.summary, '2/2 succeeded');
    assert.equal(status?.steps[0]?.decision, 'allow (test-rev)');
    assert.ok(status?.startedAt !== undefined && status.finishedAt !== undefined);
  });

  test('a step granted nothing beyond DNS gets no policy of its own: the runner DNS policy (ensured first) covers it', async () => {
    const { deps: d, run } = await runner();
    await run({ body: await signed() });
    assert.equal(d.pods.egress.length, 0);
    assert.deepEqual(d.pods.dnsPolicy?.spec?.podSelector, { matchLabels: { 'kubiya.ai/runner': RUNNER } });
    assert.equal(d.pods.created[0]?.metadata?.labels?.['kubiya.ai/egress'], undefined, 'no grant label');
  });

  test('a step granted more than DNS gets an egress NetworkPolicy of its own, owned by its run', async () => {
    const { deps: d, run } = await runner({ policy: () => allowWithEgress });
    await run({ body: await signed() });
    assert.equal(d.pods.egress.length, 1);
    const np = d.pods.egress[0];
    assert.equal(np?.kind, 'NetworkPolicy');
    assert.equal(np?.metadata?.ownerReferences?.[0]?.kind, 'WorkflowRun');
    assert.deepEqual((np?.spec as { policyTypes: string[] }).policyTypes, ['Egress']);
  });

  test('dependsOn: independent branches run in parallel, a join waits for both', async () => {
    const { deps: d, run } = await runner();
    const started: string[][] = [];
    d.pods.outcomeFor = () => undefined; // keep running until the test ends them
    const steps = [
      { name: 'fetch', image: 'x:1' },
      { name: 'lint', image: 'x:1', dependsOn: ['fetch'] },
      { name: 'test', image: 'x:1', dependsOn: ['fetch'] },
      { name: 'ship', image: 'x:1', dependsOn: ['lint', 'test'] },
    ];
    const done = run({ body: await signed(workflow(steps)) });
    const finish = async (names: string[]): Promise<void> => {
      // A pod the fake has not yet set Running would be set Running again after the test ends it.
      await waitFor(`the pods of ${names.join(', ')} running`, () =>
        names.every((n) => d.pods.pods.get(podName('run-1', n))?.status?.phase === 'Running'),
      );
      for (const n of names) {
        const pod = d.pods.pods.get(podName('run-1', n));
        assert.ok(pod !== undefined, `pod of ${n} exists`);
        pod.status = endedStatus({ phase: 'Succeeded', exitCode: 0, reason: 'Completed' });
      }
      const runName = [...d.runs.runs.keys()][0] ?? '';
      for (const _ of names) d.runs.put(d.runs.runs.get(runName) ?? assert.fail());
    };
    const pods = () => [...d.pods.pods.values()].map((p) => p.metadata?.labels?.['kubiya.ai/step'] ?? '').sort();
    await waitFor('one step pod', () => pods().length === 1);
    started.push(pods());
    await finish(['fetch']);
    await waitFor('three step pods', () => pods().length === 3);
    started.push(pods());
    await finish(['lint']);
    await sleep(50); // the join must not start while one branch still runs
    started.push(pods());
    await finish(['test']);
    await waitFor('four step pods', () => pods().length === 4);
    started.push(pods());
    await finish(['ship']);
    const report = await done;
    assert.deepEqual(started, [
      ['fetch'],
      ['fetch', 'lint', 'test'],
      ['fetch', 'lint', 'test'],
      ['fetch', 'lint', 'ship', 'test'],
    ]);
    assert.equal(report.phase, 'Succeeded');
  });

  test("a finished step's log goes to the observer in bounded chunks (never to the audit log)", async () => {
    const logs: { step: string; chunk: number; text: string; truncated: boolean }[] = [];
    const { deps: d, run } = await runner({
      observer: {
        recorded: () => undefined,
        workflowsRunning: () => undefined,
        workflowFinished: () => undefined,
        stepFinished: () => undefined,
        internalError: () => undefined,
        stepLog: (l) => logs.push(l),
      },
    });
    const big = 'x'.repeat(300 * 1024);
    const created = d.pods.create.bind(d.pods);
    d.pods.create = async (pod) => {
      d.pods.logText.set(
        pod.metadata?.name ?? '',
        pod.metadata?.labels?.['kubiya.ai/step'] === 'loud' ? big : 'hello from the step\n',
      );
      return created(pod);
    };
    await run({
      body: await signed(
        workflow([
          { name: 'quiet', image: 'x:1' },
          { name: 'loud', image: 'x:1' },
        ]),
      ),
    });
    assert.deepEqual(
      logs.filter((l) => l.step === 'quiet').map((l) => l.text),
      ['hello from the step\n'],
    );
    const loud = logs.filter((l) => l.step === 'loud');
    assert.equal(loud.length, 16, '256 KiB in 16 KiB chunks');
    assert.deepEqual(
      loud.map((l) => l.chunk),
      [...Array(16).keys()],
    );
    assert.equal(loud.at(-1)?.truncated, true);
    assert.ok(!JSON.stringify(d.audit.records).includes('hello from the step'));
  });

  test('a dependsOn cycle is a schema error at intake', async () => {
    const { run } = await runner();
    const report = await run({
      body: await signed(
        workflow([
          { name: 'a', image: 'x:1', dependsOn: ['b'] },
          { name: 'b', image: 'x:1', dependsOn: ['a'] },
        ]),
      ),
    });
    assert.equal(report.code, 'VALIDATE_SCHEMA');
    assert.match(report.message, /cycle/);
  });

  test('exactly once: the same token again is ASSIGNMENT_REPLAYED, audited, and makes no second pod', async () => {
    const { deps: d, run } = await runner();
    const token = await sign(key);
    const first = await run({ body: token });
    assert.equal(first.accepted, true);
    const again = await run({ body: token });
    assert.equal(again.accepted, false);
    assert.equal(again.code, 'ASSIGNMENT_REPLAYED');
    assert.equal(d.pods.created.length, 1);
    assert.ok(d.audit.records.some((r) => `${r.stage}:${r.outcome}:${r.code}` === 'claim:deny:ASSIGNMENT_REPLAYED'));
  });

  test('a policy deny stops the workflow: no pod, later steps skipped, run Failed', async () => {
    const { deps: d, run } = await runner({ policy: () => deny });
    const report = await run({
      body: await signed(
        workflow([
          { name: 'a', image: 'x:1' },
          { name: 'b', image: 'x:1' },
        ]),
      ),
    });
    assert.deepEqual(
      report.steps.map((s) => s.status),
      ['denied', 'skipped'],
    );
    assert.equal(report.phase, 'Failed');
    assert.equal(report.code, 'POLICY_DENIED');
    assert.equal(d.pods.created.length, 0);
    assert.match([...d.runs.runs.values()][0]?.status?.steps[0]?.decision ?? '', /^deny: IMAGE_DENIED/);
  });

  test('the policy in force when a step starts decides, not the one in force at intake', async () => {
    let engine = allowAll;
    const { deps: d, run } = await runner({ policy: () => engine });
    d.pods.outcomeFor = () => undefined;
    const done = run({
      body: await signed(
        workflow([
          { name: 'a', image: 'x:1' },
          { name: 'b', image: 'x:1' },
        ]),
      ),
    });
    await waitFor('step a running', () => d.pods.pods.get(podName('run-1', 'a'))?.status?.phase === 'Running');
    engine = deny; // the security team tightens the policy while step a runs
    const pod = d.pods.pods.get(podName('run-1', 'a')) ?? assert.fail();
    pod.status = endedStatus({ phase: 'Succeeded', exitCode: 0 });
    d.runs.put([...d.runs.runs.values()][0] ?? assert.fail());
    const report = await done;
    assert.deepEqual(
      report.steps.map((s) => s.status),
      ['succeeded', 'denied'],
    );
    assert.equal(d.pods.created.length, 1);
  });

  for (const [name, engine, code] of [
    ['no policy loaded', undefined, 'POLICY_NOT_LOADED'],
    [
      'policy throws',
      engineReturning(() => {
        throw new Error('x');
      }),
      'POLICY_EVAL_ERROR',
    ],
    ['policy returns nothing', engineReturning(() => []), 'POLICY_UNDEFINED'],
  ] as const) {
    test(`fail closed when ${name}: ${code}, audited as an error, no pod`, async () => {
      const { deps: d, run } = await runner({ policy: () => engine });
      const report = await run({ body: await signed() });
      assert.equal(report.steps[0]?.code, code);
      assert.equal(d.pods.created.length, 0);
      assert.equal(d.audit.records.at(-1)?.outcome, 'error');
      // issue 18: the evaluate record carries the cause and the bundle revision it was made with
      const record = d.audit.records.find((r) => r.stage === 'evaluate');
      if (engine !== undefined) {
        assert.equal(record?.bundles?.kubiya?.revision, engine.revision, name);
        if (code === 'POLICY_EVAL_ERROR') assert.match(record?.message ?? '', /policy evaluation failed: x/);
      }
    });
  }

  test('no durable audit record, no pod: AUDIT_UNAVAILABLE at intake; a run waits for the log to come back', async () => {
    const { deps: d, run, reconciler } = await runner();
    d.audit.failing = true;
    const report = await run({ body: await signed() });
    assert.equal(report.accepted, false);
    assert.equal(report.code, 'AUDIT_UNAVAILABLE');
    assert.equal(d.pods.created.length, 0);

    d.audit.failing = false;
    const admitted = await admit({ body: await signed() }, d);
    assert.ok(admitted.ok);
    d.audit.failing = true; // fails when the reconciler evaluates: nothing is created
    reconciler.enqueue(admitted.value.name);
    await sleep(50);
    assert.equal(d.pods.created.length, 0);
    d.audit.failing = false;
    reconciler.enqueue(admitted.value.name);
    assert.equal((await reconciler.whenDone(admitted.value.name, 5000))?.status?.phase, 'Succeeded');
    assert.equal(d.pods.created.length, 1);
  });

  test('a failed step is reported with its exit code and reason (OOMKilled)', async () => {
    const { deps: d, run } = await runner();
    d.pods.outcomeFor = () => ({ phase: 'Failed', exitCode: 137, reason: 'OOMKilled' });
    const report = await run({ body: await signed() });
    assert.equal(report.steps[0]?.code, 'STEP_FAILED');
    assert.equal(report.steps[0]?.exitCode, 137);
    assert.equal(d.audit.records.at(-1)?.pod?.reason, 'OOMKilled');
    assert.equal([...d.runs.runs.values()][0]?.status?.steps[0]?.reason, 'OOMKilled');
  });

  test("steps that never run after a failure each get a finish record (STEP_SKIPPED, fixed id) and the run keeps the failing step's code", async () => {
    // Class: every step of a run that ends has an end in the audit log — run, step and code named —
    // whichever way it ended (succeeded, failed, cancelled, stopped, skipped); a repeat pass writes
    // the same end (same decision_id), never a second one.
    const { deps: d, run, reconciler } = await runner();
    d.pods.outcomeFor = (pod) =>
      pod.metadata?.name === podName('run-1', 'a')
        ? { phase: 'Failed', exitCode: 2 }
        : { phase: 'Succeeded', exitCode: 0 };
    const wf = workflow([
      { name: 'c', image: 'x:1', dependsOn: ['a'] },
      { name: 'a', image: 'x:1', dependsOn: [] },
      { name: 'b', image: 'x:1', dependsOn: ['a'] },
    ]);
    const report = await run({ body: await signed(wf) });
    const status = [...d.runs.runs.values()][0]?.status;
    assert.equal(status?.phase, 'Failed');
    assert.equal(status?.code, 'STEP_FAILED', 'the run names the cause, not a consequence');
    assert.deepEqual(
      status?.steps.map((s) => [s.name, s.phase, s.code]),
      [
        ['c', 'Skipped', 'STEP_SKIPPED'],
        ['a', 'Failed', 'STEP_FAILED'],
        ['b', 'Skipped', 'STEP_SKIPPED'],
      ],
    );
    const ends = () => d.audit.records.filter((r) => r.stage === 'finish');
    assert.deepEqual(
      ends()
        .map((r) => [r.step, r.code, r.workflow?.runId])
        .sort(),
      [
        ['a', 'STEP_FAILED', 'run-1'],
        ['b', 'STEP_SKIPPED', 'run-1'],
        ['c', 'STEP_SKIPPED', 'run-1'],
      ],
    );
    assert.equal(report.steps.length, 3);
    const before = ends().length;
    for (const r of d.runs.list()) reconciler.enqueue(r.name);
    await sleep(50);
    assert.equal(ends().length, before, 'a finished run writes no further ends');
  });

  test('an API server refusal is an error for the step, audited, and not retried', async () => {
    const { deps: d, run } = await runner();
    let calls = 0;
    d.pods.create = () => {
      calls++;
      return Promise.resolve(fail('CREATE_REJECTED', 'violates PodSecurity'));
    };
    const report = await run({ body: await signed() });
    assert.equal(report.steps[0]?.code, 'CREATE_REJECTED');
    assert.equal(d.audit.records.at(-1)?.stage, 'create');
    await sleep(50);
    assert.equal(calls, 1);
  });

  test('the runner enforces the step timeout itself: pod deleted, STEP_DEADLINE_EXCEEDED', async () => {
    const clock = new Clock(new Date());
    const { deps: d, run, reconciler } = await runner({ now: clock.now });
    d.pods.outcomeFor = () => undefined;
    const done = run({ body: await signed(workflow([{ name: 'slow', image: 'x:1', timeout: '2s' }]), clock.at) });
    await waitFor('the run Running', () => d.runs.list()[0]?.status?.phase === 'Running');
    clock.advance(3);
    for (const r of d.runs.list()) reconciler.enqueue(r.name);
    const report = await done;
    assert.equal(report.steps[0]?.code, 'STEP_DEADLINE_EXCEEDED');
    assert.deepEqual(d.pods.deleted, [podName('run-1', 'slow')]);
    assert.equal([...d.runs.runs.values()][0]?.status?.steps[0]?.reason, 'DeadlineExceeded');
  });

  test('a bad image fails fast after the grace period: STEP_START_FAILED with the waiting reason', async () => {
    const clock = new Clock(new Date());
    const {
      deps: d,
      run,
      reconciler,
    } = await runner({ now: clock.now }, { runner: { workflow: { failFastGrace: 5 } } });
    d.pods.outcomeFor = (pod) => {
      setImmediate(() => {
        pod.status = {
          phase: 'Pending',
          containerStatuses: [
            {
              name: 'step',
              image: '',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } },
            },
          ],
        };
      });
      return undefined;
    };
    const done = run({ body: await signed(workflow([{ name: 'pull', image: 'ghcr.io/nope/nothing:1' }]), clock.at) });
    await waitFor(
      'pod pull Pending in a Running run',
      () =>
        d.pods.pods.get(podName('run-1', 'pull'))?.status?.phase === 'Pending' &&
        d.runs.list()[0]?.status?.phase === 'Running',
    );
    await sleep(10);
    for (const r of d.runs.list()) reconciler.enqueue(r.name);
    await waitFor(
      'the step reason ImagePullBackOff',
      () => d.runs.list()[0]?.status?.steps[0]?.reason === 'ImagePullBackOff',
    );
    assert.equal([...d.runs.runs.values()][0]?.status?.steps[0]?.reason, 'ImagePullBackOff', 'reported while in grace');
    clock.advance(6);
    for (const r of d.runs.list()) reconciler.enqueue(r.name);
    const report = await done;
    assert.equal(report.steps[0]?.code, 'STEP_START_FAILED');
    assert.deepEqual(d.pods.deleted, [podName('run-1', 'pull')]);
  });

  test('a hand-made WorkflowRun is no way around verification: VERIFY_RUN_MISMATCH or the token is judged at its creation', async () => {
    const { deps: d, reconciler } = await runner();
    const token = await signed();
    // The genuine token was admitted once (so its key is trusted); copies go into hand-made runs.
    const admitted = await admit({ body: token }, d);
    assert.ok(admitted.ok);
    const admittedName = admitted.value.name;
    d.runs.put({
      name: 'wr-mine',
      uid: 'u-1',
      createdAt: NOW,
      workflowId: 'wf-1',
      runId: 'run-1',
      token,
      cancelRequested: false,
    });
    const stale = await signed(workflow(), new Date(NOW.getTime() - 3600_000));
    d.runs.put({
      name: 'wr-jti-99',
      uid: 'u-2',
      createdAt: NOW,
      workflowId: 'wf-1',
      runId: 'run-1',
      token: stale,
      cancelRequested: false,
    });
    d.runs.put({
      name: 'wr-forged',
      uid: 'u-3',
      createdAt: NOW,
      workflowId: 'wf-1',
      runId: 'run-1',
      token: `${token.slice(0, -4)}AAAA`,
      cancelRequested: false,
    });
    const [a, b, c] = await Promise.all(['wr-mine', 'wr-jti-99', 'wr-forged'].map((n) => reconciler.whenDone(n, 5000)));
    assert.equal(a?.status?.code, 'VERIFY_RUN_MISMATCH');
    assert.equal(b?.status?.code, 'VERIFY_EXPIRED');
    assert.equal(c?.status?.code, 'VERIFY_SIGNATURE_INVALID');
    assert.ok(
      d.pods.created.every((p) => p.metadata?.ownerReferences?.[0]?.uid === `uid-${admittedName}`),
      'only the admitted run made pods',
    );
    const denied = d.audit.records.filter((r) => r.stage === 'verify' && r.outcome === 'deny');
    assert.equal(denied.length, 3);
    assert.ok(
      denied.every((r) => r.workflow?.id === 'wf-1' && r.workflow.runId === 'run-1'),
      'each deny names the run',
    );
  });

  test('a pass that crashed after creating a pod is resumed by adopting it, never by a second pod', async () => {
    const { deps: d, run, reconciler } = await runner();
    d.pods.outcomeFor = () => undefined;
    // The status write of the first pass is lost, as if the runner died right after the create.
    const write = d.runs.writeStatus.bind(d.runs);
    let lost = 0;
    d.runs.writeStatus = (name, status) =>
      lost++ === 0 && status.phase === 'Running'
        ? Promise.resolve(fail('CREATE_FAILED', 'runner killed'))
        : write(name, status);
    const done = run({ body: await signed() });
    await waitFor(
      'step analyze running',
      () => d.pods.pods.get(podName('run-1', 'analyze'))?.status?.phase === 'Running',
    );
    const pod = d.pods.pods.get(podName('run-1', 'analyze'));
    assert.ok(pod !== undefined);
    pod.status = endedStatus({ phase: 'Succeeded', exitCode: 0 });
    for (const r of d.runs.list()) reconciler.enqueue(r.name);
    assert.equal((await done).phase, 'Succeeded');
    assert.equal(d.pods.created.length, 1);
  });

  test('at most maxConcurrent runs execute; the rest wait Pending and start oldest first', async () => {
    const clock = new Clock(NOW);
    const { deps: d, run } = await runner({ now: clock.now }, { runner: { workflow: { maxConcurrent: 1 } } });
    d.pods.outcomeFor = () => undefined;
    const first = run({ body: await signed(workflow([{ name: 'a', image: 'x:1' }])) });
    await waitFor('step a running', () => d.pods.pods.get(podName('run-1', 'a'))?.status?.phase === 'Running');
    clock.advance(1);
    const second = run({ body: await signed({ ...workflow([{ name: 'a', image: 'x:1' }]), runId: 'run-2' }) });
    await waitFor('the second run Pending', () => d.runs.list()[1]?.status?.phase === 'Pending');
    assert.deepEqual([...d.pods.pods.keys()], [podName('run-1', 'a')]);
    assert.deepEqual(
      d.runs.list().map((r) => r.status?.phase),
      ['Running', 'Pending'],
    );
    const end = (name: string): void => {
      const pod = d.pods.pods.get(name) ?? assert.fail(name);
      pod.status = endedStatus({ phase: 'Succeeded', exitCode: 0 });
      for (const r of d.runs.list()) d.runs.put(r);
    };
    end(podName('run-1', 'a'));
    assert.equal((await first).phase, 'Succeeded');
    await waitFor("run-2's step a running", () => d.pods.pods.get(podName('run-2', 'a'))?.status?.phase === 'Running');
    end(podName('run-2', 'a'));
    assert.equal((await second).phase, 'Succeeded');
  });

  test('cancellation deletes the running pod, records it, and starts nothing more', async () => {
    const { deps: d, run } = await runner();
    d.pods.outcomeFor = () => undefined;
    const done = run({
      body: await signed(
        workflow([
          { name: 'a', image: 'x:1' },
          { name: 'b', image: 'x:1' },
        ]),
      ),
    });
    await waitFor('the run Running', () => d.runs.list()[0]?.status?.phase === 'Running');
    const name = d.runs.list()[0]?.name ?? '';
    assert.equal((await d.runs.requestCancel(name)).ok, true);
    const report = await done;
    assert.equal(report.phase, 'Cancelled');
    assert.deepEqual(
      report.steps.map((s) => s.code),
      ['STEP_CANCELLED', 'STEP_CANCELLED'],
    );
    assert.deepEqual(d.pods.deleted, [podName('run-1', 'a')]);
    assert.equal(d.pods.created.length, 1);
    assert.ok(d.audit.records.some((r) => r.stage === 'finish' && r.code === 'STEP_CANCELLED'));
  });

  test('after the TTL a finished run keeps nothing: pods, egress policies and volumes deleted', async () => {
    const clock = new Clock(NOW);
    const {
      deps: d,
      run,
      reconciler,
    } = await runner({ now: clock.now }, { runner: { workflow: { ttlAfterFinished: 60 } } });
    const wf = {
      ...workflow([{ name: 'a', image: 'x:1', volumes: [{ name: 'data', mount: '/data', volume: 'shared' }] }]),
      volumes: [{ name: 'shared', size: '1Gi' }],
    };
    await run({ body: await signed(wf) });
    assert.equal(d.pods.pods.size, 1);
    assert.equal(d.pods.claims.length, 1);
    clock.advance(61);
    for (const r of d.runs.list()) reconciler.enqueue(r.name);
    await waitFor('the run cleaned up', () => d.runs.list()[0]?.status?.cleanedAt !== undefined);
    assert.equal(d.pods.pods.size, 0);
    assert.equal(d.pods.claims.length, 0);
    assert.equal(d.pods.egress.length, 0);
    assert.ok(d.runs.list()[0]?.status?.cleanedAt !== undefined);
  });

  test('bad input at each admission stage is coded and audited', async () => {
    for (const [body, code] of [
      ['x'.repeat(70_000), 'RECEIVE_TOO_LARGE'],
      ['not-a-jws', 'RECEIVE_MALFORMED'],
    ] as const) {
      const { deps: d, run } = await runner();
      const report = await run({ body });
      assert.equal(report.code, code);
      assert.equal(d.audit.records[0]?.code, code);
      assert.equal(d.pods.created.length, 0);
    }
    const { deps: d, run } = await runner();
    const report = await run({ body: await signed(workflow([{ name: 'BAD', image: 'x:1' }])) });
    assert.equal(report.code, 'VALIDATE_SCHEMA');
    assert.deepEqual(
      d.audit.records.map((r) => `${r.stage}:${r.outcome}`),
      ['verify:allow', 'validate:deny'],
    );
  });
});
