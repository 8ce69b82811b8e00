/**
 * Class (issue 20 §2, peak RSS at 5,000 step pods): "the pod cache keeps bytes nothing reads" —
 * and its risk, "a field the reconciler reads was trimmed away", which would change how a step is
 * judged or which outputs it gives. Pinned here: for every shape of pod the reconciler meets
 * (running, waiting with a fail-fast reason in a container or an init container, unschedulable,
 * succeeded with outputs, failed by exit code, OOM or the pod's deadline, many containers, no
 * status), judgePod, podOutcome, readOutputs and messageBudget of the cached (slimmed) pod equal
 * those of the pod as the API server sent it without its spec (what the cache kept before); and
 * what the trim removes (IPs, times, other conditions, images' resources) is gone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { slim } from '../../src/adapters/kube-pods.ts';
import { messageBudget, readOutputs } from '../../src/run/outputs.ts';
import type { Step } from '../../src/validate/schema.ts';
import { judgePod, podOutcome } from '../../src/watch/outcome.ts';

const CREATED = '2026-11-30T08:00:00.000Z';

const container = (name: string, state: V1ContainerStatus['state']): V1ContainerStatus => ({
  name,
  image: 'python:3.11-slim',
  imageID: 'docker-pullable://python@sha256:abc',
  containerID: 'containerd://0123',
  ready: false,
  restartCount: 0,
  started: false,
  lastState: {},
  state,
  resources: { limits: { memory: '32Mi' } },
  volumeMounts: [{ name: 'workspace', mountPath: '/workspace' }],
});

const conditions = (scheduled: { status: string; reason?: string; message?: string }) => [
  { type: 'Initialized', status: 'True', lastTransitionTime: new Date(CREATED) },
  { type: 'Ready', status: 'False', lastTransitionTime: new Date(CREATED) },
  { type: 'ContainersReady', status: 'False', lastTransitionTime: new Date(CREATED) },
  { type: 'PodScheduled', lastTransitionTime: new Date(CREATED), ...scheduled },
];

/** A step pod as the API server sends it, with this status (and a spec of `extra` init containers). */
function pod(status: V1Pod['status'], extra = 0): V1Pod {
  return {
    metadata: {
      name: 'workflow-r-step',
      namespace: 'w',
      uid: 'u1',
      generation: 1,
      resourceVersion: '42',
      creationTimestamp: new Date(CREATED),
      labels: { 'kubiya.ai/run': 'r', 'kubiya.ai/step': 'step' },
      annotations: { 'kubiya.ai/decision': 'allow (sha256-1)', other: 'x'.repeat(100) },
      ownerReferences: [{ apiVersion: 'kubiya.ai/v1alpha1', kind: 'WorkflowRun', name: 'wr-r', uid: 'run-uid' }],
      managedFields: [{ manager: 'kwok', operation: 'Update' }],
    },
    spec: {
      containers: [{ name: 'step', image: 'python:3.11-slim' }],
      initContainers: Array.from({ length: extra }, (_, i) => ({ name: `i${i}`, image: 'x:1' })),
    },
    ...(status !== undefined ? { status } : {}),
  };
}

const common = {
  hostIP: '127.0.0.1',
  hostIPs: [{ ip: '127.0.0.1' }],
  podIP: '10.244.0.10',
  podIPs: [{ ip: '10.244.0.10' }],
  qosClass: 'Burstable',
  startTime: new Date(CREATED),
};

const outputs = 'tag=v1.2.3\nnote=hello\n';

/** [name, pod]: every shape of step pod the reconciler judges. */
const CASES: [string, V1Pod][] = [
  [
    'running',
    pod({
      ...common,
      phase: 'Running',
      conditions: conditions({ status: 'True' }),
      containerStatuses: [container('step', { running: { startedAt: new Date(CREATED) } })],
    }),
  ],
  [
    'pending, image pull back-off',
    pod({
      ...common,
      phase: 'Pending',
      conditions: conditions({ status: 'True' }),
      containerStatuses: [
        container('step', { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } }),
      ],
    }),
  ],
  [
    'pending, init container config error',
    pod(
      {
        ...common,
        phase: 'Pending',
        conditions: conditions({ status: 'True' }),
        initContainerStatuses: [
          container('i0', { waiting: { reason: 'CreateContainerConfigError', message: 'secret "s" not found' } }),
        ],
        containerStatuses: [container('step', { waiting: { reason: 'PodInitializing' } })],
      },
      1,
    ),
  ],
  [
    'unschedulable',
    pod({
      phase: 'Pending',
      conditions: conditions({ status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available' }),
    }),
  ],
  [
    'succeeded with outputs',
    pod({
      ...common,
      phase: 'Succeeded',
      conditions: conditions({ status: 'True' }),
      containerStatuses: [container('step', { terminated: { exitCode: 0, reason: 'Completed', message: outputs } })],
    }),
  ],
  [
    'failed, exit code',
    pod({
      ...common,
      phase: 'Failed',
      conditions: conditions({ status: 'True' }),
      containerStatuses: [container('step', { terminated: { exitCode: 3, reason: 'Error' } })],
    }),
  ],
  [
    'failed, OOM',
    pod({
      ...common,
      phase: 'Failed',
      conditions: conditions({ status: 'True' }),
      containerStatuses: [container('step', { terminated: { exitCode: 137, reason: 'OOMKilled' } })],
    }),
  ],
  [
    'failed, pod deadline',
    pod({
      ...common,
      phase: 'Failed',
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    }),
  ],
  [
    'succeeded, many containers (the message budget)',
    pod(
      {
        ...common,
        phase: 'Succeeded',
        initContainerStatuses: Array.from({ length: 5 }, (_, i) => container(`i${i}`, { terminated: { exitCode: 0 } })),
        ephemeralContainerStatuses: [container('debug', { running: {} })],
        containerStatuses: [container('step', { terminated: { exitCode: 0, message: outputs } })],
      },
      5,
    ),
  ],
  ['no status yet', pod(undefined)],
];

const step: Step = { name: 'step', image: 'python:3.11-slim', outputs: [{ name: 'tag' }, { name: 'note' }] };

/** What the cache kept before the trim: the pod without its spec and managedFields. */
function before(p: V1Pod): V1Pod {
  const copy = structuredClone(p);
  delete copy.spec;
  delete copy.metadata?.managedFields;
  return copy;
}

for (const [name, p] of CASES)
  test(`the cached pod is judged as the pod itself: ${name}`, () => {
    const old = before(p);
    const cached = slim(structuredClone(p));
    for (const minutes of [0, 1, 10, 60]) {
      const o = {
        now: new Date(new Date(CREATED).getTime() + minutes * 60_000),
        deadlineSeconds: 1800,
        failFastGraceSeconds: 120,
      };
      assert.deepEqual(judgePod(cached, o), judgePod(old, o), `judgePod after ${minutes} min`);
    }
    assert.deepEqual(podOutcome(cached), podOutcome(old));
    assert.deepEqual(readOutputs(cached, step), readOutputs(old, step));
    assert.equal(messageBudget(cached), messageBudget(old));
    assert.deepEqual(cached.metadata?.ownerReferences, p.metadata?.ownerReferences);
    assert.deepEqual(cached.metadata?.labels, p.metadata?.labels);
    assert.deepEqual(cached.metadata?.annotations, { 'kubiya.ai/decision': 'allow (sha256-1)' });
    assert.equal(cached.metadata?.name, p.metadata?.name);
    assert.equal(cached.metadata?.uid, p.metadata?.uid);
    assert.equal(cached.metadata?.resourceVersion, p.metadata?.resourceVersion);
  });

test('what the trim removes is gone: spec, managedFields, IPs, times, other conditions, container details', () => {
  const cached = slim(structuredClone(CASES[0]![1]));
  assert.equal(cached.spec, undefined);
  assert.equal(cached.metadata?.managedFields, undefined);
  assert.equal(cached.metadata?.generation, undefined);
  assert.deepEqual(Object.keys(cached.status ?? {}).sort(), ['conditions', 'containerStatuses', 'phase']);
  assert.deepEqual(
    cached.status?.conditions?.map((c) => c.type),
    ['PodScheduled'],
  );
  assert.deepEqual(Object.keys(cached.status?.containerStatuses?.[0] ?? {}).sort(), [
    'image',
    'imageID',
    'name',
    'ready',
    'restartCount',
    'state',
  ]);
});

test('slim makes a copy and leaves the pod as the API server sent it (the informer keeps the copy; `admitted` stays whole)', () => {
  for (const [, p] of CASES) {
    const sent = structuredClone(p);
    const cached = slim(sent);
    assert.deepEqual(sent, p, 'the pod given is not changed');
    assert.notEqual(cached, sent);
    assert.notEqual(cached.metadata, sent.metadata);
    assert.equal(slim(cached).metadata?.name, p.metadata?.name, 'a cached pod slims again to the same');
    assert.deepEqual(slim(cached), cached);
  }
});
