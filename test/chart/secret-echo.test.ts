import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { parseAllDocuments } from 'yaml';
import { resolveTools } from '../../src/adapters/tools.ts';
import { CHART } from '../../src/dev/manifest.ts';

/**
 * Red-team 2026-11-30 round 3, findings 2 and 3, in the chart.
 *
 * Finding 2's class: **a value that may hold a secret is printed by a refusal**. Helm prints the
 * whole value a values-schema `pattern` refuses, so a private key pasted into
 * `policy.verificationKeys` (the documented `--set-file` command) or a URL with `user:password@`
 * reached the terminal and CI logs. Secret-bearing values have no pattern now; the templates
 * check them and `fail` naming the path and the rule. Variants: every secret-bearing path
 * (verificationKeys at index 0 and 1, controlPlane.url, controlPlane.jwksUrl, policy.service.url,
 * audit.ship.url) × every private-key encoding / URL-with-password shape (also URLs broken in
 * another way, so a second rule cannot echo it either), and generated passwords (fast-check).
 * Values are passed in a file, never on helm's command line; only helm's stderr is searched.
 *
 * Finding 3's class: **a credential sent over plain http to a host that is not loopback**:
 * `policy.service.url` with `bearerTokenSecret` must be https or http to a loopback host (the
 * runner's rule, src/config/schema.ts); without a token, http stays allowed (a signed bundle).
 */
const run = promisify(execFile);
const tools = resolveTools(['helm']);
if (!tools.ok) throw new Error(tools.error.message);
const helm = tools.value.helm;
let dir = '';
let n = 0;
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed = generateKeyPairSync('ed25519');
const PUBLIC = ec.publicKey.export({ type: 'spki', format: 'pem' }) as string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-chart-echo-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

/** helm template with these values (in a file): its stderr when it fails, undefined and the runner.yaml when it renders. */
async function render(values: unknown): Promise<{ stderr?: string; runnerYaml?: string }> {
  const file = join(dir, `values-${n++}.json`);
  await writeFile(file, JSON.stringify({ runner: { name: 'r', token: 't' }, ...(values as object) }));
  try {
    const { stdout } = await run(helm, ['template', 'x', CHART, '--kube-version', '1.37.2', '-f', file], {
      maxBuffer: 16 * 1024 * 1024,
    });
    const cm = parseAllDocuments(stdout)
      .map((d) => d.toJS() as { kind?: string; metadata?: { name?: string }; data?: Record<string, string> })
      .find((o) => o?.kind === 'ConfigMap' && o.metadata?.name === 'x-kubiya-runner-config');
    return { runnerYaml: cm?.data?.['runner.yaml'] ?? '' };
  } catch (e) {
    return { stderr: (e as { stderr: string }).stderr };
  }
}

const PRIVATE_KEYS: Record<string, string> = {
  'PKCS#8 RSA (the reported example)': rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  'PKCS#1 RSA': rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string,
  'SEC1 EC': ec.privateKey.export({ type: 'sec1', format: 'pem' }) as string,
  'PKCS#8 Ed25519': ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  'encrypted PKCS#8': ec.privateKey.export({
    type: 'pkcs8',
    format: 'pem',
    cipher: 'aes-256-cbc',
    passphrase: 'x',
  }) as string,
  'public then private': `${PUBLIC}${ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string}`,
  JWK: JSON.stringify(ec.privateKey.export({ format: 'jwk' })),
  'private key without line breaks': (ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).replaceAll(
    '\n',
    ' ',
  ),
};
/** The secret part of a key text: every body line (or JWK `d`) of 16 characters or more. */
const secretsOf = (text: string): string[] => {
  const jwk = /"d":"([^"]+)"/.exec(text);
  if (jwk !== null) return [jwk[1]!];
  return text
    .split(/[\n ]/)
    .filter((l) => !l.startsWith('-----') && l.length >= 16 && !PUBLIC.includes(l) && !l.includes('PRIVATE'));
};

test('a private key in policy.verificationKeys is refused naming the index, never printed (finding 2)', async () => {
  for (const [name, key] of Object.entries(PRIVATE_KEYS))
    for (const [i, keys] of [
      [0, [key]],
      [1, [PUBLIC, key]],
    ] as const) {
      const r = await render({ policy: { bundleConfigMap: 'bcm', verificationKeys: keys } });
      assert.ok(r.stderr !== undefined, `${name} at ${i} rendered`);
      assert.match(r.stderr, new RegExp(`policy\\.verificationKeys\\[${i}\\] holds a PRIVATE key`), name);
      for (const s of secretsOf(key)) assert.ok(!r.stderr.includes(s.slice(0, 16)), `${name} at ${i}: echoed`);
    }
  const garbage = await render({ policy: { bundleConfigMap: 'bcm', verificationKeys: ['not a key: s3cr3t-value'] } });
  assert.match(garbage.stderr ?? '', /policy\.verificationKeys\[0\] must be one PEM public key/);
  assert.ok(!(garbage.stderr ?? '').includes('s3cr3t-value'));
  assert.ok((await render({ policy: { bundleConfigMap: 'bcm', verificationKeys: [PUBLIC] } })).runnerYaml);
});

/** Each secret-bearing URL path, with the values it needs to render. */
const URL_PATHS: { path: string; values: (url: string) => unknown }[] = [
  { path: 'controlPlane.url', values: (url) => ({ controlPlane: { url } }) },
  { path: 'controlPlane.jwksUrl', values: (url) => ({ controlPlane: { jwksUrl: url } }) },
  {
    path: 'policy.service.url',
    values: (url) => ({ policy: { verificationKeys: [PUBLIC], service: { url } } }),
  },
  { path: 'audit.ship.url', values: (url) => ({ audit: { ship: { url } } }) },
];
const PASSWORD = 'hunter2-Sup3rSecret';
const USERINFO_URLS = [
  `https://shipper:${PASSWORD}@audit.example.com/ingest`, // the reported example
  `http://shipper:${PASSWORD}@audit.example.com/ingest`,
  `https://:${PASSWORD}@audit.example.com`,
  `https://${PASSWORD}@audit.example.com`,
  `HTTPS://u:${PASSWORD}@audit.example.com/`,
  `https://u:${PASSWORD}@a@audit.example.com/`,
  `ftp://u:${PASSWORD}@audit.example.com/`,
  `https://u:${PASSWORD}@audit example.com/`,
  `https://u:${PASSWORD}@audit.example.com/a b`,
  `https:u:${PASSWORD}@audit.example.com/`,
];

test('a URL with user:password@ is refused naming the path, the password never printed (finding 2)', async () => {
  for (const { path, values } of URL_PATHS)
    for (const url of USERINFO_URLS) {
      const r = await render(values(url));
      assert.ok(r.stderr !== undefined, `${path} ${url} rendered`);
      assert.ok(r.stderr.includes(path), `${path} ${url}: ${r.stderr}`);
      assert.ok(!r.stderr.includes(PASSWORD), `${path} ${url}: echoed`);
    }
});

test('generated passwords in a URL are never printed by helm (fast-check)', async () => {
  const word = fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=%-]{12,24}$/);
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...URL_PATHS), word, async ({ path, values }, password) => {
      const r = await render(values(`https://u:${password}@host.example.com/x`));
      return r.stderr !== undefined && r.stderr.includes(path) && !r.stderr.includes(password);
    }),
    { numRuns: 12 },
  );
});

test('policy.service.url with a bearer token: https or loopback only (finding 3)', async () => {
  const service = (url: string, token: boolean) => ({
    policy: {
      verificationKeys: [PUBLIC],
      service: { url, ...(token ? { bearerTokenSecret: { name: 'tok', key: 't' } } : {}) },
    },
  });
  const table: [url: string, withToken: boolean][] = [
    ['http://bundles.example.com/b.tar.gz', false], // the reported example
    ['http://10.0.0.5:8080/b.tar.gz', false],
    ['http://127.0.0.1.example.com/b', false],
    ['http://localhost.example.com/b', false],
    ['http://[::2]/b', false],
    ['http://bundles.example.com:443/b', false],
    ['https://bundles.example.com/b.tar.gz', true],
    ['https://10.0.0.5:8443/b.tar.gz', true],
    ['http://127.0.0.1:9000/b.tar.gz', true],
    ['http://127.1.2.3/b', true],
    ['http://localhost:9000/b', true],
    ['http://LOCALHOST/b', true],
    ['http://[::1]:9000/b', true],
  ];
  for (const [url, accepted] of table) {
    const r = await render(service(url, true));
    if (accepted) assert.equal(r.stderr, undefined, url);
    else assert.match(r.stderr ?? '', /policy\.service\.url: must be https .*bearerTokenSecret is set/, url);
    // Without a token nothing secret travels: any http(s) host renders (the bundle is signed).
    assert.equal((await render(service(url, false))).stderr, undefined, `${url} without a token`);
  }
});
