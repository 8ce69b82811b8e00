import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { signAssignment } from '../../src/dev/sign.ts';
import { emptyOutcome, fuzzOne } from '../support/fuzz.ts';
import * as workload from '../support/fuzz-workload.ts';
import { ISSUER, RUNNER, testKeys } from '../support/tokens.ts';

const { key, keys } = await testKeys();

/** The issue 19 fields as a team writes them: every one valid, in the combinations that occur. */
const valid = fc.record(
  {
    imagePullSecrets: fc.constant(['acme-registry']),
    nodeSelector: fc.constant({ 'nvidia.com/gpu.present': 'true' }),
    tolerations: fc.constant([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]),
    serviceAccount: fc.oneof(
      fc.constant('deployer'),
      fc.record({
        name: fc.constant('deployer'),
        token: fc.record(
          {
            audience: fc.constantFrom('sts.amazonaws.com', 'vault'),
            expirationSeconds: fc.integer({ min: 600, max: 86_400 }),
            env: fc.constant('AWS_WEB_IDENTITY_TOKEN_FILE'),
          },
          { requiredKeys: ['audience'] },
        ),
      }),
    ),
    sidecars: fc.constant([
      {
        name: 'db',
        image: 'postgres:15',
        ports: [{ port: 5432, name: 'pg' }],
        readinessProbe: { tcpSocket: { port: 'pg' }, periodSeconds: 1 },
      },
    ]),
  },
  { requiredKeys: [] },
);

/** The same fields from the hostile generators (mostly refused at the door). */
const hostile = fc.record(
  {
    imagePullSecrets: workload.pullSecrets,
    nodeSelector: workload.nodeSelector,
    tolerations: workload.tolerations,
    serviceAccount: workload.serviceAccount,
    sidecars: fc.array(
      fc.record(
        {
          name: fc.constant('db'),
          image: fc.constant('postgres:15'),
          ports: workload.ports,
          readinessProbe: workload.readinessProbe,
        },
        { requiredKeys: ['name', 'image'] },
      ),
      { maxLength: 1 },
    ),
  },
  { requiredKeys: [] },
);

// The class (issue 19, "the fuzz suite covers the new fields"): a new step field that crashes the
// pipeline, is refused without a catalogue code, or yields a pod that is not restricted, mounts
// the legacy token, carries a token without an audience or for longer than a day, or a probe host.
test('fuzz: the issue 19 step fields — 0 crashes, 0 INTERNAL, every rejection coded, every pod restricted and keeping the identity invariants', async () => {
  const out = emptyOutcome();
  await fc.assert(
    fc.asyncProperty(fc.oneof(valid, hostile), async (fields) => {
      const workflow = { id: 'wf-1', name: 'n', runId: 'r', steps: [{ name: 's', image: 'python:3.11', ...fields }] };
      await fuzzOne(await signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow }), keys, out);
    }),
    { numRuns: 200, interruptAfterTimeLimit: 60_000 },
  );
  assert.ok(out.cases >= 50, `ran ${out.cases} cases`);
  assert.ok(out.podsMade > 0, 'some of them reach pod creation');
  assert.deepEqual(
    {
      crashed: out.crashed,
      internal: out.internal,
      hung: out.hung,
      podsFromRejections: out.podsFromRejections,
      uncoded: out.uncoded,
      badPods: out.badPods,
    },
    { crashed: 0, internal: 0, hung: 0, podsFromRejections: 0, uncoded: 0, badPods: [] },
  );
});
