/**
 * Red team 3, finding 4 (the rest of it): a verification key swapped between two starts must show
 * in the audit log. Every record the policy decides on names the bundle that decided AND the key
 * that verified it (`bundles.kubiya.keyid`, PolicyEngine.keyid): evaluate (allow, deny, error) and
 * mutate. A bundle loaded without verification keys has no key id, and none is written. Through
 * the whole pipeline over in-memory ports; the key id itself is tested with real signed bundles in
 * test/policies/bundle-signing.test.ts, and /ready in test/http.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { PolicyEngine } from '../../src/evaluate/policy-engine.ts';
import { signAssignment } from '../../src/dev/sign.ts';
import { engineReturning } from '../support/memory.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const { key, keys } = await testKeys();
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers) await c();
});

const KEYID = '0123456789abcdef';
const allow = () => [{ result: { allow: true, violations: [] } }];
const deny = () => [
  {
    result: {
      allow: false,
      violations: [{ code: 'IMAGE_NOT_ALLOWED', message: 'no', path: 'image', policy: 'images', action: 'deny' }],
    },
  },
];
const broken = () => {
  throw new Error('wasm trap');
};

// [what, the engine's answer, the stages that must name the bundle]
const CASES: [string, () => unknown, string[]][] = [
  ['allowed', allow, ['evaluate', 'mutate']],
  ['denied', deny, ['evaluate']],
  ['an evaluation error', broken, ['evaluate']],
];

for (const signed of [true, false])
  for (const [what, answer, stages] of CASES)
    test(`${what}, bundle ${signed ? 'verified by a key' : 'unsigned'}: ${stages.join(' and ')} name${stages.length === 1 ? 's' : ''} the bundle${signed ? ' and its key' : ', no key id'}`, async () => {
      const base = engineReturning(answer);
      const engine: PolicyEngine = signed ? { ...base, keyid: KEYID } : base;
      const r = await memoryRunner({ keys, now: () => NOW, policy: () => engine });
      closers.push(r.close);
      const runId = `k-${signed ? 's' : 'u'}-${what.split(' ')[0]!.toLowerCase()}`;
      const body = await signAssignment(key, {
        issuer: ISSUER,
        audience: RUNNER,
        workflow: { ...workflow(), runId },
        now: NOW,
        jti: runId,
      });
      await r.run({ body });
      for (const stage of stages) {
        const records = r.deps.audit.records.filter((x) => x.stage === stage);
        assert.ok(records.length > 0, `a ${stage} record`);
        for (const rec of records)
          assert.deepEqual(
            rec.bundles,
            { kubiya: signed ? { revision: 'test-rev', keyid: KEYID } : { revision: 'test-rev' } },
            stage,
          );
      }
    });
