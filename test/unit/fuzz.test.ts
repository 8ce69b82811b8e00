import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { signAssignment } from '../../src/dev/sign.ts';
import {
  CREDENTIAL_MARK,
  CREDENTIAL_PATTERN_NAMES,
  credentialText,
  DENIED_PROBES,
  durationSpelling,
  emptyOutcome,
  fuzz,
  fuzzOne,
  imageSpelling,
  mistypedSettings,
  podProblems,
  unicodeEdge,
  workflowClaim,
} from '../support/fuzz.ts';
import { ISSUER, RUNNER, testKeys } from '../support/tokens.ts';
import { maskText } from '../../src/audit/mask.ts';
import { validate } from '../../src/validate/validate.ts';

const { key, keys } = await testKeys();

test('fuzz (short run): mutated tokens and hostile signed specs — 0 crashes, 0 INTERNAL, 0 hangs, 0 pods from rejections, every rejection coded, no credential in the audit log, every pod valid, bounded and restricted', async () => {
  const out = await fuzz(400, key, keys);
  assert.equal(out.cases, 800);
  assert.ok(out.podsMade > 0, 'some hostile-but-valid specs reach pod creation');
  assert.deepEqual(
    {
      crashed: out.crashed,
      internal: out.internal,
      hung: out.hung,
      podsFromRejections: out.podsFromRejections,
      uncoded: out.uncoded,
      leaked: out.leaked,
      badPods: out.badPods,
    },
    { crashed: 0, internal: 0, hung: 0, podsFromRejections: 0, uncoded: 0, leaked: 0, badPods: [] },
  );
});

test('a case that hangs until its timeout counts as a failure (hung), not as a pass: a run that never ends, and a call that never returns', async () => {
  const body = await signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: { id: 'wf-1', name: 'n', runId: 'r', steps: [{ name: 's', image: 'python:3.11' }] },
  });
  const neverEnds = emptyOutcome();
  await fuzzOne(body, keys, neverEnds, { caseTimeoutMs: 300, outcomeFor: () => undefined });
  assert.equal(neverEnds.hung, 1, 'a pod that keeps running past the case time');
  const neverReturns = emptyOutcome();
  await fuzzOne(body, () => new Promise(() => undefined), neverReturns, { caseTimeoutMs: 300 });
  assert.equal(neverReturns.hung, 1, 'key lookup that never answers');
  const fine = emptyOutcome();
  await fuzzOne(body, keys, fine, { caseTimeoutMs: 5000 });
  assert.deepEqual([fine.hung, fine.podsMade], [0, 1]);
});

test('the generators cover the classes of issue 14: Unicode edges, image spellings, credentials (every pattern), durations, mounts, zero limits, string booleans', () => {
  const unicode = fc.sample(unicodeEdge, { numRuns: 300, seed: 1 });
  assert.ok(
    unicode.some((s) => !s.isWellFormed()) &&
      unicode.some((s) => s.includes('\u0000')) &&
      unicode.some((s) => /[\u202e\u2066]/.test(s)),
  );
  assert.ok(new Set(fc.sample(imageSpelling, { numRuns: 300, seed: 2 })).size >= 20);
  const credentials = new Set(fc.sample(credentialText, { numRuns: 500, seed: 3 }));
  const hit = new Set([...credentials].flatMap((c) => maskText(c).hits));
  for (const c of credentials) assert.ok(!maskText(c).text.includes(CREDENTIAL_MARK), `${c} is masked`);
  assert.ok(
    hit.size >= 8,
    `credential generator hits ${[...hit].join(', ')} of ${CREDENTIAL_PATTERN_NAMES.join(', ')}`,
  );
  const durations = fc.sample(durationSpelling, { numRuns: 300, seed: 4 });
  assert.ok(durations.some((d) => d === '600000h') && durations.some((d) => d === 0 || d === '0s'));
  const claims = fc.sample(workflowClaim, { numRuns: 300, seed: 5 }).map((c) => JSON.stringify(c));
  assert.ok(
    claims.some((c) => c.includes('"/workspace')) &&
      claims.some((c) => c.includes('"0Mi"')) &&
      claims.some((c) => c.includes('"sidecars"')),
  );
  const settings = fc.sample(
    mistypedSettings({
      egress: { allowAnyDestination: false, allowWildcardHosts: false },
      images: { requireDigest: false },
    }),
    { numRuns: 200, seed: 6 },
  );
  assert.ok(
    settings.some((s) => s.egress?.allowAnyDestination === 'false'),
    'the reported example: "false" as a string',
  );
  assert.ok(settings.some((s) => s.enforcement !== undefined));
  const probes = validate({ id: 'wf', name: 'n', runId: 'r', steps: DENIED_PROBES });
  assert.ok(probes.ok, 'the settings probes are valid steps');
});

test('podProblems sees what the API server or the restricted standard would refuse', () => {
  const pod = {
    metadata: { name: 'p' },
    spec: {
      activeDeadlineSeconds: 2 ** 31,
      containers: [
        {
          name: 'step',
          image: 'i',
          securityContext: {
            allowPrivilegeEscalation: false,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
          resources: { limits: { memory: '0' } },
          volumeMounts: [
            { name: 'vol-a', mountPath: '/tmp' },
            { name: 'vol-a', mountPath: '/tmp' },
          ],
        },
      ],
      initContainers: [{ name: 'step', image: 'i' }],
      volumes: [{ name: 'vol-a', emptyDir: {} }],
    },
  };
  const problems = podProblems(pod).join('\n');
  for (const p of [
    'activeDeadlineSeconds',
    'duplicate container names',
    'duplicate mount paths',
    'no memory limit',
    'over the runner',
    'zero memory',
  ])
    assert.ok(problems.includes(p), p);
});
