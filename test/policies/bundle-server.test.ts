import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BundlePoller, type PollResult } from '../../src/adapters/bundle-poller.ts';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { writeTarGz } from '../../src/adapters/bundle-tar.ts';
import { readTarGz } from '../../src/adapters/opa-wasm.ts';
import { PolicyStore } from '../../src/adapters/policy-store.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { startBundleServer, type BundleServer } from '../../src/dev/bundle-server.ts';
import { apiStandIn, type ApiStandIn } from '../support/api-stand-in.ts';
/** serve's API server: a loopback stand-in (empty lists, quiet watches), started on first use. */
let api: ApiStandIn | undefined;
const standInKubeconfig = async (): Promise<string> => (api ??= await apiStandIn()).kubeconfig;
after(() => api?.close());

/**
 * Issue 18 §7, bundles from a server. The class: what the runner takes from a bundle service
 * differs from what a file or ConfigMap rollout would take, or a flaky or hostile service makes
 * it lose its policy. Variants: first download; nothing new (304 with the ETag, no body fetched);
 * a new signed revision; a tampered one (refused, last good kept, the file on disk restored, the
 * same ETag not fetched again); the bundle gone (404), the service down; backoff doubling to its
 * cap with jitter and resetting after a success. Real HTTP on loopback (dev bundle-server), the
 * real PolicyStore with verification keys.
 */
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
let work: string;
let served: string;
let server: BundleServer;
let first: { file: string; revision: string };
let second: { file: string; revision: string };

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-bundle-server-'));
  served = join(work, 'served');
  await mkdir(served);
  first = await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'first.tar.gz'), {
    signingKey: pair.privateKey,
  });
  await cp(join(REPO_ROOT, 'policies'), join(work, 'policies'), { recursive: true });
  const data = JSON.parse(await readFile(join(work, 'policies', 'data.json'), 'utf8')) as {
    kubiya: { settings: { images: { allowedRegistries: string[] } } };
  };
  data.kubiya.settings.images.allowedRegistries.push('gcr.io');
  await writeFile(join(work, 'policies', 'data.json'), JSON.stringify(data));
  second = await buildBundle(opa, join(work, 'policies'), join(work, 'second.tar.gz'), {
    signingKey: pair.privateKey,
  });
  await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'unsigned-served.tar.gz'));
  server = await startBundleServer(served);
});
after(async () => {
  await server.close();
  await rm(work, { recursive: true, force: true });
});

const publish = async (file: string) => {
  await cp(file, join(served, 'bundle.tar.gz.new'));
  await rename(join(served, 'bundle.tar.gz.new'), join(served, 'bundle.tar.gz'));
};

test('the runner polls a bundle service: ETag, new revisions, refused bundles, outages and backoff', async () => {
  const target = join(work, 'runner', 'bundle.tar.gz');
  const reasons: string[] = [];
  const store = new PolicyStore(target, { loaded: () => undefined, rejected: (r) => reasons.push(r) }, undefined, {
    verificationKeys: [pair.publicKey],
  });
  const results: PollResult[] = [];
  const poller = new BundlePoller(
    { url: `${server.url}/bundle.tar.gz`, target, intervalMs: 1000, maxBackoffMs: 8000 },
    store,
    { polled: (r) => results.push(r) },
  );
  await publish(first.file);
  assert.equal((await poller.pollOnce()).kind, 'swapped', 'first download');
  assert.equal(store.current()?.revision, first.revision);
  assert.equal((await poller.pollOnce()).kind, 'unchanged', 'nothing new');
  assert.equal(server.served[304], 1, 'the second poll sent If-None-Match and got 304');

  await publish(second.file);
  assert.equal((await poller.pollOnce()).kind, 'swapped', 'a new revision');
  assert.equal(store.current()?.revision, second.revision);

  const tampered = await readTarGz(first.file);
  tampered.set('data.json', Buffer.from('{"kubiya": {"settings": {"egress": {"allowAnyDestination": true}}}}'));
  await writeTarGz(join(work, 'tampered.tar.gz'), tampered);
  await publish(join(work, 'tampered.tar.gz'));
  const refused = await poller.pollOnce();
  assert.equal(refused.kind, 'rejected');
  assert.match(reasons.at(-1) ?? '', /^POLICY_BUNDLE_SIGNATURE_INVALID: .*data\.json/);
  assert.equal(store.current()?.revision, second.revision, 'the last good bundle keeps deciding');
  assert.deepEqual(await readFile(target), await readFile(second.file), 'and is back on disk for a restart');
  const fetched = server.served[200] ?? 0;
  assert.equal((await poller.pollOnce()).kind, 'unchanged', 'the refused ETag is not fetched again');
  assert.equal(server.served[200] ?? 0, fetched);

  // backoff: the refusal counted as a failure; each further failure doubles the wait, up to the cap
  const mid = () => 0.5;
  await rm(join(served, 'bundle.tar.gz'));
  const gone = await poller.pollOnce();
  assert.deepEqual(gone, { kind: 'failed', reason: 'bundle service answered 404' });
  assert.equal(poller.nextDelay(mid), 2000, 'one failure: twice the interval');
  await poller.pollOnce();
  await poller.pollOnce();
  assert.equal(poller.nextDelay(mid), 8000, 'capped');
  assert.ok(poller.nextDelay(() => 0) >= 6400 && poller.nextDelay(() => 1) <= 9600, 'jitter ±20 %');
  await publish(second.file);
  assert.notEqual((await poller.pollOnce()).kind, 'failed');
  assert.equal(poller.nextDelay(mid), 1000, 'a success resets the backoff');

  const down = new BundlePoller(
    { url: 'http://127.0.0.1:1/bundle.tar.gz', target, intervalMs: 1000, maxBackoffMs: 8000, timeoutMs: 2000 },
    store,
    { polled: () => undefined },
  );
  assert.equal((await down.pollOnce()).kind, 'failed', 'a service that is down');
  assert.equal(store.current()?.revision, second.revision);
  assert.ok(results.length >= 8);
});

test('dev bundle-server serves plain file names only, with a strong ETag', async () => {
  await publish(first.file);
  const res = await fetch(`${server.url}/bundle.tar.gz`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('etag') ?? '', /^"[0-9a-f]{64}"$/);
  await res.arrayBuffer();
  for (const path of [
    '/',
    '/%2e%2e%2fserved%2fbundle.tar.gz',
    '/%2e%2e%2fetc%2fpasswd',
    '/.hidden',
    '/nope.tar.gz',
    '/%E0%A4%A',
  ]) {
    const r = await fetch(`${server.url}${path}`);
    assert.equal(r.status, 404, path);
    await r.arrayBuffer();
  }
});

test('serve with policy.service: the first bundle comes from the service, checked with the verification keys before start', async () => {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const dir = join(work, 'serve');
  await mkdir(dir);
  await writeFile(
    join(dir, 'jwks.json'),
    JSON.stringify({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
    }),
  );
  await writeFile(join(dir, 'verify.pem'), pair.publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'kubeconfig'), await standInKubeconfig());
  const serve = async (name: string) => {
    const target = join(dir, name, 'bundle.tar.gz');
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      `runner: { name: r }\ncontrolPlane: { issuer: x, jwksFile: ${join(dir, 'jwks.json')} }\npolicy: { bundle: ${target}, verificationKeys: [${join(dir, 'verify.pem')}], service: { url: "${server.url}/bundle.tar.gz", pollInterval: 1s } }\naudit: { dir: ${join(dir, name, 'audit')} }\nkubernetes: { kubeconfig: ${join(dir, 'kubeconfig')} }\nserver: { port: 0, host: 127.0.0.1 }\n`,
    );
    const r = await promisify(execFile)(
      process.execPath,
      [join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'serve', '--config', file],
      { timeout: 15_000, env: { PATH: process.env.PATH ?? '' } },
    ).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    return { ...r, target };
  };
  await publish(join(work, 'unsigned-served.tar.gz'));
  const unsigned = await serve('unsigned');
  assert.equal(unsigned.code, 2);
  assert.match(unsigned.stderr, /STARTUP_FAILED: POLICY_BUNDLE_UNSIGNED/);
  await publish(first.file);
  const signed = await serve('signed');
  assert.doesNotMatch(signed.stderr, /POLICY_/, 'the signed bundle from the service is taken');
  assert.deepEqual(await readFile(signed.target), await readFile(first.file));
});

/**
 * The class: a download larger than maxBytes read into memory before it is measured (red-team
 * round 2: a chunked 300 MiB response took the runner's RSS past 1 GiB before the refusal).
 * Variants: declared too large (Content-Length), chunked with no length, and exactly at the limit
 * (taken). The chunked one must be abandoned early: the server sees the connection end long before
 * it has written everything (bounded: 256 chunks of 64 KiB, 16 MiB, against a 256 KiB limit).
 */
test('a download over maxBytes is refused as it streams, not after it is buffered', async () => {
  const { createServer } = await import('node:http');
  const CHUNK = Buffer.alloc(64 * 1024, 1);
  let written = 0;
  const server = createServer((req, res) => {
    if (req.url === '/declared') {
      res.writeHead(200, { 'content-length': String(4 * 1024 * 1024) });
      res.end();
      return;
    }
    if (req.url === '/exact') {
      res.writeHead(200);
      res.end(Buffer.alloc(256 * 1024, 1));
      return;
    }
    res.writeHead(200); // chunked: no Content-Length
    let n = 0;
    const next = (): void => {
      if (n++ >= 256 || res.destroyed) return void res.end();
      written += CHUNK.byteLength;
      if (res.write(CHUNK)) setImmediate(next);
      else res.once('drain', next);
    };
    res.on('close', () => undefined);
    next();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-poller-size-'));
  let reloads = 0;
  const store = {
    adopt: async (_candidate: string, commit: () => Promise<void>) => {
      reloads++;
      await commit();
      return { kind: 'swapped' as const };
    },
  };
  const poll = (path: string) =>
    new BundlePoller(
      {
        url: `http://127.0.0.1:${port}${path}`,
        target: join(dir, 'b.tar.gz'),
        intervalMs: 1000,
        maxBackoffMs: 1000,
        maxBytes: 256 * 1024,
      },
      store,
      { polled: () => undefined },
    ).pollOnce();
  try {
    assert.deepEqual(await poll('/declared'), { kind: 'failed', reason: 'bundle larger than 262144 bytes' });
    assert.deepEqual(await poll('/chunked'), { kind: 'failed', reason: 'bundle larger than 262144 bytes' });
    assert.ok(written < 256 * CHUNK.byteLength, `the stream was abandoned early (${written} bytes written)`);
    assert.equal(reloads, 0, 'nothing refused reached the store');
    assert.deepEqual(await poll('/exact'), { kind: 'swapped' });
    assert.equal(reloads, 1);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * Red-team 2026-11-30, finding 7: header-based auth instead of a `user:password@` URL. The class:
 * the service credential leaks (a ConfigMap, a log line, a poll's reason, an audit record) or is
 * not sent. Variants: the right token (from a file, trimmed; a rotated file is read on the next
 * poll), no token file, an unreadable file, an empty one, one with a line break inside (a header
 * injection), the wrong token; the server (`dev bundle-server --bearer-token-file`) answers 401
 * without it. No reason ever holds the token.
 */
test('a bundle service that requires a bearer token: sent from a file, re-read each poll, never in a reason', async () => {
  const token = 's3cr3t-token-0123456789abcdef';
  const dir = join(work, 'token');
  await mkdir(join(dir, 'served'), { recursive: true });
  await cp(first.file, join(dir, 'served', 'bundle.tar.gz'));
  const protectedServer = await startBundleServer(join(dir, 'served'), 0, { bearerToken: token });
  const tokenFile = join(dir, 'token');
  const target = join(dir, 'runner', 'bundle.tar.gz');
  const reasons: string[] = [];
  const store = new PolicyStore(target, { loaded: () => undefined, rejected: (r) => reasons.push(r) }, undefined, {
    verificationKeys: [pair.publicKey],
  });
  const poller = (bearerTokenFile?: string) =>
    new BundlePoller(
      {
        url: `${protectedServer.url}/bundle.tar.gz`,
        target,
        intervalMs: 1000,
        maxBackoffMs: 4000,
        ...(bearerTokenFile !== undefined ? { bearerTokenFile } : {}),
      },
      store,
      { polled: () => undefined },
    );
  try {
    const cases: { name: string; content?: string; file?: string; kind: PollResult['kind']; reason?: RegExp }[] = [
      { name: 'no token', kind: 'failed', reason: /answered 401/ },
      {
        name: 'unreadable file',
        file: join(dir, 'missing'),
        kind: 'failed',
        reason: /cannot read the bearer token file/,
      },
      { name: 'empty', content: '\n', kind: 'failed', reason: /empty or holds characters/ },
      {
        name: 'a line break inside',
        content: `${token}\nX-Injected: 1`,
        kind: 'failed',
        reason: /empty or holds characters/,
      },
      { name: 'the wrong token', content: 'wrong', kind: 'failed', reason: /answered 401/ },
      { name: 'the token, with a trailing newline', content: `${token}\n`, kind: 'swapped' },
    ];
    for (const c of cases) {
      if (c.content !== undefined) await writeFile(tokenFile, c.content);
      const file = c.file ?? (c.content !== undefined ? tokenFile : undefined);
      const r = await poller(file).pollOnce();
      assert.equal(r.kind, c.kind, c.name);
      if (c.reason !== undefined) assert.match(r.kind === 'failed' ? r.reason : '', c.reason, c.name);
      assert.ok(!JSON.stringify(r).includes(token) && !JSON.stringify(r).includes('s3cr3t'), c.name);
    }
    assert.equal(store.current()?.revision, first.revision);
    assert.ok(protectedServer.served[401]! >= 2, 'the server refused the requests without the token');
    // rotation: the file is read before every poll
    await writeFile(tokenFile, 'rotated-elsewhere');
    const p = poller(tokenFile);
    assert.equal((await p.pollOnce()).kind, 'failed');
    await writeFile(tokenFile, token);
    assert.notEqual((await p.pollOnce()).kind, 'failed', 'the rotated file is read on the next poll');
    assert.ok(!reasons.join('\n').includes(token));
  } finally {
    await protectedServer.close();
    store.close();
  }
});

test('kubiya-runner dev bundle-server --bearer-token-file answers 401 without the token, the file with it', async () => {
  const dir = join(work, 'cli-token');
  await mkdir(join(dir, 'served'), { recursive: true });
  await cp(first.file, join(dir, 'served', 'bundle.tar.gz'));
  await writeFile(join(dir, 'token'), 'cli-token-value\n');
  const server = spawn(
    process.execPath,
    [
      ...[join(REPO_ROOT, 'bin', 'kubiya-runner.js'), 'dev', 'bundle-server', join(dir, 'served')],
      ...['--port', '0', '--bearer-token-file', join(dir, 'token')],
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no bundle server line within 20 s')), 20_000);
      let seen = '';
      server.stdout.on('data', (c: Buffer) => {
        seen += c.toString('utf8');
        const m = /bundle server on (http:\/\/127\.0\.0\.1:\d+)/.exec(seen);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    assert.equal((await fetch(`${url}/bundle.tar.gz`)).status, 401);
    const wrong = await fetch(`${url}/bundle.tar.gz`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${url}/bundle.tar.gz`, { headers: { authorization: 'Bearer cli-token-value' } });
    assert.equal(ok.status, 200);
    await ok.arrayBuffer();
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
});
