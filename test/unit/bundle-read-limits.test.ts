/**
 * Reading a policy bundle (src/adapters/opa-wasm.ts readTarGz) before anything of it is checked:
 * its signature is verified only over what was read, so the read itself must hold against any
 * bytes — a bundle service that answers with a hostile file, an operator's wrong file. The class:
 * every bundle that is too large in any form, or is not a tar.gz, is refused with an error (the
 * caller's STARTUP_FAILED at start, POLICY_RELOAD_REJECTED on reload with the last good bundle
 * kept), never a crash of the process and never an unbounded expansion. Variants: the compressed
 * file over the limit; a gzip bomb (a small file that expands past the limit: one large entry,
 * many small ones); a truncated gzip; bytes that are not gzip; gzip of bytes that are not tar.
 * Regression (h-start-3): a bundle expanding past 32 MiB threw an uncaught TypeError from the
 * stream pipeline (`dest.destroy is not a function`) and killed the runner, a running one too on
 * hot reload (the last case: a running store, in this process). Each read case runs in a child
 * process, so that a crash is seen as one.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { PolicyStore } from '../../src/adapters/policy-store.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';

const OPA_WASM = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'adapters', 'opa-wasm.ts')).href;
const MiB = 1024 * 1024;

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-bundle-limits-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** One ustar entry: a 512-byte header, the data, padding to 512. */
function entry(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return Buffer.concat([h, Buffer.alloc(size), Buffer.alloc((512 - (size % 512)) % 512)]);
}

const tar = (...entries: Buffer[]): Buffer => Buffer.concat([...entries, Buffer.alloc(1024)]);
const half = (b: Buffer): Buffer => b.subarray(0, b.length >> 1);

/** readTarGz of `bytes` in a child process: what it resolved with or the error it threw, and its exit code. */
async function readInChild(name: string, bytes: Buffer): Promise<{ out: string; code: number }> {
  const file = join(work, name);
  await writeFile(file, bytes);
  const script = `
    const { readTarGz } = await import(${JSON.stringify(OPA_WASM)});
    try {
      const files = await readTarGz(${JSON.stringify(file)});
      console.log('read ' + [...files].map(([n, b]) => n + ':' + b.byteLength).join(','));
    } catch (e) {
      console.log('refused ' + e.message);
    }`;
  try {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      maxBuffer: 1024 * 1024,
      timeout: 60_000,
    });
    return { out: stdout.trim(), code: 0 };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { out: `${err.stdout ?? ''}${err.stderr ?? ''}`.trim(), code: err.code ?? -1 };
  }
}

test('a bundle within the limits is read', async () => {
  const r = await readInChild('ok.tar.gz', gzipSync(tar(entry('policy.wasm', 1000), entry('.manifest', 10))));
  assert.deepEqual(r, { out: 'read policy.wasm:1000,.manifest:10', code: 0 });
});

test('a bundle too large in any form, or not a tar.gz, is refused with an error, never a crash', async () => {
  const cases: [string, Buffer, RegExp][] = [
    [
      'one entry expanding past the limit (gzip bomb)',
      gzipSync(tar(entry('policy.wasm', 33 * MiB)), { level: 9 }),
      /expands beyond/,
    ],
    [
      'many entries expanding past the limit together',
      gzipSync(tar(...Array.from({ length: 40 }, (_, i) => entry(`f${i}`, MiB))), { level: 9 }),
      /expands beyond/,
    ],
    ['a compressed file over the limit', Buffer.alloc(32 * MiB + 1, 1), /larger than/],
    ['a truncated gzip', half(gzipSync(tar(entry('policy.wasm', 100_000), entry('.manifest', 10)))), /not a gzip/],
    ['bytes that are not gzip', Buffer.from('this is not a bundle'), /not a gzip/],
  ];
  for (const [name, bytes, reason] of cases) {
    const r = await readInChild(`${name.replace(/\W+/g, '-')}.tar.gz`, bytes);
    assert.equal(r.code, 0, `${name}: the process must not crash: ${r.out.slice(0, 400)}`);
    assert.match(r.out, /^refused /, name);
    assert.match(r.out, reason, name);
  }
});

test('gzip of bytes that are not a tar holds no files (bundleOf then refuses: no policy.wasm)', async () => {
  const r = await readInChild('not-tar.tar.gz', gzipSync(Buffer.alloc(4096, 7)));
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^(read$|refused )/);
});

test('a running policy store given a gzip bomb on reload refuses it and keeps deciding with the last good bundle', async () => {
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  const live = join(work, 'live.tar.gz');
  await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), live);
  const rejected: string[] = [];
  const store = new PolicyStore(live, { loaded: () => undefined, rejected: (why) => rejected.push(why) });
  const good = (await store.load()).revision;
  await writeFile(live, gzipSync(tar(entry('policy.wasm', 33 * MiB)), { level: 9 }));
  assert.equal(await store.reload(), 'rejected');
  assert.match(rejected.join('\n'), /expands beyond/);
  assert.equal(store.current()?.revision, good, 'the last good bundle stays');
});
