/**
 * The informers' paged lists against a real API server (issue 20 §2, peak RSS: a relist of
 * thousands of objects in one response; test/unit/list-pages.test.ts has the class). Pages of 2
 * over 7 pods and 7 WorkflowRuns of this runner (and 3 of another runner, left out by the label
 * selector): every object of this runner is cached, the pods slimmed (no spec), the runs without
 * managedFields; so the continue token is read in both spellings the API answers (a typed pod
 * list and a custom resource's raw JSON). The sweep's lists (owned objects, live run uids) ask for
 * metadata only (PartialObjectMetadataList), whose empty list has `items: null` (no volume claims,
 * no egress policies here).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubePods } from '../../src/adapters/kube-pods.ts';
import { DEFAULT_API_OPTIONS, PooledKubeConfig } from '../../src/adapters/kubeconfig.ts';
import { KubeRunStore, WORKFLOWRUN } from '../../src/adapters/kube-runs.ts';
import { KubeStepObjects } from '../../src/adapters/kube-step-objects.ts';
import { LABELS } from '../../src/pod/names.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';

let env: TestCluster;
const RUNNER = 'paged';
const COUNT = 7;

before(async () => {
  env = await testCluster();
  const ns = env.cluster.workflowsNamespace;
  const core = env.kc.makeApiClient(CoreV1Api);
  const custom = env.kc.makeApiClient(CustomObjectsApi);
  const { group, version, plural, kind } = WORKFLOWRUN;
  for (let i = 0; i < COUNT + 3; i++) {
    const runner = i < COUNT ? RUNNER : 'other';
    const pod: V1Pod = {
      metadata: { name: `pg-${i}`, labels: { [LABELS.runner]: runner } },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'step',
            image: 'busybox:1.36',
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    };
    await core.createNamespacedPod({ namespace: ns, body: pod });
    const body = {
      apiVersion: `${group}/${version}`,
      kind,
      metadata: {
        name: `wr-pg-${i}`,
        labels: { [LABELS.runner]: runner, [LABELS.workflow]: 'w', [LABELS.run]: `pg-${i}` },
      },
      spec: { token: 't', workflowId: 'w', runner },
    };
    await custom.createNamespacedCustomObject({ group, version, namespace: ns, plural, body });
  }
});
after(() => env.close());

test('pods listed in pages of 2: every pod of this runner, slimmed', async () => {
  const pods = new KubePods(env.kc, env.cluster.workflowsNamespace, RUNNER, { pageItems: 2 });
  await pods.start();
  try {
    for (let i = 0; i < COUNT + 3; i++) {
      const pod = pods.cached(`pg-${i}`);
      if (i >= COUNT) assert.equal(pod, undefined, `pg-${i} is another runner's`);
      else {
        assert.equal(pod?.metadata?.name, `pg-${i}`);
        assert.equal(pod?.spec, undefined, 'slimmed as it arrived');
      }
    }
  } finally {
    await pods.stop();
  }
});

test('WorkflowRuns listed in pages of 2: every run of this runner', async () => {
  const runs = new KubeRunStore(env.kc, env.cluster.workflowsNamespace, RUNNER, { pageItems: 2 });
  await runs.start();
  try {
    assert.deepEqual(
      runs
        .list()
        .map((r) => r.name)
        .sort(),
      Array.from({ length: COUNT }, (_, i) => `wr-pg-${i}`).sort(),
    );
    // The sweep's fresh list of live runs: metadata only, in pages of 2, the same uids.
    const live = await runs.liveUids();
    assert.ok(live.ok, live.ok ? '' : live.error.message);
    assert.deepEqual(
      [...live.value].sort(),
      runs
        .list()
        .map((r) => r.uid)
        .sort(),
    );
  } finally {
    await runs.stop();
  }
});

test("the orphan sweep's list (paged, reduced to names and owners): every pod of this runner", async () => {
  const objects = new KubeStepObjects(env.kc, env.cluster.workflowsNamespace, RUNNER);
  const owned = await objects.owned();
  assert.ok(owned.ok, owned.ok ? '' : owned.error.message);
  assert.deepEqual(
    owned.value
      .filter((o) => o.kind === 'Pod')
      .map((o) => `${o.name}:${String(o.owner)}`)
      .sort(),
    Array.from({ length: COUNT }, (_, i) => `pg-${i}:undefined`).sort(),
  );
});

test('the periodic relist runs behind the watch: in 9 s of a 4 s relist period, no watch ended for it, changes still seen', async () => {
  const restarts: string[] = [];
  const kc = new PooledKubeConfig({
    ...DEFAULT_API_OPTIONS,
    relistMs: 4000,
    observer: { requestTimedOut: () => undefined, watchRestarted: (kind, why) => restarts.push(`${kind} ${why}`) },
  });
  kc.loadFromFile(env.cluster.kubeconfig);
  const ns = env.cluster.workflowsNamespace;
  const pods = new KubePods(kc, ns, RUNNER, { pageItems: 2 });
  await pods.start();
  try {
    await sleep(9000);
    const core = env.kc.makeApiClient(CoreV1Api);
    const pod: V1Pod = {
      metadata: { name: 'pg-late', labels: { [LABELS.runner]: RUNNER } },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'step',
            image: 'busybox:1.36',
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    };
    await core.createNamespacedPod({ namespace: ns, body: pod });
    for (let i = 0; i < 300 && pods.cached('pg-late') === undefined; i++) await sleep(100);
    assert.equal(pods.cached('pg-late')?.metadata?.name, 'pg-late');
    assert.deepEqual(
      restarts.filter((r) => r.includes('relist')),
      [],
      'the watch was ended for a relist',
    );
    for (let i = 0; i < COUNT; i++) assert.equal(pods.cached(`pg-${i}`)?.metadata?.name, `pg-${i}`);
  } finally {
    await pods.stop();
  }
});
