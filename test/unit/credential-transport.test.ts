import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load.ts';

/**
 * Red-team 2026-11-30 round 3, finding 3, in the runner's config schema (the chart:
 * test/chart/secret-echo.test.ts). The class: **a credential sent over plain http to a host that is
 * not loopback**. Every URL of the config × the credential sent to it:
 *
 * | URL                  | credential                    | rule                                                  |
 * |----------------------|-------------------------------|-------------------------------------------------------|
 * | controlPlane.url     | the runner token (always)     | https or loopback, unless controlPlane.insecureHttp   |
 * | controlPlane.jwksUrl | none, but it is the trust root | https or loopback, unless controlPlane.insecureHttp  |
 * | policy.service.url   | bearerTokenFile, when set     | https or loopback when bearerTokenFile is set; no opt-out |
 * | policy.service.url   | none                          | any http(s) (the bundle is signed: verificationKeys)  |
 * | audit.ship.url       | none (no credential field)    | any http(s): decision in docs/configuration.md        |
 *
 * The reported example: `http://bundles.example.com/b.tar.gz` with a bearer token was accepted.
 */
const doc = (service: string, ship = '') => `
runner: { name: r }
controlPlane: { issuer: https://cp, jwksFile: /k.json }
policy: { bundle: /b, verificationKeys: [/k.pem], service: ${service} }
audit: { dir: /a${ship} }
`;
const service = (url: string, token: boolean) =>
  doc(`{ url: ${JSON.stringify(url)}${token ? ', bearerTokenFile: /etc/kubiya/t/token' : ''} }`);

const REMOTE = [
  'http://bundles.example.com/b.tar.gz', // the reported example
  'http://10.0.0.5:8080/b.tar.gz',
  'HTTP://BUNDLES.EXAMPLE.COM/b',
  'http://127.0.0.1.example.com/b',
  'http://localhost.example.com/b',
  'http://[::2]/b',
  'http://0.0.0.0/b',
];
const LOCAL_OR_TLS = [
  'https://bundles.example.com/b.tar.gz',
  'HTTPS://bundles.example.com/b',
  'http://127.0.0.1:9000/b.tar.gz',
  'http://127.1.2.3/b',
  'http://localhost:9000/b',
  'http://LOCALHOST/b',
  'http://[::1]:9000/b',
];

test('policy.service.url with bearerTokenFile: https or loopback only; without a token any http(s)', () => {
  for (const url of REMOTE) {
    const r = loadConfig(service(url, true), {});
    assert.ok(!r.ok, url);
    assert.equal(r.error.code, 'CONFIG_INVALID');
    assert.match(r.error.message, /policy\.service\.url.*must be https .*bearerTokenFile/s, url);
    assert.ok(loadConfig(service(url, false), {}).ok, `${url} without a token`);
  }
  for (const url of LOCAL_OR_TLS) {
    assert.ok(loadConfig(service(url, true), {}).ok, url);
    assert.ok(loadConfig(service(url, false), {}).ok, url);
  }
});

test('audit.ship.url carries no credential: plain http is accepted (documented decision)', () => {
  const r = loadConfig(doc('{ url: https://b.example/b }', ', ship: { url: "http://audit.example.com/ingest" }'), {});
  assert.ok(r.ok);
});

test('generated non-loopback http hosts with a token are refused; the same over https is accepted (fast-check)', () => {
  const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
  const host = fc.oneof(
    fc.tuple(label, label).map(([a, b]) => `${a}.${b}`),
    fc
      .tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.nat(255))
      .filter(([a]) => a !== 127)
      .map((p) => p.join('.')),
  );
  fc.assert(
    fc.property(host, fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }), (h, port) => {
      const authority = port === undefined ? h : `${h}:${port}`;
      if (h === 'localhost') return true;
      return (
        !loadConfig(service(`http://${authority}/b.tar.gz`, true), {}).ok &&
        loadConfig(service(`https://${authority}/b.tar.gz`, true), {}).ok
      );
    }),
    { numRuns: 200 },
  );
});
