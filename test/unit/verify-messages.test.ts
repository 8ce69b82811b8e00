/**
 * What an operator reads when a token is refused: the code AND the message, for every refusal
 * verify can give (src/verify/verify.ts, src/verify/jose-errors.ts; docs/errors.md tells the
 * operator to read the message, which names the failed check and never the token's contents).
 *
 * Classes, each a table:
 * - jose's error classes → our code and text (jose-errors.ts), one row per class and per claim
 *   jose names, and the fallbacks (another JOSEError, a non-jose throw);
 * - the same refusals reached through verify with a correctly signed token (so the wiring of
 *   options and `typ` is checked too): each header jose is never shown (jku, x5u, jwk, x5c, b64,
 *   zip, alone and together), the compact form, the first byte of header and payload, duplicates,
 *   the single `aud`, `workflow` and `sub`, a cancellation's `typ` and `cancel`;
 * - the time claims at the edge of the clock tolerance and maximum age (one second either side);
 * - the key verify reports (kid and alg from the header, public members only).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLocalJWKSet, errors } from 'jose';
import { newSigningKey, signAssignment } from '../../src/dev/sign.ts';
import { mapJoseError } from '../../src/verify/jose-errors.ts';
import { verify, verifyAssignment, verifyCancellation } from '../../src/verify/verify.ts';
import { claimsAt, ISSUER, NOW, RUNNER, signBytes, testKeys, verifyOptions, workflow } from '../support/tokens.ts';

const options = verifyOptions(['EdDSA']);
const { key, keys } = await testKeys();
const iat = Math.floor(NOW.getTime() / 1000);
const TYP = 'kubiya-assignment+jwt';
const CANCEL_TYP = 'kubiya-cancel+jwt';
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const signClaims = (c: Record<string, unknown>, header: Record<string, unknown> = { typ: TYP }): Promise<string> =>
  signBytes(key, json({ alg: 'EdDSA', kid: 'k1', ...header }), json(c));

/** `CODE: message`, or `OK`, of verifying `token` at NOW + `offset` seconds. */
async function outcome(token: string, offset = 0): Promise<string> {
  const r = await verify(token, options, { keys, now: () => new Date(NOW.getTime() + offset * 1000) });
  return r.ok ? 'OK' : `${r.error.code}: ${r.error.message}`;
}

describe("jose's errors → code and message", () => {
  const claimFailed = (claim: string, reason = 'check_failed') =>
    new errors.JWTClaimValidationFailed('jose text', {}, claim, reason);
  const table: [string, unknown, string][] = [
    ['exp passed', new errors.JWTExpired('x', {}, 'exp', 'check_failed'), 'VERIFY_EXPIRED: token has expired'],
    [
      'iat older than the maximum age',
      new errors.JWTExpired('x', {}, 'iat', 'check_failed'),
      'VERIFY_TOO_OLD: token is older than the maximum token age',
    ],
    ['nbf in the future', claimFailed('nbf'), 'VERIFY_NOT_YET_VALID: token is not valid yet (nbf)'],
    ['typ', claimFailed('typ'), `VERIFY_TYPE_INVALID: token header "typ" must be "${TYP}"`],
    ['iss', claimFailed('iss'), 'VERIFY_CLAIM_INVALID: claim "iss" is invalid (check_failed)'],
    ['aud missing', claimFailed('aud', 'missing'), 'VERIFY_CLAIM_INVALID: claim "aud" is invalid (missing)'],
    [
      'alg not allowed',
      new errors.JOSEAlgNotAllowed('x'),
      'VERIFY_ALGORITHM_NOT_ALLOWED: token algorithm is not allowed',
    ],
    ['no matching key', new errors.JWKSNoMatchingKey(), 'VERIFY_KEY_NOT_FOUND: no trusted key matches the token'],
    [
      'several matching keys',
      new errors.JWKSMultipleMatchingKeys(),
      'VERIFY_KEY_NOT_FOUND: more than one trusted key matches the token; a "kid" is required',
    ],
    [
      'bad signature',
      new errors.JWSSignatureVerificationFailed(),
      'VERIFY_SIGNATURE_INVALID: token signature is invalid',
    ],
    [
      'unknown critical header',
      new errors.JOSENotSupported('Extension Header Parameter "x" is not recognized'),
      'VERIFY_MALFORMED: token marks a header critical that this runner does not understand',
    ],
    [
      'unsupported algorithm or key',
      new errors.JOSENotSupported('Unsupported "alg" value for a JSON Web Key Set'),
      'VERIFY_ALGORITHM_NOT_ALLOWED: token uses an unsupported algorithm or key',
    ],
    ['JWS invalid', new errors.JWSInvalid('x'), 'VERIFY_MALFORMED: token is malformed'],
    ['JWT invalid', new errors.JWTInvalid('x'), 'VERIFY_MALFORMED: token is malformed'],
    [
      'another jose error names its code',
      new errors.JWKSTimeout(),
      'VERIFY_MALFORMED: token could not be verified (ERR_JWKS_TIMEOUT)',
    ],
    ['a plain Error', new Error('boom'), 'VERIFY_MALFORMED: token could not be verified'],
    ['a thrown string', 'boom', 'VERIFY_MALFORMED: token could not be verified'],
  ];
  for (const [name, thrown, expected] of table) {
    test(`${name} → ${expected}`, () => {
      assert.equal(mapJoseError(thrown, TYP).join(': '), expected);
    });
  }
  test('the typ message names the type that was expected', () => {
    assert.equal(mapJoseError(claimFailed('typ'), CANCEL_TYP)[1], `token header "typ" must be "${CANCEL_TYP}"`);
  });
});

const KEYS_ONLY = ": keys come only from this runner's JWKS";
const AS_SIGNED = ': send the compact JWS exactly as signed, without it';
const B64 = 'RFC 7797 unencoded payloads are not supported';
const ZIP = 'compression is JWE-only (RFC 7516), never applied to a JWS';

describe('verify: each refusal with its message', () => {
  const table: [string, () => Promise<string>, string][] = [
    ['the baseline', () => signClaims(claimsAt()), 'OK'],
    ...(['jku', 'x5u', 'jwk', 'x5c'] as const).map((h): [string, () => Promise<string>, string] => [
      `a ${h} header`,
      () => signClaims(claimsAt(), { typ: TYP, [h]: h === 'x5c' ? ['MIIB'] : 'https://evil.example' }),
      `VERIFY_MALFORMED: token header carries ${h}${KEYS_ONLY}`,
    ]),
    [
      'jku and x5u, in the order of the rule',
      () => signClaims(claimsAt(), { x5u: 'https://a.example', jku: 'https://b.example', typ: TYP }),
      `VERIFY_MALFORMED: token header carries jku, x5u${KEYS_ONLY}`,
    ],
    [
      'b64',
      () => signClaims(claimsAt(), { typ: TYP, b64: false }),
      `VERIFY_HEADER_UNSUPPORTED: token header carries b64 (${B64})${AS_SIGNED}`,
    ],
    [
      'zip',
      () => signClaims(claimsAt(), { typ: TYP, zip: 'DEF' }),
      `VERIFY_HEADER_UNSUPPORTED: token header carries zip (${ZIP})${AS_SIGNED}`,
    ],
    [
      'zip and b64',
      () => signClaims(claimsAt(), { typ: TYP, zip: 'DEF', b64: true }),
      `VERIFY_HEADER_UNSUPPORTED: token header carries b64, zip (${B64}; ${ZIP})${AS_SIGNED}`,
    ],
    [
      'a header member twice',
      () => signBytes(key, `{"alg":"EdDSA","kid":"k1","typ":"${TYP}","typ":"${TYP}"}`, json(claimsAt())),
      'VERIFY_MALFORMED: token header has a duplicate member',
    ],
    [
      'a payload key twice',
      () =>
        signBytes(
          key,
          json({ alg: 'EdDSA', kid: 'k1', typ: TYP }),
          `${JSON.stringify(claimsAt()).slice(0, -1)},"sub":"wf-1"}`,
        ),
      'VERIFY_MALFORMED: token payload has an object with a duplicate key',
    ],
    [
      'a space before the header JSON',
      () => signBytes(key, ` {"alg":"EdDSA","kid":"k1","typ":"${TYP}"}`, json(claimsAt())),
      'VERIFY_MALFORMED: token header must be a JSON object starting at its first byte (no BOM or whitespace before "{")',
    ],
    [
      'a space before the payload JSON',
      () => signBytes(key, json({ alg: 'EdDSA', kid: 'k1', typ: TYP }), ` ${JSON.stringify(claimsAt())}`),
      'VERIFY_MALFORMED: token payload must be a JSON object starting at its first byte (no BOM or whitespace before "{")',
    ],
    [
      'an audience array holding this runner',
      () => signClaims(claimsAt({ aud: [RUNNER] })),
      'VERIFY_CLAIM_INVALID: claim "aud" must be a single string (this runner\'s name); audience arrays are refused',
    ],
    [
      'another issuer',
      () => signClaims(claimsAt({ iss: 'https://evil' })),
      'VERIFY_CLAIM_INVALID: claim "iss" is invalid (check_failed)',
    ],
    [
      'no workflow claim',
      () => signClaims(claimsAt({ workflow: undefined })),
      'VERIFY_CLAIM_INVALID: missing required claim "workflow"',
    ],
    [
      'sub is not workflow.id',
      () => signClaims(claimsAt({ sub: 'wf-2' })),
      'VERIFY_CLAIM_INVALID: claim "sub" must equal workflow.id',
    ],
    [
      'a workflow of null',
      () => signClaims(claimsAt({ workflow: null })),
      'VERIFY_CLAIM_INVALID: claim "sub" must equal workflow.id',
    ],
    ['an empty sub', () => signClaims(claimsAt({ sub: '' })), 'VERIFY_CLAIM_INVALID: claim "sub" must not be empty'],
    [
      'a jti with a space',
      () => signClaims(claimsAt({ jti: 'a b' })),
      'VERIFY_CLAIM_INVALID: claim "jti" must match [A-Za-z0-9._~:-]{1,128}',
    ],
    [
      'an iss of 2049 characters',
      () => signClaims(claimsAt({ iss: 'i'.repeat(2049) })),
      'VERIFY_CLAIM_INVALID: claim "iss" is invalid (check_failed)',
    ],
    [
      'the cancellation type',
      () => signClaims(claimsAt(), { typ: CANCEL_TYP }),
      `VERIFY_TYPE_INVALID: token header "typ" must be "${TYP}"`,
    ],
    [
      'a bad signature',
      async () => `${(await signClaims(claimsAt())).slice(0, -4)}AAAA`,
      'VERIFY_SIGNATURE_INVALID: token signature is invalid',
    ],
  ];
  for (const [name, make, expected] of table) {
    test(`${name} → ${expected}`, async () => {
      assert.equal(await outcome(await make()), expected);
    });
  }

  const compact = 'VERIFY_MALFORMED: token is not a compact JWS (three base64url parts, nothing around them)';
  const around: [string, (t: string) => string][] = [
    ['a space before', (t) => ` ${t}`],
    ['a newline after', (t) => `${t}\n`],
    ['a fourth part', (t) => `${t}.AAAA`],
    ['two parts', (t) => t.split('.').slice(0, 2).join('.')],
    ['base64 padding', (t) => `${t}=`],
    ['a standard-base64 character', (t) => `+${t}`],
    ['an empty header', (t) => `.${t.split('.').slice(1).join('.')}`],
  ];
  for (const [name, change] of around) {
    test(`${name} → not a compact JWS`, async () => {
      assert.equal(await outcome(change(await signClaims(claimsAt()))), compact);
    });
  }
  test('an empty signature is compact (alg none is then refused by the pinned list)', async () => {
    const t = `${json({ alg: 'none', typ: TYP }).toString('base64url')}.${json(claimsAt()).toString('base64url')}.`;
    assert.equal(await outcome(t), 'VERIFY_ALGORITHM_NOT_ALLOWED: token algorithm is not allowed');
  });
});

describe('the claim strings, also past what jose checks', () => {
  test('a sub of 256 characters is accepted, of 257 refused with its bound', async () => {
    const at256 = 's'.repeat(256);
    const at257 = 's'.repeat(257);
    assert.equal(
      await outcome(await signClaims(claimsAt({ sub: at256, workflow: { ...workflow(), id: at256 } }))),
      'OK',
    );
    assert.equal(
      await outcome(await signClaims(claimsAt({ sub: at257, workflow: { ...workflow(), id: at257 } }))),
      'VERIFY_CLAIM_INVALID: claim "sub" must be at most 256 characters',
    );
  });
  // jose compares iss with the configured issuer first, so only an issuer configured past the rule
  // reaches this check: the run is still never named by such a string.
  for (const [name, issuer, expected] of [
    ['of 2048 characters', `https://${'i'.repeat(2040)}`, 'OK'],
    ['of 2049 characters', `https://${'i'.repeat(2041)}`, 'claim "iss" must be at most 2048 characters'],
    [
      'with a right-to-left override',
      'https://a\u202eb',
      'claim "iss" must not contain control or bidirectional formatting characters',
    ],
  ] as const) {
    test(`a configured issuer ${name}: ${expected}`, async () => {
      const r = await verify(
        await signClaims(claimsAt({ iss: issuer })),
        { ...options, issuer },
        { keys, now: () => NOW },
      );
      assert.equal(
        r.ok ? 'OK' : `${r.error.code}: ${r.error.message}`,
        expected === 'OK' ? 'OK' : `VERIFY_CLAIM_INVALID: ${expected}`,
      );
    });
  }
});

describe('time claims at the edge of the tolerance (30 s) and the maximum age (600 s)', () => {
  // claimsAt: iat = nbf = NOW, exp = NOW + 300.
  const table: [string, Record<string, unknown>, number, string][] = [
    ['exp, 29 s past', {}, 300 + 29, 'OK'],
    ['exp, exactly the tolerance past', {}, 300 + 30, 'VERIFY_EXPIRED: token has expired'],
    ['nbf 30 s ahead', { nbf: iat + 30 }, 0, 'OK'],
    ['nbf 31 s ahead', { nbf: iat + 31 }, 0, 'VERIFY_NOT_YET_VALID: token is not valid yet (nbf)'],
    ['iat 630 s old (age − tolerance = max)', { exp: iat + 3600 }, 630, 'OK'],
    ['iat 631 s old', { exp: iat + 3600 }, 631, 'VERIFY_TOO_OLD: token is older than the maximum token age'],
    ['iat 30 s ahead', { iat: iat + 30, nbf: iat }, 0, 'OK'],
    ['iat 31 s ahead', { iat: iat + 31, nbf: iat }, 0, 'VERIFY_CLAIM_INVALID: claim "iat" is invalid (check_failed)'],
    ['no exp', { exp: undefined }, 0, 'VERIFY_CLAIM_INVALID: claim "exp" is invalid (missing)'],
    ['no iat', { iat: undefined }, 0, 'VERIFY_CLAIM_INVALID: claim "iat" is invalid (missing)'],
    ['no jti', { jti: undefined }, 0, 'VERIFY_CLAIM_INVALID: claim "jti" is invalid (missing)'],
    ['no sub', { sub: undefined }, 0, 'VERIFY_CLAIM_INVALID: claim "sub" is invalid (missing)'],
    // Required, not only checked when present: jose's message says "missing" rather than "check_failed".
    ['no iss', { iss: undefined }, 0, 'VERIFY_CLAIM_INVALID: claim "iss" is invalid (missing)'],
    ['no aud', { aud: undefined }, 0, 'VERIFY_CLAIM_INVALID: claim "aud" is invalid (missing)'],
  ];
  for (const [name, over, offset, expected] of table) {
    test(`${name} → ${expected}`, async () => {
      assert.equal(await outcome(await signClaims(claimsAt(over)), offset), expected);
    });
  }
});

describe('a cancellation: its own type, and cancel is a jti', () => {
  const cancelClaims = (over: Record<string, unknown> = {}) => {
    const { sub: _sub, workflow: _wf, ...rest } = claimsAt({ jti: 'c-1', cancel: 'jti-1', ...over });
    return rest;
  };
  const check = async (token: string): Promise<string> => {
    const r = await verifyCancellation(token, options, { keys, now: () => NOW });
    return r.ok ? `OK ${r.value.cancel}` : `${r.error.code}: ${r.error.message}`;
  };
  test('a cancellation verifies and names the assignment', async () => {
    assert.equal(await check(await signClaims(cancelClaims(), { typ: CANCEL_TYP })), 'OK jti-1');
  });
  test('an assignment is not a cancellation', async () => {
    assert.equal(
      await check(await signClaims(cancelClaims(), { typ: TYP })),
      `VERIFY_TYPE_INVALID: token header "typ" must be "${CANCEL_TYP}"`,
    );
  });
  test('a cancel that is not a jti', async () => {
    assert.equal(
      await check(await signClaims(cancelClaims({ cancel: 'a/b' }), { typ: CANCEL_TYP })),
      'VERIFY_CLAIM_INVALID: claim "cancel" must match [A-Za-z0-9._~:-]{1,128} (the jti of an assignment)',
    );
  });
  for (const claim of ['exp', 'iat', 'jti', 'iss', 'aud']) {
    test(`a cancellation without ${claim}`, async () => {
      assert.equal(
        await check(await signClaims(cancelClaims({ [claim]: undefined }), { typ: CANCEL_TYP })),
        `VERIFY_CLAIM_INVALID: claim "${claim}" is invalid (missing)`,
      );
    });
  }
  test('no cancel claim', async () => {
    assert.equal(
      await check(await signClaims(cancelClaims({ cancel: undefined }), { typ: CANCEL_TYP })),
      'VERIFY_CLAIM_INVALID: claim "cancel" must be a string (the jti of an assignment)',
    );
  });
});

describe('the key verify reports: public members, with the kid and alg of the header', () => {
  test('EdDSA with a kid', async () => {
    const r = await verifyAssignment(await signClaims(claimsAt()), options, { keys, now: () => NOW });
    assert.ok(r.ok);
    const { kty, crv, x, kid, alg } = key.publicJwk;
    assert.deepEqual(r.value.key, { kty, crv, x, kid, alg });
  });
  test('no kid in the header: none in the key', async () => {
    const r = await verifyAssignment(
      await signBytes(key, json({ alg: 'EdDSA', typ: TYP }), json(claimsAt())),
      options,
      {
        keys,
        now: () => NOW,
      },
    );
    assert.ok(r.ok);
    assert.equal('kid' in r.value.key, false);
    assert.equal(r.value.key.alg, 'EdDSA');
  });
  test('ES256: x and y, and no private member', async () => {
    const es = await newSigningKey('ES256', 'e1');
    const token = await signAssignment(es, {
      issuer: ISSUER,
      audience: RUNNER,
      workflow: workflow(),
      now: NOW,
      jti: 'j-es',
    });
    const r = await verifyAssignment(token, verifyOptions(['ES256']), {
      keys: createLocalJWKSet({ keys: [es.publicJwk] }),
      now: () => NOW,
    });
    assert.ok(r.ok, JSON.stringify(r));
    const { kty, crv, x, y } = es.publicJwk;
    assert.deepEqual(r.value.key, { kty, crv, x, y, kid: 'e1', alg: 'ES256' });
  });
});
