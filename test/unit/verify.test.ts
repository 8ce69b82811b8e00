import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import { verify, type VerifyOptions } from '../../src/verify/verify.ts';
import { ISSUER, NOW, RUNNER, sign, testKeys, workflow } from '../support/tokens.ts';

const options: VerifyOptions = {
  algorithms: ['EdDSA', 'ES256'],
  issuer: ISSUER,
  audience: RUNNER,
  maxTokenAgeSeconds: 600,
  clockToleranceSeconds: 30,
};
const { key, stranger, keys } = await testKeys();
const at = (offsetSeconds: number) => () => new Date(NOW.getTime() + offsetSeconds * 1000);
const iat = Math.floor(NOW.getTime() / 1000);

function base(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  return new SignJWT({ workflow: workflow(), ...claims })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'kubiya-assignment+jwt', kid: 'k1', ...header })
    .setIssuer(ISSUER)
    .setAudience(RUNNER)
    .setSubject('wf-1')
    .setJti('jti-1')
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + 300);
}

function tamper(token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as { workflow: { steps: { image: string }[] } };
  payload.workflow.steps[0]!.image = 'evil.example.com/miner:1';
  return [h, Buffer.from(JSON.stringify(payload)).toString('base64url'), s].join('.');
}

describe('verify', () => {
  test('a token signed by the control plane verifies, and its claims come back', async () => {
    const r = await verify(await sign(key), options, { keys, now: at(0) });
    assert.ok(r.ok);
    assert.equal(r.value.jti, 'jti-1');
    assert.equal(r.value.sub, 'wf-1');
  });

  const cases: [string, () => Promise<string>, () => Date, string][] = [
    ['expired', () => sign(key), at(300 + 31), 'VERIFY_EXPIRED'],
    ['within clock tolerance after exp', () => sign(key), at(300 + 29), 'OK'],
    [
      'not yet valid',
      async () =>
        base()
          .setNotBefore(iat + 120)
          .sign(key.privateKey),
      at(0),
      'VERIFY_NOT_YET_VALID',
    ],
    [
      'older than the maximum age',
      async () =>
        base()
          .setExpirationTime(iat + 3600)
          .sign(key.privateKey),
      at(601 + 30),
      'VERIFY_TOO_OLD',
    ],
    ['wrong issuer', async () => base().setIssuer('https://evil').sign(key.privateKey), at(0), 'VERIFY_CLAIM_INVALID'],
    [
      'wrong audience (another runner)',
      async () => base().setAudience('other-runner').sign(key.privateKey),
      at(0),
      'VERIFY_CLAIM_INVALID',
    ],
    ['wrong typ', async () => base({}, { typ: 'JWT' }).sign(key.privateKey), at(0), 'VERIFY_TYPE_INVALID'],
    ['no typ', async () => base({}, { typ: undefined }).sign(key.privateKey), at(0), 'VERIFY_TYPE_INVALID'],
    [
      'missing jti',
      async () =>
        new SignJWT({ workflow: workflow() })
          .setProtectedHeader({ alg: 'EdDSA', typ: 'kubiya-assignment+jwt', kid: 'k1' })
          .setIssuer(ISSUER)
          .setAudience(RUNNER)
          .setSubject('wf-1')
          .setIssuedAt(iat)
          .setExpirationTime(iat + 60)
          .sign(key.privateKey),
      at(0),
      'VERIFY_CLAIM_INVALID',
    ],
    [
      'missing exp',
      async () =>
        new SignJWT({ workflow: workflow() })
          .setProtectedHeader({ alg: 'EdDSA', typ: 'kubiya-assignment+jwt', kid: 'k1' })
          .setIssuer(ISSUER)
          .setAudience(RUNNER)
          .setSubject('wf-1')
          .setJti('j')
          .setIssuedAt(iat)
          .sign(key.privateKey),
      at(0),
      'VERIFY_CLAIM_INVALID',
    ],
    [
      'missing workflow claim',
      async () => base({ workflow: undefined }).sign(key.privateKey),
      at(0),
      'VERIFY_CLAIM_INVALID',
    ],
    ['payload altered after signing', async () => tamper(await sign(key)), at(0), 'VERIFY_SIGNATURE_INVALID'],
    ['signed by a key with the same kid that is not trusted', () => sign(stranger), at(0), 'VERIFY_SIGNATURE_INVALID'],
    ['unknown kid', async () => base({}, { kid: 'nope' }).sign(key.privateKey), at(0), 'VERIFY_KEY_NOT_FOUND'],
    [
      'alg none',
      async () =>
        `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'kubiya-assignment+jwt' })).toString('base64url')}.${(await sign(key)).split('.')[1]}.`,
      at(0),
      'VERIFY_ALGORITHM_NOT_ALLOWED',
    ],
    [
      'HS256 with the public key as secret (key confusion)',
      async () => {
        const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
        return base({}, { alg: 'HS256' }).sign(secret);
      },
      at(0),
      'VERIFY_ALGORITHM_NOT_ALLOWED',
    ],
    [
      'RS256 is not in the pinned list',
      async () => {
        const rsa = await generateKeyPair('RS256');
        return base({}, { alg: 'RS256' }).sign(rsa.privateKey);
      },
      at(0),
      'VERIFY_ALGORITHM_NOT_ALLOWED',
    ],
    ['garbage', () => Promise.resolve('a.b.c'), at(0), 'VERIFY_MALFORMED'],
    [
      'payload with a duplicate key (signed)',
      async () => {
        const { CompactSign } = await import('jose');
        const claims = `{"iss":"${ISSUER}","aud":"${RUNNER}","sub":"wf-1","jti":"j","iat":${iat},"exp":${iat + 60},"workflow":{"id":"wf-1","id":"other"}}`;
        return new CompactSign(new TextEncoder().encode(claims))
          .setProtectedHeader({ alg: 'EdDSA', typ: 'kubiya-assignment+jwt', kid: 'k1' })
          .sign(key.privateKey);
      },
      at(0),
      'VERIFY_MALFORMED',
    ],
    [
      'jwk header embedding the signer key',
      async () => base({}, { jwk: stranger.publicJwk }).sign(stranger.privateKey),
      at(0),
      'VERIFY_MALFORMED',
    ],
    [
      'jku header pointing at an attacker JWKS',
      async () => base({}, { jku: 'https://evil.example.com/jwks.json' }).sign(key.privateKey),
      at(0),
      'VERIFY_MALFORMED',
    ],
    [
      'x5u header',
      async () => base({}, { x5u: 'https://evil.example.com/cert.pem' }).sign(key.privateKey),
      at(0),
      'VERIFY_MALFORMED',
    ],
    [
      'iat in the future',
      async () =>
        base()
          .setIssuedAt(iat + 3600)
          .setNotBefore(iat)
          .setExpirationTime(iat + 7200)
          .sign(key.privateKey),
      at(0),
      'VERIFY_CLAIM_INVALID',
    ],
    [
      'unknown critical header',
      async () => base({}, { crit: ['exp-ext'], 'exp-ext': 1 }).sign(key.privateKey, { crit: { 'exp-ext': true } }),
      at(0),
      'VERIFY_MALFORMED',
    ],
  ];
  for (const [name, make, now, expected] of cases) {
    test(`${name} → ${expected}`, async () => {
      const r = await verify(await make(), options, { keys, now });
      if (expected === 'OK') return assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.equal(r.error.code, expected, r.error.message);
        assert.doesNotMatch(r.error.message, /eyJ/, 'no token material in the message');
      }
    });
  }
});
