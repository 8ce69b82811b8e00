/**
 * The PodSecurity check on the real API server (the local control plane: kube-apiserver with the
 * PodSecurity plugin, no exemptions): the probe (src/adapters/kube-pod-security.ts) against
 * namespaces labelled restricted (latest and a pinned version), baseline, privileged, audit/warn
 * only, and none — nothing is ever stored; then `serve` as a real process whose workflows
 * namespace loses its enforce label at run time and gets it back: /ready fails with
 * POD_SECURITY_NOT_ENFORCED, a run submitted meanwhile waits with no pod, one audit record for the
 * change (not one per probe), and once the label is back the runner is ready and the run finishes.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, NetworkingV1Api } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { probePodSecurity, type PodSecurityVerdict } from '../../src/adapters/kube-pod-security.ts';
import { defaultDenyEgress, RESTRICTED_LABELS } from '../../src/dev/bootstrap.ts';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { startServe } from '../support/serve-process.ts';
import { waitFor } from '../support/wait.ts';

const ISSUER = 'https://control-plane.test';
const ENFORCE = 'pod-security.kubernetes.io/enforce';

const NAMESPACES: readonly (readonly [string, Record<string, string>, PodSecurityVerdict['kind'], string?])[] = [
  ['pss-restricted', { [ENFORCE]: 'restricted' }, 'enforced', 'restricted:latest'],
  [
    'pss-restricted-pinned',
    { [ENFORCE]: 'restricted', [`${ENFORCE}-version`]: 'v1.25' },
    'enforced',
    'restricted:v1.25',
  ],
  // Red team 12, finding 1: restricted pinned before v1.25 lacks seccomp (v1.19), drop ALL (v1.22),
  // non-root uid (v1.23): the real API server refuses the probe at restricted:v1.22, and that is not enforcement.
  ['pss-restricted-pinned-old', { [ENFORCE]: 'restricted', [`${ENFORCE}-version`]: 'v1.22' }, 'not-enforced'],
  ['pss-baseline', { [ENFORCE]: 'baseline' }, 'not-enforced'],
  ['pss-privileged', { [ENFORCE]: 'privileged' }, 'not-enforced'],
  ['pss-unlabelled', {}, 'not-enforced'],
  [
    'pss-audit-warn-only',
    { 'pod-security.kubernetes.io/audit': 'restricted', 'pod-security.kubernetes.io/warn': 'restricted' },
    'not-enforced',
  ],
];

describe('PodSecurity enforcement, checked on the real API server', () => {
  let env: TestCluster;
  let key: SigningKey;
  let core: CoreV1Api;

  before(async () => {
    env = await testCluster();
    core = env.kc.makeApiClient(CoreV1Api);
    key = await newSigningKey();
    await writeFile(join(env.work, 'jwks.json'), JSON.stringify(jwks([key])));
    for (const [name, labels] of NAMESPACES) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
      await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'kubiya-workflow' } } });
    }
  });
  after(async () => env?.close());

  for (const [namespace, labels, expected, level] of NAMESPACES) {
    test(`${namespace} (${JSON.stringify(labels)}): ${expected}${level === undefined ? '' : ` ${level}`}, nothing stored`, async () => {
      const verdict = await probePodSecurity(env.kc, { namespace, runner: 'pss', serviceAccount: 'kubiya-workflow' });
      assert.equal(verdict.kind, expected, JSON.stringify(verdict));
      if (verdict.kind === 'enforced') assert.equal(verdict.level, level);
      assert.equal((await core.listNamespacedPod({ namespace })).items.length, 0, 'a dry run stores nothing');
    });
  }

  test('the step pods service account missing: unknown (the ServiceAccount plugin refuses first), never enforced', async () => {
    const verdict = await probePodSecurity(env.kc, {
      namespace: 'pss-restricted',
      runner: 'pss',
      serviceAccount: 'missing',
    });
    assert.equal(verdict.kind, 'unknown', JSON.stringify(verdict));
  });

  test('the namespace missing: unknown', async () => {
    const verdict = await probePodSecurity(env.kc, {
      namespace: 'pss-none',
      runner: 'pss',
      serviceAccount: 'kubiya-workflow',
    });
    assert.equal(verdict.kind, 'unknown', JSON.stringify(verdict));
  });

  test('serve: the enforce label removed at run time fails /ready and holds step pods (one audit record); put back, the run finishes', async () => {
    const namespace = 'pss-serve';
    await core.createNamespace({ body: { metadata: { name: namespace, labels: { ...RESTRICTED_LABELS } } } });
    await core.createNamespacedServiceAccount({
      namespace,
      body: { metadata: { name: 'kubiya-workflow' }, automountServiceAccountToken: false },
    });
    await env.kc
      .makeApiClient(NetworkingV1Api)
      .createNamespacedNetworkPolicy({ namespace, body: defaultDenyEgress(namespace) });
    const name = 'pss-runner';
    const auditDir = join(env.work, `audit-${name}`);
    const serve = await startServe(
      {
        runner: {
          name,
          workflow: { namespace },
          security: { podSecurityCheck: { interval: '5s' } },
        },
        controlPlane: { issuer: ISSUER, jwksFile: join(env.work, 'jwks.json') },
        policy: { bundle: env.bundle },
        audit: { dir: auditDir },
        server: { host: '127.0.0.1', port: 0 },
        kubernetes: { kubeconfig: env.cluster.kubeconfig, namespace: env.cluster.runnerNamespace, leaseDuration: '6s' },
      },
      env.work,
    );
    type Ready = { checks: Record<string, { ok: boolean; detail?: string }> };
    const ready = async (): Promise<{ status: number; body: Ready }> => {
      const r = await fetch(`${serve.base}/ready`);
      return { status: r.status, body: (await r.json()) as Ready };
    };
    const label = (value: string | null) =>
      core.patchNamespace({
        name: namespace,
        body: [
          value === null
            ? { op: 'remove', path: '/metadata/labels/pod-security.kubernetes.io~1enforce' }
            : { op: 'add', path: '/metadata/labels/pod-security.kubernetes.io~1enforce', value },
        ],
      });
    const gateRecords = async () =>
      (await readAuditLog(auditDir)).filter((r) => r.stage === 'create' && r.workflow === undefined);
    try {
      await waitFor('ready', async () => (await ready()).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
      assert.deepEqual((await ready()).body.checks.podSecurity, { ok: true, detail: 'restricted:latest' });

      await label(null);
      await waitFor('not ready', async () => (await ready()).status === 503, { timeoutMs: 30_000, intervalMs: 200 });
      const check = (await ready()).body.checks.podSecurity;
      assert.equal(check?.ok, false);
      assert.match(check?.detail ?? '', /^POD_SECURITY_NOT_ENFORCED: /);
      assert.ok(
        serve.lines.some((l) => l.code === 'POD_SECURITY_NOT_ENFORCED' && l.level === 'error'),
        'an error log line with the code',
      );

      const token = await signAssignment(key, {
        issuer: ISSUER,
        audience: name,
        workflow: {
          id: 'pss-wf',
          name: 'p',
          runId: 'pss-1',
          steps: [
            {
              name: 'work',
              image: 'python:3.11',
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
            },
          ],
        },
      });
      const sent = await fetch(`${serve.base}/v1/assignments`, {
        method: 'POST',
        headers: { 'content-type': 'application/jwt' },
        body: token,
      });
      assert.equal(sent.status, 202, await sent.text());
      // Several probes (every 5 s while not enforced) and reconcile passes (every 5 s) go by.
      await sleep(11_000);
      assert.equal(
        (await core.listNamespacedPod({ namespace, labelSelector: `kubiya.ai/runner=${name}` })).items.length,
        0,
        'no step pod while the namespace does not enforce restricted',
      );
      const held = await gateRecords();
      assert.deepEqual(
        held.map((r) => [r.outcome, r.code]),
        [['error', 'POD_SECURITY_NOT_ENFORCED']],
        'one audit record for the change, not one per probe',
      );

      await label('restricted');
      await waitFor('ready again', async () => (await ready()).status === 200, { timeoutMs: 30_000, intervalMs: 200 });
      await waitFor(
        'the run finished',
        async () => (await readAuditLog(auditDir)).some((r) => r.workflow?.id === 'pss-wf' && r.stage === 'finish'),
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      const pods = await core.listNamespacedPod({ namespace, labelSelector: `kubiya.ai/runner=${name}` });
      assert.equal(pods.items.length, 1);
      const after = await gateRecords();
      assert.deepEqual(
        after.map((r) => [r.outcome, r.code]),
        [
          ['error', 'POD_SECURITY_NOT_ENFORCED'],
          ['allow', undefined],
        ],
      );
      serve.child.kill('SIGTERM');
      assert.equal(await serve.exited, 0, serve.stderr());
    } finally {
      serve.child.kill('SIGKILL');
    }
  });
});
