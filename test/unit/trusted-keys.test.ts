/**
 * The trusted-key store's rules (DESIGN §2b), as pure functions and through re-verification.
 * The class: a key is trusted for a period — from when the runner first saw it to when it last
 * did (plus the write resolution), widened by a small skew — and a stored token verifies only
 * with a key trusted at the run's creation. Boundaries are tested to the millisecond.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import {
  covering,
  merge,
  parseTrustedKey,
  publicJwk,
  serialiseTrustedKey,
  thumbprintOf,
  TRUST_RESOLUTION_SECONDS,
  type TrustedKey,
} from '../../src/verify/trusted-keys.ts';
import { verifyTrusted, type VerifyOptions } from '../../src/verify/verify.ts';
import { ISSUER, NOW, RUNNER, workflow } from '../support/tokens.ts';

const SKEW = 30;
const options: VerifyOptions = {
  algorithms: ['EdDSA', 'ES256'],
  issuer: ISSUER,
  audience: RUNNER,
  maxTokenAgeSeconds: 600,
  clockToleranceSeconds: SKEW,
};
const at = (ms: number): Date => new Date(NOW.getTime() + ms);
const iso = (ms: number): string => at(ms).toISOString();

async function trusted(
  key: SigningKey,
  firstMs: number,
  lastMs: number,
  jwk: JWK = publicJwk(key.publicJwk),
): Promise<TrustedKey> {
  return { thumbprint: await thumbprintOf(jwk), jwk, firstSeen: iso(firstMs), lastSeen: iso(lastMs) };
}

/**
 * thumbprintOf remembers thumbprints (issue #20: one WebCrypto digest per key, not per admission).
 * The class: a remembered thumbprint that is not the one jose computes for the JWK asked about.
 * Variants: the same key under another kid/alg/use (same thumbprint), a key differing in one
 * member (x, y, crv, kty, n/e, k), members that are not strings or missing (jose's error, never a
 * remembered value), keys of every kty, asked in any order and again; and the memo's size bound.
 */
describe('thumbprintOf: a remembered thumbprint is always the one jose computes', () => {
  const computed = (jwk: JWK): Promise<string> =>
    calculateJwkThumbprint(jwk, 'sha256').then(
      (t) => `ok:${t}`,
      (e: unknown) => `error:${(e as Error).name}:${(e as Error).message}`,
    );
  const viaMemo = (jwk: JWK): Promise<string> =>
    thumbprintOf(jwk).then(
      (t) => `ok:${t}`,
      (e: unknown) => `error:${(e as Error).name}:${(e as Error).message}`,
    );
  test('property: any sequence of keys and their one-member variants, asked repeatedly', async () => {
    const ed = (await newSigningKey('EdDSA', 'k1')).publicJwk;
    const ec = (await newSigningKey('ES256', 'k2')).publicJwk;
    const bases: JWK[] = [
      ed,
      ec,
      { kty: 'RSA', n: 'sXch', e: 'AQAB' },
      { kty: 'oct', k: 'c2VjcmV0' },
      { kty: 'AKP', alg: 'ML-DSA-44', pub: 'cHVi' },
    ];
    const members = ['kty', 'crv', 'x', 'y', 'n', 'e', 'k', 'alg', 'pub', 'kid', 'use'] as const;
    const value = fc.oneof(
      fc.constantFrom('OKP', 'EC', 'RSA', 'oct', 'AKP', 'Ed25519', 'P-256', '', 'AQAB'),
      fc.string({ maxLength: 6 }),
      fc.constantFrom(undefined, null, 1, ['x'], { x: 'y' }),
    );
    const variant = fc.tuple(
      fc.nat({ max: bases.length - 1 }),
      fc.option(fc.tuple(fc.constantFrom(...members), value)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(variant, { minLength: 1, maxLength: 12 }), async (asks) => {
        for (const [i, change] of [...asks, ...asks]) {
          const jwk: JWK = { ...(bases[i] as JWK) };
          if (change !== null) (jwk as Record<string, unknown>)[change[0]] = change[1];
          assert.equal(await viaMemo(jwk), await computed(jwk), JSON.stringify(jwk));
        }
      }),
      { numRuns: 150 },
    );
  });
  test('the same key under another kid, alg or use has its thumbprint; another x has another', async () => {
    const k = (await newSigningKey('EdDSA', 'k1')).publicJwk;
    const t = await thumbprintOf(k);
    assert.equal(await thumbprintOf({ ...k, kid: 'other', alg: 'ES256', use: 'enc' }), t);
    const x = k.x ?? assert.fail('x');
    const flipped = { ...k, x: `${x.slice(0, -1)}${x.endsWith('A') ? 'B' : 'A'}` };
    assert.notEqual(await thumbprintOf(flipped), t);
    assert.equal(await thumbprintOf(flipped), await calculateJwkThumbprint(flipped, 'sha256'));
  });
  test('more keys than the memo holds: every one still gets its own thumbprint', async () => {
    for (let i = 0; i < 600; i++) {
      const jwk: JWK = { kty: 'oct', k: `key-${i}` };
      assert.equal(await thumbprintOf(jwk), await calculateJwkThumbprint(jwk, 'sha256'));
    }
    const again: JWK = { kty: 'oct', k: 'key-3' };
    assert.equal(await thumbprintOf(again), await calculateJwkThumbprint(again, 'sha256'));
  });
});

describe('merge: what observing keys does to the store', () => {
  test('a new key gets firstSeen = lastSeen = now; within the resolution nothing is written; after it lastSeen moves', async () => {
    const k = await newSigningKey('EdDSA', 'k1');
    const one = await merge([], [k.publicJwk], at(0));
    assert.equal(one?.length, 1);
    assert.deepEqual([one?.[0]?.firstSeen, one?.[0]?.lastSeen], [iso(0), iso(0)]);
    assert.equal(await merge(one ?? [], [k.publicJwk], at(TRUST_RESOLUTION_SECONDS * 1000 - 1)), undefined);
    const two = await merge(one ?? [], [k.publicJwk], at(TRUST_RESOLUTION_SECONDS * 1000));
    assert.deepEqual([two?.[0]?.firstSeen, two?.[0]?.lastSeen], [iso(0), iso(TRUST_RESOLUTION_SECONDS * 1000)]);
  });
  test('identity is the RFC 7638 thumbprint: the same key under another kid is the same entry; another key under the same kid is another', async () => {
    const k = await newSigningKey('EdDSA', 'k1');
    const other = await newSigningKey('EdDSA', 'k1');
    const s = await merge([], [k.publicJwk, { ...k.publicJwk, kid: 'renamed' }, other.publicJwk], at(0));
    assert.equal(s?.length, 2);
  });
  test('only public members are stored (a private JWK in a JWKS leaks nothing into the ConfigMap); junk is skipped', async () => {
    const k = await newSigningKey('EdDSA', 'k1');
    const priv = { ...(await exportJWK(k.privateKey)), kid: 'k1' };
    assert.ok(typeof priv.d === 'string');
    const s = await merge([], [priv, { kty: 'OKP' }, { kty: 'nope' }], at(0));
    assert.equal(s?.length, 1);
    assert.equal(s?.[0]?.jwk.d, undefined);
    assert.equal(s?.[0]?.thumbprint, await thumbprintOf(k.publicJwk));
  });
  test('a replica whose clock is behind moves firstSeen back, never lastSeen', async () => {
    const k = await newSigningKey('EdDSA', 'k1');
    const s = await merge([], [k.publicJwk], at(0));
    const back = await merge(s ?? [], [k.publicJwk], at(-5000));
    assert.deepEqual([back?.[0]?.firstSeen, back?.[0]?.lastSeen], [iso(-5000), iso(0)]);
  });
  test('entries round-trip; malformed ones are not trusted', async () => {
    const k = await trusted(await newSigningKey('EdDSA', 'k1'), 0, 1000);
    assert.deepEqual(parseTrustedKey(k.thumbprint, serialiseTrustedKey(k)), k);
    for (const junk of [
      '',
      '{',
      'null',
      '{"jwk":{},"firstSeen":"x","lastSeen":"y"}',
      `{"jwk":${JSON.stringify(k.jwk)},"firstSeen":"yesterday","lastSeen":"${k.lastSeen}"}`,
      `{"jwk":"k","firstSeen":"${k.firstSeen}","lastSeen":"${k.lastSeen}"}`,
    ]) {
      assert.equal(parseTrustedKey(k.thumbprint, junk), undefined, junk);
    }
  });
});

describe('covering: the period a key was trusted in', () => {
  test('boundaries to the millisecond: [firstSeen − skew, lastSeen + resolution + skew]', async () => {
    const k = await trusted(await newSigningKey('EdDSA', 'k1'), 0, 10_000);
    const upper = 10_000 + (TRUST_RESOLUTION_SECONDS + SKEW) * 1000;
    for (const [ms, inside] of [
      [-SKEW * 1000 - 1, false],
      [-SKEW * 1000, true],
      [5000, true],
      [upper, true],
      [upper + 1, false],
    ] as const) {
      assert.equal(covering([k], at(ms), SKEW).length, inside ? 1 : 0, `${ms} ms`);
    }
  });
});

const k1 = await newSigningKey('EdDSA', 'k1');
const reused = await newSigningKey('ES256', 'k1'); // the same kid, another key (a careless rotation)
const stranger = await newSigningKey('EdDSA', 'k1');
describe("verifyTrusted: the stored token against the keys trusted at the run's creation", () => {
  const token = (key: SigningKey, now = NOW) =>
    signAssignment(key, { issuer: ISSUER, audience: RUNNER, workflow: workflow(), now, jti: 'jti-t' });
  const codeOf = async (t: string, keys: TrustedKey[], created = NOW): Promise<string> => {
    const r = await verifyTrusted(t, options, { trusted: keys, at: created, skewSeconds: SKEW });
    return r.ok ? 'OK' : r.error.code;
  };

  test('table', async () => {
    const table: [string, Promise<string>, Promise<TrustedKey[]>, string][] = [
      ['its key, trusted then', token(k1), Promise.all([trusted(k1, -1000, 1000)]), 'OK'],
      ['no key trusted at all', token(k1), Promise.resolve([]), 'VERIFY_KEY_NOT_TRUSTED'],
      [
        'its key trusted only later',
        token(k1),
        Promise.all([trusted(k1, 3_600_000, 7_200_000)]),
        'VERIFY_KEY_NOT_TRUSTED',
      ],
      [
        'its key retired before',
        token(k1),
        Promise.all([trusted(k1, -7_200_000, -3_600_000)]),
        'VERIFY_KEY_NOT_TRUSTED',
      ],
      [
        'its key stored under another kid',
        token(k1),
        Promise.all([trusted(k1, -1000, 1000, { ...publicJwk(k1.publicJwk), kid: 'k9' })]),
        'VERIFY_KEY_NOT_TRUSTED',
      ],
      [
        'a key with its kid, another key (forged or stranger)',
        token(stranger),
        Promise.all([trusted(k1, -1000, 1000)]),
        'VERIFY_SIGNATURE_INVALID',
      ],
      [
        'the kid reused: both trusted then, the right one found',
        token(reused),
        Promise.all([trusted(k1, -1000, 1000), trusted(reused, -1000, 1000)]),
        'OK',
      ],
      [
        'the kid reused, the other order',
        token(k1),
        Promise.all([trusted(reused, -1000, 1000), trusted(k1, -1000, 1000)]),
        'OK',
      ],
      [
        "its key trusted, the token expired at the run's creation",
        token(k1, new Date(NOW.getTime() - 3_600_000)),
        Promise.all([trusted(k1, -7_200_000, 1000)]),
        'VERIFY_EXPIRED',
      ],
      ['not a token', Promise.resolve('x.y'), Promise.all([trusted(k1, -1000, 1000)]), 'VERIFY_MALFORMED'],
    ];
    for (const [name, t, keys, expected] of table) assert.equal(await codeOf(await t, await keys), expected, name);
  });

  test("property: verifies exactly when the run was created inside the key's trusted period (± skew, + resolution)", async () => {
    const t = await token(k1);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: -200_000, max: 200_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: -SKEW * 1000, max: 300_000 }),
        async (first, length, createdMs) => {
          // createdMs stays within the token's own time claims (iat = NOW, exp = NOW + 300 s, ± tolerance).
          const key = await trusted(k1, first, first + length);
          const inside =
            createdMs >= first - SKEW * 1000 && createdMs <= first + length + (TRUST_RESOLUTION_SECONDS + SKEW) * 1000;
          assert.equal(await codeOf(t, [key], at(createdMs)), inside ? 'OK' : 'VERIFY_KEY_NOT_TRUSTED');
        },
      ),
      { numRuns: 150 },
    );
  });
});
