/**
 * Tokens exactly as signed (issue 14 §7), the header's side of the duplicate-member rule: the
 * payload already refused an object with a key given twice; the protected header did not, so
 * `{"alg":"none","alg":"EdDSA",...}` verified (JSON.parse keeps the last member) while a reader
 * that keeps the first sees `alg: none` (found by the red-team pass, docs/reviews/2026-11-29-red-team.md). Every signature
 * below is valid over the exact bytes, so a refusal is the rule's doing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verify } from '../../src/verify/verify.ts';
import { claimsAt, NOW, signBytes, testKeys, verifyOptions } from '../support/tokens.ts';

const options = verifyOptions();
const { key, keys } = await testKeys();
const payload = JSON.stringify(claimsAt({ jti: 'jti-h' }));

/** Signs a header given as raw JSON text (so it can hold a member twice) over the exact bytes. */
const signRawHeader = (headerText: string): Promise<string> => signBytes(key, headerText, payload);

const T = '"typ":"kubiya-assignment+jwt"';
const CASES: [string, string, string][] = [
  ['baseline', `{"alg":"EdDSA",${T},"kid":"k1"}`, 'OK'],
  ['alg twice, "none" first', `{"alg":"none","alg":"EdDSA",${T},"kid":"k1"}`, 'VERIFY_MALFORMED'],
  ['typ twice', `{"alg":"EdDSA","typ":"JWT",${T},"kid":"k1"}`, 'VERIFY_MALFORMED'],
  ['kid twice', `{"alg":"EdDSA",${T},"kid":"other","kid":"k1"}`, 'VERIFY_MALFORMED'],
  ['kid twice, one spelled with an escape', `{"alg":"EdDSA",${T},"k\\u0069d":"other","kid":"k1"}`, 'VERIFY_MALFORMED'],
];

for (const [what, header, expected] of CASES) {
  test(`protected header: ${what} → ${expected}`, async () => {
    const r = await verify(await signRawHeader(header), options, { keys, now: () => NOW });
    assert.equal(r.ok ? 'OK' : r.error.code, expected);
  });
}
