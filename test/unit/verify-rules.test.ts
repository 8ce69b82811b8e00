/**
 * The pure rules under verify, at their edges (src/verify/claims.ts, duplicate-keys.ts,
 * trusted-keys.ts) and re-verification's choice of keys (verify.ts `verifyTrusted`).
 *
 * Classes, each a table:
 * - a claim string: each character range the rule refuses, with the characters just outside it
 *   accepted (U+001F/U+0020, U+007E/U+007F, U+009F/U+00A0, U+061B–U+061D, U+200D–U+2010,
 *   U+2029–U+202F, U+2065–U+206A), the length at and one past the bound, the jti charset at each
 *   end of each range and anchored at both ends; the message of every refusal;
 * - `quoted`: the cut at the bound and the escapes;
 * - duplicate keys: where a key is a key (after `{` or `,` in an object, not in an array, not a
 *   value), escapes decoded, nesting;
 * - trusted keys: the members kept, the stored form, malformed entries, the kid/alg filter and
 *   which refusal wins when several keys are tried.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newSigningKey, signAssignment, type SigningKey } from '../../src/dev/sign.ts';
import { checkClaim, claimTextProblem, JTI_PATTERN, quoted } from '../../src/verify/claims.ts';
import { hasDuplicateKeys } from '../../src/verify/duplicate-keys.ts';
import {
  merge,
  parseTrustedKey,
  publicJwk,
  serialiseTrustedKey,
  thumbprintOf,
  type TrustedKey,
} from '../../src/verify/trusted-keys.ts';
import { verifyTrusted } from '../../src/verify/verify.ts';
import { claimsAt, ISSUER, NOW, RUNNER, signBytes, verifyOptions, workflow } from '../support/tokens.ts';

describe('a claim string: characters at the edge of each refused range', () => {
  const refused = 'must not contain control or bidirectional formatting characters';
  const table: [number, boolean][] = [
    [0x00, false],
    [0x1f, false],
    [0x20, true],
    [0x7e, true],
    [0x7f, false],
    [0x9f, false],
    [0xa0, true],
    [0x61b, true],
    [0x61c, false],
    [0x61d, true],
    [0x200d, true],
    [0x200e, false],
    [0x200f, false],
    [0x2010, true],
    [0x2029, true],
    [0x202a, false],
    [0x202e, false],
    [0x202f, true],
    [0x2065, true],
    [0x2066, false],
    [0x2069, false],
    [0x206a, true],
  ];
  for (const [cp, ok] of table) {
    const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
    test(`${hex} inside a claim → ${ok ? 'accepted' : 'refused'}`, () => {
      assert.equal(claimTextProblem(`a${String.fromCodePoint(cp)}b`, 256), ok ? undefined : refused);
    });
  }
});

describe('a claim string: messages and bounds', () => {
  const table: [string, unknown, { max: number; jti?: boolean }, string][] = [
    ['at the bound', 'x'.repeat(8), { max: 8 }, 'OK'],
    ['one past the bound', 'x'.repeat(9), { max: 8 }, 'claim "c" must be at most 8 characters'],
    ['empty', '', { max: 8 }, 'claim "c" must not be empty'],
    ['a number', 1, { max: 8 }, 'claim "c" must be a string'],
    ['null', null, { max: 8 }, 'claim "c" must be a string'],
    [
      'a lone surrogate',
      'a\ud800',
      { max: 8 },
      'claim "c" must be well-formed Unicode (it has a lone UTF-16 surrogate)',
    ],
    ['a surrogate pair', 'a\ud83d\ude00', { max: 8 }, 'OK'],
    ['not a jti, no jti rule', 'a b', { max: 8 }, 'OK'],
    ['not a jti, jti rule', 'a b', { max: 8, jti: true }, 'claim "c" must match [A-Za-z0-9._~:-]{1,128}'],
    ['a jti, jti rule', 'a-b', { max: 8, jti: true }, 'OK'],
    ['a jti, jti: false', 'a b', { max: 8, jti: false }, 'OK'],
  ];
  for (const [name, value, rule, expected] of table) {
    test(`${name} → ${expected}`, () => {
      const r = checkClaim('c', value, rule);
      assert.equal(r.ok ? 'OK' : r.error.message, expected);
      if (r.ok) assert.equal(r.value, value);
      else assert.equal(r.error.code, 'VERIFY_CLAIM_INVALID');
    });
  }
});

describe('the jti charset, at each end of each range and anchored', () => {
  const accepted = ['A', 'Z', 'a', 'z', '0', '9', '.', '_', '~', ':', '-', 'j'.repeat(128)];
  const refused = ['@', '[', '`', '{', '/', '+', ' ', '', 'j'.repeat(129), 'ok/', '/ok', 'ok\n', 'é'];
  for (const v of accepted)
    test(`${JSON.stringify(v.slice(0, 8))} (${v.length}) accepted`, () => assert.ok(JTI_PATTERN.test(v)));
  for (const v of refused)
    test(`${JSON.stringify(v.slice(0, 8))} (${v.length}) refused`, () => assert.ok(!JTI_PATTERN.test(v)));
});

describe('quoted: what a message may show of a string', () => {
  const table: [string, string, number | undefined, string][] = [
    ['plain', 'abc', undefined, '"abc"'],
    ['128 characters, the default bound', 'a'.repeat(128), undefined, `"${'a'.repeat(128)}"`],
    ['129 characters', 'a'.repeat(129), undefined, `"${'a'.repeat(128)}…"`],
    ['at a bound of 3', 'abc', 3, '"abc"'],
    ['past a bound of 3', 'abcd', 3, '"abc…"'],
    ['controls, JSON-escaped', 'a\n\u0000', undefined, '"a\\n\\u0000"'],
    ['bidi and C1, escaped', '\u202e\u2066\u061c\u200e\u0085', undefined, '"\\u202e\\u2066\\u061c\\u200e\\u0085"'],
    ['a lone surrogate, escaped', 'a\ud800', undefined, '"a\\ud800"'],
    ['U+00A0 kept', 'a\u00a0', undefined, '"a\u00a0"'],
  ];
  for (const [name, value, max, expected] of table) {
    test(`${name} → ${expected}`, () => assert.equal(quoted(value, max), expected));
  }
});

describe('duplicate keys: what counts as a key', () => {
  const table: [string, string, boolean][] = [
    ['two keys in one object', '{"a":1,"a":2}', true],
    ['the same key in two objects of an array', '[{"a":1},{"a":1}]', false],
    ['the same key at two depths', '{"a":{"a":1}}', false],
    ['a nested object with a duplicate', '{"x":{"b":1,"b":2}}', true],
    ['a value equal to a key', '{"a":"a"}', false],
    ['a value equal to a later key', '{"a":"b","b":1}', false],
    ['strings in an array are not keys', '{"a":["a","a"]}', false],
    ['after an array, the next key counts', '{"a":[1,2],"a":3}', true],
    ['after a nested object, the next key counts', '{"a":{"b":1},"a":2}', true],
    ['an escaped key and its plain form', '{"\\u0061":1,"a":2}', true],
    ['an escaped quote inside a key', '{"a\\"b":1,"a\\"b":2}', true],
    ['a key ending in a backslash, and the key without it', '{"a\\\\":1,"a":2}', false],
    ['braces and commas inside a string value', '{"a":"{,\\"a\\":1}","b":1}', false],
    ['the empty key twice', '{"":1,"":2}', true],
    ['no object at all', '["a","a"]', false],
  ];
  for (const [name, text, expected] of table) {
    test(`${name}: ${text} → ${expected}`, () => {
      JSON.parse(text); // the scanner is only ever given valid JSON
      assert.equal(hasDuplicateKeys(text), expected);
    });
  }
});

describe('trusted keys: what is kept and stored', () => {
  test('publicJwk keeps the RFC 7638 members, kid and alg as strings, nothing else', () => {
    const jwk = { kty: 'OKP', crv: 'Ed25519', x: 'xx', d: 'secret', kid: 7, alg: 'EdDSA', use: 'sig', n: undefined };
    assert.deepEqual(publicJwk(jwk as never), { kty: 'OKP', crv: 'Ed25519', x: 'xx', alg: 'EdDSA' });
    assert.deepEqual(publicJwk({ kty: 'RSA', n: 'nn', e: 'AQAB', kid: 'r' }), {
      kty: 'RSA',
      n: 'nn',
      e: 'AQAB',
      kid: 'r',
    });
  });
  test('the stored form is jwk, firstSeen, lastSeen (the thumbprint is the entry key); a private member is dropped on read', async () => {
    const k = await newSigningKey('EdDSA', 'k1');
    const entry: TrustedKey = {
      thumbprint: await thumbprintOf(k.publicJwk),
      jwk: publicJwk(k.publicJwk),
      firstSeen: NOW.toISOString(),
      lastSeen: NOW.toISOString(),
    };
    const text = serialiseTrustedKey(entry);
    assert.deepEqual(Object.keys(JSON.parse(text) as object), ['jwk', 'firstSeen', 'lastSeen']);
    const withD = JSON.stringify({ ...JSON.parse(text), jwk: { ...entry.jwk, d: 'secret' } });
    assert.deepEqual(parseTrustedKey(entry.thumbprint, withD), entry);
  });
  test('malformed entries are not trusted', () => {
    const t = NOW.toISOString();
    for (const junk of [
      `{"jwk":null,"firstSeen":"${t}","lastSeen":"${t}"}`,
      `{"jwk":{"kty":1},"firstSeen":"${t}","lastSeen":"${t}"}`,
      `{"jwk":{"kty":"OKP"},"firstSeen":1,"lastSeen":"${t}"}`,
      `{"jwk":{"kty":"OKP"},"firstSeen":"${t}","lastSeen":2}`,
      `{"jwk":{"kty":"OKP"},"firstSeen":"${t}","lastSeen":"later"}`,
      `{"jwk":{"kty":"OKP"},"firstSeen":"${t}"}`,
    ])
      assert.equal(parseTrustedKey('t', junk), undefined, junk);
    assert.notEqual(parseTrustedKey('t', `{"jwk":{"kty":"OKP"},"firstSeen":"${t}","lastSeen":"${t}"}`), undefined);
  });
  test('merge at the same moment as firstSeen writes nothing; a moment earlier moves firstSeen only', async () => {
    const k = await newSigningKey('EdDSA', 'k1');
    const s = (await merge([], [k.publicJwk], NOW)) ?? [];
    assert.equal(await merge(s, [k.publicJwk], NOW), undefined);
    const back = await merge(s, [k.publicJwk], new Date(NOW.getTime() - 1));
    assert.deepEqual(
      back?.map((e) => [e.firstSeen, e.lastSeen]),
      [[new Date(NOW.getTime() - 1).toISOString(), NOW.toISOString()]],
    );
  });
});

const k1 = await newSigningKey('EdDSA', 'k1');
const other = await newSigningKey('EdDSA', 'k1'); // same kid, another key
describe('verifyTrusted: which keys are tried, and which refusal is reported', () => {
  const options = verifyOptions(['EdDSA', 'ES256']);
  const entry = async (k: SigningKey, jwk = publicJwk(k.publicJwk)): Promise<TrustedKey> => ({
    thumbprint: await thumbprintOf(jwk),
    jwk,
    firstSeen: NOW.toISOString(),
    lastSeen: NOW.toISOString(),
  });
  const token = (k: SigningKey): Promise<string> =>
    signAssignment(k, { issuer: ISSUER, audience: RUNNER, workflow: workflow(), now: NOW, jti: 'jti-t' });
  const outcome = async (t: string, keys: TrustedKey[], at = NOW): Promise<string> => {
    const r = await verifyTrusted(t, options, { trusted: keys, at, skewSeconds: 30 });
    return r.ok ? 'OK' : `${r.error.code}: ${r.error.message}`;
  };
  const notTrusted = `VERIFY_KEY_NOT_TRUSTED: no key this runner trusted at the run's creation (${NOW.toISOString()}) matches the token`;
  const { kid: _kid, ...noKid } = publicJwk(k1.publicJwk);
  const { alg: _alg, ...noAlg } = publicJwk(k1.publicJwk);

  test('no trusted key at all', async () => assert.equal(await outcome(await token(k1), []), notTrusted));
  test('the key under another kid is not tried', async () =>
    assert.equal(
      await outcome(await token(k1), [await entry(k1, { ...publicJwk(k1.publicJwk), kid: 'k2' })]),
      notTrusted,
    ));
  test('the key recorded for another alg is not tried', async () =>
    assert.equal(
      await outcome(await token(k1), [await entry(k1, { ...publicJwk(k1.publicJwk), alg: 'ES256' })]),
      notTrusted,
    ));
  test('a key recorded without kid is tried', async () =>
    assert.equal(await outcome(await token(k1), [await entry(k1, noKid)]), 'OK'));
  test('a key recorded without alg is tried', async () =>
    assert.equal(await outcome(await token(k1), [await entry(k1, noAlg)]), 'OK'));
  test('a token without kid tries every key', async () => {
    const t = await signBytes(
      k1,
      JSON.stringify({ alg: 'EdDSA', typ: 'kubiya-assignment+jwt' }),
      JSON.stringify(claimsAt()),
    );
    assert.equal(await outcome(t, [await entry(other), await entry(k1)]), 'OK');
  });
  test('only a wrong key with the kid: the signature is invalid', async () =>
    assert.equal(
      await outcome(await token(k1), [await entry(other)]),
      'VERIFY_SIGNATURE_INVALID: token signature is invalid',
    ));
  test('the right key first, then a wrong one: the right key’s refusal is reported, not the signature', async () => {
    const late = new Date(NOW.getTime() + 3600_000);
    const t = await token(k1);
    const keys = [await entry(k1), await entry(other)].map((e) => ({ ...e, lastSeen: late.toISOString() }));
    const expired = 'VERIFY_EXPIRED: token has expired';
    assert.equal(await outcome(t, keys, late), expired);
    assert.equal(await outcome(t, [...keys].reverse(), late), expired);
  });
  // jose's decodeProtectedHeader throws a TypeError (not one of its own errors) on an unreadable header.
  test('a token whose header cannot be read is malformed before any key is tried', async () =>
    assert.equal(await outcome('a.b.c', [await entry(k1)]), 'VERIFY_MALFORMED: token could not be verified'));
  test('the same trusted entry verifies twice (its imported key is reused)', async () => {
    const e = await entry(k1);
    assert.equal(await outcome(await token(k1), [e]), 'OK');
    assert.equal(await outcome(await token(k1), [e]), 'OK');
  });
});
