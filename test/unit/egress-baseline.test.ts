import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import type { V1Pod } from '@kubernetes/client-node';
import { signAssignment } from '../../src/dev/sign.ts';
import {
  dnsPeer,
  EGRESS_LABEL,
  egressLabel,
  stepDnsPolicy,
  stepDnsPolicyName,
  type Destination,
} from '../../src/egress/network-policy.ts';
import { mustWriteNow, StatusHold } from '../../src/reconcile/hold.ts';
import type { RunStatus } from '../../src/run/status.ts';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { DECISION_ANNOTATION, podName, runName } from '../../src/pod/names.ts';
import { endedStatus } from '../support/memory.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';
import { waitFor } from '../support/wait.ts';

/**
 * Issue 20 §2, unit tier: one namespace-wide DNS policy for the runner's step pods, a step policy
 * only for a step granted more than DNS, progress status writes held. Classes:
 *  - a step pod under an allow its own decision did not grant: another run's policy, an earlier
 *    decision's policy of its own step (a retry after a policy change, a crashed pass), a DNS-only
 *    step under anyone's step policy. A step policy selects run, step, runner AND the grant label;
 *    the grant label is a function of (run id, step, destinations) and absent for DNS only;
 *  - a pod before the runner's DNS policy is confirmed: none (the run waits, nothing fails);
 *  - a status held that must not be: a run's end, a step's end, an attempt's end are never held.
 */

const { key, keys } = await testKeys();
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

/** A policy engine granting each step the destinations `grants` names for it (none: DNS only). */
const granting = (grants: Record<string, readonly Destination[]>): PolicyEngine => ({
  revision: 'test-rev',
  entrypoints: ['kubiya/main/decision'],
  evaluate: (input) => {
    const egress = grants[(input as { step?: { name?: string } }).step?.name ?? ''] ?? [];
    return [{ result: { allow: true, violations: [], ...(egress.length > 0 ? { egress } : {}) } }];
  },
});

const selects = (selector: Record<string, string>, pod: V1Pod): boolean =>
  Object.entries(selector).every(([k, v]) => pod.metadata?.labels?.[k] === v);

let jti = 0;
const signed = (wf: Record<string, unknown> & { id: string }) =>
  signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: wf, now: NOW, jti: `base-${++jti}` });

describe("the runner's DNS policy and the step policies", () => {
  test('the DNS policy: Egress, the runner step pods only, DNS to kube-dns in the DNS namespace only, nothing else', () => {
    for (const dnsNamespace of ['kube-system', 'dns']) {
      const p = stepDnsPolicy({ runner: 'r-1', namespace: 'wf', dnsNamespace });
      assert.equal(p.metadata?.name, stepDnsPolicyName('r-1'));
      assert.deepEqual(p.spec?.podSelector, { matchLabels: { 'kubiya.ai/runner': 'r-1' } });
      assert.deepEqual(p.spec?.policyTypes, ['Egress']);
      assert.equal(p.spec?.egress?.length, 1);
      assert.deepEqual(p.spec?.egress?.[0]?.to, [dnsPeer(dnsNamespace)]);
      assert.deepEqual(
        p.spec?.egress?.[0]?.ports?.map((x) => `${String(x.protocol)}/${String(x.port)}`),
        ['UDP/53', 'TCP/53'],
      );
      assert.equal(
        Object.keys(p.metadata?.labels ?? {}).some((k) => ['kubiya.ai/run', 'kubiya.ai/step'].includes(k)),
        false,
        "no run's or step's label: never adopted as a step's policy",
      );
    }
    assert.notEqual(stepDnsPolicyName('a'), stepDnsPolicyName('b'), 'one per runner');
  });

  test('the grant label: none for DNS only; a DNS label value; equal exactly for equal (run, step, destinations)', () => {
    assert.equal(egressLabel('r', 's', []), undefined);
    const dest = fc.record({
      cidr: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      host: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
      ports: fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 3 }),
    });
    const grant = fc.tuple(
      fc.string({ maxLength: 30 }),
      fc.string({ maxLength: 30 }),
      fc.array(dest, { minLength: 1, maxLength: 3 }),
    );
    fc.assert(
      fc.property(grant, grant, ([r1, s1, d1], [r2, s2, d2]) => {
        const a = egressLabel(r1, s1, d1);
        const b = egressLabel(r2, s2, d2);
        assert.match(a ?? '', /^e[0-9a-f]{20}$/);
        const same = JSON.stringify([r1, s1, d1]) === JSON.stringify([r2, s2, d2]);
        assert.equal(a === b, same);
      }),
      { numRuns: 300 },
    );
    // The reported shapes: run a / step b-step-c and run a-step-b / step c, one grant.
    const g = [{ cidr: '10.0.0.0/24', ports: [443] }];
    assert.notEqual(egressLabel('a', 'b-step-c', g), egressLabel('a-step-b', 'c', g));
  });

  test("each pod is selected by its own step's policy only, or by none when granted DNS only — never by another run's", async () => {
    const grants = { wide: [{ cidr: '10.0.0.0/8', ports: [443] }], narrow: [{ cidr: '10.1.0.0/24', ports: [5432] }] };
    const r = await memoryRunner({ keys, policy: () => granting(grants) });
    closers.push(r.close);
    const steps = [
      { name: 'wide', image: 'x:1' },
      { name: 'narrow', image: 'x:1' },
      { name: 'dns-only', image: 'x:1' },
    ];
    // Two runs with the same step names: the second's steps must not fall under the first's policies.
    for (const runId of ['one', 'two']) {
      const report = await r.run({ body: await signed({ ...workflow(steps), runId }) });
      assert.equal(report.phase, 'Succeeded', JSON.stringify(report));
    }
    assert.equal(r.deps.pods.egress.length, 4, 'wide and narrow of each run; none for dns-only');
    for (const pod of r.deps.pods.created) {
      const selecting = r.deps.pods.egress.filter((e) =>
        selects((e.spec as { podSelector: { matchLabels: Record<string, string> } }).podSelector.matchLabels, pod),
      );
      const step = pod.metadata?.labels?.['kubiya.ai/step'] ?? '';
      const run = pod.metadata?.labels?.['kubiya.ai/run'] ?? '';
      assert.deepEqual(
        selecting.map(
          (e) => `${e.metadata?.labels?.['kubiya.ai/run'] ?? ''}/${e.metadata?.labels?.['kubiya.ai/step'] ?? ''}`,
        ),
        step === 'dns-only' ? [] : [`${run}/${step}`],
        `${pod.metadata?.name ?? ''}`,
      );
      assert.ok(selects({ 'kubiya.ai/runner': RUNNER }, pod), 'and by the DNS policy');
    }
  });

  test("an earlier decision's policy of the same step never selects the pod of a later decision", async () => {
    // What a retry after a policy change or a pass that crashed after its policy leaves behind.
    const before = egressLabel('run-1', 'analyze', [{ cidr: '0.0.0.0/0', ports: [443] }]);
    for (const later of [[], [{ cidr: '10.0.0.0/24', ports: [443] }]] as Destination[][]) {
      const r = await memoryRunner({ keys, policy: () => granting({ analyze: later }) });
      closers.push(r.close);
      const report = await r.run({ body: await signed(workflow()) });
      assert.equal(report.phase, 'Succeeded');
      const pod = r.deps.pods.created[0];
      assert.ok(pod !== undefined);
      const stale = { 'kubiya.ai/run': 'run-1', 'kubiya.ai/step': 'analyze', 'kubiya.ai/runner': RUNNER };
      assert.equal(selects({ ...stale, [EGRESS_LABEL]: before ?? '' }, pod), false);
      assert.equal(pod.metadata?.labels?.[EGRESS_LABEL], egressLabel('run-1', 'analyze', later));
    }
  });

  test('no pod before the DNS policy is confirmed: the run waits (nothing fails, nothing recorded as created), then runs', async () => {
    const r = await memoryRunner({ keys });
    closers.push(r.close);
    r.deps.pods.dnsRefusal = 'the API server is away';
    const done = r.run({ body: await signed(workflow()) });
    await waitFor('a pass', () =>
      r.deps.audit.records.some((x) => x.stage === 'verify' && x.workflow?.runId === 'run-1'),
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(r.deps.pods.created.length, 0, 'no pod');
    assert.equal(r.deps.audit.records.filter((x) => x.stage === 'evaluate' || x.stage === 'create').length, 0);
    assert.equal(r.deps.runs.list()[0]?.status?.phase ?? 'Pending', 'Pending');
    r.deps.pods.dnsRefusal = undefined;
    for (const run of r.deps.runs.list()) r.reconciler.enqueue(run.name);
    assert.equal((await done).phase, 'Succeeded');
    assert.equal(r.deps.pods.created.length, 1);
  });
});

describe("a pod's decision annotation, read back on adoption, reaches status only in the runner's own form", () => {
  // The pod is an object in the cluster: what it says must not put arbitrary text in the run's status.
  const rows: [string, string | undefined, string][] = [
    ['as the runner writes it', 'allow (rev-1)', 'allow (rev-1)'],
    ['absent', undefined, 'allow (adopted after restart)'],
    ['a deny', 'deny: IMAGE_DENIED (rev-1)', 'allow (adopted after restart)'],
    ['trailing text', 'allow (rev-1) and more', 'allow (adopted after restart)'],
    ['a newline', 'allow (rev\n1)', 'allow (adopted after restart)'],
    ['huge', `allow (${'x'.repeat(100_000)})`, 'allow (adopted after restart)'],
    ['non-ASCII', 'allow (rév)', 'allow (adopted after restart)'],
    ['empty revision', 'allow ()', 'allow (adopted after restart)'],
  ];
  for (const [what, annotation, shown] of rows) {
    test(`${what}: ${shown}`, async () => {
      const r = await memoryRunner({ keys });
      closers.push(r.close);
      const id = `adopt-${++jti}`;
      const name = podName('run-1', 'analyze');
      // A pod the run owns, already there when its first pass runs (a pass that crashed, or held its status).
      r.deps.pods.pods.set(name, {
        metadata: {
          name,
          labels: { 'kubiya.ai/run': 'run-1', 'kubiya.ai/step': 'analyze', 'kubiya.ai/runner': RUNNER },
          ...(annotation !== undefined ? { annotations: { [DECISION_ANNOTATION]: annotation } } : {}),
          ownerReferences: [
            { apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: runName(id), uid: `uid-${runName(id)}` },
          ],
          creationTimestamp: NOW,
        },
        spec: { containers: [] },
        status: endedStatus({ phase: 'Succeeded', exitCode: 0, reason: 'Completed' }),
      });
      const report = await r.run({
        body: await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: workflow(), now: NOW, jti: id }),
      });
      assert.equal(report.phase, 'Succeeded', JSON.stringify(report));
      assert.equal(r.deps.pods.created.length, 0, 'adopted, not created again');
      assert.equal(r.deps.runs.list()[0]?.status?.steps[0]?.decision, shown);
    });
  }
});

describe('progress status writes held, ends never', () => {
  const st = (phase: RunStatus['phase'], steps: RunStatus['steps']): RunStatus => ({ phase, summary: '', steps });
  const rows: [string, RunStatus | undefined, RunStatus, boolean][] = [
    ['first pass, a step started', undefined, st('Running', [{ name: 'a', phase: 'Running' }]), false],
    [
      'a waiting reason',
      st('Running', [{ name: 'a', phase: 'Running' }]),
      st('Running', [{ name: 'a', phase: 'Running', reason: 'ContainerCreating' }]),
      false,
    ],
    ['waiting for a slot', undefined, st('Pending', [{ name: 'a', phase: 'Pending' }]), false],
    ['the run ended', undefined, st('Succeeded', [{ name: 'a', phase: 'Succeeded' }]), true],
    ['the run failed', st('Running', []), st('Failed', []), true],
    ['the run cancelled', st('Running', []), st('Cancelled', []), true],
    [
      'a step ended, another runs',
      st('Running', [
        { name: 'a', phase: 'Running' },
        { name: 'b', phase: 'Pending' },
      ]),
      st('Running', [
        { name: 'a', phase: 'Succeeded' },
        { name: 'b', phase: 'Running' },
      ]),
      true,
    ],
    [
      'a step ended on the first pass (denied), another runs',
      undefined,
      st('Running', [
        { name: 'a', phase: 'Denied' },
        { name: 'b', phase: 'Running' },
      ]),
      true,
    ],
    [
      'an attempt ended (retried: Pending again)',
      st('Running', [{ name: 'a', phase: 'Running' }]),
      st('Running', [{ name: 'a', phase: 'Pending', attempts: [{ attempt: 1, phase: 'Failed' }] }]),
      true,
    ],
    [
      'a step skipped',
      st('Running', [
        { name: 'a', phase: 'Running' },
        { name: 'b', phase: 'Pending' },
      ]),
      st('Running', [
        { name: 'a', phase: 'Running' },
        { name: 'b', phase: 'Skipped' },
      ]),
      true,
    ],
  ];
  for (const [what, previous, status, now] of rows) {
    test(`${what}: ${now ? 'written at once' : 'held'}`, () => assert.equal(mustWriteNow(previous, status), now));
  }

  test('the hold: counted from the first held change, not renewed by later ones; cleared by a write', () => {
    let t = 0;
    const hold = new StatusHold(2000, () => t);
    const s = st('Running', []);
    assert.equal(hold.wait('u', s), 2000);
    t = 1500;
    assert.equal(hold.wait('u', s), 500, 'a later change does not restart it');
    t = 2000;
    assert.equal(hold.wait('u', s), 0);
    hold.written('u');
    assert.equal(hold.wait('u', s), 2000);
    assert.equal(hold.known({ uid: 'u', status: undefined }).status, s, 'the held status is what this process knows');
    assert.equal(hold.known({ uid: 'v', status: undefined }).status, undefined);
  });
});
