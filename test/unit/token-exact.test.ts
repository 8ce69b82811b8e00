/**
 * Tokens exactly as signed (issue 14 §7). The class: anything that makes the runner read a token
 * other than as the one compact JWS the control plane signed — header parameters that change how
 * the bytes are read (`b64`, `crit`), spellings of `typ` and `aud`, whitespace anywhere — is
 * either the documented equivalent or refused with a code. Every signature below is valid, so a
 * refusal is the rule's doing, not a broken signature's.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { receive } from '../../src/receive/receive.ts';
import { verify } from '../../src/verify/verify.ts';
import { claimsAt, NOW, RUNNER, sign, signBytes, testKeys, verifyOptions } from '../support/tokens.ts';

const options = verifyOptions();
const { key, keys } = await testKeys();
const claims = claimsAt;

/** Signs the token's header and payload as given: nothing normalised by a library. */
const signRaw = (header: Record<string, unknown>, payload: Record<string, unknown> | string): Promise<string> =>
  signBytes(
    key,
    JSON.stringify({ alg: 'EdDSA', kid: 'k1', ...header }),
    typeof payload === 'string' ? payload : JSON.stringify(payload),
  );

const TYP = 'kubiya-assignment+jwt';
async function codeOf(token: string): Promise<string> {
  const r = await verify(token, options, { keys, now: () => NOW });
  if (r.ok) return 'OK';
  assert.doesNotMatch(r.error.message, /eyJ/, 'no token material in the message');
  return r.error.code;
}

describe('header parameters that change how the token is read', () => {
  const table: [string, Record<string, unknown>, string][] = [
    ['baseline', { typ: TYP }, 'OK'],
    // RFC 7797: refused whatever the value, listed in crit or not (issue 14 §7's example is the first).
    ['b64: false without crit', { typ: TYP, b64: false }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['b64: true without crit', { typ: TYP, b64: true }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['b64: false, crit [b64]', { typ: TYP, b64: false, crit: ['b64'] }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['b64: true, crit [b64]', { typ: TYP, b64: true, crit: ['b64'] }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['b64: "false" (a string)', { typ: TYP, b64: 'false' }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['b64: null', { typ: TYP, b64: null }, 'VERIFY_HEADER_UNSUPPORTED'],
    // crit: only what the runner understands, which is nothing.
    ['crit naming an unknown extension', { typ: TYP, crit: ['exp-ext'], 'exp-ext': 1 }, 'VERIFY_MALFORMED'],
    ['crit naming b64 without b64', { typ: TYP, crit: ['b64'] }, 'VERIFY_MALFORMED'],
    ['crit empty', { typ: TYP, crit: [] }, 'VERIFY_MALFORMED'],
    ['crit not an array', { typ: TYP, crit: 'exp-ext', 'exp-ext': 1 }, 'VERIFY_MALFORMED'],
    ['crit with a duplicate', { typ: TYP, crit: ['exp-ext', 'exp-ext'], 'exp-ext': 1 }, 'VERIFY_MALFORMED'],
    ['crit with an empty name', { typ: TYP, crit: [''] }, 'VERIFY_MALFORMED'],
    // typ: the one media type, in the spellings RFC 7515 §4.1.9 makes equal (prefix, case); nothing else.
    ['typ with the application/ prefix', { typ: `application/${TYP}` }, 'OK'],
    ['typ in upper case', { typ: TYP.toUpperCase() }, 'OK'],
    ['typ of a cancellation', { typ: 'kubiya-cancel+jwt' }, 'VERIFY_TYPE_INVALID'],
    ['typ JWT', { typ: 'JWT' }, 'VERIFY_TYPE_INVALID'],
    ['typ with a space', { typ: ` ${TYP}` }, 'VERIFY_TYPE_INVALID'],
    ['typ with a parameter', { typ: `${TYP}; charset=utf-8` }, 'VERIFY_TYPE_INVALID'],
    ['typ absent', {}, 'VERIFY_TYPE_INVALID'],
    ['typ a number', { typ: 1 }, 'VERIFY_TYPE_INVALID'],
    ['typ an array', { typ: [TYP] }, 'VERIFY_TYPE_INVALID'],
  ];
  for (const [name, header, expected] of table) {
    test(`${name} → ${expected}`, async () => {
      assert.equal(await codeOf(await signRaw(header, claims())), expected);
    });
  }
});

describe('aud: one audience, this runner (RFC 8725 §3.9)', () => {
  const table: [string, unknown, string][] = [
    ['the runner name', RUNNER, 'OK'],
    ['a one-element array with the runner', [RUNNER], 'VERIFY_CLAIM_INVALID'],
    ['an array with the runner and another', [RUNNER, 'other-runner'], 'VERIFY_CLAIM_INVALID'],
    ['an array with another first', ['other-runner', RUNNER], 'VERIFY_CLAIM_INVALID'],
    ['an empty array', [], 'VERIFY_CLAIM_INVALID'],
    ['another runner', 'other-runner', 'VERIFY_CLAIM_INVALID'],
    ['the runner name in upper case', RUNNER.toUpperCase(), 'VERIFY_CLAIM_INVALID'],
    ['the runner name with a trailing space', `${RUNNER} `, 'VERIFY_CLAIM_INVALID'],
    ['the runner name as a prefix', `${RUNNER}-2`, 'VERIFY_CLAIM_INVALID'],
    ['empty', '', 'VERIFY_CLAIM_INVALID'],
    ['a number', 1, 'VERIFY_CLAIM_INVALID'],
    ['null', null, 'VERIFY_CLAIM_INVALID'],
    ['an object', { aud: RUNNER }, 'VERIFY_CLAIM_INVALID'],
  ];
  for (const [name, aud, expected] of table) {
    test(`${name} → ${expected}`, async () => {
      assert.equal(await codeOf(await signRaw({ typ: TYP }, claims({ aud }))), expected);
    });
  }
  test('aud absent → VERIFY_CLAIM_INVALID', async () => {
    const { aud: _, ...rest } = claims();
    assert.equal(await codeOf(await signRaw({ typ: TYP }, rest)), 'VERIFY_CLAIM_INVALID');
  });
});

const token = await sign(key);
describe('whitespace around or inside the compact token is refused, never trimmed', () => {
  const WHITESPACE = [' ', '\t', '\n', '\r', '\r\n', '\v', '\f', '\u00a0', '\u2028', '\u3000', '\ufeff'];
  test('the token as signed is accepted, by receive and verify', async () => {
    assert.deepEqual(receive({ body: token, contentType: 'application/jwt' }, { maxTokenBytes: 64 * 1024 }), {
      ok: true,
      value: token,
    });
    assert.equal(await codeOf(token), 'OK');
  });
  const named: [string, string][] = [
    ['a trailing LF (echo, editors)', `${token}\n`],
    ['a trailing CRLF', `${token}\r\n`],
    ['a leading space', ` ${token}`],
    ['a space after the first dot', token.replace('.', '. ')],
    ['a line break inside the signature', `${token.slice(0, -10)}\n${token.slice(-10)}`],
  ];
  for (const [name, body] of named) {
    test(`${name} → RECEIVE_MALFORMED at intake, VERIFY_MALFORMED if stored`, async () => {
      const r = receive({ body, contentType: 'application/jwt' }, { maxTokenBytes: 64 * 1024 });
      assert.equal(r.ok ? 'ok' : r.error.code, 'RECEIVE_MALFORMED');
      if (!r.ok) assert.match(r.error.message, /whitespace/);
      assert.equal(await codeOf(body), 'VERIFY_MALFORMED');
    });
  }
  test('property: any whitespace at any position, as text or bytes, is refused by receive and by verify', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: token.length }),
        fc.constantFrom(...WHITESPACE),
        fc.boolean(),
        async (at, ws, bytes) => {
          const text = token.slice(0, at) + ws + token.slice(at);
          const r = receive({ body: bytes ? new TextEncoder().encode(text) : text }, { maxTokenBytes: 64 * 1024 });
          assert.equal(r.ok ? 'ok' : r.error.code, 'RECEIVE_MALFORMED');
          assert.equal(await codeOf(text), 'VERIFY_MALFORMED');
        },
      ),
      { numRuns: 300 },
    );
  });
});
