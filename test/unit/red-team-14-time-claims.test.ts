// Red team 14, finding 3. Class: a JSON number in a time claim that JavaScript reads as a value
// other readers refuse. `"exp":1e400` parses to Infinity in JSON.parse (Go's encoding/json
// refuses it: out of range), so an assignment "never expiring" was admitted; `"nbf":-1e400` is
// -Infinity, `"exp":1e300` a date no clock reaches. jose checks `iat` (refused "check_failed")
// but not `exp` or `nbf`. Now `exp`, `iat` and `nbf`, when present, must be finite NumericDates
// from 0 to 253402300799 (9999-12-31T23:59:59Z): else VERIFY_CLAIM_INVALID, audited, no run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { admit } from '../../src/admission/admit.ts';
import { verify } from '../../src/verify/verify.ts';
import { memoryAdmissionDeps } from '../support/admission-deps.ts';
import { claimsAt, NOW, signBytes, testKeys, verifyOptions } from '../support/tokens.ts';

const HEADER = JSON.stringify({ alg: 'EdDSA', typ: 'kubiya-assignment+jwt', kid: 'k1' });
const IAT = Math.floor(NOW.getTime() / 1000);

/** The claims of a valid assignment with one time claim's JSON text replaced by `text`. */
function payloadWith(claim: 'exp' | 'iat' | 'nbf', text: string): string {
  const json = JSON.stringify(claimsAt());
  const out = json.replace(new RegExp(`"${claim}":\\d+`), `"${claim}":${text}`);
  assert.ok(out.includes(`"${claim}":${text}`), out);
  return out;
}

test('a time claim that is not a finite NumericDate up to the year 9999 is VERIFY_CLAIM_INVALID', async () => {
  const { key, keys } = await testKeys();
  const table: ['exp' | 'iat' | 'nbf', string][] = [
    ['exp', '1e400'],
    ['exp', '1e300'],
    ['exp', '253402300800'],
    ['exp', '9007199254740993'],
    ['nbf', '-1e400'],
    ['nbf', '-1'],
  ];
  for (const [claim, text] of table) {
    const token = await signBytes(key, HEADER, payloadWith(claim, text));
    const r = await verify(token, verifyOptions(), { keys, now: () => NOW });
    assert.equal(r.ok, false, `${claim}=${text} accepted`);
    if (r.ok) continue;
    assert.equal(r.error.code, 'VERIFY_CLAIM_INVALID', `${claim}=${text}: ${r.error.code} ${r.error.message}`);
    assert.match(r.error.message, new RegExp(`"${claim}"`));
  }
  // iat out of range was already refused by jose's own iat and maximum-age checks; still refused.
  for (const [text, code] of [
    ['1e400', 'VERIFY_CLAIM_INVALID'],
    ['-1e400', 'VERIFY_TOO_OLD'],
    ['253402300800', 'VERIFY_CLAIM_INVALID'],
  ] as const) {
    const token = await signBytes(key, HEADER, payloadWith('iat', text));
    const r = await verify(token, verifyOptions(), { keys, now: () => NOW });
    assert.equal(r.ok ? 'accepted' : r.error.code, code, `iat=${text}`);
  }
});

test('finite NumericDates in range verify as before (fractions included: RFC 7519 §2)', async () => {
  const { key, keys } = await testKeys();
  for (const [claim, text] of [
    ['exp', String(IAT + 300)],
    ['exp', `${IAT + 300}.5`],
    ['exp', `${IAT + 300}e0`],
    ['exp', '253402300799'],
    ['nbf', '0'],
    ['iat', `${IAT}.25`],
  ] as const) {
    const token = await signBytes(key, HEADER, payloadWith(claim, text));
    const r = await verify(token, verifyOptions(), { keys, now: () => NOW });
    assert.ok(r.ok, `${claim}=${text}: ${r.ok ? '' : r.error.message}`);
  }
});

test('property: whatever number exp holds, an accepted token has a finite exp in range', async () => {
  const { key, keys } = await testKeys();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.double({ noNaN: true }).map((d) => JSON.stringify(d)),
        fc.integer({ min: 300, max: 400 }).map((e) => `1e${e}`),
        fc.integer({ min: IAT - 60, max: 2 ** 40 }).map(String),
      ),
      async (text) => {
        if (text === 'null') return; // JSON.stringify(±Infinity)
        const token = await signBytes(key, HEADER, payloadWith('exp', text));
        const r = await verify(token, verifyOptions(), { keys, now: () => NOW });
        if (!r.ok) return;
        assert.ok(Number.isFinite(r.value.exp) && r.value.exp <= 253402300799, `exp=${text} accepted`);
      },
    ),
    { numRuns: 300 },
  );
});

test('regression: an assignment with "exp":1e400 is not admitted; its verify record is a deny', async () => {
  const { key, deps } = await memoryAdmissionDeps();
  const token = await signBytes(key, HEADER, payloadWith('exp', '1e400'));
  const r = await admit({ body: token }, deps);
  assert.equal(r.ok, false);
  if (!r.ok) assert.equal(r.error.code, 'VERIFY_CLAIM_INVALID');
  const records = (deps.audit as unknown as { records: { stage: string; outcome: string; code?: string }[] }).records;
  assert.deepEqual(
    records.map((x) => [x.stage, x.outcome, x.code]),
    [['verify', 'deny', 'VERIFY_CLAIM_INVALID']],
  );
});
