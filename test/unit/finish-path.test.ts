import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { signAssignment } from '../../src/dev/sign.ts';
import type { PipelineObserver, StepLog } from '../../src/pipeline/deps.ts';
import { podName } from '../../src/pod/names.ts';
import type { PodLogs } from '../../src/ports/pod-logs.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Issue 20 §2 (completion seen): the end of a step is recorded and its run's status written
 * without waiting for the step's log. The class: anything slow on the finish path that the end
 * does not need — here a log read that never answers — must not hold the pass; and the reads it
 * makes off the pass are bounded (4 at a time), however many steps end at once.
 */

const { key, keys } = await testKeys();
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

const observer = (logs: StepLog[]): PipelineObserver => ({
  recorded: () => undefined,
  workflowsRunning: () => undefined,
  workflowFinished: () => undefined,
  stepFinished: () => undefined,
  stepLog: (l) => logs.push(l),
  internalError: () => undefined,
});

describe('the finish path does not wait for logs', () => {
  test('10 one-step runs whose log reads never answer all end Succeeded; at most 4 reads at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const stuck: PodLogs = {
      read: () => {
        inFlight++;
        most = Math.max(most, inFlight);
        return new Promise(() => undefined);
      },
    };
    const r = await memoryRunner({ keys, logs: stuck, observer: observer([]) });
    closers.push(r.close);
    const reports = await Promise.all(
      Array.from({ length: 10 }, async (_, i) =>
        r.run({
          body: await signAssignment(key, {
            issuer: ISSUER,
            audience: RUNNER,
            workflow: { ...workflow(), runId: `fin-${String(i)}` },
            now: NOW,
            jti: `fin-${String(i)}`,
          }),
        }),
      ),
    );
    assert.deepEqual(
      reports.map((x) => x.phase),
      Array.from({ length: 10 }, () => 'Succeeded'),
    );
    assert.equal(r.deps.audit.records.filter((x) => x.stage === 'finish').length, 10, 'every end recorded');
    assert.ok(most >= 1 && most <= 4, `log reads at once: ${String(most)}`);
  });

  test('a log that answers still reaches the observer, after the end', async () => {
    const logs: StepLog[] = [];
    const r = await memoryRunner({ keys, observer: observer(logs) });
    closers.push(r.close);
    r.deps.pods.logText.set(podName('run-1', 'analyze'), 'hello from the step\n');
    const report = await r.run({
      body: await signAssignment(key, {
        issuer: ISSUER,
        audience: RUNNER,
        workflow: workflow(),
        now: NOW,
        jti: 'fin-log',
      }),
    });
    assert.equal(report.phase, 'Succeeded');
    await waitFor('the log shipped', () => logs.length > 0);
    assert.equal(logs[0]?.step, 'analyze');
  });
});
