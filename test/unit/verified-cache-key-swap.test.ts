/**
 * Red team round 6 (docs/reviews/2026-11-30-red-team-6.md), finding 3: the verified cache
 * (src/pipeline/verified-cache.ts) trusts a key by the NAME of its trusted-key store entry (the
 * ConfigMap data key, `TrustedKey.thumbprint`, never recomputed by parseTrustedKey), while the full
 * re-verification verifies the signature with the entry's stored JWK. An entry whose JWK was
 * replaced under the same name (a hand edit of the ConfigMap: an operator "revoking" a key by
 * overwriting its material, or a bad restore) is a hit for the cache and a VERIFY_SIGNATURE_INVALID
 * for the full path.
 *
 * The class: a check the cache makes on a derived identity (the entry's name) where the full path
 * uses the thing itself (the stored key). Variants: the entry's JWK replaced by another key of the
 * same type, of another type, the entry's JWK made unusable (no `x`).
 *
 * Fixed in src/pipeline/verified-cache.ts (stillTrusted recomputes the stored JWK's thumbprint);
 * each case failed on the code before the fix.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JWK } from 'jose';
import { admit } from '../../src/admission/admit.ts';
import { newSigningKey, signAssignment } from '../../src/dev/sign.ts';
import { auditor } from '../../src/pipeline/auditor.ts';
import { verifiedRuns } from '../../src/pipeline/verified-cache.ts';
import { reverified } from '../../src/pipeline/verified.ts';
import { publicJwk } from '../../src/verify/trusted-keys.ts';
import { memoryAdmissionDeps } from '../support/admission-deps.ts';
import { MemoryTrustedKeys } from '../support/memory.ts';
import { ISSUER, RUNNER, workflow } from '../support/tokens.ts';

async function setup() {
  const { key, clock, runs, deps } = await memoryAdmissionDeps();
  const token = await signAssignment(key, {
    issuer: ISSUER,
    audience: RUNNER,
    workflow: workflow(),
    now: clock.at,
    jti: 'rt6-1',
    ttlSeconds: 300,
  });
  const r = await admit({ body: token }, deps);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const obj = runs.get(r.value.name) ?? assert.fail('no run');
  return { deps, obj };
}

const swaps: [string, () => Promise<JWK>][] = [
  ['another Ed25519 key', async () => publicJwk((await newSigningKey('EdDSA', 'k1')).publicJwk)],
  [
    'a P-256 key without alg (key-type confusion: only kid and alg are compared)',
    async () => {
      const { alg: _alg, ...jwk } = publicJwk((await newSigningKey('ES256', 'k1')).publicJwk);
      return jwk;
    },
  ],
  [
    'the same key without its x (unusable)',
    () => Promise.resolve({ kty: 'OKP', crv: 'Ed25519', kid: 'k1', alg: 'EdDSA' }),
  ],
];

describe('REDTEAM-6 #3: a trusted-key entry whose JWK changed under the same name', () => {
  for (const [name, jwk] of swaps)
    test(`${name}: the pass decides as a fresh process (full re-verification) would`, async () => {
      const { deps, obj } = await setup();
      const entry = deps.trust.keys[0] ?? assert.fail('a trusted key');
      deps.trust.keys = [{ ...entry, jwk: await jwk() }];
      const fresh = { ...deps, trust: Object.assign(new MemoryTrustedKeys(), { keys: deps.trust.keys }) };
      const full = await reverified(obj, fresh, auditor(fresh));
      assert.equal(full.ok, false, 'the full path refuses: the stored key does not verify the token');
      assert.equal(
        await verifiedRuns(deps.trust).recall(obj, deps, deps.config.verify),
        undefined,
        'the cache must not answer for a key the store no longer holds',
      );
      assert.deepEqual(await reverified(obj, deps, auditor(deps)), full);
    });
});
