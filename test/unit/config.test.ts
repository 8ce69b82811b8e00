import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { MINIMAL_CONFIG_YAML } from '../support/config.ts';

const minimal = MINIMAL_CONFIG_YAML;

const seedValues = `
runner:
  name: production-runner
  token: abc
  resources:
    requests: { memory: "256Mi", cpu: "100m" }
    limits: { memory: "1Gi", cpu: "500m" }
  workflow:
    namespace: kubiya-workflows
    serviceAccount: kubiya-executor
    defaultTimeout: 30m
    maxConcurrent: 10
  security:
    podSecurityStandard: restricted
    allowPrivileged: false
    runAsNonRoot: true
  network:
    dnsPolicy: ClusterFirst
    enableServiceLinks: false
  storage:
    workspaceSize: 10Gi
    storageClass: fast-ssd
controlPlane: { issuer: https://cp, jwksUrl: "https://cp/.well-known/jwks.json" }
policy: { bundle: /b }
audit: { dir: /a }
`;

test('the seed values.yaml section parses, with Kubernetes durations and quantities', () => {
  const r = loadConfig(seedValues, {});
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  assert.equal(r.value.runner.workflow.defaultTimeout, 1800);
  assert.equal(r.value.runner.workflow.serviceAccount, 'kubiya-executor');
  assert.equal(r.value.runner.storage.workspaceSize, '10Gi');
  assert.equal(r.value.server.port, 8080);
});

test('defaults fill what the file leaves out, and the result is frozen', () => {
  const r = loadConfig(minimal, {});
  assert.ok(r.ok);
  assert.equal(r.value.runner.workflow.namespace, 'kubiya-workflows');
  assert.equal(r.value.runner.workflow.serviceAccount, 'kubiya-workflow');
  assert.deepEqual(r.value.controlPlane.algorithms, ['EdDSA', 'ES256']);
  assert.ok(Object.isFrozen(r.value.runner.workflow));
  assert.throws(() => {
    (r.value.runner as { name: string }).name = 'x';
  }, TypeError);
});

test('environment overrides apply (text as written, the port and maxConcurrent as decimal integers)', () => {
  const r = loadConfig(minimal, { RUNNER_TOKEN: '0123', KUBIYA_SERVER_PORT: '9090', KUBIYA_LOG_LEVEL: 'debug' });
  assert.ok(r.ok);
  assert.equal(r.value.runner.token, '0123');
  assert.equal(r.value.server.port, 9090);
  assert.equal(r.value.log.level, 'debug');
});

test('every problem is reported with its path, unknown keys included', () => {
  const bad = `
runner:
  name: Production_Runner
  colour: blue
  workflow: { defaultTimeout: forever, maxConcurrent: 0 }
  security: { allowPrivileged: true }
  storage: { workspaceSize: lots }
controlPlane: { issuer: x }
policy: {}
audit: { dir: /a }
`;
  const r = loadConfig(bad, {});
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, 'CONFIG_INVALID');
  const paths = (r.error.details?.issues ?? []).map((i) => i.path);
  for (const p of [
    'runner.name',
    'runner',
    'runner.workflow.defaultTimeout',
    'runner.workflow.maxConcurrent',
    'runner.security.allowPrivileged',
    'runner.storage.workspaceSize',
    'controlPlane.jwksFile',
    'policy.bundle',
  ]) {
    assert.ok(paths.includes(p), `expected a problem at ${p}; got ${paths.join(', ')}`);
  }
  assert.match(r.error.message, /colour/);
});

test('YAML that is not a mapping, has aliases bombs or duplicate keys is refused', () => {
  for (const text of ['- a\n- b', 'a: &x [1]\nb: *x', 'runner: {}\nrunner: {}', ': : :']) {
    const r = loadConfig(text, {});
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.equal(r.error.code, 'CONFIG_INVALID');
  }
});

test('the token never appears in a config error', () => {
  const r = loadConfig('runner: { name: BAD, token: s3cr3t-token }', {});
  assert.equal(r.ok, false);
  if (!r.ok) assert.ok(!JSON.stringify(r.error).includes('s3cr3t-token'));
});

test('egress.dnsNamespace: kube-system by default, any DNS label accepted, anything else refused with its path', () => {
  const d = loadConfig(minimal, {});
  assert.ok(d.ok);
  assert.equal(d.value.egress.dnsNamespace, 'kube-system');
  const set = loadConfig(`${minimal}egress: { dnsNamespace: coredns }\n`, {});
  assert.ok(set.ok);
  assert.equal(set.value.egress.dnsNamespace, 'coredns');
  for (const bad of ['Kube_System', '""', "'-dns'", 'a.b', `${'x'.repeat(64)}`, '[]']) {
    const r = loadConfig(`${minimal}egress: { dnsNamespace: ${bad} }\n`, {});
    assert.equal(r.ok ? 'ok' : (r.error.details?.issues ?? [])[0]?.path, 'egress.dnsNamespace', bad);
  }
  const unknown = loadConfig(`${minimal}egress: { dnsNamespaces: [kube-system] }\n`, {});
  assert.equal(unknown.ok, false, 'strict: an unknown key in egress is refused');
});

// A bundle fetched from a server decides every step: unsigned (no verificationKeys) it is refused,
// over http and https alike (red-team review, round 2: the chart and the schema took plain http).
test('policy.service needs policy.verificationKeys', () => {
  const withPolicy = (policy: string) =>
    minimal.replace('policy:\n  bundle: /etc/kubiya/policy/bundle.tar.gz\n', `${policy}\n`);
  for (const url of ['http://b.example/x.tar.gz', 'https://b.example/x.tar.gz']) {
    const r = loadConfig(withPolicy(`policy: { bundle: /b, service: { url: "${url}" } }`), {});
    assert.ok(!r.ok, url);
    assert.equal(r.error.code, 'CONFIG_INVALID');
    assert.match(r.error.message, /policy\.service.*verificationKeys/);
    const signed = loadConfig(
      withPolicy(`policy: { bundle: /b, verificationKeys: [/k.pem], service: { url: "${url}" } }`),
      {},
    );
    assert.ok(signed.ok, `${url} with keys`);
  }
});

/**
 * Red-team round 2, finding 2 (JWKS half): the trusted keys and the runner token travel over
 * controlPlane.jwksUrl and controlPlane.url. Plain http is accepted only to a loopback host (the
 * WHATWG parser normalises the spelling first), or when controlPlane.insecureHttp says so.
 */
test('controlPlane url and jwksUrl: https, or http to loopback only, unless insecureHttp', () => {
  const cp = (key: string, url: string, insecure = false) =>
    loadConfig(
      minimal.replace(
        '  jwksFile: /etc/kubiya/jwks.json\n',
        `  jwksFile: /etc/kubiya/jwks.json\n  ${key}: ${JSON.stringify(url)}\n${insecure ? '  insecureHttp: true\n' : ''}`,
      ),
      {},
    );
  const accepted = [
    'https://cp.example.com',
    'https://10.0.0.1:8443/jwks',
    'http://127.0.0.1:8080',
    'http://127.1/jwks',
    'http://127.255.0.9',
    'http://0x7f.1/x',
    'http://localhost:9/x',
    'http://LOCALHOST',
    'http://[::1]:8080/x',
    'HTTPS://CP.EXAMPLE.COM',
  ];
  const refused = [
    'http://cp.example.com',
    'http://10.0.0.1:8080',
    'http://169.254.169.254/latest',
    'http://localhost.evil.example',
    'http://127.0.0.1.nip.io',
    'http://[::ffff:127.0.0.1]',
    'http://0.0.0.0:8080',
    'http://[::]',
    'http://128.0.0.1',
  ];
  for (const key of ['url', 'jwksUrl'])
    for (const url of [...accepted, ...refused]) {
      const r = cp(key, url);
      assert.equal(r.ok, accepted.includes(url), `${key}=${url}: ${JSON.stringify(!r.ok && r.error.message)}`);
      if (!r.ok) {
        assert.equal(r.error.code, 'CONFIG_INVALID');
        assert.match(r.error.message, new RegExp(`controlPlane\\.${key}.*must be https`));
      }
      assert.ok(cp(key, url, true).ok, `${key}=${url} with insecureHttp`);
    }
  for (const url of ['https://cp/a b', 'https://cp/\n  x: 1', 'https://cp/\u0000', `https://cp/${'a'.repeat(2048)}`])
    assert.equal(cp('jwksUrl', url).ok, false, JSON.stringify(url));
});

test('controlPlane.jwksStaleIfError: 0 to 24h', () => {
  const stale = (v: string) =>
    loadConfig(
      minimal.replace('  jwksFile: /etc/kubiya/jwks.json\n', `  jwksFile: /j\n  jwksStaleIfError: ${v}\n`),
      {},
    );
  for (const v of ['0', '0s', '1h', '24h', '86400', '1440m']) assert.ok(stale(v).ok, v);
  for (const v of ['24h0m1s', '86401', '25h', '2147483647']) assert.equal(stale(v).ok, false, v);
});

/** server.maxConnections as written → the value taken, or refused (its message). */
const MAX_CONNECTIONS: [written: string | undefined, taken: number | RegExp][] = [
  [undefined, 256],
  ['8', 8],
  ['1024', 1024],
  ['65536', 65536],
  ['7', /server\.maxConnections: .*>=8/],
  ['0', /server\.maxConnections: .*>=8/],
  ['-1', /server\.maxConnections: .*>=8/],
  ['65537', /server\.maxConnections: .*<=65536/],
  ['1.5', /server\.maxConnections: .*int/],
  ['"256"', /server\.maxConnections: .*number/],
  ['null', /server\.maxConnections: /],
];

test('server.maxConnections: a whole number from 8 to 65536, 256 by default', () => {
  const wrong: string[] = [];
  for (const [written, taken] of MAX_CONNECTIONS) {
    const yaml = written === undefined ? minimal : `${minimal}\nserver: { maxConnections: ${written} }\n`;
    const r = loadConfig(yaml, {});
    const got = r.ok ? r.value.server.maxConnections : r.error.message;
    if (typeof taken === 'number' ? got !== taken : typeof got !== 'string' || !taken.test(got))
      wrong.push(`${String(written)}: ${String(got)}`);
  }
  assert.deepEqual(wrong, []);
});
