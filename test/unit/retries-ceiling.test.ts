/**
 * The ceiling of retries that no policy can lift (issue 19 §5; docs/workflows.md, Retries).
 *
 * The class: a policy whose RETRIES_OVER_CAP is `warn` (or `audit`) lets a step run with more
 * retries than its cap. What still bounds it is the workflow schema, checked before any policy:
 * `retries.limit` is 0…10, so a step has at most 11 attempts (11 pods), each waiting at most an
 * hour. Variants: the largest limit the schema takes, run to its end under a policy that only
 * warns; one more, refused at validation whatever the policy says.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { admit } from '../../src/admission/admit.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import type { PipelineDeps } from '../../src/pipeline/deps.ts';
import { ATTEMPT_ANNOTATION } from '../../src/pod/names.ts';
import { reconcileRun } from '../../src/reconcile/reconcile.ts';
import { MAX_BACKOFF_SECONDS } from '../../src/run/retry.ts';
import type { RunStatus } from '../../src/run/status.ts';
import { testPipelineConfig } from '../support/config.ts';
import {
  Clock,
  engineReturning,
  MemoryAudit,
  MemoryRuns,
  MemoryTrustedKeys,
  memoryCluster,
} from '../support/memory.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();

/** The policy of a security team that rolled the cap out as `warn`: every attempt allowed, with the violation. */
const warnOverCap = () => [
  {
    result: {
      allow: true,
      violations: [
        { code: 'RETRIES_OVER_CAP', message: 'over the cap of 3', path: 'attempt', policy: 'retries', action: 'warn' },
      ],
    },
  },
];

function setup() {
  const clock = new Clock(NOW);
  let n = 0;
  const cluster = memoryCluster();
  const runs = new MemoryRuns(clock.now);
  const deps = {
    config: testPipelineConfig(),
    keys,
    policy: () => engineReturning(warnOverCap),
    audit: new MemoryAudit(),
    ...cluster,
    runs,
    trust: new MemoryTrustedKeys(),
    now: clock.now,
    newId: () => `id-${++n}`,
  } satisfies PipelineDeps;
  cluster.pods.outcomeFor = () => ({ phase: 'Failed', exitCode: 1, reason: 'Error' });
  return { clock, deps, pods: cluster.pods, runs };
}

async function assign(deps: PipelineDeps, limit: number, jti: string) {
  const steps = [{ name: 'flaky', image: 'python:3.11', retries: { limit, backoff: '1s' } }];
  const body = await signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: workflow(steps),
    now: NOW,
    jti,
  });
  return admit({ body, contentType: 'application/jwt' }, deps);
}

describe('retries: the schema bound is the ceiling, whatever the policy', () => {
  test('RETRIES_OVER_CAP as warn: a step with the largest limit (10) runs 11 attempts, never a 12th', async () => {
    const { clock, deps, pods, runs } = setup();
    const admitted = await assign(deps, 10, 'ceiling-10');
    assert.ok(admitted.ok, JSON.stringify(admitted));
    let status: RunStatus | undefined;
    for (let i = 0; i < 80 && status?.phase !== 'Failed'; i++) {
      const obj = runs.get(admitted.value.name);
      assert.ok(obj !== undefined);
      await reconcileRun(obj, deps, () => true);
      await new Promise((r) => setImmediate(r));
      status = runs.get(admitted.value.name)?.status;
      clock.advance(MAX_BACKOFF_SECONDS);
    }
    const attempts = pods.created.map((p: V1Pod) => Number(p.metadata?.annotations?.[ATTEMPT_ANNOTATION] ?? '1'));
    assert.equal(status?.phase, 'Failed');
    assert.deepEqual(attempts, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.equal(status?.steps[0]?.attempts?.length, 10, 'ten ended attempts kept, the eleventh is the end');
  });

  test('a limit of 11 is refused at validation (VALIDATE_SCHEMA), before any policy: no pod', async () => {
    const { deps, pods } = setup();
    const admitted = await assign(deps, 11, 'ceiling-11');
    assert.equal(admitted.ok ? 'admitted' : admitted.error.code, 'VALIDATE_SCHEMA');
    assert.equal(pods.created.length, 0);
  });
});
