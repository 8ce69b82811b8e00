/**
 * Red team 8, finding 2 on a real kubelet (docs/reviews/2026-11-30-red-team-8.md; the unit twin is
 * test/unit/red-team-8-output-expansion.test.ts). An output value holding `$(NAME)` is substituted
 * into a later step's args before the policy decides, and the kubelet then expands it from that
 * step's environment: the process gets the Secret behind NAME, the policy and the audit log saw
 * `$(NAME)`. Fixed: the runner doubles every `$` of a substituted value (src/run/outputs.ts).
 *
 * One run: `title` writes `text=fix $(GH_TOKEN) typo` and `plain=1.4.2`; `consume` has GH_TOKEN from
 * a Secret and prints its args. Control: the plain value arrives as written (passes today).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { readAuditLog } from '../../src/adapters/audit-file.ts';
import { STEP_IMAGE } from '../../src/dev/node/catalogue.ts';
import type { StepEvent } from '../../src/dev/control-plane.ts';
import { realNodeCluster, realNodeSkip, type RealNodeEnv } from '../support/real-node.ts';
import { startRealRunner, stepLog, type RealRunner } from '../support/real-runner.ts';

const skip = realNodeSkip();
const RUNNER = 'rt8-runner';
const RESOURCES = { requests: { cpu: '50m', memory: '32Mi' }, limits: { cpu: '500m', memory: '64Mi' } };
const SECRET = 'rt8-secret-value-99';

describe('red team 8 finding 2 on a real kubelet: $(VAR) in an output value', { skip }, () => {
  let rn: RealNodeEnv;
  let runner: RealRunner;
  let events: StepEvent[] = [];
  before(async () => {
    rn = await realNodeCluster();
    await rn.env.kc.makeApiClient(CoreV1Api).createNamespacedSecret({
      namespace: rn.env.cluster.workflowsNamespace,
      body: { metadata: { name: 'postgres-credentials' }, stringData: { password: SECRET } },
    });
    runner = await startRealRunner(rn.env, { name: RUNNER, readOnlyRootFilesystem: true });
    events = await runner.run(
      {
        id: 'rt8-expansion',
        steps: [
          {
            name: 'title',
            image: STEP_IMAGE,
            // The untrusted text, written as read (single quotes: the shell leaves it alone).
            command: ['sh', '-c', `printf '%s\\n' 'text=fix $(GH_TOKEN) typo' 'plain=1.4.2' >> "$KUBIYA_OUTPUTS"`],
            resources: RESOURCES,
            outputs: [{ name: 'text' }, { name: 'plain' }],
          },
          {
            name: 'consume',
            image: STEP_IMAGE,
            command: ['sh', '-c', 'echo "got=$1 plain=$2"', 'consume'],
            args: ['title=${steps.title.outputs.text}', '${steps.title.outputs.plain}'],
            env: { GH_TOKEN: { secretRef: { secret: 'postgres-credentials', key: 'password' } } },
            resources: RESOURCES,
          },
        ],
      },
      2,
    );
  });
  after(async () => {
    await runner?.close();
    const left = await rn?.close();
    assert.deepEqual(left ?? [], [], 'down restored the host');
  });

  test('control: both steps succeed, the plain value arrives as written, the policy saw the substituted args', async () => {
    const ends = events.filter((e) => e.step !== undefined && (e.phase === 'Succeeded' || e.phase === 'Failed'));
    assert.deepEqual(
      ends.map((e) => `${e.step ?? ''}:${e.phase}`),
      ['title:Succeeded', 'consume:Succeeded'],
    );
    assert.match(stepLog(events, 'consume'), / plain=1\.4\.2$/m);
    const evaluated = (await readAuditLog(join(rn.env.work, `audit-${RUNNER}`))).find(
      (r) => r.stage === 'evaluate' && r.step === 'consume',
    );
    const input = evaluated?.input as { step?: { args?: string[] } } | undefined;
    // The policy's view is the process's (src/evaluate/kubelet-view.ts): the value as written, while
    // the pod spec holds it with each `$` doubled, the kubelet's escape (docs/workflows.md, Outputs).
    assert.deepEqual(input?.step?.args, ['title=fix $(GH_TOKEN) typo', '1.4.2']);
  });

  test('the process gets the value the policy decided on, not the Secret', () => {
    const log = stepLog(events, 'consume');
    assert.ok(!log.includes(SECRET), `the consuming step printed the Secret: ${log}`);
    assert.match(log, /^got=title=fix \$\(GH_TOKEN\) typo plain=1\.4\.2$/m);
  });
});
