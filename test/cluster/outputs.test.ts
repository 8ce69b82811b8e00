/**
 * Outputs and conditions on the local control plane (real kube-apiserver with PodSecurity
 * restricted, kwok writing the step container's termination message): examples/features/outputs.yaml runs,
 * the build's pod gets the version in its arguments, the condition skips one step with its reason,
 * the WorkflowRun status keeps the public outputs (the CRD schema must not prune them), and a
 * secret output reaches the next step's env but never status nor the audit log.
 * Issue 19 §4, §6; docs/workflows.md.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { runAssignment } from '../../src/app/assignment.ts';
import { startRunner, type RunningRunner } from '../../src/app/runner.ts';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { readWorkflowFile } from '../../src/dev/workflow-file.ts';
import { LABELS, runName } from '../../src/pod/names.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { clusterRunnerConfig, testCluster, type TestCluster } from '../support/cluster.ts';

const ISSUER = 'https://control-plane.test';
const R = { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } };
const SECRET = 'Zq8-not-a-pattern-but-secret-77';

describe('outputs and conditions on kwok (real API server, PodSecurity restricted)', () => {
  let env: TestCluster;
  let key: SigningKey;
  let core: CoreV1Api;
  let r: RunningRunner | undefined;
  let jti = 0;

  before(async () => {
    env = await testCluster();
    key = await newSigningKey();
    core = env.kc.makeApiClient(CoreV1Api);
    r = await startRunner(await clusterRunnerConfig(env, { name: 'out-runner', issuer: ISSUER, keys: [key] }));
  });
  after(async () => {
    await r?.close();
    await env?.close();
  });

  const run = async (workflow: Record<string, unknown> & { id: string }) => {
    assert.ok(r !== undefined);
    const id = `out-${++jti}`;
    const report = await runAssignment(
      {
        body: await signAssignment(key, { issuer: ISSUER, audience: 'out-runner', workflow, jti: id }),
        contentType: 'application/jwt',
      },
      r.deps,
      r.reconciler,
      60_000,
    );
    const custom = env.kc.makeApiClient(CustomObjectsApi);
    const wr = (await custom.getNamespacedCustomObject({
      group: 'kubiya.ai',
      version: 'v1alpha1',
      namespace: env.cluster.workflowsNamespace,
      plural: 'workflowruns',
      name: runName(id),
    })) as { status: RunStatus };
    return { report, status: wr.status };
  };
  const podOf = async (runId: string, step: string) =>
    (
      await core.listNamespacedPod({
        namespace: env.cluster.workflowsNamespace,
        labelSelector: `${LABELS.run}=${runId},${LABELS.step}=${step}`,
      })
    ).items[0];

  test('examples/features/outputs.yaml: the version reaches the build’s arguments, the prerelease step is skipped with its reason', async () => {
    const workflow = await readWorkflowFile(join(REPO_ROOT, 'examples', 'features', 'outputs.yaml'));
    const { report, status } = await run(workflow);
    assert.equal(report.phase, 'Succeeded', JSON.stringify(status));
    const byName = new Map(status.steps.map((s) => [s.name, s]));
    assert.deepEqual(byName.get('version')?.outputs, { tag: '1.4.2', channel: 'release' });
    assert.deepEqual(
      [byName.get('publish')?.phase, byName.get('notify-prerelease')?.phase, byName.get('notify-prerelease')?.code],
      ['Succeeded', 'Skipped', 'STEP_CONDITION_FALSE'],
    );
    const runId = String(workflow['runId']);
    const build = await podOf(runId, 'build');
    assert.deepEqual(build?.spec?.containers.find((c) => c.name === 'step')?.args, ['--version=1.4.2']);
    assert.equal(await podOf(runId, 'notify-prerelease'), undefined, 'no pod for a skipped step');
  });

  test('a secret output reaches the next step’s env, never status nor the audit log', async () => {
    const { report, status } = await run({
      id: 'secret-out',
      name: 'secret-out',
      runId: 'secret-out-1',
      steps: [
        {
          name: 'mint',
          image: 'python:3.11-slim',
          resources: R,
          outputs: [{ name: 'ident', secret: true }, { name: 'kind' }],
          env: { KWOK_OUTPUTS: `ident=${SECRET}\nkind=short\n` },
        },
        {
          name: 'use',
          image: 'python:3.11-slim',
          resources: R,
          env: { USE_IDENT: '${steps.mint.outputs.ident}' },
          args: ['${steps.mint.outputs.kind}'],
        },
      ],
    });
    assert.equal(report.phase, 'Succeeded', JSON.stringify(status));
    assert.deepEqual(status.steps[0]?.outputs, { kind: 'short' });
    const use = await podOf('secret-out-1', 'use');
    const main = use?.spec?.containers.find((c) => c.name === 'step');
    assert.equal(main?.env?.find((e) => e.name === 'USE_IDENT')?.value, SECRET);
    assert.deepEqual(main?.args, ['short']);
    const records = await readAuditLog(join(env.work, 'audit-out-runner'));
    const mintEnd = records.find((x) => x.stage === 'finish' && x.step === 'mint');
    assert.deepEqual(mintEnd?.result, { outputs: { ident: '***', kind: 'short' } });
    // The producer's own env carries the secret only because kwok needs it as KWOK_OUTPUTS; env
    // values are masked whole, so it never reaches the log either way.
    assert.ok(!JSON.stringify(records).includes(SECRET), 'no secret in the audit log');
    assert.ok(!JSON.stringify(status).includes(SECRET), 'no secret in status');
  });
});
