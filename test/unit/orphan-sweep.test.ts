/**
 * The orphan sweep (Reconciler.collectOrphans) deletes only what no live run owns. Red team 7,
 * finding 1, and h-scale's report: the class is a destructive decision made from an incomplete or
 * wrong view. Variants:
 * - the run cache is missing live runs (a first list that failed, a page whose continue token
 *   expired, a broken watch): the sweep reads a fresh complete list (RunStore.liveUids) and keeps
 *   the objects of every run in it;
 * - a run known to the cache only (created by this process, not yet listed): kept;
 * - the fresh list fails: nothing is deleted, the problem is reported (LIST_FAILED);
 * - the runner's own DNS policy (owned by no run by design: the default deny of every step pod)
 *   is never swept, with or without live runs; a Pod of that name, or another runner's DNS policy
 *   carrying our label, is not protected by it;
 * - a follower never sweeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { stepDnsPolicyName } from '../../src/egress/network-policy.ts';
import { fail, ok, type Result } from '../../src/errors/result.ts';
import type { RunnerError } from '../../src/errors/result.ts';
import type { OwnedObject } from '../../src/ports/step-objects.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';

const RUNNER = 'r';
const DNS = stepDnsPolicyName(RUNNER);

interface World {
  readonly owned: readonly OwnedObject[];
  /** uids in the run cache (RunStore.list) */
  readonly cached: readonly string[];
  /** uids in a fresh list, or undefined when the list fails */
  readonly fresh: readonly string[] | undefined;
  readonly leader?: boolean;
}

async function sweep(w: World): Promise<{ deleted: string[]; problems: RunnerError[] }> {
  const deleted: string[] = [];
  const problems: RunnerError[] = [];
  const runs = {
    onChange: () => undefined,
    list: () => w.cached.map((uid) => ({ name: uid, uid, createdAt: new Date(0) })),
    liveUids: (): Promise<Result<ReadonlySet<string>>> =>
      Promise.resolve(w.fresh === undefined ? fail('LIST_FAILED', 'list failed') : ok(new Set(w.fresh))),
  };
  const objects = {
    owned: () => Promise.resolve(ok(w.owned)),
    deleteObjects: (l: readonly OwnedObject[]) => {
      deleted.push(...l.map((o) => `${o.kind}/${o.name}`));
      return Promise.resolve(ok(l.length));
    },
  };
  const deps = {
    config: { runner: RUNNER },
    runs,
    pods: { onChange: () => undefined },
    objects,
    observer: { problem: (e: RunnerError) => problems.push(e) },
  };
  const reconciler = new Reconciler(deps as never, {
    isLeader: () => w.leader ?? true,
    workers: 1,
    resyncMs: 3_600_000,
  });
  reconciler.start();
  try {
    await reconciler.collectOrphans();
  } finally {
    await reconciler.stop();
  }
  return { deleted: deleted.sort(), problems };
}

const pod = (name: string, owner?: string): OwnedObject => ({ kind: 'Pod', name, owner });
const dns: OwnedObject = { kind: 'NetworkPolicy', name: DNS };

const ROWS: [string, World, string[], string[]][] = [
  [
    'the cache is empty, the fresh list has the run',
    { owned: [pod('a-1', 'ua'), dns], cached: [], fresh: ['ua'] },
    [],
    [],
  ],
  ['a run only in the cache', { owned: [pod('b-1', 'ub')], cached: ['ub'], fresh: [] }, [], []],
  [
    'the fresh list fails',
    { owned: [pod('a-1', 'ua'), pod('x', 'gone'), pod('y')], cached: [], fresh: undefined },
    [],
    ['LIST_FAILED'],
  ],
  ['no live run: the DNS policy stays', { owned: [dns, pod('x', 'gone')], cached: [], fresh: [] }, ['Pod/x'], []],
  [
    'the DNS policy name on a Pod, another runner DNS policy with our label',
    {
      owned: [pod(DNS), { kind: 'NetworkPolicy', name: stepDnsPolicyName('other') }, dns],
      cached: [],
      fresh: [],
    },
    [`NetworkPolicy/${stepDnsPolicyName('other')}`, `Pod/${DNS}`],
    [],
  ],
  ['a follower never sweeps', { owned: [pod('x', 'gone')], cached: [], fresh: [], leader: false }, [], []],
];

for (const [name, world, deleted, problems] of ROWS)
  test(`orphan sweep: ${name}`, async () => {
    const r = await sweep(world);
    assert.deepEqual(r.deleted, deleted);
    assert.deepEqual(
      r.problems.map((p) => p.code),
      problems,
    );
  });

test('orphan sweep, property: deleted = owned by no run in (fresh ∪ cache), minus the DNS policy', async () => {
  const uid = fc.constantFrom('u1', 'u2', 'u3', 'u4');
  const object = fc.record({
    kind: fc.constantFrom('Pod' as const, 'PersistentVolumeClaim' as const, 'NetworkPolicy' as const),
    name: fc.constantFrom('o1', 'o2', 'o3', DNS),
    owner: fc.option(uid, { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(object, { selector: (o) => `${o.kind}/${o.name}` }),
      fc.uniqueArray(uid),
      fc.uniqueArray(uid),
      async (owned, cached, fresh) => {
        const live = new Set([...cached, ...fresh]);
        const expected = owned
          .filter((o) => !(o.kind === 'NetworkPolicy' && o.name === DNS))
          .filter((o) => o.owner === undefined || !live.has(o.owner))
          .map((o) => `${o.kind}/${o.name}`)
          .sort();
        assert.deepEqual((await sweep({ owned, cached, fresh })).deleted, expected);
      },
    ),
    { numRuns: 200 },
  );
});
