import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { receive } from '../../src/receive/receive.ts';

const limits = { maxTokenBytes: 1024 };

test('receive accepts a compact JWS sent as application/jwt, exactly as sent', () => {
  const r = receive({ body: 'aGVhZA.cGF5bG9hZA.c2ln', contentType: 'application/jwt; charset=utf-8' }, limits);
  assert.deepEqual(r, { ok: true, value: 'aGVhZA.cGF5bG9hZA.c2ln' });
});

test('receive never trims: whitespace around the token is RECEIVE_MALFORMED (more in token-exact.test.ts)', () => {
  const r = receive({ body: ' aGVhZA.cGF5bG9hZA.c2ln\n', contentType: 'application/jwt; charset=utf-8' }, limits);
  assert.equal(r.ok ? 'ok' : r.error.code, 'RECEIVE_MALFORMED');
});

for (const [name, body, contentType, code] of [
  ['too large, before any parsing', 'a'.repeat(1025), 'application/jwt', 'RECEIVE_TOO_LARGE'],
  ['JSON body', '{"token":"a.b.c"}', 'application/json', 'RECEIVE_UNSUPPORTED_MEDIA_TYPE'],
  ['two parts', 'aaa.bbb', 'application/jwt', 'RECEIVE_MALFORMED'],
  ['JWE (five parts)', 'a.b.c.d.e', 'application/jwt', 'RECEIVE_MALFORMED'],
  ['non base64url characters', 'a+b.c/d.e=', 'application/jwt', 'RECEIVE_MALFORMED'],
  ['empty', '', undefined, 'RECEIVE_MALFORMED'],
] as const) {
  test(`receive rejects ${name} with ${code}`, () => {
    const r = receive({ body, contentType }, limits);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, code);
  });
}

test('receive never throws and only passes three base64url parts (property)', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.uint8Array().map((u) => Buffer.from(u).toString('latin1')),
      ),
      (body) => {
        const r = receive({ body }, limits);
        if (r.ok) assert.match(r.value, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      },
    ),
    { numRuns: 500 },
  );
});

// Red team 15 (docs/reviews/2026-12-02-red-team-15.md): a content coding and a body the HTTP
// reader stopped reading over the limit.
test('receive refuses any Content-Encoding but identity, whatever the body (property)', () => {
  fc.assert(
    fc.property(fc.string(), (coding) => {
      const r = receive(
        { body: 'aGVhZA.cGF5bG9hZA.c2ln', contentType: 'application/jwt', contentEncoding: coding },
        limits,
      );
      const identity = coding.trim().toLowerCase() === 'identity';
      assert.equal(r.ok ? 'ok' : r.error.code, identity ? 'ok' : 'RECEIVE_UNSUPPORTED_MEDIA_TYPE');
    }),
    { numRuns: 500 },
  );
  for (const coding of ['gzip', 'br', 'deflate, gzip', '']) {
    const r = receive(
      { body: 'aGVhZA.cGF5bG9hZA.c2ln', contentType: 'application/jwt', contentEncoding: coding },
      limits,
    );
    assert.equal(r.ok ? 'ok' : r.error.code, 'RECEIVE_UNSUPPORTED_MEDIA_TYPE', coding);
  }
});

test('receive: a body not read whole (over) is RECEIVE_TOO_LARGE naming what is known of its size', () => {
  const cases = [
    [
      { body: new Uint8Array(0), over: { declared: 10_000_000_000 } },
      'assignment is 10000000000 bytes (Content-Length); the limit is 1024',
    ],
    [{ body: new Uint8Array(1025), over: {} }, 'assignment is more than 1024 bytes; the limit is 1024'],
    [{ body: 'a'.repeat(2000) }, 'assignment is 2000 bytes; the limit is 1024'],
  ] as const;
  for (const [raw, message] of cases) {
    const r = receive({ ...raw, contentType: 'application/jwt' }, limits);
    assert.deepEqual(r.ok ? 'ok' : [r.error.code, r.error.message], ['RECEIVE_TOO_LARGE', message]);
  }
});
