import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPod } from '../../src/pod/build.ts';
import { durationSeconds } from '../../src/pod/duration.ts';
import { dnsSafeName, podName } from '../../src/pod/names.ts';
import { validate } from '../../src/validate/validate.ts';

const ctx = {
  runner: 'prod',
  namespace: 'kubiya-workflows',
  serviceAccount: 'kubiya-workflow',
  defaultTimeoutSeconds: 1800,
};

test('pod name follows the seed (readable prefix, then the identity hash) and stays a DNS label; see names.test.ts for the collision class', () => {
  assert.match(podName('wf-123', 'deploy'), /^workflow-wf-123-step-deploy-[0-9a-f]{10}$/);
  const long = podName('a'.repeat(63), 'b'.repeat(63));
  assert.ok(long.length <= 63);
  assert.match(long, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  assert.notEqual(podName('a'.repeat(63), 'b'.repeat(62) + 'c'), long, 'truncation keeps names distinct');
  assert.equal(dnsSafeName('Hello_World'), 'hello-world');
});

test('durations parse as Kubernetes users write them', () => {
  assert.equal(durationSeconds('30m'), 1800);
  assert.equal(durationSeconds('1h30m'), 5400);
  assert.equal(durationSeconds('45s'), 45);
  assert.equal(durationSeconds(90), 90);
  assert.throws(() => durationSeconds('soon'), RangeError);
});

test('the pod carries the seed labels, restartPolicy, service account, deadline, sidecars and secret refs', () => {
  const r = validate({
    id: 'wf-1',
    name: 'n',
    runId: 'run-1',
    steps: [
      {
        name: 'migrate',
        image: 'migrate/migrate:v4',
        command: ['migrate'],
        timeout: '10m',
        env: { MODE: 'up', PASSWORD: { secretRef: { secret: 'db', key: 'password' } } },
        resources: { requests: { cpu: '100m' }, limits: { memory: '256Mi' }, gpu: 1 },
        initContainers: [{ name: 'fetch', image: 'amazon/aws-cli:2.17.0' }],
        sidecars: [{ name: 'postgres', image: 'postgres:15', env: { POSTGRES_PASSWORD: 'temp' } }],
      },
    ],
  });
  assert.ok(r.ok);
  const pod = buildPod(r.value, r.value.steps[0]!, ctx);
  assert.equal(pod.metadata?.name, podName('run-1', 'migrate'));
  assert.deepEqual(pod.metadata?.labels, {
    'kubiya.ai/workflow': 'wf-1',
    'kubiya.ai/step': 'migrate',
    'kubiya.ai/runner': 'prod',
    'kubiya.ai/run': 'run-1',
  });
  assert.equal(pod.spec?.restartPolicy, 'Never');
  assert.equal(pod.spec?.serviceAccountName, 'kubiya-workflow');
  assert.equal(pod.spec?.automountServiceAccountToken, false);
  assert.equal(pod.spec?.activeDeadlineSeconds, 600);
  const main = pod.spec?.containers[0];
  assert.equal(main?.name, 'step');
  assert.deepEqual(main?.env, [
    { name: 'MODE', value: 'up' },
    { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
  ]);
  assert.deepEqual(main?.resources, { requests: { cpu: '100m' }, limits: { memory: '256Mi', 'nvidia.com/gpu': '1' } });
  assert.deepEqual(
    pod.spec?.initContainers?.map((c) => [c.name, c.restartPolicy]),
    [
      ['fetch', undefined],
      ['postgres', 'Always'],
    ],
  );
});

test('the workspace emptyDir is bounded by runner.storage.workspaceSize', () => {
  const r = validate({ id: 'w', name: 'n', runId: 'r', steps: [{ name: 's', image: 'python:3.11' }] });
  assert.ok(r.ok);
  assert.deepEqual(buildPod(r.value, r.value.steps[0]!, { ...ctx, workspaceSize: '10Gi' }).spec?.volumes?.[0], {
    name: 'workspace',
    emptyDir: { sizeLimit: '10Gi' },
  });
});

test('the default timeout applies when the step has none', () => {
  const r = validate({ id: 'w', name: 'n', runId: 'r', steps: [{ name: 's', image: 'python:3.11' }] });
  assert.ok(r.ok);
  assert.equal(buildPod(r.value, r.value.steps[0]!, ctx).spec?.activeDeadlineSeconds, 1800);
});
