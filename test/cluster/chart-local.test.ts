/**
 * The chart README's install on the local control plane, run as written (issue 17: "the chart
 * installs on our local control plane exactly as its README says"). The block between the markers
 * `<!-- local-install -->` in charts/kubiya-runner/README.md is executed by bash, with two edits
 * only, each asserted to apply: `dev cluster up` gets a temporary `--dir` (and KUBECONFIG follows
 * it) so a developer's own cluster is never touched, and `npm run tools` is left out (the tools are
 * built before any test runs). Then: the release's objects, the adopted namespace and CRD untouched,
 * the audit volumes bound to the documented storage class, a policy-settings-only upgrade that does
 * not roll the StatefulSet (and a configuration change that does), the checkpoint key kept across
 * upgrades, and the `helm test` script run against a real runner (kwok runs no container, so the
 * hook pod itself cannot).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  NetworkingV1Api,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { DEFAULT_DENY_EGRESS } from '../../src/dev/bootstrap.ts';
import type { ClusterState } from '../../src/dev/cluster.ts';
import { CHART } from '../../src/dev/manifest.ts';
import { jwks, newSigningKey } from '../../src/dev/sign.ts';
import { requireTools } from '../support/cluster.ts';
import { releaseArgs } from '../support/helm.ts';
import { startServe } from '../support/serve-process.ts';

const run = promisify(execFile);
const tools = requireTools();
const CLI = join(REPO_ROOT, 'bin', 'kubiya-runner.js');
const NS = 'kubiya';
const WF_NS = 'kubiya-workflows';
const RELEASE = 'kubiya-runner';
/** The chart as the README names it, from the checkout (helm runs in REPO_ROOT). */
const CHART_DIR = './charts/kubiya-runner';

/** The README's block, with the two edits of this file's comment (each must apply exactly once). */
async function readmeInstall(clusterDir: string): Promise<string> {
  const readme = await readFile(join(CHART, 'README.md'), 'utf8');
  const block = /<!-- local-install[^>]*-->\n```sh\n([\s\S]*?)```\n<!-- \/local-install -->/.exec(readme)?.[1];
  assert.ok(block !== undefined, 'the README has the local-install block');
  const edits: [RegExp, string][] = [
    [/^npm run tools\b.*\n/m, ''],
    [/^(npx kubiya-runner dev cluster up)(.*)$/m, `$1 --dir "${clusterDir}"$2`],
    [/"\$PWD\/\.kubiya\/cluster\/kubeconfig"/, `"${clusterDir}/kubeconfig"`],
  ];
  let script = block;
  for (const [pattern, replacement] of edits) {
    assert.match(script, pattern, `the README's block changed: ${String(pattern)} no longer applies`);
    script = script.replace(pattern, replacement);
  }
  return `set -euo pipefail\n${script}`;
}

describe("the chart README's install on `dev cluster up`'s control plane, as written", () => {
  let work = '';
  let clusterDir = '';
  let kc: KubeConfig;
  let core: CoreV1Api;
  const env = (): NodeJS.ProcessEnv => ({
    // The user's shell: the system PATH (no node_modules/.bin), a HOME of its own for Helm.
    PATH: process.env.PATH?.split(':')
      .filter((p) => !p.includes('node_modules'))
      .join(':'),
    HOME: join(work, 'home'),
    KUBECONFIG: join(clusterDir, 'kubeconfig'),
  });
  const helm = (...args: string[]) =>
    run(tools.helm, args, { env: env(), cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
  const upgrade = (...values: string[]) => helm(...releaseArgs('upgrade', RELEASE, CHART_DIR, NS, values));
  const until = async (what: string, probe: () => Promise<boolean>, ms = 60_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await probe().catch(() => false)) return;
      await sleep(250);
    }
    assert.fail(`timed out waiting for ${what}`);
  };
  const keyData = async () =>
    (await core.readNamespacedSecret({ name: `${RELEASE}-audit-signing-key`, namespace: NS })).data?.[
      'signing-key.pem'
    ];
  const revision = async () =>
    (await kc.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name: RELEASE, namespace: NS })).status
      ?.updateRevision;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kubiya-chart-local-'));
    clusterDir = join(work, 'cluster');
    await mkdir(join(work, 'home'), { recursive: true });
  });
  after(async () => {
    await run(process.execPath, [CLI, 'dev', 'cluster', 'down', '--dir', clusterDir]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  });

  test('the README block runs: every object accepted, the namespace and CRD adopted, audit volumes bound to kubiya-local', async () => {
    const { stdout, stderr } = await run('bash', ['-c', await readmeInstall(clusterDir)], {
      env: env(),
      cwd: REPO_ROOT,
      timeout: 180_000,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((e: { stdout: string; stderr: string }) =>
      assert.fail(`the README block failed:\n${e.stdout}\n${e.stderr}`),
    );
    assert.match(stdout, /STATUS: deployed/, stderr);
    // NOTES: checkpoints on, and how to get the public key.
    assert.match(stdout, /Signed checkpoints: ON, signing key in Secret kubiya-runner-audit-signing-key/);
    assert.match(stdout, /openssl pkey -pubout/);
    // How to verify: every replica's chain, once each, with the key, saved for the next time.
    assert.match(
      stdout,
      /kubiya-runner audit verify audit-0( audit-\d+)* --public-key audit-signing\.pub\.pem --output json > verified\.json/,
    );
    assert.doesNotMatch(stderr, /EBADENGINE/, 'npx is quiet (.npmrc)');

    kc = new KubeConfig();
    kc.loadFromFile(join(clusterDir, 'kubeconfig'));
    core = kc.makeApiClient(CoreV1Api);
    const state = JSON.parse(await readFile(join(clusterDir, 'state.json'), 'utf8')) as ClusterState;
    assert.equal(state.runnerNamespace, NS);
    // Adopted, not taken over: the namespace and the CRD stay the control plane's.
    const ns = await core.readNamespace({ name: WF_NS });
    assert.equal(ns.metadata?.labels?.['app.kubernetes.io/managed-by'], undefined);
    assert.equal(ns.metadata?.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
    // Both default denies are in force: the local control plane's and the chart's.
    const policies = await kc.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace: WF_NS });
    assert.deepEqual(
      policies.items.map((p) => p.metadata?.name).sort(),
      [DEFAULT_DENY_EGRESS, `${RELEASE}-default-deny-egress`].sort(),
    );
    await until('both audit volumes bound to kubiya-local', async () => {
      const pvcs = await core.listNamespacedPersistentVolumeClaim({
        namespace: NS,
        labelSelector: 'app=kubiya-runner',
      });
      return (
        pvcs.items.length === 2 &&
        pvcs.items.every((p) => p.status?.phase === 'Bound' && p.spec?.storageClassName === 'kubiya-local')
      );
    });
    await until('both runner pods scheduled on kwok nodes', async () => {
      const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: 'app=kubiya-runner' });
      return pods.items.length === 2 && pods.items.every((p) => (p.spec?.nodeName ?? '').startsWith('kwok-node-'));
    });
  });

  test('a policy-settings-only upgrade does not roll the pods; a configuration change does; the checkpoint key stays', async () => {
    const key = await keyData();
    assert.ok(key !== undefined && key.length > 0);
    const before = await revision();
    await upgrade('policy.settings.images.requireDigest=true');
    const data = await core.readNamespacedConfigMap({ name: `${RELEASE}-policy-data`, namespace: NS });
    assert.match(data.data?.['data.json'] ?? '', /"requireDigest":true/, 'the new settings are in the ConfigMap');
    await sleep(2000);
    assert.equal(await revision(), before, 'the StatefulSet kept its revision: no pod restarts');
    assert.equal(await keyData(), key);
    await upgrade('logLevel=debug');
    await until('a new StatefulSet revision', async () => (await revision()) !== before);
    assert.equal(await keyData(), key, 'the same checkpoint key after every upgrade');
  });

  test('the helm test script against a real runner: /ready, then a dry-run assignment refused at verify', async () => {
    const bundle = (await buildBundle(tools.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'))).file;
    const trusted = await newSigningKey();
    await writeFile(join(work, 'jwks.json'), JSON.stringify(jwks([trusted])));
    const issuer = 'https://control-plane.test';
    const name = 'helm-test-runner';
    const serve = await startServe(
      {
        runner: { name, workflow: { namespace: WF_NS } },
        controlPlane: { issuer, jwksFile: join(work, 'jwks.json') },
        policy: { bundle },
        audit: { dir: join(work, 'audit') },
        server: { host: '127.0.0.1', port: 0 },
        kubernetes: { kubeconfig: join(clusterDir, 'kubeconfig'), namespace: NS },
      },
      work,
    );
    const script = join(CHART, 'files', 'helm-test.mjs');
    const hook = (url: string) =>
      run(process.execPath, [script], {
        env: { RUNNER_URL: url, RUNNER_NAME: name, ISSUER: issuer },
        timeout: 30_000,
      }).then(
        (r) => ({ code: 0, out: r.stdout + r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
      );
    try {
      await until('ready', async () => (await fetch(`${serve.base}/ready`)).status === 200);
      const passed = await hook(serve.base);
      assert.equal(passed.code, 0, passed.out);
      assert.match(passed.out, /401 VERIFY_KEY_NOT_FOUND\): PASS/);
      // Nothing was claimed; the refusal is one audit record at verify.
      const runs = (await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
        group: 'kubiya.ai',
        version: 'v1alpha1',
        namespace: WF_NS,
        plural: 'workflowruns',
      })) as { items: unknown[] };
      assert.equal(runs.items.length, 0);
      const records = await readAuditLog(join(work, 'audit'));
      assert.deepEqual(
        records.filter((r) => r.stage !== 'receive').map((r) => [r.stage, r.outcome, r.code]),
        [['verify', 'deny', 'VERIFY_KEY_NOT_FOUND']],
      );
    } finally {
      serve.child.kill('SIGTERM');
      await serve.exited;
    }
    // The check can fail: with no runner behind the URL it exits 1 and says why.
    const failed = await hook(serve.base);
    assert.equal(failed.code, 1);
    assert.match(failed.out, /helm test: FAIL GET .*\/ready/);
  });

  test('helm uninstall keeps the audit volumes and the checkpoint key; the adopted namespace and CRD are untouched', async () => {
    await helm('uninstall', RELEASE, '--namespace', NS, '--wait', '--timeout', '60s');
    const pvcs = await core.listNamespacedPersistentVolumeClaim({ namespace: NS, labelSelector: 'app=kubiya-runner' });
    assert.deepEqual(pvcs.items.map((p) => p.metadata?.name).sort(), [`audit-${RELEASE}-0`, `audit-${RELEASE}-1`]);
    assert.ok((await keyData()) !== undefined, 'the checkpoint key is kept');
    await core.readNamespace({ name: WF_NS });
    await kc.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: WF_NS,
      plural: 'workflowruns',
    });
  });

  test('namespace.create=false refuses an existing namespace that does not enforce restricted, naming the fix', async () => {
    await core.createNamespace({ body: { metadata: { name: 'unrestricted-wf' } } });
    const r = await helm(
      ...releaseArgs('install', 'second', CHART_DIR, NS, [
        'namespace.create=false',
        'crds.install=false',
        'runner.token=t',
        'runner.workflow.namespace=unrestricted-wf',
      ]),
    ).then(
      () => ({ stderr: '' }),
      (e: { stderr: string }) => e,
    );
    assert.match(
      r.stderr,
      /namespace unrestricted-wf must be labelled pod-security\.kubernetes\.io\/enforce=restricted \(kubectl label namespace unrestricted-wf/,
    );
    const roles = await kc.makeApiClient(RbacAuthorizationV1Api).listNamespacedRole({ namespace: 'unrestricted-wf' });
    assert.equal(roles.items.length, 0, 'nothing was installed');
  });
});
