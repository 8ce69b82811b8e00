/**
 * `serve` from a checkout with V8's compile cache (bin/compile-cache.js, issue #20 start →
 * ready), as a real process. The class: whatever state the cache directory is in, the runner
 * starts as it would without a cache — an unusable directory only costs time and says so
 * (COMPILE_CACHE_OFF with the reason), a damaged entry is compiled again, a damaged resolution
 * record (bin/resolve-cache.js) is ignored. Variants of damage, one per entry in turn: cut in
 * half, emptied, overwritten with random bytes of the same length, one bit flipped. The API
 * server is a loopback stand-in that answers every list with no items and holds every watch open
 * (serve's first lists must be complete before it has started, red team 7 finding 1), so the test
 * needs no control plane.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { apiStandIn, type ApiStandIn } from '../support/api-stand-in.ts';
import { resolutionsFile } from '../../bin/resolve-cache.js';
import { startServe } from '../support/serve-process.ts';

const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);

let work: string;
let config: Record<string, unknown>;
let n = 0;
let api: ApiStandIn;

before(async () => {
  api = await apiStandIn();
  work = await mkdtemp(join(tmpdir(), 'kubiya-serve-cache-'));
  const bundle = (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'bundle.tar.gz'))).file;
  await writeFile(
    join(work, 'jwks.json'),
    JSON.stringify({
      keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }],
    }),
  );
  await writeFile(join(work, 'kubeconfig'), api.kubeconfig);
  config = {
    runner: { name: 'r' },
    controlPlane: { issuer: 'x', jwksFile: join(work, 'jwks.json') },
    policy: { bundle },
    kubernetes: { kubeconfig: join(work, 'kubeconfig') },
    server: { port: 0, host: '127.0.0.1' },
  };
});
after(async () => {
  api.close();
  await rm(work, { recursive: true, force: true });
});

/** Starts serve with TMPDIR=`tmp` until it listens, stops it (SIGTERM); its log lines and exit code. */
async function startAndStop(tmp: string): Promise<{ lines: Record<string, unknown>[]; code: number | null }> {
  const s = await startServe({ ...config, audit: { dir: join(work, `audit-${++n}`) } }, work, { TMPDIR: tmp });
  s.child.kill('SIGTERM');
  const code = await s.exited;
  return { lines: s.lines, code };
}

/** Every file under `dir`, recursively. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

test('an unusable cache directory: serve starts, logging COMPILE_CACHE_OFF with the reason', async () => {
  await writeFile(join(work, 'tmp-is-a-file'), 'x');
  const { lines, code } = await startAndStop(join(work, 'tmp-is-a-file'));
  const off = lines.find((l) => l.code === 'COMPILE_CACHE_OFF');
  assert.ok(off, 'COMPILE_CACHE_OFF logged');
  assert.equal(off.level, 'warn');
  assert.match(String(off.reason), /cannot create it: ENOTDIR/);
  assert.ok(lines.some((l) => l.message === 'runner listening'));
  assert.equal(code, 0);
});

test('a fresh cache is filled (0700, per uid); every entry damaged: serve still starts, and again after', async () => {
  const tmp = await mkdtemp(join(work, 'tmp-'));
  const dir = join(tmp, `kubiya-runner-compile-cache-${process.getuid?.() ?? 0}`);
  const first = await startAndStop(tmp);
  assert.equal(first.code, 0);
  assert.ok(!first.lines.some((l) => l.code === 'COMPILE_CACHE_OFF'), 'no warning with a usable directory');
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  const entries = await filesUnder(dir);
  assert.ok(entries.length > 500, `the modules of serve cached: ${entries.length} entries`);
  // The resolution record (bin/resolve-cache.js) sits beside them and is damaged like them below.
  assert.ok(entries.includes(join(dir, resolutionsFile(REPO_ROOT))), 'the package resolutions recorded');

  const damage: ((file: string) => Promise<void>)[] = [
    async (f) => truncate(f, Math.floor((await stat(f)).size / 2)),
    async (f) => truncate(f, 0),
    async (f) => writeFile(f, randomBytes((await stat(f)).size)),
    async (f) => {
      const bytes = await readFile(f);
      if (bytes.length > 0) bytes[bytes.length >> 1]! ^= 0x10;
      await writeFile(f, bytes);
    },
  ];
  await Promise.all(entries.map((f, i) => damage[i % damage.length]!(f)));
  for (const round of ['damaged', 'rewritten']) {
    const { lines, code } = await startAndStop(tmp);
    assert.ok(
      lines.some((l) => l.message === 'runner listening'),
      round,
    );
    assert.equal(code, 0, round);
  }
});
