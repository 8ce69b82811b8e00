import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { mutate } from '../../src/mutate/restricted.ts';
import { buildPod } from '../../src/pod/build.ts';
import { SERVICE_ACCOUNT_TOKEN_DIR, SERVICE_ACCOUNT_TOKEN_VOLUME } from '../../src/pod/workload.ts';
import { validate } from '../../src/validate/validate.ts';
import { restrictedViolations } from '../support/restricted-check.ts';

// Issue 19 items 1, 2, 3, 7: the step fields (schema), the pod the builder makes of them, and the
// mutation's invariants. The policy side is in policies/kubiya/rules/{pullsecrets,placement,
// identity,sidecars} (Rego tests) and test/policies/fixtures.ts (compiled WASM).

const ctx = {
  runner: 'r',
  namespace: 'kubiya-workflows',
  serviceAccount: 'kubiya-workflow',
  defaultTimeoutSeconds: 60,
};
const profile = {
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  allowNetBindService: false,
  readOnlyRootFilesystem: true,
  tmpSize: '1Gi',
};
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };

const wf = (step: Record<string, unknown>) => ({
  id: 'w',
  name: 'w',
  runId: 'r1',
  steps: [{ name: 's', image: 'python:3.11', resources: R, ...step }],
});

function podOf(step: Record<string, unknown>): V1Pod {
  const r = validate(wf(step));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return buildPod(r.value, r.value.steps[0]!, ctx);
}

function refused(step: Record<string, unknown>): string[] {
  const r = validate(wf(step));
  assert.ok(!r.ok, `refused: ${JSON.stringify(step)}`);
  assert.equal(r.error.code, 'VALIDATE_SCHEMA');
  return (r.error.details?.issues ?? []).map((i) => i.path);
}

test('imagePullSecrets, nodeSelector and tolerations reach the pod spec as written', () => {
  const pod = podOf({
    imagePullSecrets: ['acme-ghcr'],
    nodeSelector: { 'nvidia.com/gpu.present': 'true' },
    tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
  });
  assert.deepEqual(pod.spec?.imagePullSecrets, [{ name: 'acme-ghcr' }]);
  assert.deepEqual(pod.spec?.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
  assert.deepEqual(pod.spec?.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  const plain = podOf({});
  for (const k of ['imagePullSecrets', 'nodeSelector', 'tolerations'] as const)
    assert.equal(plain.spec?.[k], undefined);
});

// The class: every spelling Kubernetes would accept but that widens what a step asks for without
// saying so (a key-less or effect-less toleration), or that Kubernetes itself refuses.
test('the schema refuses the tolerations and selectors that mean more than they say', () => {
  const tol = (t: Record<string, unknown>) => refused({ tolerations: [t] });
  assert.ok(tol({ operator: 'Exists', effect: 'NoSchedule' }).length > 0, 'no key: tolerates every taint');
  assert.ok(tol({ key: 'a', operator: 'Exists' }).length > 0, 'no effect: every effect');
  assert.ok(tol({ key: 'a', operator: 'Exists', value: 'x', effect: 'NoSchedule' }).length > 0);
  assert.ok(tol({ key: 'a', effect: 'NoSchedule', tolerationSeconds: 5 }).length > 0);
  assert.ok(tol({ key: 'a', operator: 'In', effect: 'NoSchedule' }).length > 0);
  assert.ok(tol({ key: 'a/b/c', effect: 'NoSchedule' }).length > 0);
  assert.ok(refused({ tolerations: [] }).length > 0);
  assert.ok(refused({ nodeSelector: {} }).length > 0);
  assert.ok(refused({ nodeSelector: { 'Bad Key': 'x' } }).length > 0);
  assert.ok(refused({ nodeSelector: { a: 'x'.repeat(64) } }).length > 0);
  assert.ok(refused({ imagePullSecrets: ['Upper'] }).length > 0);
  assert.ok(refused({ imagePullSecrets: ['a', 'a'] }).length > 0);
  assert.ok(refused({ imagePullSecrets: Array.from({ length: 9 }, (_, i) => `s${i}`) }).length > 0);
});

test('serviceAccount: the name only, never the legacy token; a token only as a projected, audience-bound volume in the step container', () => {
  const named = podOf({ serviceAccount: 'deployer' });
  assert.equal(named.spec?.serviceAccountName, 'deployer');
  assert.equal(named.spec?.automountServiceAccountToken, false);
  assert.ok(!(named.spec?.volumes ?? []).some((v) => v.projected !== undefined));
  assert.equal(podOf({}).spec?.serviceAccountName, 'kubiya-workflow');

  const pod = podOf({
    serviceAccount: { name: 'deployer', token: { audience: 'sts.amazonaws.com', expirationSeconds: 900 } },
    sidecars: [{ name: 'db', image: 'postgres:15', resources: R }],
  });
  assert.equal(pod.spec?.automountServiceAccountToken, false);
  const volume = pod.spec?.volumes?.find((v) => v.name === SERVICE_ACCOUNT_TOKEN_VOLUME);
  assert.deepEqual(volume?.projected?.sources, [
    { serviceAccountToken: { audience: 'sts.amazonaws.com', expirationSeconds: 900, path: 'token' } },
  ]);
  assert.deepEqual(
    pod.spec?.containers[0]?.volumeMounts?.find((m) => m.name === SERVICE_ACCOUNT_TOKEN_VOLUME),
    { name: SERVICE_ACCOUNT_TOKEN_VOLUME, mountPath: SERVICE_ACCOUNT_TOKEN_DIR, readOnly: true },
  );
  assert.ok(!(pod.spec?.initContainers ?? []).some((c) => (c.volumeMounts ?? []).length > 0), 'sidecars get no token');
  const hardened = mutate(pod, profile).pod;
  assert.deepEqual(restrictedViolations(hardened), []);
  assert.equal(hardened.spec?.automountServiceAccountToken, false);
  assert.deepEqual(
    hardened.spec?.volumes?.find((v) => v.name === SERVICE_ACCOUNT_TOKEN_VOLUME),
    volume,
  );
});

test('serviceAccount: the schema bounds the token (600 s to 1 day, an audience) and keeps workflow volumes off its directory', () => {
  const sa = (token: unknown) => refused({ serviceAccount: { name: 'deployer', token } });
  assert.ok(sa({ audience: 'a', expirationSeconds: 599 }).length > 0);
  assert.ok(sa({ audience: 'a', expirationSeconds: 86_401 }).length > 0);
  assert.ok(sa({ audience: '' }).length > 0);
  assert.ok(sa({ audience: 'a b' }).length > 0);
  assert.ok(sa({ audience: 'a', path: '/etc' }).length > 0);
  assert.ok(refused({ serviceAccount: 'Admin' }).length > 0);
  const mountOver = (mount: string) =>
    validate({
      ...wf({
        serviceAccount: { name: 'd', token: { audience: 'a' } },
        volumes: [{ name: 'v', mount, volume: 'v' }],
      }),
      volumes: [{ name: 'v', size: '1Gi' }],
    });
  for (const mount of ['/var/run/secrets', SERVICE_ACCOUNT_TOKEN_DIR, `${SERVICE_ACCOUNT_TOKEN_DIR}/x`, '/'])
    assert.equal(mountOver(mount).ok, false, mount);
  assert.equal(mountOver('/data').ok, true);
});

test('serviceAccount token.env: the runner sets the variable to the token path; a step env of the same name is refused', () => {
  const pod = podOf({
    env: { REGION: 'eu-west-1' },
    serviceAccount: { name: 'd', token: { audience: 'sts.amazonaws.com', env: 'AWS_WEB_IDENTITY_TOKEN_FILE' } },
  });
  assert.deepEqual(pod.spec?.containers[0]?.env, [
    { name: 'REGION', value: 'eu-west-1' },
    { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', value: `${SERVICE_ACCOUNT_TOKEN_DIR}/token` },
  ]);
  assert.deepEqual(
    refused({
      env: { AWS_WEB_IDENTITY_TOKEN_FILE: '/elsewhere' },
      serviceAccount: { name: 'd', token: { audience: 'a', env: 'AWS_WEB_IDENTITY_TOKEN_FILE' } },
    }),
    ['workflow.steps.0.serviceAccount.token.env'],
  );
  assert.ok(refused({ serviceAccount: { name: 'd', token: { audience: 'a', env: 'A-B' } } }).length > 0);
});

// The class: a service account token that outlives the invariants, whatever built the pod.
test('mutate: a projected token without an audience is dropped, a lifetime is clamped to [600, 86400], the legacy automount is off', () => {
  const pod: V1Pod = {
    spec: {
      automountServiceAccountToken: true,
      containers: [{ name: 'step', image: 'x', volumeMounts: [{ name: 'bare', mountPath: '/t' }] }],
      volumes: [
        { name: 'bare', projected: { sources: [{ serviceAccountToken: { path: 't' } }] } },
        { name: 'empty-aud', projected: { sources: [{ serviceAccountToken: { path: 't', audience: '' } }] } },
        {
          name: 'long',
          projected: { sources: [{ serviceAccountToken: { path: 't', audience: 'a', expirationSeconds: 10 ** 9 } }] },
        },
        {
          name: 'short',
          projected: { sources: [{ serviceAccountToken: { path: 't', audience: 'a', expirationSeconds: 1 } }] },
        },
        {
          name: 'mixed',
          projected: { sources: [{ configMap: { name: 'c' } }, { serviceAccountToken: { path: 't' } }] },
        },
      ],
    },
  };
  const out = mutate(pod, profile).pod;
  assert.equal(out.spec?.automountServiceAccountToken, false);
  const byName = new Map((out.spec?.volumes ?? []).map((v) => [v.name, v]));
  assert.equal(byName.has('bare'), false);
  assert.equal(byName.has('empty-aud'), false);
  assert.deepEqual(
    out.spec?.containers[0]?.volumeMounts?.map((m) => m.name),
    ['kubiya-tmp'],
    'its mount goes with it',
  );
  assert.equal(byName.get('long')?.projected?.sources?.[0]?.serviceAccountToken?.expirationSeconds, 86_400);
  assert.equal(byName.get('short')?.projected?.sources?.[0]?.serviceAccountToken?.expirationSeconds, 600);
  assert.deepEqual(byName.get('mixed')?.projected?.sources, [{ configMap: { name: 'c' } }]);
  assert.deepEqual(mutate(out, profile).patch, [], 'idempotent');
});

test('sidecar ports and readiness probe: ports as containerPorts, the probe as readiness and as startup probe (what orders startup)', () => {
  const pod = podOf({
    sidecars: [
      {
        name: 'postgres',
        image: 'postgres:15',
        resources: R,
        ports: [{ port: 5432, name: 'pg' }],
        readinessProbe: { tcpSocket: { port: 'pg' }, periodSeconds: 1 },
      },
      {
        name: 'redis',
        image: 'redis:7',
        resources: R,
        readinessProbe: { exec: { command: ['redis-cli', 'ping'] } },
      },
    ],
  });
  const [pg, redis] = pod.spec?.initContainers ?? [];
  assert.equal(pg?.restartPolicy, 'Always');
  assert.deepEqual(pg?.ports, [{ containerPort: 5432, name: 'pg', protocol: 'TCP' }]);
  assert.deepEqual(pg?.readinessProbe, { tcpSocket: { port: 'pg' }, periodSeconds: 1 });
  assert.deepEqual(pg?.startupProbe, { tcpSocket: { port: 'pg' }, periodSeconds: 1, failureThreshold: 60 });
  assert.deepEqual(redis?.startupProbe, {
    exec: { command: ['redis-cli', 'ping'] },
    periodSeconds: 2,
    failureThreshold: 60,
  });
  assert.deepEqual(restrictedViolations(mutate(pod, profile).pod), []);
});

// The class: a probe that reaches further than its own container.
test('the schema refuses probes on undeclared ports, HTTP probes, probe hosts; mutate strips a host from any probe', () => {
  const sc = (over: Record<string, unknown>) =>
    refused({
      sidecars: [{ name: 'db', image: 'postgres:15', resources: R, ports: [{ port: 5432, name: 'pg' }], ...over }],
    });
  assert.ok(
    sc({ readinessProbe: { tcpSocket: { port: 5433 } } }).some((p) => p.endsWith('readinessProbe.tcpSocket.port')),
  );
  assert.ok(sc({ readinessProbe: { tcpSocket: { port: 'other' } } }).length > 0);
  assert.ok(sc({ readinessProbe: { tcpSocket: { port: 5432, host: '169.254.169.254' } } }).length > 0);
  assert.ok(sc({ readinessProbe: { httpGet: { port: 5432, path: '/' } } }).length > 0);
  assert.ok(sc({ readinessProbe: { exec: { command: [] } } }).length > 0);
  assert.ok(sc({ ports: [{ port: 0 }] }).length > 0);
  assert.ok(sc({ ports: [{ port: 1, name: '123' }] }).length > 0);
  assert.ok(
    sc({
      ports: [
        { port: 5432, name: 'pg' },
        { port: 5433, name: 'pg' },
      ],
    }).length > 0,
    'duplicate name',
  );
  assert.ok(sc({ ports: [{ port: 5432 }, { port: 5432, protocol: 'TCP' }] }).length > 0, 'duplicate port');
  assert.equal(
    podOf({
      sidecars: [{ name: 'd', image: 'x:1', resources: R, ports: [{ port: 53 }, { port: 53, protocol: 'UDP' }] }],
    }).spec?.initContainers?.[0]?.ports?.length,
    2,
  );
  // ports and probes are sidecar fields only
  assert.ok(refused({ initContainers: [{ name: 'i', image: 'x:1', ports: [{ port: 1 }] }] }).length > 0);
  const pod: V1Pod = {
    spec: {
      containers: [
        {
          name: 'step',
          image: 'x',
          readinessProbe: { tcpSocket: { port: 1, host: '10.0.0.1' } },
          livenessProbe: { httpGet: { port: 1, host: 'metadata' } },
          startupProbe: { tcpSocket: { port: 1, host: 'x' } },
        },
      ],
    },
  };
  const c = mutate(pod, profile).pod.spec?.containers[0];
  assert.deepEqual(c?.readinessProbe, { tcpSocket: { port: 1 } });
  assert.deepEqual(c?.livenessProbe, { httpGet: { port: 1 } });
  assert.deepEqual(c?.startupProbe, { tcpSocket: { port: 1 } });
});

test('docs/workflows.md: a section per feature, and every example it names exists and is a valid workflow', async () => {
  const { readFile } = await import('node:fs/promises');
  const { readWorkflowFile } = await import('../../src/dev/workflow-file.ts');
  const md = await readFile(new URL('../../docs/workflows.md', import.meta.url), 'utf8');
  const headings = [...md.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  for (const h of [
    'imagePullSecrets',
    'nodeSelector and tolerations',
    'serviceAccount',
    'Sidecar ports and readinessProbe',
    'Retries',
    'Conditions (when)',
    'Outputs',
  ])
    assert.ok(headings.includes(h), h);
  const { readdir } = await import('node:fs/promises');
  const files = [...new Set([...md.matchAll(/examples\/features\/[a-z-]+\.yaml/g)].map((m) => m[0]))].sort();
  const present = (await readdir(new URL('../../examples/features', import.meta.url)))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => `examples/features/${f}`)
    .sort();
  assert.deepEqual(files, present, 'the doc names every feature example, and only those');
  for (const f of files) {
    const r = validate(await readWorkflowFile(new URL(`../../${f}`, import.meta.url).pathname));
    assert.ok(r.ok, `${f}: ${JSON.stringify(!r.ok && r.error)}`);
  }
});
