/**
 * Red team 7 (issue 20, h-decision-2): mutate() copies its input with plainCopy instead of
 * structuredClone. Class: a copy that is not what structuredClone gave — shared references (one
 * object reachable twice: structuredClone keeps one copy shared, a member-by-member copy makes two),
 * `__proto__` / `constructor` keys, -0, undefined members, a Date — changing the hardened pod or its
 * audit patch, or a copy that still shares an object with the input (mutating the output changes
 * the caller's pod). Every row: mutate(pod) equals mutate(its JSON twin) (same pod, same patch),
 * leaves the input as it was, comes out restricted, and shares no object with the input.
 *
 * `RT7_SRC=/work/wt/decision/src node --test test/unit/red-team-7-mutate-copy.test.ts`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import type * as Restricted from '../../src/mutate/restricted.ts';
import { arbitraryPod } from '../support/pod-arbitrary.ts';
import { restrictedViolations } from '../support/restricted-check.ts';

const SRC = process.env.RT7_SRC ?? new URL('../../src', import.meta.url).pathname;
const { mutate } = (await import(`${SRC}/mutate/restricted.ts`)) as typeof Restricted;

const profile: Restricted.RestrictedProfile = {
  runAsUser: 65532,
  runAsGroup: 65532,
  fsGroup: 65532,
  allowNetBindService: false,
  readOnlyRootFilesystem: true,
  tmpSize: '1Gi',
};

/** Every object reachable from `v`. */
function objectsOf(v: unknown, out = new Set<object>()): Set<object> {
  if (typeof v !== 'object' || v === null || out.has(v)) return out;
  out.add(v);
  for (const x of Object.values(v)) objectsOf(x, out);
  return out;
}

/** The pod with shared references: one container object twice, init = that container, shared mounts and contexts. */
function aliased(pod: V1Pod): V1Pod {
  const spec = pod.spec;
  if (spec === undefined || spec.containers.length === 0) return pod;
  const first = spec.containers[0]!;
  const shared = { runAsNonRoot: false, privileged: true, capabilities: { add: ['NET_ADMIN'] } };
  first.securityContext = shared;
  const mounts = first.volumeMounts ?? [];
  first.volumeMounts = mounts;
  return {
    ...pod,
    spec: {
      ...spec,
      containers: [first, first, { ...first, name: `${first.name}-b`, securityContext: shared, volumeMounts: mounts }],
      initContainers: [first],
    },
  };
}

function check(input: V1Pod): void {
  const twin = JSON.parse(JSON.stringify(input)) as V1Pod;
  const before = JSON.stringify(input);
  const got = mutate(input, profile);
  const want = mutate(twin, profile);
  assert.equal(JSON.stringify(input), before, 'mutate changed its input');
  assert.deepEqual(JSON.parse(JSON.stringify(got.pod)), JSON.parse(JSON.stringify(want.pod)));
  assert.deepEqual(got.patch, want.patch);
  assert.deepEqual(restrictedViolations(got.pod), []);
  const inputObjects = objectsOf(input);
  for (const o of objectsOf(got.pod))
    assert.ok(!inputObjects.has(o), 'the hardened pod shares an object with the input');
}

test('mutate with shared references: same pod and patch as without', () => {
  fc.assert(
    fc.property(arbitraryPod, (pod) => check(aliased(pod))),
    { numRuns: Number(process.env.RT7_RUNS ?? 300), seed: 7 },
  );
});

test('mutate with __proto__ / constructor keys (JSON.parse own keys) in labels and annotations', () => {
  const pod = JSON.parse(
    JSON.stringify({
      metadata: { name: 'p', labels: { a: 'b' }, annotations: { x: 'y' } },
      spec: { containers: [{ name: 'c', image: 'i', env: [{ name: 'A', value: 'v' }] }] },
    })
      .replace('"labels":{', '"labels":{"__proto__":{"polluted":"yes"},"constructor":"c",')
      .replace('"annotations":{', '"annotations":{"__proto__":"z",'),
  ) as V1Pod;
  check(pod);
  assert.equal(({} as Record<string, unknown>).polluted, undefined, 'Object.prototype polluted');
});

test('mutate with -0, undefined members and a Date', () => {
  const pod: V1Pod = {
    metadata: { name: 'p', creationTimestamp: new Date(0), labels: undefined },
    spec: {
      containers: [{ name: 'c', image: 'i', resources: undefined, securityContext: { runAsUser: -0 } }],
      terminationGracePeriodSeconds: -0,
    },
  };
  const got = mutate(pod, profile);
  assert.ok(got.pod.metadata?.creationTimestamp instanceof Date, 'the Date is not a Date any more');
  assert.deepEqual(restrictedViolations(got.pod), []);
});
