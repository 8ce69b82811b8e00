import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { egressObject } from '../../src/egress/network-policy.ts';
import { plan, runPhaseOf } from '../../src/run/plan.ts';
import { findCycle, prerequisites } from '../../src/validate/graph.ts';
import { orphans } from '../../src/reconcile/orphans.ts';
import type { StepPhase, StepState } from '../../src/run/status.ts';
import { summary } from '../../src/run/status.ts';
import type { Workflow } from '../../src/validate/schema.ts';
import { judgePod } from '../../src/watch/outcome.ts';
import { endedStatus } from '../support/memory.ts';

const wf = (steps: { name: string; dependsOn?: string[] }[]): Workflow => ({
  id: 'w',
  name: 'w',
  runId: 'r',
  steps: steps.map((s) => ({ image: 'x:1', ...s })),
});
const states = (o: Record<string, StepPhase>): StepState[] =>
  Object.entries(o).map(([name, phase]) => ({ name, phase }));

describe('graph: dependsOn, order, stop at the first failure', () => {
  test('without dependsOn, steps run in the order given', () => {
    assert.deepEqual(
      [...prerequisites(wf([{ name: 'a' }, { name: 'b' }, { name: 'c' }]))],
      [
        ['a', []],
        ['b', ['a']],
        ['c', ['b']],
      ],
    );
    assert.deepEqual(
      plan(wf([{ name: 'a' }, { name: 'b' }]), states({ a: 'Pending', b: 'Pending' })).start.map((s) => s.name),
      ['a'],
    );
    assert.deepEqual(plan(wf([{ name: 'a' }, { name: 'b' }]), states({ a: 'Running', b: 'Pending' })).start, []);
  });

  test('dependsOn: [] starts with the run; a join waits for every branch', () => {
    const w = wf([{ name: 'a' }, { name: 'b', dependsOn: [] }, { name: 'c', dependsOn: ['a', 'b'] }]);
    assert.deepEqual(
      plan(w, states({ a: 'Pending', b: 'Pending', c: 'Pending' })).start.map((s) => s.name),
      ['a', 'b'],
    );
    assert.deepEqual(plan(w, states({ a: 'Succeeded', b: 'Running', c: 'Pending' })).start, []);
    assert.deepEqual(
      plan(w, states({ a: 'Succeeded', b: 'Succeeded', c: 'Pending' })).start.map((s) => s.name),
      ['c'],
    );
  });

  test('after a failure nothing new starts and every pending step is skipped; running branches finish', () => {
    const w = wf([
      { name: 'a', dependsOn: [] },
      { name: 'b', dependsOn: [] },
      { name: 'c', dependsOn: ['a', 'b'] },
    ]);
    const p = plan(w, states({ a: 'Failed', b: 'Running', c: 'Pending' }));
    assert.deepEqual([p.start, p.skip], [[], ['c']]);
    assert.equal(runPhaseOf(states({ a: 'Failed', b: 'Running', c: 'Skipped' })), 'Running');
    assert.equal(runPhaseOf(states({ a: 'Failed', b: 'Succeeded', c: 'Skipped' })), 'Failed');
    assert.equal(runPhaseOf(states({ a: 'Succeeded', b: 'Succeeded', c: 'Succeeded' })), 'Succeeded');
    assert.equal(runPhaseOf(states({ a: 'Cancelled', b: 'Cancelled', c: 'Cancelled' })), 'Cancelled');
    assert.equal(summary(states({ a: 'Failed', b: 'Succeeded', c: 'Skipped' })), '1/3 succeeded, 1 failed, 1 skipped');
  });

  test('cycles are found, including through the implicit order', () => {
    assert.deepEqual(
      findCycle(
        wf([
          { name: 'a', dependsOn: ['b'] },
          { name: 'b', dependsOn: ['a'] },
        ]),
      ),
      ['a', 'b', 'a'],
    );
    assert.deepEqual(
      findCycle(wf([{ name: 'a', dependsOn: ['b'] }, { name: 'b' }])),
      ['a', 'b', 'a'],
      'b follows a by order, a waits for b',
    );
    assert.equal(
      findCycle(wf([{ name: 'a' }, { name: 'b', dependsOn: [] }, { name: 'c', dependsOn: ['a', 'b'] }])),
      undefined,
    );
  });

  test('property: for any acyclic workflow, repeatedly starting and succeeding what the plan says runs every step exactly once', () => {
    const arb = fc
      .integer({ min: 1, max: 12 })
      .chain((n) =>
        fc.tuple(
          ...Array.from({ length: n }, (_, i) =>
            fc.option(fc.subarray(Array.from({ length: i }, (_, j) => `s${j}`)), { nil: undefined }),
          ),
        ),
      );
    fc.assert(
      fc.property(arb, (deps) => {
        const w = wf(deps.map((d, i) => ({ name: `s${i}`, ...(d !== undefined ? { dependsOn: d } : {}) })));
        assert.equal(findCycle(w), undefined);
        let s: StepState[] = w.steps.map((x) => ({ name: x.name, phase: 'Pending' }));
        const started: string[] = [];
        for (let round = 0; round < 20 && s.some((x) => x.phase !== 'Succeeded'); round++) {
          const next = plan(w, s).start.map((x) => x.name);
          started.push(...next);
          s = s.map((x): StepState => (next.includes(x.name) ? { ...x, phase: 'Succeeded' } : x));
        }
        assert.deepEqual([...started].sort(), w.steps.map((x) => x.name).sort());
      }),
      { numRuns: 300 },
    );
  });
});

describe('judgePod: the reconciler’s view of one pod', () => {
  const now = new Date('2026-06-01T12:00:00Z');
  const created = (secondsAgo: number) => new Date(now.getTime() - secondsAgo * 1000);
  const pod = (secondsAgo: number, status: V1Pod['status']): V1Pod => ({
    metadata: { creationTimestamp: created(secondsAgo) },
    status,
  });
  const o = { now, deadlineSeconds: 60, failFastGraceSeconds: 30 };

  test('finished pods carry exit code and reason', () => {
    const j = judgePod(pod(5, endedStatus({ phase: 'Failed', exitCode: 137, reason: 'OOMKilled' })), o);
    assert.deepEqual(j, { kind: 'finished', outcome: { phase: 'Failed', exitCode: 137, reason: 'OOMKilled' } });
  });
  test('the runner’s own deadline counts from creation, pending time included', () => {
    assert.equal(judgePod(pod(61, { phase: 'Pending' }), o).kind, 'deadline');
    assert.equal(judgePod(pod(59, { phase: 'Running' }), o).kind, 'running');
  });
  test('a fail-fast waiting reason is reported during the grace period, then the step is stuck', () => {
    const waiting = (reason: string) => ({
      phase: 'Pending',
      initContainerStatuses: [
        {
          name: 'init',
          image: '',
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { waiting: { reason, message: 'pull access denied' } },
        },
      ],
    });
    for (const reason of [
      'ImagePullBackOff',
      'ErrImagePull',
      'InvalidImageName',
      'CreateContainerConfigError',
      'CreateContainerError',
    ]) {
      assert.deepEqual(judgePod(pod(10, waiting(reason)), o), {
        kind: 'running',
        reason,
        message: `container init: ${reason}: pull access denied`,
      });
      assert.equal(judgePod(pod(31, waiting(reason)), o).kind, 'stuck');
    }
    assert.deepEqual(judgePod(pod(31, waiting('ContainerCreating')), o), { kind: 'running' });
  });
  test('unschedulable is reported, not failed (until the deadline)', () => {
    const j = judgePod(
      pod(40, {
        phase: 'Pending',
        conditions: [
          {
            type: 'PodScheduled',
            status: 'False',
            reason: 'Unschedulable',
            message: '0/1 nodes are available: insufficient nvidia.com/gpu',
          },
        ],
      }),
      o,
    );
    assert.deepEqual(j, {
      kind: 'running',
      reason: 'Unschedulable',
      message: '0/1 nodes are available: insufficient nvidia.com/gpu',
    });
  });
});

describe('egressObject: default deny, DNS, and what the decision allowed', () => {
  const ctx = {
    name: 'p-egress',
    namespace: 'ns',
    dnsNamespace: 'kube-system',
    podLabels: { 'kubiya.ai/run': 'r', 'kubiya.ai/step': 's' },
    labels: { a: 'b' },
  };
  test('no destinations: DNS only', () => {
    const r = egressObject([], { ...ctx, mode: 'networkpolicy' });
    assert.ok(r.ok);
    const spec = r.value.spec as { policyTypes: string[]; egress: unknown[]; podSelector: unknown };
    assert.deepEqual(spec.policyTypes, ['Egress']);
    assert.equal(spec.egress.length, 1);
    assert.deepEqual(spec.podSelector, { matchLabels: ctx.podLabels });
  });
  test('CIDRs and pinned hosts become ipBlocks with their ports; an unpinned host is EGRESS_HOST_UNPINNED', () => {
    const r = egressObject(
      [
        { cidr: '10.0.0.0/24', ports: [5432] },
        { host: 'db', cidrs: ['10.1.1.1/32', '10.1.1.2/32'], ports: [443] },
      ],
      { ...ctx, mode: 'networkpolicy' },
    );
    assert.ok(r.ok);
    const egress = (r.value.spec as { egress: { to: { ipBlock?: { cidr: string } }[]; ports: { port: number }[] }[] })
      .egress;
    assert.deepEqual(
      egress.slice(1).map((e) => [e.to.map((t) => t.ipBlock?.cidr), e.ports.map((p) => p.port)]),
      [
        [['10.0.0.0/24'], [5432]],
        [['10.1.1.1/32', '10.1.1.2/32'], [443]],
      ],
    );
    const unpinned = egressObject([{ host: 'api.github.com', cidrs: [], ports: [443] }], {
      ...ctx,
      mode: 'networkpolicy',
    });
    assert.equal(unpinned.ok ? 'ok' : unpinned.error.code, 'EGRESS_HOST_UNPINNED');
  });
  test('cilium: hosts become toFQDNs, with DNS through the proxy', () => {
    const r = egressObject(
      [
        { host: 'api.github.com', ports: [443] },
        { cidr: '10.0.0.0/8', ports: [53] },
      ],
      { ...ctx, mode: 'cilium' },
    );
    assert.ok(r.ok);
    assert.equal(r.value.kind, 'CiliumNetworkPolicy');
    const egress = (r.value.spec as { egress: Record<string, unknown>[] }).egress;
    assert.deepEqual(egress[1], {
      toFQDNs: [{ matchName: 'api.github.com' }],
      toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }],
    });
    assert.deepEqual(egress[2]?.toCIDR, ['10.0.0.0/8']);
  });
});

test('orphans: what no live run owns, never what is kept', () => {
  const owned = [
    { kind: 'Pod' as const, name: 'p1', owner: 'u1' },
    { kind: 'Pod' as const, name: 'p2', owner: 'gone' },
    { kind: 'NetworkPolicy' as const, name: 'n', owner: undefined },
    { kind: 'NetworkPolicy' as const, name: 'kubiya-step-dns-x', owner: undefined },
  ];
  assert.deepEqual(
    orphans(owned, new Set(['u1']), new Set(['NetworkPolicy/kubiya-step-dns-x'])).map((o) => o.name),
    ['p2', 'n'],
  );
});
