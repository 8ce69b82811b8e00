/**
 * Class (issue 20 §2, completion seen p99 35 s at 5,000 pods): "a pod's end waits in the queue
 * behind passes that start runs, or for a worker those passes hold" — every pass shared one FIFO
 * and `workers` slots, so at 5,000 runs an end (what a user waits on, and what frees the run's
 * memory) queued behind the starts and their pod updates. Variants pinned here (the order passes
 * start in; a pass blocks on a gate until the test opens it):
 *   - an end queued behind waiting changes starts before all of them (the reported case);
 *   - ends keep their arrival order among themselves;
 *   - an end whose run is in a pass now gets the run's next pass, still first;
 *   - with every worker held, an end still starts (at most ENDS_BEYOND_WORKERS more), a plain
 *     change does not;
 *   - a run already waiting as a change and then ending moves up, once (never passed twice).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { ENDS_BEYOND_WORKERS, Reconciler } from '../../src/reconcile/reconciler.ts';

/**
 * A reconciler over ports where every run has finished and is due for its clean-up: each pass logs
 * its run's name (in start order) and then waits on `open()` (the clean-up's read of owned objects).
 */
function harness(workers: number): {
  readonly passes: string[];
  readonly reconciler: Reconciler;
  change: (name: string) => void;
  podEnded: (name: string) => void;
  open: () => Promise<void>;
  settle: () => Promise<void>;
} {
  const passes: string[] = [];
  const gates: (() => void)[] = [];
  let inPass = false;
  let runListener: (name: string) => void = () => undefined;
  let podListener: (name: string, ended?: boolean) => void = () => undefined;
  const run = (name: string) => ({
    name,
    uid: `uid-${name}`,
    runId: name,
    status: { phase: 'Succeeded', steps: [], finishedAt: new Date(0).toISOString() },
  });
  const deps = {
    config: { maxConcurrent: 10_000, ttlAfterFinishedSeconds: 0 },
    now: () => new Date(),
    runs: {
      list: () => [],
      get: (name: string) => {
        if (inPass) passes.push(name);
        return run(name);
      },
      onChange: (l: (name: string) => void) => (runListener = l),
    },
    pods: { onChange: (l: (name: string, ended?: boolean) => void) => (podListener = l) },
    objects: {
      owned: () =>
        new Promise((resolve) => gates.push(() => resolve({ ok: false, error: { code: 'X', message: 'x' } }))),
    },
  } as unknown as PipelineDeps;
  const reconciler = new Reconciler(deps, { isLeader: () => true, workers, resyncMs: 3_600_000 });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 20; i++) await tick();
  };
  return {
    passes,
    reconciler,
    change: (name) => {
      inPass = false;
      runListener(name);
      inPass = true;
    },
    podEnded: (name) => {
      inPass = false;
      podListener(name, true);
      inPass = true;
    },
    open: async () => {
      for (const g of gates.splice(0)) g();
      await settle();
    },
    settle,
  };
}

test('an end queued behind waiting changes starts before all of them', async () => {
  const h = harness(1);
  h.reconciler.start();
  h.change('busy');
  await h.settle();
  for (let i = 0; i < 30; i++) h.change(`start-${i}`);
  h.podEnded('ended');
  for (let i = 0; i < 40 && !h.reconciler.idle(); i++) await h.open();
  assert.deepEqual(h.passes.slice(0, 3), ['busy', 'ended', 'start-0']);
  assert.equal(h.passes.length, 32, 'every queued run was passed once');
  await h.reconciler.stop();
});

test('ends keep their arrival order among themselves, ahead of the changes', async () => {
  const h = harness(1);
  h.reconciler.start();
  h.change('busy');
  await h.settle();
  h.change('a');
  h.podEnded('e1');
  h.change('b');
  h.podEnded('e2');
  for (let i = 0; i < 10 && !h.reconciler.idle(); i++) await h.open();
  assert.deepEqual(h.passes, ['busy', 'e1', 'e2', 'a', 'b']);
  await h.reconciler.stop();
});

test("an end during its run's pass gets the run's next pass, still first", async () => {
  const h = harness(1);
  h.reconciler.start();
  h.change('r');
  await h.settle();
  h.change('a');
  h.change('b');
  h.podEnded('r');
  for (let i = 0; i < 10 && !h.reconciler.idle(); i++) await h.open();
  assert.deepEqual(h.passes, ['r', 'r', 'a', 'b']);
  await h.reconciler.stop();
});

test('with every worker held, ends still start (up to ENDS_BEYOND_WORKERS more); changes wait', async () => {
  const h = harness(2);
  h.reconciler.start();
  h.change('w1');
  h.change('w2');
  await h.settle();
  h.change('waits');
  for (let i = 0; i < ENDS_BEYOND_WORKERS + 3; i++) h.podEnded(`e${i}`);
  await h.settle();
  assert.deepEqual(h.passes, ['w1', 'w2', ...Array.from({ length: ENDS_BEYOND_WORKERS }, (_, i) => `e${i}`)]);
  for (let i = 0; i < 20 && !h.reconciler.idle(); i++) await h.open();
  assert.equal(h.passes.length, 2 + ENDS_BEYOND_WORKERS + 3 + 1);
  assert.equal(h.passes.at(-1), 'waits', 'the change started after every end');
  await h.reconciler.stop();
});

test('a run waiting as a change that then ends moves up, and is passed once', async () => {
  const h = harness(1);
  h.reconciler.start();
  h.change('busy');
  await h.settle();
  h.change('a');
  h.change('r');
  h.podEnded('r');
  h.change('r');
  for (let i = 0; i < 10 && !h.reconciler.idle(); i++) await h.open();
  assert.deepEqual(h.passes, ['busy', 'r', 'a']);
  await h.reconciler.stop();
});
