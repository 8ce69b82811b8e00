// Red team 14's "seen and left", closed as a class. Class: time claims that are each acceptable
// but contradict one another, so the token is valid at no instant or expired when it was issued —
// `exp` ≤ `iat` (seen: `"exp"` 10 s before `"iat"`, admitted inside the 30 s clock tolerance) and
// `exp` ≤ `nbf`. The clock tolerance let either through for up to its width; RFC 7519 sets no
// order, so jose does not check it. Now VERIFY_CLAIM_INVALID naming the claims, for assignments
// and cancellations alike (one verifyToken), audited, no run. Variants: a table over the edges
// (equal, one second, a fraction, inside and outside the tolerance) and a property over every
// triple near the verification time: accepted only when exp > iat and exp > nbf (when present).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { admit } from '../../src/admission/admit.ts';
import { verify, verifyCancellation } from '../../src/verify/verify.ts';
import { memoryAdmissionDeps } from '../support/admission-deps.ts';
import { claimsAt, ISSUER, NOW, RUNNER, signBytes, testKeys, verifyOptions } from '../support/tokens.ts';

const HEADER = JSON.stringify({ alg: 'EdDSA', typ: 'kubiya-assignment+jwt', kid: 'k1' });
const T = Math.floor(NOW.getTime() / 1000);

/** A valid assignment's claims with the given time claims (undefined: the claim left out). */
function timed(times: { exp: number; iat: number; nbf?: number }): string {
  const claims = claimsAt({ exp: times.exp, iat: times.iat });
  if (times.nbf === undefined) delete claims.nbf;
  else claims.nbf = times.nbf;
  return JSON.stringify(claims);
}

test('exp not after iat, or not after nbf: VERIFY_CLAIM_INVALID naming both claims (table of edges)', async () => {
  const { key, keys } = await testKeys();
  const table: [string, { exp: number; iat: number; nbf?: number }, 'iat' | 'nbf'][] = [
    ['regression: exp 10 s before iat, inside the 30 s tolerance', { exp: T - 10, iat: T }, 'iat'],
    ['exp equal to iat', { exp: T, iat: T }, 'iat'],
    ['exp a fraction before iat', { exp: T + 5, iat: T + 5.5 }, 'iat'],
    ['iat in the tolerance ahead, exp equal to it', { exp: T + 20, iat: T + 20 }, 'iat'],
    ['exp equal to nbf, both inside the tolerance ahead', { exp: T + 20, iat: T - 5, nbf: T + 20 }, 'nbf'],
    ['exp one second before nbf', { exp: T + 19, iat: T - 5, nbf: T + 20 }, 'nbf'],
    ['nbf inside the tolerance, exp before it', { exp: T + 10, iat: T - 5, nbf: T + 20 }, 'nbf'],
  ];
  for (const [name, times, other] of table) {
    const token = await signBytes(key, HEADER, timed(times));
    const r = await verify(token, verifyOptions(), { keys, now: () => NOW });
    assert.equal(r.ok ? 'accepted' : r.error.code, 'VERIFY_CLAIM_INVALID', name);
    if (!r.ok) assert.match(r.error.message, new RegExp(`"exp" must be after claim "${other}"`), name);
  }
});

test('ordered time claims verify as before: exp a fraction after iat, nbf before iat, nbf absent', async () => {
  const { key, keys } = await testKeys();
  for (const times of [
    { exp: T + 0.5, iat: T },
    { exp: T + 300, iat: T, nbf: T - 100 },
    { exp: T + 300, iat: T },
    { exp: T + 1, iat: T - 10, nbf: T },
  ]) {
    const token = await signBytes(key, HEADER, timed(times));
    const r = await verify(token, verifyOptions(), { keys, now: () => NOW });
    assert.ok(r.ok, `${JSON.stringify(times)}: ${r.ok ? '' : r.error.message}`);
  }
});

test('property: an accepted token has exp after iat and after nbf, whatever the triple near now', async () => {
  const { key, keys } = await testKeys();
  const near = fc.integer({ min: T - 90, max: T + 90 });
  await fc.assert(
    fc.asyncProperty(near, near, fc.option(near, { nil: undefined }), async (exp, iat, nbf) => {
      const token = await signBytes(key, HEADER, timed({ exp, iat, nbf }));
      const r = await verify(token, verifyOptions(), { keys, now: () => NOW });
      const disordered = exp <= iat || (nbf !== undefined && exp <= nbf);
      // Refused either way; by this check (not jose's expiry, not-before or age checks) when those
      // would have let the token through: every claim well inside the 30 s tolerance.
      if (disordered) assert.equal(r.ok, false, JSON.stringify({ exp, iat, nbf }));
      if (disordered && exp > T - 29 && iat < T + 29 && (nbf === undefined || nbf < T + 29))
        assert.equal(r.ok ? 'accepted' : r.error.code, 'VERIFY_CLAIM_INVALID', JSON.stringify({ exp, iat, nbf }));
      if (r.ok) assert.ok(r.value.exp > iat && (nbf === undefined || r.value.exp > nbf));
    }),
    { numRuns: 300 },
  );
});

test('a cancellation whose exp is before its iat is refused the same way', async () => {
  const { key, keys } = await testKeys();
  const header = JSON.stringify({ alg: 'EdDSA', typ: 'kubiya-cancel+jwt', kid: 'k1' });
  const claims = { iss: ISSUER, aud: RUNNER, jti: 'c-1', cancel: 'run-1', iat: T, exp: T - 10 };
  const token = await signBytes(key, header, JSON.stringify(claims));
  const r = await verifyCancellation(token, verifyOptions(), { keys, now: () => NOW });
  assert.equal(r.ok ? 'accepted' : r.error.code, 'VERIFY_CLAIM_INVALID');
  // The same claims ordered: accepted (so the refusal above is the order, not the fixture).
  const ordered = await signBytes(key, header, JSON.stringify({ ...claims, exp: T + 60 }));
  const good = await verifyCancellation(ordered, verifyOptions(), { keys, now: () => NOW });
  assert.ok(good.ok, good.ok ? '' : good.error.message);
});

test('regression: an assignment with exp before iat is not admitted; its verify record is a deny', async () => {
  const { key, deps } = await memoryAdmissionDeps();
  const token = await signBytes(key, HEADER, timed({ exp: T - 10, iat: T, nbf: T - 20 }));
  const r = await admit({ body: token }, deps);
  assert.equal(r.ok ? 'admitted' : r.error.code, 'VERIFY_CLAIM_INVALID');
  const records = (deps.audit as unknown as { records: { stage: string; outcome: string; code?: string }[] }).records;
  assert.deepEqual(
    records.map((x) => [x.stage, x.outcome, x.code]),
    [['verify', 'deny', 'VERIFY_CLAIM_INVALID']],
  );
});
