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
