import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { SERVICE_ACCOUNT_TOKEN_DIR } from '../../src/pod/workload.ts';
import { clusterRunnerConfig, testCluster, type TestCluster } from '../support/cluster.ts';

const ISSUER = 'https://control-plane.test';
const RUNNER = 'features-runner';
const GPU_NODE = 'kwok-node-1';
/** The API client returns class instances (V1LocalObjectReference...): compare their JSON. */
const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v ?? null));

/**
 * Issue 19 items 1, 2, 3, 7 on the local control plane (real kube-apiserver with PodSecurity
 * restricted enforced on the workflows namespace, scheduler, kwok): each example of
 * examples/features, with the policy settings a security team would add for it (policy.data, as
 * the chart mounts it), becomes a pod the API server admits, lands where it asked, and ends
 * Succeeded; and the same step without those settings is denied before any pod exists.
 */
describe('workflow features on the local control plane', () => {
  let env: TestCluster;
  let runner: RunningRunner;
  let key: SigningKey;
  let core: CoreV1Api;
  let auditDir: string;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    core = env.kc.makeApiClient(CoreV1Api);
    const namespace = env.cluster.workflowsNamespace;
    // The GPU pool: one node labelled and tainted as GPU node pools are.
    await core.patchNode({
      name: GPU_NODE,
      body: [
        { op: 'add', path: '/metadata/labels/nvidia.com~1gpu.present', value: 'true' },
        { op: 'add', path: '/spec/taints', value: [{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }] },
      ],
    });
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'deployer' }, automountServiceAccountToken: false },
    });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'acme-registry' },
        type: 'kubernetes.io/dockerconfigjson',
        stringData: { '.dockerconfigjson': JSON.stringify({ auths: { 'ghcr.io': { auth: 'bm90OnJlYWw=' } } }) },
      },
    });
    const data = join(env.work, 'policy-data.json');
    await writeFile(
      data,
      JSON.stringify({
        kubiya: {
          settings: {
            pullSecrets: { allowed: [{ name: 'acme-registry', registries: ['ghcr.io/acme'] }] },
            serviceAccounts: {
              allowed: [{ name: 'deployer', token: { audiences: ['sts.amazonaws.com'], maxExpirationSeconds: 900 } }],
            },
          },
        },
      }),
    );
    auditDir = join(env.work, 'audit');
    runner = await startRunner(
      await clusterRunnerConfig(
        env,
        { name: RUNNER, issuer: ISSUER, keys: [key] },
        { audit: { dir: auditDir }, policy: { data } },
      ),
    );
  });
  after(async () => {
    await runner?.close();
    await env?.close();
  });

  const submit = async (workflow: Record<string, unknown> & { id: string }) =>
    runAssignment(
      {
        body: await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow }),
        contentType: 'application/jwt',
      },
      runner.deps,
      runner.reconciler,
    );
  const example = async (file: string) => await readWorkflowFile(join(REPO_ROOT, 'examples', 'features', file));
  const podOf = async (workflowId: string): Promise<V1Pod> => {
    const pods = await core.listNamespacedPod({
      namespace: env.cluster.workflowsNamespace,
      labelSelector: `kubiya.ai/workflow=${workflowId}`,
    });
    assert.equal(pods.items.length, 1, workflowId);
    return pods.items[0]!;
  };

  test('private-registry.yaml: the pull secret reaches the admitted pod', async () => {
    const report = await submit(await example('private-registry.yaml'));
    assert.deepEqual(
      report.steps.map((s) => s.status),
      ['succeeded'],
      JSON.stringify(report),
    );
    const pod = await podOf('private-registry');
    assert.deepEqual(plain(pod.spec?.imagePullSecrets), [{ name: 'acme-registry' }]);
  });

  test('gpu-training.yaml: the GPU step is scheduled onto the tainted, labelled GPU node', async () => {
    const report = await submit(await example('gpu-training.yaml'));
    assert.deepEqual(
      report.steps.map((s) => s.status),
      ['succeeded'],
      JSON.stringify(report),
    );
    const pod = await podOf('gpu-training');
    assert.equal(pod.spec?.nodeName, GPU_NODE);
    assert.equal(pod.spec?.containers[0]?.resources?.limits?.['nvidia.com/gpu'], '1');
  });

  test('deploy-identity.yaml: the step runs as its account with only a projected, audience-bound token', async () => {
    const report = await submit(await example('deploy-identity.yaml'));
    assert.deepEqual(
      report.steps.map((s) => s.status),
      ['succeeded'],
      JSON.stringify(report),
    );
    const pod = await podOf('deploy-identity');
    assert.equal(pod.spec?.serviceAccountName, 'deployer');
    assert.equal(pod.spec?.automountServiceAccountToken, false);
    const tokens = (pod.spec?.volumes ?? []).flatMap((v) =>
      (v.projected?.sources ?? []).flatMap((s) => (s.serviceAccountToken ? [s.serviceAccountToken] : [])),
    );
    assert.deepEqual(plain(tokens), [{ audience: 'sts.amazonaws.com', expirationSeconds: 900, path: 'token' }]);
    // No legacy token volume was injected by the API server's ServiceAccount admission either.
    assert.ok(!(pod.spec?.volumes ?? []).some((v) => v.name.startsWith('kube-api-access-')));
    const env = pod.spec?.containers[0]?.env ?? [];
    assert.ok(
      env.some((e) => e.name === 'AWS_WEB_IDENTITY_TOKEN_FILE' && e.value === `${SERVICE_ACCOUNT_TOKEN_DIR}/token`),
    );
  });

  test('sidecar-readiness.yaml: the native sidecar carries its ports, readiness and startup probes, and PodSecurity admits it', async () => {
    const report = await submit(await example('sidecar-readiness.yaml'));
    assert.deepEqual(
      report.steps.map((s) => s.status),
      ['succeeded'],
      JSON.stringify(report),
    );
    const sidecar = (await podOf('sidecar-readiness')).spec?.initContainers?.[0];
    assert.equal(sidecar?.restartPolicy, 'Always');
    assert.deepEqual(plain(sidecar?.ports), [{ containerPort: 5432, name: 'postgres', protocol: 'TCP' }]);
    assert.deepEqual(plain(sidecar?.readinessProbe?.exec?.command), [
      'pg_isready',
      '-U',
      'postgres',
      '-h',
      '127.0.0.1',
    ]);
    assert.deepEqual(plain(sidecar?.startupProbe?.exec?.command), plain(sidecar?.readinessProbe?.exec?.command));
    assert.equal(sidecar?.startupProbe?.failureThreshold, 30);
  });

  test('without the settings: an unlisted pull secret or account is denied with its code, and no pod exists', async () => {
    const wf = await example('deploy-identity.yaml');
    const steps = wf.steps as Record<string, unknown>[];
    const report = await submit({
      ...wf,
      id: 'denied-features',
      runId: 'denied-1',
      steps: [{ ...steps[0], serviceAccount: 'cluster-admin', imagePullSecrets: ['prod-registry'] }],
    });
    assert.equal(report.steps[0]?.status, 'denied', JSON.stringify(report));
    const pods = await core.listNamespacedPod({
      namespace: env.cluster.workflowsNamespace,
      labelSelector: 'kubiya.ai/workflow=denied-features',
    });
    assert.equal(pods.items.length, 0);
    const denied = (await readAuditLog(auditDir)).filter(
      (r) => r.workflow?.id === 'denied-features' && r.stage === 'evaluate',
    );
    const codes = denied.flatMap((r) =>
      ((r.result as { violations?: { code: string }[] } | undefined)?.violations ?? []).map((v) => v.code),
    );
    assert.deepEqual([...new Set(codes)].sort(), ['PULL_SECRET_NOT_ALLOWED', 'SERVICE_ACCOUNT_NOT_ALLOWED']);
  });
});
