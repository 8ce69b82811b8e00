import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load.ts';

/**
 * Red-team 2026-11-30, finding 7, in the runner's config schema (the chart's values schema:
 * test/chart/policy-signed-sources.test.ts). The class: **a credential in a URL** — `user:pass@` in
 * `policy.service.url` or `audit.ship.url` sits in the ConfigMap the chart renders, and in every
 * log line or error that names the URL. Variants: user and password, user only, password only,
 * percent-encoded characters, several `@`, upper-case schemes, generated userinfo (fast-check); the
 * benign `@` in a path or query stays accepted. The message never echoes the URL. The bundle
 * service's credential is `policy.service.bearerTokenFile` instead.
 */
const base = (policy: string, ship = '') => `
runner: { name: r }
controlPlane: { issuer: https://cp, jwksFile: /k.json }
policy: ${policy}
audit: { dir: /a${ship} }
`;
const service = (url: string, extra = '') =>
  base(`{ bundle: /b, verificationKeys: [/k.pem], service: { url: ${JSON.stringify(url)}${extra} } }`);
const shipped = (url: string) => base('{ bundle: /b }', `, ship: { url: ${JSON.stringify(url)} }`);

const REFUSED = [
  'https://user:pass@bundles.example.com/b.tar.gz',
  'https://user@bundles.example.com/b.tar.gz',
  'http://:pass@bundles.example.com/b.tar.gz',
  'https://us%65r:p%40ss@bundles.example.com/b.tar.gz',
  'https://a:b@c@bundles.example.com/b.tar.gz',
  'HTTPS://user:pass@bundles.example.com/',
];
const ACCEPTED = ['https://bundles.example.com/team@x/b.tar.gz', 'https://bundles.example.com:8443/b.tar.gz?u=a@b'];

test('policy.service.url and audit.ship.url refuse userinfo, without echoing it; @ elsewhere is fine', () => {
  for (const url of REFUSED)
    for (const [name, doc] of [
      ['service', service(url)],
      ['ship', shipped(url)],
    ] as const) {
      const r = loadConfig(doc, {});
      assert.ok(!r.ok, `${name} ${url}`);
      assert.equal(r.error.code, 'CONFIG_INVALID');
      assert.match(r.error.message, /no user:password@/, `${name} ${url}`);
      assert.ok(!r.error.message.includes('pass@') && !r.error.message.includes('p%40ss'), r.error.message);
    }
  for (const url of ACCEPTED) {
    assert.ok(loadConfig(service(url), {}).ok, url);
    assert.ok(loadConfig(shipped(url), {}).ok, url);
  }
});

test('generated userinfo is always refused (fast-check)', () => {
  const part = fc.stringMatching(/^[A-Za-z0-9._~%!$&'()*+,;=-]{1,12}$/);
  fc.assert(
    fc.property(part, fc.option(part, { nil: undefined }), (user, password) => {
      const url = `https://${user}${password === undefined ? '' : `:${password}`}@bundles.example.com/b.tar.gz`;
      if (!URL.canParse(url)) return true;
      return !loadConfig(service(url), {}).ok && !loadConfig(shipped(url), {}).ok;
    }),
    { numRuns: 200 },
  );
});

test('policy.service.bearerTokenFile: the bundle service credential, as a file path', () => {
  const r = loadConfig(service('https://bundles.example.com/b.tar.gz', ', bearerTokenFile: /etc/kubiya/t/token'), {});
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.equal(r.value.policy.service?.bearerTokenFile, '/etc/kubiya/t/token');
  assert.ok(!loadConfig(service('https://bundles.example.com/b.tar.gz', ', bearerTokenFile: ""'), {}).ok);
  assert.ok(
    !loadConfig(service('https://bundles.example.com/b.tar.gz', ', bearerToken: abc'), {}).ok,
    'no inline token',
  );
});
