/**
 * Why the PodSecurity probe asks the API server what it does, not what the namespace's label says:
 * a second kube-apiserver on the test control plane's etcd, with an AdmissionConfiguration that
 * (a) exempts a namespace, (b) exempts a user, (c) enforces restricted by default. The probe
 * (src/adapters/kube-pod-security.ts) on it: a namespace labelled restricted but exempt is not
 * enforced (the first API server, without the exemption, says enforced for the same namespace: a
 * label check would be fooled); the exempt user (were it the runner's identity) sees nothing
 * enforced; an unlabelled namespace under the restricted default is enforced.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { probePodSecurity, type PodSecurityVerdict } from '../../src/adapters/kube-pod-security.ts';
import { whenThisProcessEnds } from '../../src/adapters/exit-cleanup.ts';
import { freePort } from '../../src/dev/ports.ts';
import { requireTools, testCluster, type TestCluster } from '../support/cluster.ts';
import { waitFor } from '../support/wait.ts';

const ADMISSION = `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: restricted
      enforce-version: latest
    exemptions:
      usernames: [exempt-runner]
      runtimeClasses: []
      namespaces: [pss-exempt]
`;
const EXEMPT_TOKEN = 'exempt-runner-token-not-a-secret';
const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted' };

describe('PodSecurity exemptions and defaults in the API server admission configuration', () => {
  let env: TestCluster;
  let second: ChildProcess | undefined;
  let forget: (() => void) | undefined;
  let adminKc: KubeConfig;
  let exemptKc: KubeConfig;

  before(async () => {
    env = await testCluster();
    const etcd = env.cluster.pids.find((p) => p.name === 'etcd');
    const args = (await readFile(`/proc/${String(etcd?.pid)}/cmdline`, 'utf8')).split('\0');
    const client = args[args.indexOf('--listen-client-urls') + 1] ?? '';
    assert.match(client, /^http:\/\/127\.0\.0\.1:\d+$/);
    const pki = join(env.cluster.dir, 'pki');
    const dir = join(env.work, 'second-api-server');
    await mkdir(dir, { recursive: true });
    const admin = (await readFile(join(pki, 'tokens.csv'), 'utf8')).split(',')[0] ?? '';
    await writeFile(
      join(dir, 'tokens.csv'),
      `${admin},kubiya-admin,kubiya-admin,system:masters\n${EXEMPT_TOKEN},exempt-runner,exempt-runner,system:masters\n`,
      { mode: 0o600 },
    );
    await writeFile(join(dir, 'admission.yaml'), ADMISSION);
    const port = await freePort();
    second = spawn(
      requireTools()['kube-apiserver'],
      [
        ...['--etcd-servers', client, '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1'],
        ...['--secure-port', String(port), '--cert-dir', join(dir, 'pki')],
        ...['--token-auth-file', join(dir, 'tokens.csv'), '--authorization-mode', 'Node,RBAC'],
        ...['--service-account-issuer', 'https://kubernetes.default.svc.cluster.local'],
        ...[
          '--service-account-key-file',
          join(pki, 'sa.pub'),
          '--service-account-signing-key-file',
          join(pki, 'sa.key'),
        ],
        ...['--service-cluster-ip-range', '10.96.0.0/16', '--endpoint-reconciler-type', 'none'],
        ...['--enable-admission-plugins', 'NamespaceLifecycle,ServiceAccount,PodSecurity,LimitRanger,ResourceQuota'],
        ...['--admission-control-config-file', join(dir, 'admission.yaml'), '--v', '0'],
      ],
      { stdio: 'ignore' },
    );
    // Not left running when the test process ends without after() (a cancelled run).
    const child = second;
    forget = whenThisProcessEnds(() => child.kill('SIGKILL'));
    const kcFor = (token: string): KubeConfig => {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: `https://127.0.0.1:${String(port)}`, skipTLSVerify: true }],
        users: [{ name: 'u', token }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      return kc;
    };
    adminKc = kcFor(admin);
    exemptKc = kcFor(EXEMPT_TOKEN);
    const core = env.kc.makeApiClient(CoreV1Api);
    for (const [name, labels] of [
      ['pss-exempt', RESTRICTED],
      ['pss-default', {}],
      ['pss-labelled', RESTRICTED],
    ] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
      await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: 'kubiya-workflow' } } });
    }
    // The second API server answers, and its namespace informer has the three.
    await waitFor(
      'the second API server',
      async () => (await adminKc.makeApiClient(CoreV1Api).readNamespace({ name: 'pss-labelled' })).metadata?.name,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  });
  after(async () => {
    forget?.();
    second?.kill('SIGTERM');
    await sleep(500);
    await env?.close();
  });

  const probe = (kc: KubeConfig, namespace: string): Promise<PodSecurityVerdict> =>
    probePodSecurity(kc, { namespace, runner: 'pss', serviceAccount: 'kubiya-workflow' });

  test('an exempt namespace labelled restricted: not enforced there; enforced on the API server without the exemption', async () => {
    assert.equal((await probe(adminKc, 'pss-exempt')).kind, 'not-enforced');
    assert.equal((await probe(env.kc, 'pss-exempt')).kind, 'enforced');
  });

  test('an exempt user: nothing enforced for it, even in a namespace labelled restricted (the probe runs as the runner)', async () => {
    assert.equal((await probe(exemptKc, 'pss-labelled')).kind, 'not-enforced');
    assert.equal((await probe(exemptKc, 'pss-default')).kind, 'not-enforced');
    assert.deepEqual(await probe(adminKc, 'pss-labelled'), { kind: 'enforced', level: 'restricted:latest' });
  });

  test('an unlabelled namespace under a restricted default: enforced (by other means than the label)', async () => {
    assert.deepEqual(await probe(adminKc, 'pss-default'), { kind: 'enforced', level: 'restricted:latest' });
    assert.equal((await probe(env.kc, 'pss-default')).kind, 'not-enforced');
  });
});
