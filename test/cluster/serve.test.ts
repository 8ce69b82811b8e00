import assert from 'node:assert/strict';
import { cp, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir } from '../../src/adapters/audit-files.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { LOCAL_STORAGE_CLASS } from '../../src/dev/bootstrap.ts';
import { KWOK_STEP_LOG } from '../../src/dev/kwok-config.ts';
import { startControlPlane } from '../../src/dev/control-plane.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { jwks, newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { testCluster, type TestCluster } from '../support/cluster.ts';
import { startServe } from '../support/serve-process.ts';
import { waitFor } from '../support/wait.ts';

const ISSUER = 'https://control-plane.test';

describe('serve as a real process against the local control plane', () => {
  let env: TestCluster;
  let key: SigningKey;
  const config = (name: string, extra: Record<string, unknown> = {}) => ({
    runner: { name, workflow: { namespace: env.cluster.workflowsNamespace, maxConcurrent: 100 } },
    controlPlane: { issuer: ISSUER, jwksFile: join(env.work, 'jwks.json') },
    policy: { bundle: env.bundle },
    audit: { dir: join(env.work, `audit-${name}`) },
    server: { host: '127.0.0.1', port: 0, shutdownGrace: '20s' },
    kubernetes: { kubeconfig: env.cluster.kubeconfig, namespace: env.cluster.runnerNamespace, leaseDuration: '6s' },
    ...extra,
  });

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    await writeFile(join(env.work, 'jwks.json'), JSON.stringify(jwks([key])));
  });
  after(async () => env?.close());

  const readyStatus = async (base: string) => (await fetch(`${base}/ready`)).status;

  test('/ready flips to 503 when the API server goes away and back to 200 when it returns; the Lease is taken and handed over', async () => {
    const serve = await startServe(config('ready-runner'), env.work);
    try {
      await waitFor('ready', async () => (await readyStatus(serve.base)) === 200, {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      const leases = env.kc.makeApiClient(CoordinationV1Api);
      const lease = await leases.readNamespacedLease({
        name: 'kubiya-runner-ready-runner',
        namespace: env.cluster.runnerNamespace,
      });
      assert.ok((lease.spec?.holderIdentity ?? '').length > 0, 'this replica holds the Lease');
      const apiserver = env.cluster.pids.find((p) => p.name === 'kube-apiserver')!.pid;
      process.kill(apiserver, 'SIGSTOP');
      try {
        await waitFor('not ready', async () => (await readyStatus(serve.base)) === 503, {
          timeoutMs: 20_000,
          intervalMs: 200,
        });
        const body = (await (await fetch(`${serve.base}/ready`)).json()) as {
          code: string;
          checks: { apiServer: { ok: boolean } };
        };
        assert.equal(body.code, 'NOT_READY');
        assert.equal(body.checks.apiServer.ok, false);
        assert.equal((await fetch(`${serve.base}/healthz`)).status, 200, 'still alive');
      } finally {
        process.kill(apiserver, 'SIGCONT');
      }
      await waitFor('ready again', async () => (await readyStatus(serve.base)) === 200, {
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      serve.child.kill('SIGTERM');
      assert.equal(await serve.exited, 0);
      const released = await leases.readNamespacedLease({
        name: 'kubiya-runner-ready-runner',
        namespace: env.cluster.runnerNamespace,
      });
      assert.equal(released.spec?.holderIdentity ?? '', '', 'the Lease is handed over on shutdown');
    } finally {
      serve.child.kill('SIGKILL');
    }
  });

  test('hot reload in a running runner: a new bundle is picked up without a restart, a corrupt one is refused', async () => {
    const live = join(env.work, 'live-bundle.tar.gz');
    await cp(env.bundle, live);
    const serve = await startServe({ ...config('reload-runner'), policy: { bundle: live } }, env.work);
    const revisionOf = async (): Promise<string | undefined> => {
      const text = await (await fetch(`${serve.base}/metrics`)).text();
      return /kubiya_policy_bundle_info\{revision="([^"]+)"/.exec(text)?.[1];
    };
    try {
      await waitFor('ready', async () => (await readyStatus(serve.base)) === 200, {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      const first = await revisionOf();
      await cp(join(REPO_ROOT, 'policies'), join(env.work, 'candidate'), { recursive: true });
      await writeFile(
        join(env.work, 'candidate', 'data.json'),
        (await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')).replace(
          '"registry.k8s.io"',
          '"registry.k8s.io", "gcr.io"',
        ),
      );
      const { file, revision } = await buildBundle(
        join(REPO_ROOT, '.tools', 'bin', 'opa'),
        join(env.work, 'candidate'),
        join(env.work, 'candidate.tar.gz'),
      );
      assert.notEqual(revision, first);
      await cp(file, `${live}.new`);
      await rename(`${live}.new`, live);
      await waitFor('the new revision', async () => (await revisionOf()) === revision, {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      await writeFile(`${live}.new`, 'corrupt');
      await rename(`${live}.new`, live);
      await waitFor(
        'a refusal',
        async () =>
          /kubiya_policy_reload_failures_total\{[^}]*\} 1/.test(await (await fetch(`${serve.base}/metrics`)).text()),
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      assert.equal(await revisionOf(), revision, 'the last good bundle stays');
      assert.equal(await readyStatus(serve.base), 200);
      assert.ok(
        serve.lines.some((l) => l.code === 'POLICY_RELOAD_REJECTED'),
        'a log line names the refusal',
      );
    } finally {
      serve.child.kill('SIGKILL');
    }
  });

  test('two replicas given the same assignment at once: exactly one accepts it, the other answers 409 ASSIGNMENT_REPLAYED', async () => {
    const a = await startServe(config('pair-runner'), env.work, { HOSTNAME: 'pair-a' });
    const b = await startServe({ ...config('pair-runner'), audit: { dir: join(env.work, 'audit-pair-b') } }, env.work, {
      HOSTNAME: 'pair-b',
    });
    try {
      await waitFor(
        'both ready',
        async () => (await readyStatus(a.base)) === 200 && (await readyStatus(b.base)) === 200,
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      const token = await signAssignment(key, {
        issuer: ISSUER,
        audience: 'pair-runner',
        workflow: {
          id: 'pair',
          name: 'p',
          runId: 'r',
          steps: [
            {
              name: 's',
              image: 'python:3.11',
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
            },
          ],
        },
      });
      const post = (base: string) =>
        fetch(`${base}/v1/assignments`, {
          method: 'POST',
          headers: { 'content-type': 'application/jwt' },
          body: token,
        }).then(async (r) => ({ status: r.status, code: ((await r.json()) as { code?: string }).code }));
      const answers = await Promise.all([post(a.base), post(b.base)]);
      assert.deepEqual(answers.map((x) => x.status).sort(), [202, 409], JSON.stringify(answers));
      assert.equal(answers.find((x) => x.status === 409)?.code, 'ASSIGNMENT_REPLAYED');
      const core = env.kc.makeApiClient(CoreV1Api);
      await waitFor(
        'the one pod',
        async () =>
          (
            await core.listNamespacedPod({
              namespace: env.cluster.workflowsNamespace,
              labelSelector: 'kubiya.ai/workflow=pair',
            })
          ).items.length === 1,
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      await sleep(500);
      assert.equal(
        (
          await core.listNamespacedPod({
            namespace: env.cluster.workflowsNamespace,
            labelSelector: 'kubiya.ai/workflow=pair',
          })
        ).items.length,
        1,
      );
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
    }
  });

  test("pulling from the reference control plane: every seed example runs to Succeeded pods, the seed's :latest form is denied, and every step event reaches it", async () => {
    const cp = await startControlPlane({ token: 'cp-token' });
    const base = config('cp-runner') as { runner: Record<string, unknown> };
    const serve = await startServe(
      {
        ...base,
        runner: { ...base.runner, storage: { storageClass: LOCAL_STORAGE_CLASS } },
        controlPlane: { url: cp.url, issuer: cp.issuer, jwksUrl: `${cp.url}/.well-known/jwks.json` },
      },
      env.work,
      { RUNNER_TOKEN: 'cp-token' },
    );
    try {
      const files = (await readdir(join(REPO_ROOT, 'examples'))).filter((f) => f.endsWith('.yaml'));
      assert.equal(files.length, 7); // the seed's examples (issue 19's are in examples/features, with their own cluster tests)
      for (const f of [...files, 'denied/trivy-latest.yaml'])
        await cp.assign('cp-runner', await readWorkflowFile(join(REPO_ROOT, 'examples', f)));
      const succeededSteps = 8; // analyze, build, security-scan, deploy, database-migration, process, shared-data x2
      await waitFor(
        'events',
        () =>
          Promise.resolve(
            cp.events.filter((e) => e.phase === 'Succeeded').length === succeededSteps &&
              cp.events.some((e) => e.phase === 'Denied'),
          ),
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      assert.ok(cp.registered.has('cp-runner'));
      const phases = (wf: string) =>
        cp.events.filter((e) => e.workflow === wf && e.phase !== 'Log').map((e) => e.phase);
      for (const wf of ['analyze', 'build', 'deploy', 'database-migration', 'process']) {
        assert.deepEqual(phases(wf), ['Accepted', 'Running', 'Succeeded'], wf);
      }
      assert.deepEqual(phases('shared-data'), ['Accepted', 'Running', 'Succeeded', 'Running', 'Succeeded']);
      // Each finished step's log (served by the API server's pods/log, from kwok) reached the control plane.
      await waitFor(
        'log events',
        () => Promise.resolve(cp.events.filter((e) => e.phase === 'Log').length >= succeededSteps),
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      const logs = cp.events.filter((e) => e.phase === 'Log');
      assert.ok(
        logs.every((e) => e.log?.includes(KWOK_STEP_LOG) === true && e.chunk === 0),
        JSON.stringify(logs[0]),
      );
      assert.deepEqual(new Set(logs.map((e) => `${e.workflow}/${e.step ?? ''}`)).size, succeededSteps);
      // The pinned example and the seed's :latest form share the workflow id "security-scan".
      assert.deepEqual(
        cp.events
          .filter((e) => e.workflow === 'security-scan' && e.phase !== 'Log')
          .map((e) => [e.phase, e.code])
          .sort(),
        [
          ['Accepted', undefined],
          ['Accepted', undefined],
          ['Denied', 'POLICY_DENIED'],
          ['Running', undefined],
          ['Succeeded', undefined],
        ],
      );
      const core = env.kc.makeApiClient(CoreV1Api);
      const pods = await core.listNamespacedPod({
        namespace: env.cluster.workflowsNamespace,
        labelSelector: 'kubiya.ai/runner=cp-runner',
      });
      assert.equal(pods.items.length, succeededSteps);
      assert.ok(pods.items.every((p) => p.status?.phase === 'Succeeded'));
    } finally {
      serve.child.kill('SIGKILL');
      await cp.close();
    }
  });

  test('SIGTERM during a burst: every accepted assignment is kept, later ones are refused; the restarted runner runs every kept one to the end; the chain verifies', async () => {
    const name = 'burst-runner';
    const serve = await startServe(config(name), env.work);
    let again: Awaited<ReturnType<typeof startServe>> | undefined;
    const core = env.kc.makeApiClient(CoreV1Api);
    try {
      await waitFor('ready', async () => (await readyStatus(serve.base)) === 200, {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      const tokens = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          signAssignment(key, {
            issuer: ISSUER,
            audience: name,
            workflow: {
              id: `burst-${i}`,
              name: 'b',
              runId: `r${i}`,
              steps: [
                {
                  name: 'work',
                  image: 'python:3.11',
                  env: { KWOK_RUN_DURATION: '2s' },
                  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
                },
              ],
            },
          }),
        ),
      );
      type Answer = { status: number; body: { code?: string; workflow?: string } };
      const send = (t: string): Promise<Answer> =>
        fetch(`${serve.base}/v1/assignments`, {
          method: 'POST',
          headers: { 'content-type': 'application/jwt' },
          body: t,
        }).then(
          async (r): Promise<Answer> => ({ status: r.status, body: (await r.json()) as Answer['body'] }),
          (): Answer => ({ status: 0, body: {} }),
        );
      const first = await Promise.all(tokens.slice(0, 15).map(send));
      serve.child.kill('SIGTERM');
      await sleep(100);
      const second = await Promise.all(tokens.slice(15).map(send));
      const exit = await serve.exited;
      assert.equal(exit, 0, `serve exit code; stderr: ${serve.stderr()}`);

      const accepted = [...first, ...second].filter((r) => r.status === 202).map((r) => r.body.workflow as string);
      assert.ok(
        first.every((r) => r.status === 202),
        'everything sent before SIGTERM was accepted',
      );
      assert.ok(
        second.every((r) => r.status === 0 || (r.status === 503 && r.body.code === 'SHUTTING_DOWN')),
        JSON.stringify(second.map((r) => r.status)),
      );

      // Accepted means durable (a WorkflowRun): the next runner takes every one of them to its end.
      again = await startServe(config(name), env.work);
      await waitFor(
        'every accepted run finished',
        async () => {
          const records = await readAuditLog(join(env.work, `audit-${name}`));
          return accepted.every((wf) => records.some((r) => r.workflow?.id === wf && r.stage === 'finish'));
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      again.child.kill('SIGTERM');
      assert.equal(await again.exited, 0);
      const records = await readAuditLog(join(env.work, `audit-${name}`));
      assert.equal(
        (await checkAuditDir(join(env.work, `audit-${name}`), undefined)).ok,
        true,
        'the audit chain verifies',
      );
      for (const wf of accepted) {
        const finish = records.find((r) => r.workflow?.id === wf && r.stage === 'finish');
        assert.equal(finish?.outcome, 'success', `${wf} finished and was audited`);
      }
      const pods = await core.listNamespacedPod({
        namespace: env.cluster.workflowsNamespace,
        labelSelector: `kubiya.ai/runner=${name}`,
      });
      assert.equal(pods.items.length, accepted.length, 'one pod per accepted assignment, none for refused ones');
      assert.ok(pods.items.every((p) => p.status?.phase === 'Succeeded'));
    } finally {
      serve.child.kill('SIGKILL');
      again?.child.kill('SIGKILL');
    }
  });
});
