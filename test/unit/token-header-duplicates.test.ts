/**
 * Tokens exactly as signed (issue 14 §7), the header's side of the duplicate-member rule: the
 * payload already refused an object with a key given twice; the protected header did not, so
 * `{"alg":"none","alg":"EdDSA",...}` verified (JSON.parse keeps the last member) while a reader
 * that keeps the first sees `alg: none` (found by the red-team pass, docs/reviews/2026-11-29-red-team.md). Every signature
 * below is valid over the exact bytes, so a refusal is the rule's doing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verify, type VerifyOptions } from '../../src/verify/verify.ts';
import { ISSUER, NOW, RUNNER, testKeys, workflow } from '../support/tokens.ts';

const options: VerifyOptions = {
  algorithms: ['EdDSA', 'ES256'],
  issuer: ISSUER,
  audience: RUNNER,
  maxTokenAgeSeconds: 600,
  clockToleranceSeconds: 30,
};
const { key, keys } = await testKeys();
const iat = Math.floor(NOW.getTime() / 1000);
const b64u = (v: string): string => Buffer.from(v).toString('base64url');
const payload = JSON.stringify({
  iss: ISSUER,
  aud: RUNNER,
  sub: 'wf-1',
  jti: 'jti-h',
  iat,
  nbf: iat,
  exp: iat + 300,
  workflow: workflow(),
});

/** Signs a header given as raw JSON text (so it can hold a member twice) over the exact bytes. */
async function signRawHeader(headerText: string): Promise<string> {
  const input = `${b64u(headerText)}.${b64u(payload)}`;
  const signature = await crypto.subtle.sign('Ed25519', key.privateKey, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

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
