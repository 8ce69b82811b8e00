import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { maskKeyMaterial } from '../../src/policy/key-material.ts';

/**
 * Red-team 2026-11-30 round 3, finding 2 (the CLI side). The class: **a value that may hold a
 * secret is printed by a refusal we relay**. `policy eval|build --values` relays helm's stderr; the
 * chart no longer echoes values (test/chart/secret-echo.test.ts), and whatever helm or opa might
 * still print goes through maskKeyMaterial, which now masks a URL's `user:password@` as well as
 * key material. Variants: the reported message shape, Go's %q quoting, several URLs in a line,
 * other schemes, user only, generated userinfo (fast-check); a URL without userinfo and an `@` in a
 * path, query or e-mail address stay as they are.
 */
const PASSWORD = 'hunter2-Sup3rSecret';

test('user:password@ in a relayed message is masked (the reported example and variants)', () => {
  const cases = [
    `- at '/audit/ship/url': 'https://shipper:${PASSWORD}@audit.example.com/ingest' does not match pattern`,
    `value "https://shipper:${PASSWORD}@audit.example.com/ingest" is invalid`,
    `a http://u:${PASSWORD}@x.example b ftp://v:${PASSWORD}@y.example/`,
    `https://${PASSWORD}@x.example/`,
    `HTTPS://:${PASSWORD}@x.example/`,
    `postgres://app:${PASSWORD}@db:5432/x`,
  ];
  for (const text of cases) {
    const masked = maskKeyMaterial(text);
    assert.ok(!masked.includes(PASSWORD), masked);
    assert.match(masked, /:\/\/\[masked\]@/, masked);
  }
});

test('URLs without userinfo and other @ are left alone', () => {
  for (const text of [
    'https://bundles.example.com/team@x/b.tar.gz',
    'https://b.example.com:8443/b.tar.gz?u=a@b',
    'mail ops@example.com about it',
    'https://cp.example.com/#a@b',
  ])
    assert.equal(maskKeyMaterial(text), text);
});

test('generated userinfo is always masked (fast-check)', () => {
  const part = fc.stringMatching(/^[A-Za-z0-9._~!$&()*+,;=%-]{6,24}$/);
  fc.assert(
    fc.property(
      fc.constantFrom('http', 'https', 'ftp', 'redis'),
      part,
      part,
      fc.string(),
      (scheme, user, pw, around) => {
        const masked = maskKeyMaterial(`${around} ${scheme}://${user}:${pw}@host.example/x ${around}`);
        return !masked.includes(`${user}:${pw}`) && masked.includes(`${scheme}://[masked]@host.example/x`);
      },
    ),
    { numRuns: 300 },
  );
});
