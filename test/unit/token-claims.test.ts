/**
 * Claim strings and token bytes exactly as signed (issue 14 §5/§7; docs/reviews/2026-11-29-red-team.md findings 6, 11, 12).
 *
 * Classes, each a table below (every token is correctly signed, so a refusal is the rule's doing):
 * - (6) the claim strings the runner records or acts on — `iss`, `sub`, `jti`, a cancellation's
 *   `cancel` — are well-formed Unicode, free of NUL/control/bidi characters, bounded; `jti` and
 *   `cancel` match [A-Za-z0-9._~:-]{1,128}. Refused with VERIFY_CLAIM_INVALID before any record
 *   is built, and the refusal is itself audited with a canonicalisable record that never echoes
 *   the value. Property: whatever the jti, admission ends in OK or VERIFY_CLAIM_INVALID, never in
 *   AUDIT_RECORD_INVALID, and every record canonicalises.
 * - (11) the header and payload JSON start at their first byte with `{` (a BOM or whitespace is a
 *   parser differential: jose strips a BOM, Go's encoding/json refuses it): VERIFY_MALFORMED;
 *   `zip` (JWE-only, RFC 7516) like `b64`: VERIFY_HEADER_UNSUPPORTED.
 * - (12) `sub` equals `workflow.id` exactly: VERIFY_CLAIM_INVALID otherwise.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { canonicalJson } from '../../src/audit/canonical.ts';
import { admit } from '../../src/admission/admit.ts';
import { cancelRun } from '../../src/admission/cancel.ts';
import { JTI_PATTERN } from '../../src/verify/claims.ts';
import { verify, verifyCancellation } from '../../src/verify/verify.ts';
import { memoryRunner } from '../support/memory-runner.ts';
import { claimsAt, ISSUER, NOW, RUNNER, signBytes, testKeys, verifyOptions, workflow } from '../support/tokens.ts';

const options = verifyOptions(['EdDSA']);
const { key, keys } = await testKeys();
const iat = Math.floor(NOW.getTime() / 1000);
const TYP = 'kubiya-assignment+jwt';
const CANCEL_TYP = 'kubiya-cancel+jwt';
const claims = claimsAt;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

const signClaims = (c: Record<string, unknown>, header: Record<string, unknown> = { typ: TYP }): Promise<string> =>
  signBytes(key, json({ alg: 'EdDSA', kid: 'k1', ...header }), json(c));

async function codeOf(token: string): Promise<string> {
  const r = await verify(token, options, { keys, now: () => NOW });
  return r.ok ? 'OK' : r.error.code;
}

/** No raw control, bidi or lone-surrogate character in a message (it goes to HTTP, audit, logs). */
function assertPrintable(message: string): void {
  // eslint-disable-next-line no-control-regex -- the point is to find control characters
  assert.doesNotMatch(message, /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u);
  assert.ok(message.isWellFormed(), 'no lone surrogate in the message');
}

const BAD_TEXT: [string, string][] = [
  ['a lone high surrogate', 'abc\ud800'],
  ['a lone low surrogate', 'abc\udc00'],
  ['a NUL', 'a\u0000b'],
  ['a newline', 'a\nb'],
  ['a tab', 'a\tb'],
  ['DEL', 'a\u007fb'],
  ['a C1 control', 'a\u0085b'],
  ['RIGHT-TO-LEFT OVERRIDE', 'a\u202eb'],
  ['LEFT-TO-RIGHT ISOLATE', 'a\u2066b'],
  ['RIGHT-TO-LEFT MARK', 'a\u200fb'],
  ['ARABIC LETTER MARK', 'a\u061cb'],
];

describe('(6) jti: a bounded printable charset', () => {
  const table: [string, unknown, string][] = [
    ['plain', 'jti-1', 'OK'],
    ['mixed case', 'CaseJti', 'OK'],
    ['a UUID URN', 'urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e', 'OK'],
    ['base64url', 'aB3_-x9Q', 'OK'],
    ['dots and tildes', 'a.b~c', 'OK'],
    ['128 characters', 'j'.repeat(128), 'OK'],
    ['129 characters', 'j'.repeat(129), 'VERIFY_CLAIM_INVALID'],
    ['empty', '', 'VERIFY_CLAIM_INVALID'],
    ['a number', 42, 'VERIFY_CLAIM_INVALID'],
    ['a space', 'a b', 'VERIFY_CLAIM_INVALID'],
    ['a slash', 'a/b', 'VERIFY_CLAIM_INVALID'],
    ['a non-ASCII letter', 'jtié', 'VERIFY_CLAIM_INVALID'],
    ['an emoji', 'jti-😀', 'VERIFY_CLAIM_INVALID'],
    ...BAD_TEXT.map(([name, v]): [string, unknown, string] => [name, v, 'VERIFY_CLAIM_INVALID']),
  ];
  for (const [name, jti, expected] of table) {
    test(`jti with ${name} → ${expected}`, async () => {
      assert.equal(await codeOf(await signClaims(claims({ jti }))), expected);
    });
  }
});

describe('(6) sub and iss: well-formed, no control or bidi, bounded', () => {
  for (const [name, v] of BAD_TEXT) {
    test(`sub with ${name} (and workflow.id the same) → VERIFY_CLAIM_INVALID`, async () => {
      assert.equal(
        await codeOf(await signClaims(claims({ sub: v, workflow: { ...workflow(), id: v } }))),
        'VERIFY_CLAIM_INVALID',
      );
    });
    test(`iss with ${name} → VERIFY_CLAIM_INVALID`, async () => {
      assert.equal(await codeOf(await signClaims(claims({ iss: `${ISSUER}${v}` }))), 'VERIFY_CLAIM_INVALID');
    });
  }
  test('sub of 257 characters → VERIFY_CLAIM_INVALID', async () => {
    const id = 'w'.repeat(257);
    assert.equal(
      await codeOf(await signClaims(claims({ sub: id, workflow: { ...workflow(), id } }))),
      'VERIFY_CLAIM_INVALID',
    );
  });
});

describe('(12) sub is workflow.id, exactly', () => {
  const table: [string, Record<string, unknown>, string][] = [
    ['equal', {}, 'OK'],
    ['another workflow', { sub: 'other-wf' }, 'VERIFY_CLAIM_INVALID'],
    ['case differs', { sub: 'WF-1' }, 'VERIFY_CLAIM_INVALID'],
    ['trailing space', { sub: 'wf-1 ' }, 'VERIFY_CLAIM_INVALID'],
    ['workflow.id missing', { workflow: { name: 'x', runId: 'run-1', steps: [] } }, 'VERIFY_CLAIM_INVALID'],
    ['workflow.id a number', { sub: '1', workflow: { ...workflow(), id: 1 } }, 'VERIFY_CLAIM_INVALID'],
    ['workflow not an object', { workflow: 'wf-1' }, 'VERIFY_CLAIM_INVALID'],
  ];
  for (const [name, over, expected] of table) {
    test(`${name} → ${expected}`, async () => {
      assert.equal(await codeOf(await signClaims(claims(over))), expected);
    });
  }
});

describe('(11) header and payload exactly as signed', () => {
  const header = json({ alg: 'EdDSA', kid: 'k1', typ: TYP });
  const payload = json(claims());
  const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
  const table: [string, Buffer, Buffer, string][] = [
    ['baseline', header, payload, 'OK'],
    ['a BOM before the header', Buffer.concat([BOM, header]), payload, 'VERIFY_MALFORMED'],
    ['a BOM before the payload', header, Buffer.concat([BOM, payload]), 'VERIFY_MALFORMED'],
    ['a space before the header', Buffer.concat([Buffer.from(' '), header]), payload, 'VERIFY_MALFORMED'],
    ['a newline before the payload', header, Buffer.concat([Buffer.from('\n'), payload]), 'VERIFY_MALFORMED'],
    ['a tab before the payload', header, Buffer.concat([Buffer.from('\t'), payload]), 'VERIFY_MALFORMED'],
    [
      'a UTF-16 BOM before the payload',
      header,
      Buffer.concat([Buffer.from([0xfe, 0xff]), payload]),
      'VERIFY_MALFORMED',
    ],
    ['a payload that is an array', header, json([claims()]), 'VERIFY_MALFORMED'],
  ];
  for (const [name, h, p, expected] of table) {
    test(`${name} → ${expected}`, async () => {
      assert.equal(await codeOf(await signBytes(key, h, p)), expected);
    });
  }
  const headers: [string, Record<string, unknown>, string][] = [
    ['zip: DEF', { typ: TYP, zip: 'DEF' }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['zip: DEF, crit [zip]', { typ: TYP, zip: 'DEF', crit: ['zip'] }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['zip: null', { typ: TYP, zip: null }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['zip: ""', { typ: TYP, zip: '' }, 'VERIFY_HEADER_UNSUPPORTED'],
    ['zip and b64', { typ: TYP, zip: 'DEF', b64: false }, 'VERIFY_HEADER_UNSUPPORTED'],
  ];
  for (const [name, h, expected] of headers) {
    test(`${name} → ${expected}`, async () => {
      assert.equal(await codeOf(await signClaims(claims(), h)), expected);
    });
  }
  test('a zip cancellation is refused too', async () => {
    const t = await signClaims(
      { iss: ISSUER, aud: RUNNER, jti: 'c-1', iat, nbf: iat, exp: iat + 300, cancel: 'jti-1' },
      { typ: CANCEL_TYP, zip: 'DEF' },
    );
    const r = await verifyCancellation(t, options, { keys, now: () => NOW });
    assert.equal(r.ok ? 'OK' : r.error.code, 'VERIFY_HEADER_UNSUPPORTED');
  });
});

describe('(6) cancel: a jti', () => {
  const cancellation = (cancel: unknown): Promise<string> =>
    signClaims({ iss: ISSUER, aud: RUNNER, jti: 'c-1', iat, nbf: iat, exp: iat + 300, cancel }, { typ: CANCEL_TYP });
  const table: [string, unknown, string][] = [
    ['plain', 'jti-1', 'OK'],
    ['129 characters', 'j'.repeat(129), 'VERIFY_CLAIM_INVALID'],
    ['a space', 'a b', 'VERIFY_CLAIM_INVALID'],
    ['a number', 7, 'VERIFY_CLAIM_INVALID'],
    ...BAD_TEXT.map(([name, v]): [string, unknown, string] => [name, v, 'VERIFY_CLAIM_INVALID']),
  ];
  for (const [name, cancel, expected] of table) {
    test(`cancel with ${name} → ${expected}`, async () => {
      const r = await verifyCancellation(await cancellation(cancel), options, { keys, now: () => NOW });
      assert.equal(r.ok ? 'OK' : r.error.code, expected);
      if (!r.ok) assertPrintable(r.error.message);
    });
  }
  test('a cancellation whose own jti is bad → VERIFY_CLAIM_INVALID', async () => {
    const t = await signClaims(
      { iss: ISSUER, aud: RUNNER, jti: 'c\u202e1', iat, nbf: iat, exp: iat + 300, cancel: 'jti-1' },
      { typ: CANCEL_TYP },
    );
    const r = await verifyCancellation(t, options, { keys, now: () => NOW });
    assert.equal(r.ok ? 'OK' : r.error.code, 'VERIFY_CLAIM_INVALID');
  });
});

describe('(6) at admission: refused before any record names the run, and the refusal is audited', () => {
  const closers: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });
  const runner = async () => {
    const r = await memoryRunner({ keys, now: () => NOW });
    closers.push(r.close);
    return r.deps;
  };
  const records = (d: Awaited<ReturnType<typeof runner>>) => d.audit.records;

  // The reported examples (docs/reviews/2026-11-29-red-team.md #6): AUDIT_RECORD_INVALID and nothing recorded, before.
  for (const [name, over] of [
    ['jti with a lone surrogate', { jti: 'abc\ud800' }],
    ['sub with a lone surrogate', { sub: 'wf\udbff', workflow: { ...workflow(), id: 'wf\udbff' } }],
    ['jti with a NUL', { jti: 'a\u0000b' }],
    ['jti with a newline and U+202E', { jti: 'a\n\u202eb' }],
  ] as const) {
    test(`${name}: VERIFY_CLAIM_INVALID, one canonicalisable verify deny record without the value`, async () => {
      const d = await runner();
      const r = await admit({ body: await signClaims(claims(over)), contentType: 'application/jwt' }, d);
      assert.equal(r.ok ? 'OK' : r.error.code, 'VERIFY_CLAIM_INVALID');
      if (!r.ok) assertPrintable(r.error.message);
      assert.deepEqual(
        records(d).map((x) => `${x.stage}:${x.outcome}:${x.code ?? ''}`),
        ['verify:deny:VERIFY_CLAIM_INVALID'],
      );
      for (const rec of records(d)) {
        assert.equal(typeof canonicalJson(rec), 'string');
        assertPrintable(JSON.stringify(rec));
      }
      assert.equal(d.runs.runs.size, 0, 'nothing claimed');
    });
  }

  test('a bad cancel claim is refused and audited; no run is marked', async () => {
    const d = await runner();
    const t = await signClaims(
      { iss: ISSUER, aud: RUNNER, jti: 'c-1', iat, nbf: iat, exp: iat + 300, cancel: 'x\u0000\u202e' },
      { typ: CANCEL_TYP },
    );
    const r = await cancelRun({ body: t }, d);
    assert.equal(r.ok ? 'OK' : r.error.code, 'VERIFY_CLAIM_INVALID');
    assert.deepEqual(
      records(d).map((x) => `${x.stage}:${x.outcome}`),
      ['cancel:deny'],
    );
    assert.equal(typeof canonicalJson(records(d)[0]), 'string');
  });

  test('ASSIGNMENT_REPLAYED names the jti; the message is printable', async () => {
    const d = await runner();
    const t = await signClaims(claims({ jti: 'urn:x:Replay~1' }));
    assert.ok((await admit({ body: t }, d)).ok);
    const again = await admit({ body: t }, d);
    assert.equal(again.ok ? 'OK' : again.error.code, 'ASSIGNMENT_REPLAYED');
    if (!again.ok) assertPrintable(again.error.message);
  });

  test('property: whatever the jti, admission ends OK or VERIFY_CLAIM_INVALID, and every record canonicalises', async () => {
    const d = await runner();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 140, unit: 'binary' }), fc.stringMatching(/^[A-Za-z0-9._~:-]{1,128}$/)),
        async (jti) => {
          const r = await admit(
            { body: await signClaims(claims({ jti, workflow: { ...workflow(), runId: `run-p${++n}` } })) },
            d,
          );
          const code = r.ok ? 'OK' : r.error.code;
          assert.equal(
            code,
            JTI_PATTERN.test(jti) ? (code === 'ASSIGNMENT_REPLAYED' ? code : 'OK') : 'VERIFY_CLAIM_INVALID',
          );
          if (!r.ok) assertPrintable(r.error.message);
        },
      ),
      { numRuns: 150 },
    );
    for (const rec of records(d)) assert.equal(typeof canonicalJson(rec), 'string');
  });
});
