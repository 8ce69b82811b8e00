/**
 * A step's log is read only when someone receives it (issue 20 §2: API requests per step). The
 * class: "work done per step for a consumer that does not exist" — in push mode (no
 * controlPlane.url, no client) `serve` read every finished step's log with an API GET and threw it
 * away. Variants: no client (push mode) → no read; a client → one read, its chunks queued as Log
 * events; a client attached later (pull mode's phase 2) → reads start then; the client gone again
 * → reads stop. The reader is src/reconcile/logs.ts (it asks the observer for `stepLog` before each
 * read); the observer is src/app/control-plane-link.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pino from 'pino';
import type { ControlPlaneClient } from '../../src/adapters/control-plane-client.ts';
import type { ControlPlaneEvent } from '../../src/adapters/control-plane-event.ts';
import { forwardingObserver, type ControlPlaneLink } from '../../src/app/control-plane-link.ts';
import { ok } from '../../src/errors/result.ts';
import type { PipelineDeps, PipelineObserver } from '../../src/pipeline/deps.ts';
import type { PodLogs } from '../../src/ports/pod-logs.ts';
import { shipLogs } from '../../src/reconcile/logs.ts';
import type { AdmittedRun } from '../../src/run/admitted.ts';

const base: PipelineObserver = {
  recorded: () => undefined,
  workflowsRunning: () => undefined,
  workflowFinished: () => undefined,
  stepFinished: () => undefined,
  internalError: () => undefined,
};

const run = { name: 'wr-a', ref: { id: 'wf', runId: 'r1', jti: 'j' } } as unknown as AdmittedRun;

/** A PodLogs twin that counts reads, and a client twin that keeps what is queued. */
function setup(): {
  link: ControlPlaneLink;
  deps: PipelineDeps;
  reads: string[];
  queued: ControlPlaneEvent[];
  client: ControlPlaneClient;
} {
  const reads: string[] = [];
  const queued: ControlPlaneEvent[] = [];
  const logs: PodLogs = {
    read: (pod) => {
      reads.push(pod);
      return Promise.resolve(ok(`log of ${pod}\n`));
    },
  };
  const link: ControlPlaneLink = {};
  const observer = forwardingObserver(base, link, 'runner-a', pino({ level: 'silent' }));
  const client = { enqueue: (e: ControlPlaneEvent) => queued.push(e) > 0 } as unknown as ControlPlaneClient;
  return { link, deps: { logs, observer } as unknown as PipelineDeps, reads, queued, client };
}

describe("a step's log is read only for a control plane that receives it", () => {
  test('push mode (no client): no step log is read', async () => {
    const s = setup();
    // eslint-disable-next-line @typescript-eslint/unbound-method -- only compared, never called
    assert.equal(s.deps.observer?.stepLog, undefined);
    await shipLogs(run, 'step', 'pod-1', s.deps);
    assert.deepEqual(s.reads, []);
  });

  test('pull mode (a client): one read per finished step, its chunks queued as Log events', async () => {
    const s = setup();
    s.link.client = s.client;
    await shipLogs(run, 'step', 'pod-1', s.deps);
    assert.deepEqual(s.reads, ['pod-1']);
    assert.equal(s.queued.length, 1);
    assert.equal(s.queued[0]?.phase, 'Log');
    assert.equal(s.queued[0]?.log, 'log of pod-1\n');
  });

  test('the same observer follows the link: reads start when the client comes (phase 2) and stop when it goes', async () => {
    const s = setup();
    await shipLogs(run, 'step', 'before', s.deps);
    s.link.client = s.client;
    await shipLogs(run, 'step', 'during', s.deps);
    s.link.client = undefined;
    await shipLogs(run, 'step', 'after', s.deps);
    assert.deepEqual(s.reads, ['during']);
  });

  test('the observer keeps every other method of the base', () => {
    const s = setup();
    for (const k of Object.keys(base))
      assert.equal(typeof (s.deps.observer as unknown as Record<string, unknown>)[k], 'function', k);
  });
});
