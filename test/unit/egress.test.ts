import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import { adoptable } from '../../src/create/adopt.ts';
import { dnsPeer, egressObject, type Destination, type EgressMode } from '../../src/egress/network-policy.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { egressPolicyName, podName, runName, volumeClaimName } from '../../src/pod/names.ts';
import { allowWithEgress, memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

/**
 * Issue 13 §1, unit tier. Classes:
 *  - the DNS rule's peer: only k8s-app=kube-dns pods IN the DNS namespace, for every mode and every
 *    DNS namespace; no peer of any rendered policy selects every namespace;
 *  - adoption: an existing object is ours only with this run's WorkflowRun uid AND this step's
 *    kubiya.ai labels; every other combination is STEP_OBJECT_CONFLICT;
 *  - the step: a foreign egress policy or pod under the step's name fails it with that code, no pod;
 *    a policy of ours left by a crashed pass with another spec is replaced; a reused run id is refused.
 */

const PEER_NS = 'kubernetes.io/metadata.name';
const podLabels = { 'kubiya.ai/run': 'r', 'kubiya.ai/step': 's', 'kubiya.ai/runner': 'x' };
const ctx = (mode: EgressMode, dnsNamespace: string) => ({
  name: 'p-egress',
  namespace: 'ns',
  mode,
  dnsNamespace,
  podLabels,
  labels: { a: 'b' },
});

type NpPeer = {
  namespaceSelector?: { matchLabels?: Record<string, string> };
  podSelector?: unknown;
  ipBlock?: unknown;
};
type NpSpec = {
  podSelector: unknown;
  policyTypes: string[];
  egress: { to: NpPeer[]; ports: { protocol: string; port: number }[] }[];
};
type CnpSpec = {
  endpointSelector: unknown;
  egress: { toEndpoints?: { matchLabels: Record<string, string> }[]; toPorts?: unknown }[];
};

describe('egress rendering: DNS pinned to the DNS namespace, the pod selected by its own labels', () => {
  const destinations: readonly (readonly [string, readonly Destination[]])[] = [
    ['no destinations', []],
    ['a CIDR', [{ cidr: '10.0.0.0/24', ports: [5432] }]],
    [
      'a pinned host and a CIDR',
      [
        { host: 'db', cidrs: ['10.1.1.1/32'], ports: [443] },
        { cidr: '192.168.0.0/16', ports: [80, 8080] },
      ],
    ],
  ];
  for (const dnsNamespace of ['kube-system', 'dns', 'coredns-system']) {
    for (const [what, dests] of destinations) {
      test(`networkpolicy, DNS in ${dnsNamespace}, ${what}`, () => {
        const r = egressObject(dests, ctx('networkpolicy', dnsNamespace));
        assert.ok(r.ok);
        const spec = r.value.spec as NpSpec;
        assert.deepEqual(spec.policyTypes, ['Egress']);
        assert.deepEqual(spec.podSelector, { matchLabels: podLabels });
        assert.deepEqual(spec.egress[0], {
          to: [
            {
              namespaceSelector: { matchLabels: { [PEER_NS]: dnsNamespace } },
              podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
            },
          ],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        });
        assert.equal(spec.egress.length, 1 + dests.length);
        for (const rule of spec.egress) {
          for (const peer of rule.to) {
            if (peer.namespaceSelector !== undefined)
              assert.equal(
                peer.namespaceSelector.matchLabels?.[PEER_NS],
                dnsNamespace,
                'no peer selects every namespace',
              );
            else assert.ok(peer.ipBlock !== undefined, 'a peer is the DNS peer or an ipBlock');
          }
        }
      });
      test(`cilium, DNS in ${dnsNamespace}, ${what}`, () => {
        const r = egressObject(dests, ctx('cilium', dnsNamespace));
        assert.ok(r.ok);
        const spec = r.value.spec as CnpSpec;
        assert.deepEqual(spec.endpointSelector, { matchLabels: podLabels });
        assert.deepEqual(spec.egress[0]?.toEndpoints, [
          { matchLabels: { 'k8s:io.kubernetes.pod.namespace': dnsNamespace, 'k8s:k8s-app': 'kube-dns' } },
        ]);
        assert.equal(
          spec.egress.filter((e) => e.toEndpoints !== undefined).length,
          1,
          'the DNS rule is the only endpoint rule',
        );
      });
    }
  }
  test('the DNS peer on its own', () => {
    assert.deepEqual(dnsPeer('kube-system'), {
      namespaceSelector: { matchLabels: { [PEER_NS]: 'kube-system' } },
      podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    });
  });
});

describe("adoption: ours only with this run's uid and this step's labels", () => {
  const owner = (uid: string, name = 'wr-1') => [{ apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name, uid }];
  const labels = {
    'kubiya.ai/run': 'run-1',
    'kubiya.ai/step': 'a',
    'kubiya.ai/runner': 'r',
    'kubiya.ai/workflow': 'wf',
  };
  const wanted: V1ObjectMeta = { name: 'obj', labels, ownerReferences: owner('u1') };
  const rows: readonly (readonly [string, V1ObjectMeta | undefined, V1ObjectMeta, boolean])[] = [
    ['same owner uid and labels', { name: 'obj', labels, ownerReferences: owner('u1') }, wanted, true],
    [
      'same, plus labels of its own',
      { name: 'obj', labels: { ...labels, extra: 'y' }, ownerReferences: owner('u1') },
      wanted,
      true,
    ],
    [
      'a non-kubiya label differs',
      { name: 'obj', labels: { ...labels }, ownerReferences: owner('u1') },
      { ...wanted, labels: { ...labels, app: 'z' } },
      true,
    ],
    ["another run's uid (a reused run id)", { name: 'obj', labels, ownerReferences: owner('u2') }, wanted, false],
    [
      'same run name, another uid (a deleted and re-created run)',
      { name: 'obj', labels, ownerReferences: owner('u2', 'wr-1') },
      wanted,
      false,
    ],
    ['no owner (made by hand)', { name: 'obj', labels }, wanted, false],
    [
      'owned by something else',
      { name: 'obj', labels, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'u1' }] },
      wanted,
      false,
    ],
    [
      'this run, another step',
      { name: 'obj', labels: { ...labels, 'kubiya.ai/step': 'b' }, ownerReferences: owner('u1') },
      wanted,
      false,
    ],
    [
      'this run, no step label',
      {
        name: 'obj',
        labels: { 'kubiya.ai/run': 'run-1', 'kubiya.ai/runner': 'r', 'kubiya.ai/workflow': 'wf' },
        ownerReferences: owner('u1'),
      },
      wanted,
      false,
    ],
    [
      'this run, another runner label',
      { name: 'obj', labels: { ...labels, 'kubiya.ai/runner': 'other' }, ownerReferences: owner('u1') },
      wanted,
      false,
    ],
    ['nothing readable', undefined, wanted, false],
    ['wanted without an owner uid is never adopted', { name: 'obj', labels }, { name: 'obj', labels }, false],
    [
      'wanted with an empty owner uid is never adopted',
      { name: 'obj', labels, ownerReferences: owner('') },
      { ...wanted, ownerReferences: owner('') },
      false,
    ],
  ];
  for (const [what, existing, want, adopted] of rows) {
    test(`${what}: ${adopted ? 'adopted' : 'STEP_OBJECT_CONFLICT'}`, () => {
      const r = adoptable('NetworkPolicy', existing, want);
      assert.equal(r.ok ? 'adopted' : r.error.code, adopted ? 'adopted' : 'STEP_OBJECT_CONFLICT');
    });
  }
});

describe('the create stage (in-memory ports): nothing not ours is adopted, nothing is created past a conflict', async () => {
  const { key, keys } = await testKeys();
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });
  let n = 0;
  // Steps granted more than DNS (each gets a policy of its own), unless `dnsOnly`.
  const setup = async (dnsOnly = false) => {
    const r = await memoryRunner(dnsOnly ? { keys } : { keys, policy: () => allowWithEgress });
    closers.push(r.close);
    const jti = `eg-${++n}`;
    const submit = async (wf: Record<string, unknown> & { id: string }, id = jti) =>
      r.run({ body: await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: wf, jti: id, now: NOW }) });
    return { ...r, jti, uid: `uid-${runName(jti)}`, submit };
  };
  const foreign = (name: string): V1ObjectMeta => ({
    name,
    labels: { 'kubiya.ai/run': 'run-1', 'kubiya.ai/step': 'analyze', 'kubiya.ai/runner': RUNNER },
    ownerReferences: [{ apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: 'wr-other', uid: 'other-uid' }],
  });

  test("a foreign egress policy under the step's name: STEP_OBJECT_CONFLICT, audited, no pod, the policy left alone", async () => {
    const r = await setup();
    const name = egressPolicyName('run-1', 'analyze');
    const theirs = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy' as const,
      metadata: foreign(name),
      spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{}] },
    };
    r.deps.pods.egress.push(theirs);
    const report = await r.submit(workflow());
    assert.equal(report.phase, 'Failed');
    assert.equal(report.steps[0]?.code, 'STEP_OBJECT_CONFLICT');
    assert.equal(r.deps.pods.created.length, 0, 'no pod');
    assert.deepEqual(r.deps.pods.egress, [theirs], 'the foreign policy untouched, nothing added');
    assert.ok(
      r.deps.audit.records.some(
        (x) => x.stage === 'create' && x.outcome === 'error' && x.code === 'STEP_OBJECT_CONFLICT',
      ),
    );
  });

  test("a foreign pod under the step's name: STEP_OBJECT_CONFLICT, no pod of ours, our egress policy removed again", async () => {
    const r = await setup();
    const name = podName('run-1', 'analyze');
    const theirs: V1Pod = { metadata: foreign(name), spec: { containers: [] }, status: { phase: 'Running' } };
    r.deps.pods.pods.set(name, theirs);
    const report = await r.submit(workflow());
    assert.equal(report.steps[0]?.code, 'STEP_OBJECT_CONFLICT');
    assert.equal(r.deps.pods.created.length, 0);
    assert.equal(r.deps.pods.pods.get(name), theirs);
    assert.equal(r.deps.pods.egress.length, 0, "the step's own policy is deleted again");
    assert.ok(r.deps.audit.records.some((x) => x.stage === 'create' && x.code === 'STEP_OBJECT_CONFLICT'));
  });

  test("a policy of ours from a crashed pass, rendered from an earlier decision: replaced by this pass's", async () => {
    const r = await setup();
    const name = egressPolicyName('run-1', 'analyze');
    const meta = {
      ...foreign(name),
      labels: {
        'kubiya.ai/run': 'run-1',
        'kubiya.ai/step': 'analyze',
        'kubiya.ai/runner': RUNNER,
        'kubiya.ai/workflow': 'wf-1',
      },
      ownerReferences: [{ apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: runName(r.jti), uid: r.uid }],
    };
    r.deps.pods.egress.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta,
      spec: { wider: true },
    });
    const report = await r.submit(workflow());
    assert.equal(report.phase, 'Succeeded', JSON.stringify(report));
    assert.equal(r.deps.pods.egress.length, 1);
    assert.equal((r.deps.pods.egress[0]?.spec as { wider?: boolean }).wider, undefined, 'the wider spec is gone');
  });

  test('runs a / b-step-c and a-step-b / c: two pods, two policies, each selecting its own pod', async () => {
    const r = await setup();
    const one = await r.submit(
      { id: 'wf', name: 'x', runId: 'a', steps: [{ name: 'b-step-c', image: 'x:1' }] },
      `${r.jti}-1`,
    );
    const two = await r.submit(
      { id: 'wf', name: 'x', runId: 'a-step-b', steps: [{ name: 'c', image: 'x:1' }] },
      `${r.jti}-2`,
    );
    assert.deepEqual([one.phase, two.phase], ['Succeeded', 'Succeeded']);
    const pods = r.deps.pods.created.map((p) => p.metadata?.name);
    assert.equal(new Set(pods).size, 2);
    assert.equal(r.deps.pods.egress.length, 2);
    for (const p of r.deps.pods.created) {
      const selecting = r.deps.pods.egress.filter((e) =>
        Object.entries(
          (e.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels,
        ).every(([k, v]) => p.metadata?.labels?.[k] === v),
      );
      assert.equal(selecting.length, 1, `exactly one policy selects ${p.metadata?.name}`);
    }
  });

  test("a foreign volume claim under the run's claim name: the run fails with STEP_OBJECT_CONFLICT before any pod", async () => {
    const r = await setup();
    const name = volumeClaimName(runName(r.jti), 'shared');
    r.deps.pods.claims.push({ metadata: { ...foreign(name) }, spec: {} });
    const report = await r.submit({
      ...workflow([{ name: 'a', image: 'x:1', volumes: [{ name: 'data', mount: '/data', volume: 'shared' }] }]),
      volumes: [{ name: 'shared', size: '1Gi' }],
    });
    assert.equal(report.phase, 'Failed');
    assert.equal(report.code, 'STEP_OBJECT_CONFLICT', JSON.stringify(report));
    assert.equal(r.deps.pods.created.length, 0);
    assert.ok(r.deps.audit.records.some((x) => x.stage === 'create' && x.code === 'STEP_OBJECT_CONFLICT'));
  });

  test('a second assignment with a run id already used: ASSIGNMENT_RUN_ID_REUSED at claim, audited as a deny, nothing created', async () => {
    const r = await setup();
    const first = await r.submit(workflow(), `${r.jti}-1`);
    assert.equal(first.phase, 'Succeeded');
    const created = r.deps.pods.created.length;
    const second = await r.submit(workflow([{ name: 'other', image: 'x:1' }]), `${r.jti}-2`);
    assert.equal(second.accepted, false);
    assert.equal(second.code, 'ASSIGNMENT_RUN_ID_REUSED');
    assert.equal(r.deps.pods.created.length, created);
    assert.equal(r.deps.runs.runs.size, 1);
    assert.ok(
      r.deps.audit.records.some((x) => `${x.stage}:${x.outcome}:${x.code}` === 'claim:deny:ASSIGNMENT_RUN_ID_REUSED'),
    );
  });
});
