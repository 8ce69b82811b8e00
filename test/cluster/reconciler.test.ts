import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, CustomObjectsApi, NetworkingV1Api, type V1Pod } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir } from '../../src/adapters/audit-files.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { runName } from '../../src/pod/names.ts';
import { egressObject, stepDnsPolicy, stepDnsPolicyName } from '../../src/egress/network-policy.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { clusterRunnerConfig, installCiliumCrd, testCluster, type TestCluster } from '../support/cluster.ts';
import type { ConfigOverrides } from '../support/config.ts';
import { watchAll } from '../support/watch.ts';
import { waitFor } from '../support/wait.ts';

const ISSUER = 'https://control-plane.test';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const step = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  image: 'python:3.11-slim',
  resources: R,
  ...extra,
});

describe('reconciler against the local control plane (real kube-apiserver, PodSecurity restricted, kwok)', () => {
  let env: TestCluster;
  let key: SigningKey;
  let core: CoreV1Api;
  const runners: RunningRunner[] = [];
  let jti = 0;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    core = env.kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    for (const r of runners) await r.close();
    await env?.close();
  });

  const runner = async (name: string, over: ConfigOverrides = {}): Promise<RunningRunner> => {
    const r = await startRunner(await clusterRunnerConfig(env, { name, issuer: ISSUER, keys: [key] }, over));
    runners.push(r);
    return r;
  };
  const submit = async (
    r: RunningRunner,
    name: string,
    workflow: Record<string, unknown> & { id: string },
    timeoutMs = 60_000,
  ) =>
    runAssignment(
      {
        body: await signAssignment(key, { issuer: ISSUER, audience: name, workflow, jti: `rec-${++jti}` }),
        contentType: 'application/jwt',
      },
      r.deps,
      r.reconciler,
      timeoutMs,
    );
  const statusOf = async (run: string): Promise<RunStatus> => {
    const custom = env.kc.makeApiClient(CustomObjectsApi);
    const wr = (await custom.getNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: env.cluster.workflowsNamespace,
      plural: 'workflowruns',
      name: run,
    })) as { status: RunStatus };
    return wr.status;
  };

  test('a step that times out, one OOMKilled, one with a bad image and one that exits 3: each Failed with its reason and exit code, in the WorkflowRun status', async () => {
    const r = await runner('fail-runner', { runner: { workflow: { failFastGrace: 2 } } });
    const report = await submit(r, 'fail-runner', {
      id: 'failures',
      name: 'failures',
      runId: 'failures',
      steps: [
        step('slow', { timeout: '3s', env: { KWOK_RUN_DURATION: '120s' }, dependsOn: [] }),
        step('oom', { env: { KWOK_EXIT_CODE: 'oom' }, dependsOn: [] }),
        step('bad-image', {
          image: 'ghcr.io/kubiya/does-not-exist:0.0.0',
          env: { KWOK_WAITING: 'ErrImagePull' },
          dependsOn: [],
        }),
        step('exits', { env: { KWOK_EXIT_CODE: '3' }, dependsOn: [] }),
        step('after', { dependsOn: ['slow', 'oom', 'bad-image', 'exits'] }),
      ],
    });
    assert.equal(report.phase, 'Failed');
    const status = await statusOf(runName(`rec-${jti}`));
    const by = Object.fromEntries(status.steps.map((s) => [s.name, s]));
    assert.deepEqual(
      [by.slow?.phase, by.slow?.code, by.slow?.reason],
      ['Failed', 'STEP_DEADLINE_EXCEEDED', 'DeadlineExceeded'],
    );
    assert.deepEqual(
      [by.oom?.phase, by.oom?.code, by.oom?.reason, by.oom?.exitCode],
      ['Failed', 'STEP_FAILED', 'OOMKilled', 137],
    );
    assert.deepEqual(
      [by['bad-image']?.phase, by['bad-image']?.code, by['bad-image']?.reason],
      ['Failed', 'STEP_START_FAILED', 'ErrImagePull'],
    );
    assert.deepEqual([by.exits?.phase, by.exits?.code, by.exits?.exitCode], ['Failed', 'STEP_FAILED', 3]);
    assert.equal(by.after?.phase, 'Skipped');
    assert.match(status.summary, /0\/5 succeeded, 4 failed, 1 skipped/);
    // The runner deleted the pods it gave up on (kwok, like a broken node, never ends them itself).
    const left = (
      await core.listNamespacedPod({
        namespace: env.cluster.workflowsNamespace,
        labelSelector: 'kubiya.ai/run=failures',
      })
    ).items
      .map((p) => p.metadata?.labels?.['kubiya.ai/step'])
      .sort();
    assert.deepEqual(left, ['exits', 'oom']);
    const records = await readAuditLog(join(env.work, 'audit-fail-runner'));
    assert.deepEqual(
      records
        .filter((x) => x.stage === 'finish')
        .map((x) => x.code)
        .sort(),
      ['STEP_DEADLINE_EXCEEDED', 'STEP_FAILED', 'STEP_FAILED', 'STEP_SKIPPED', 'STEP_START_FAILED'],
      'one end per step, the skipped one included',
    );
  });

  test('dependsOn: two branches run at the same time and a join waits for both; no step policy for DNS-only steps, the runner DNS policy covers them', async () => {
    const r = await runner('dag-runner');
    const report = await submit(r, 'dag-runner', {
      id: 'dag',
      name: 'dag',
      runId: 'dag',
      steps: [
        step('fetch'),
        step('left', { dependsOn: ['fetch'], env: { KWOK_RUN_DURATION: '2s' } }),
        step('right', { dependsOn: ['fetch'], env: { KWOK_RUN_DURATION: '2s' } }),
        step('join', { dependsOn: ['left', 'right'] }),
      ],
    });
    assert.equal(report.phase, 'Succeeded', JSON.stringify(report));
    const pods = (
      await core.listNamespacedPod({ namespace: env.cluster.workflowsNamespace, labelSelector: 'kubiya.ai/run=dag' })
    ).items;
    const at = (s: string): number =>
      new Date(
        pods.find((p) => p.metadata?.labels?.['kubiya.ai/step'] === s)?.metadata?.creationTimestamp ?? 0,
      ).getTime();
    const ended = (s: string): number =>
      new Date(
        pods.find((p) => p.metadata?.labels?.['kubiya.ai/step'] === s)?.status?.containerStatuses?.[0]?.state
          ?.terminated?.finishedAt ?? 0,
      ).getTime();
    assert.ok(Math.abs(at('left') - at('right')) < 1000, 'the branches started together');
    assert.ok(
      at('left') >= ended('fetch') - 1000 && at('join') >= Math.max(ended('left'), ended('right')) - 1000,
      'the join waited for both',
    );
    const np = env.kc.makeApiClient(NetworkingV1Api);
    const policies = (
      await np.listNamespacedNetworkPolicy({
        namespace: env.cluster.workflowsNamespace,
        labelSelector: 'kubiya.ai/run=dag',
      })
    ).items;
    // DNS only (these steps asked for no egress): no step policy; the runner's one DNS policy covers them.
    assert.equal(policies.length, 0);
    const dns = await np.readNamespacedNetworkPolicy({
      name: stepDnsPolicyName('dag-runner'),
      namespace: env.cluster.workflowsNamespace,
    });
    assert.deepEqual(dns.spec?.policyTypes, ['Egress']);
    assert.equal(dns.spec?.egress?.length, 1, 'DNS only');
    assert.deepEqual(dns.spec?.podSelector?.matchLabels, { 'kubiya.ai/runner': 'dag-runner' });
  });

  test('a host NetworkPolicy cannot express fails the step with EGRESS_HOST_UNPINNED before any pod; ipBlock and Cilium toFQDNs forms are accepted by the API server', async () => {
    const r = await runner('egress-runner');
    const report = await submit(r, 'egress-runner', {
      id: 'egress',
      name: 'egress',
      runId: 'egress',
      steps: [step('call', { egress: [{ host: 'api.github.com', ports: [443] }] })],
    });
    assert.equal(report.steps[0]?.code, 'EGRESS_HOST_UNPINNED');
    assert.equal(
      (
        await core.listNamespacedPod({
          namespace: env.cluster.workflowsNamespace,
          labelSelector: 'kubiya.ai/run=egress',
        })
      ).items.length,
      0,
    );

    // The rendered objects, straight to the API server: NetworkPolicy with ipBlocks, and (with the
    // CiliumNetworkPolicy CRD installed, as on a Cilium cluster) the toFQDNs form.
    const ns = env.cluster.workflowsNamespace;
    const destinations = [
      { host: 'db.internal', cidrs: ['10.1.2.3/32'], ports: [5432] },
      { cidr: '10.20.0.0/16', ports: [443, 8443] },
    ];
    const ctx = {
      namespace: ns,
      dnsNamespace: 'kube-system',
      podLabels: { 'kubiya.ai/run': 'x', 'kubiya.ai/step': 'y' },
      labels: { 'kubiya.ai/runner': 'egress-runner' },
    };
    const pods = new KubeStepObjects(env.kc, ns, 'egress-runner', 'networkpolicy');
    const plain = egressObject(destinations, { ...ctx, name: 'np-form', mode: 'networkpolicy' });
    assert.ok(plain.ok);
    assert.deepEqual((await pods.createEgress(plain.value)).ok, true);
    const stored = await env.kc
      .makeApiClient(NetworkingV1Api)
      .readNamespacedNetworkPolicy({ name: 'np-form', namespace: ns });
    assert.deepEqual(
      stored.spec?.egress?.slice(1).map((e) => e.to?.map((t) => t.ipBlock?.cidr)),
      [['10.1.2.3/32'], ['10.20.0.0/16']],
    );

    await installCiliumCrd(env.kc);
    const cilium = new KubeStepObjects(env.kc, ns, 'egress-runner', 'cilium');
    const fqdn = egressObject([{ host: 'api.github.com', ports: [443] }], { ...ctx, name: 'cnp-form', mode: 'cilium' });
    assert.ok(fqdn.ok);
    const created = await cilium.createEgress(fqdn.value);
    assert.equal(created.ok, true, JSON.stringify(created));
    const owned = await cilium.owned();
    assert.ok(owned.ok && owned.value.some((o) => o.kind === 'CiliumNetworkPolicy' && o.name === 'cnp-form'));
    assert.equal((await cilium.deleteObjects([{ kind: 'CiliumNetworkPolicy', name: 'cnp-form' }])).ok, true);
  });

  test("a pod the API server refuses (quota) fails its step with the API server's reason; its egress policy is removed; nothing retries", async () => {
    const r = await runner('quota-runner');
    const ns = env.cluster.workflowsNamespace;
    await core.createNamespacedResourceQuota({
      namespace: ns,
      body: { metadata: { name: 'no-pods' }, spec: { hard: { pods: '0' } } },
    });
    try {
      await waitFor(
        'the quota controller to count',
        async () =>
          (await core.readNamespacedResourceQuota({ name: 'no-pods', namespace: ns })).status?.hard?.pods === '0',
        { timeoutMs: 20_000, intervalMs: 250 },
      );
      const report = await submit(r, 'quota-runner', {
        id: 'quota',
        name: 'quota',
        runId: 'quota',
        steps: [step('refused'), step('never')],
      });
      assert.equal(report.phase, 'Failed');
      const status = await statusOf(runName(`rec-${jti}`));
      assert.equal(status.steps[0]?.code, 'CREATE_REJECTED');
      assert.match(status.steps[0]?.message ?? '', /quota/i, "the API server's reason is in the status");
      assert.equal(status.steps[1]?.phase, 'Skipped');
      const records = await readAuditLog(join(env.work, 'audit-quota-runner'));
      assert.match(records.find((x) => x.stage === 'create' && x.outcome === 'error')?.message ?? '', /quota/i);
      const np = await env.kc
        .makeApiClient(NetworkingV1Api)
        .listNamespacedNetworkPolicy({ namespace: ns, labelSelector: 'kubiya.ai/run=quota' });
      assert.equal(np.items.length, 0, 'no egress policy left for a pod that does not exist');
      await sleep(1500);
      assert.equal(
        (await readAuditLog(join(env.work, 'audit-quota-runner'))).filter((x) => x.stage === 'create').length,
        1,
        'not retried',
      );
    } finally {
      await core.deleteNamespacedResourceQuota({ name: 'no-pods', namespace: ns });
    }
  });

  test('a WorkflowRun created by hand is admitted as intake would: a genuine never-admitted token runs with verify and validate records; a reused run id fails ASSIGNMENT_RUN_ID_REUSED with nothing created', async () => {
    const name = 'hand-runner';
    const r = await runner(name);
    const first = await submit(r, name, { id: 'wf-hand', name: 'hand', runId: 'hand-1', steps: [step('one')] });
    assert.equal(first.phase, 'Succeeded');
    const custom = env.kc.makeApiClient(CustomObjectsApi);
    const ns = env.cluster.workflowsNamespace;
    const make = async (jtiOf: string, runId: string): Promise<string> => {
      const token = await signAssignment(key, {
        issuer: ISSUER,
        audience: name,
        workflow: { id: 'wf-hand', name: 'hand', runId, steps: [step('one')] },
        jti: jtiOf,
      });
      const body = {
        apiVersion: 'kubiya.ai/v1alpha1',
        kind: 'WorkflowRun',
        metadata: {
          name: runName(jtiOf),
          labels: { 'kubiya.ai/runner': name, 'kubiya.ai/workflow': 'wf-hand', 'kubiya.ai/run': runId },
        },
        spec: { token, workflowId: 'wf-hand', runner: name },
      };
      await custom.createNamespacedCustomObject({
        group: 'kubiya.ai',
        version: 'v1alpha1',
        namespace: ns,
        plural: 'workflowruns',
        body,
      });
      return runName(jtiOf);
    };
    const fresh = await make('Hand_Made-2', 'hand-2');
    const reused = await make('hand-made-3', 'hand-1');
    const ended = async (run: string): Promise<RunStatus> => {
      for (let i = 0; i < 300; i++) {
        const status = await statusOf(run).catch(() => undefined);
        if (status !== undefined && ['Succeeded', 'Failed', 'Cancelled'].includes(status.phase)) return status;
        await sleep(100);
      }
      throw new Error(`${run} did not end`);
    };
    assert.equal((await ended(fresh)).phase, 'Succeeded');
    const failed = await ended(reused);
    assert.deepEqual([failed.phase, failed.code], ['Failed', 'ASSIGNMENT_RUN_ID_REUSED']);
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'kubiya.ai/run=hand-1' })).items;
    assert.ok(
      pods.every((p) => p.metadata?.ownerReferences?.[0]?.name === runName(`rec-${jti}`)),
      'no pod of the reusing run',
    );
    const records = await readAuditLog(join(env.work, `audit-${name}`));
    const of = (j: string) => records.filter((x) => x.workflow?.jti === j).map((x) => `${x.stage}:${x.outcome}`);
    assert.deepEqual(of('Hand_Made-2').slice(0, 3), ['verify:allow', 'validate:allow', 'evaluate:allow']);
    assert.deepEqual(of('hand-made-3'), ['verify:allow', 'validate:allow', 'claim:deny']);
  });

  test('orphans: a pod carrying the runner label but owned by no live run is collected', async () => {
    const r = await runner('orphan-runner');
    const ns = env.cluster.workflowsNamespace;
    const sc = {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    };
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'stray', labels: { 'kubiya.ai/runner': 'orphan-runner' } },
        spec: { containers: [{ name: 'c', image: 'x:1', securityContext: sc }] },
      },
    });
    await waitFor('the stray pod in the cache', async () => (await r.deps.objects.owned()).ok, {
      timeoutMs: 5000,
      intervalMs: 250,
    });
    // The runner's DNS policy carries the runner label and no owner: it is never an orphan.
    const dns = stepDnsPolicy({ runner: 'orphan-runner', namespace: ns, dnsNamespace: 'kube-system' });
    assert.ok((await r.deps.objects.ensureStepDns(dns)).ok);
    assert.equal(await r.reconciler.collectOrphans(), 1);
    await waitFor(
      'the stray pod gone',
      async () =>
        (await core.listNamespacedPod({ namespace: ns, labelSelector: 'kubiya.ai/runner=orphan-runner' })).items
          .length === 0,
      { timeoutMs: 20_000, intervalMs: 250 },
    );
    const policies = await env.kc
      .makeApiClient(NetworkingV1Api)
      .listNamespacedNetworkPolicy({ namespace: ns, labelSelector: 'kubiya.ai/runner=orphan-runner' });
    assert.deepEqual(
      policies.items.map((x) => x.metadata?.name),
      [stepDnsPolicyName('orphan-runner')],
    );
  });

  test('soak: 1,000 steps (100 runs of 10, some with a volume) end Succeeded; no duplicate pod ever existed; after the TTL nothing is left but the runner DNS policy', async () => {
    const name = 'soak-runner';
    const r = await runner(name, { runner: { workflow: { maxConcurrent: 100, ttlAfterFinished: 3 } } });
    const ns = env.cluster.workflowsNamespace;
    // Every pod this runner ever has, by name → the uids seen: a duplicate would show a second uid.
    const uids = new Map<string, Set<string>>();
    const watch = await watchAll<V1Pod>(
      env.kc,
      `/api/v1/namespaces/${ns}/pods`,
      `kubiya.ai/runner=${name}`,
      (_type, pod) => {
        const n = pod.metadata?.name ?? '';
        uids.set(n, (uids.get(n) ?? new Set()).add(pod.metadata?.uid ?? ''));
      },
    );
    try {
      const started = Date.now();
      const reports = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          submit(
            r,
            name,
            {
              id: `soak-${i}`,
              name: 'soak',
              runId: `soak-${i}`,
              ...(i % 10 === 0 ? { volumes: [{ name: 'shared', size: '1Gi' }] } : {}),
              steps: Array.from({ length: 10 }, (_, j) =>
                step(`s${j}`, {
                  env: { KWOK_RUN_DURATION: '100ms' },
                  ...(i % 10 === 0 && j < 2 ? { volumes: [{ name: 'data', mount: '/data', volume: 'shared' }] } : {}),
                }),
              ),
            },
            300_000,
          ),
        ),
      );
      const seconds = (Date.now() - started) / 1000;
      const phases = reports.map((x) => x.phase);
      assert.deepEqual(
        [...new Set(phases)],
        ['Succeeded'],
        JSON.stringify(reports.find((x) => x.phase !== 'Succeeded')),
      );
      assert.equal(reports.flatMap((x) => x.steps).filter((s) => s.status === 'succeeded').length, 1000);
      console.log(`soak: 1000 steps in ${seconds.toFixed(1)} s`);
      await waitFor(
        'TTL cleanup',
        async () => {
          const [p, c, n] = await Promise.all([
            core.listNamespacedPod({ namespace: ns, labelSelector: `kubiya.ai/runner=${name}` }),
            core.listNamespacedPersistentVolumeClaim({ namespace: ns, labelSelector: `kubiya.ai/runner=${name}` }),
            env.kc
              .makeApiClient(NetworkingV1Api)
              .listNamespacedNetworkPolicy({ namespace: ns, labelSelector: `kubiya.ai/runner=${name}` }),
          ]);
          // The runner's DNS policy (the default deny of its step pods) outlives every run.
          const policies = n.items.map((x) => x.metadata?.name);
          return p.items.length === 0 && c.items.length === 0 && policies.join() === stepDnsPolicyName(name);
        },
        { timeoutMs: 120_000, intervalMs: 250 },
      );
      assert.equal(uids.size, 1000, 'one pod name per step');
      assert.deepEqual(
        [...uids].filter(([, u]) => u.size > 1),
        [],
        'no step ever had two pods',
      );
      assert.equal((await checkAuditDir(join(env.work, `audit-${name}`), undefined)).ok, true);
    } finally {
      watch.stop();
    }
  });
});
