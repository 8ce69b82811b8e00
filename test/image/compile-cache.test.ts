import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { agreedEntries, assertUntimed, makeCompileCache } from '../../scripts/image/compile-cache.ts';
import { whileBusy } from './support.ts';

/**
 * The making of the image's compile cache (scripts/image/compile-cache.ts) on small apps of its
 * own. The class: a cache whose bytes depend on the build's timing — V8 paces incremental marking
 * by measured time, and an entry's bytes depend on when marking ran (a CI run on record: two builds
 * of one commit, two digests) — and a making flag that enters V8's flag hash, which would make every
 * entry useless at run time without a word.
 */
let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-compile-cache-test-'));
});
after(async () => rm(work, { recursive: true, force: true }));

/** An app directory holding `files` (name → source). */
async function app(name: string, files: Record<string, string>): Promise<string> {
  const dir = join(work, name);
  await promisify(execFile)('mkdir', ['-p', dir]);
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  return dir;
}

/** Every entry of a cache directory's single subdirectory, name → bytes. */
async function entries(dir: string): Promise<Map<string, Buffer>> {
  const [sub, ...more] = await readdir(dir);
  assert.equal(more.length, 0);
  const names = await readdir(join(dir, sub!));
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, sub!, n))] as const)));
}

/** Modules with classes, closures and object literals, each importing the next. */
const SMALL: Record<string, string> = Object.fromEntries(
  Array.from({ length: 40 }, (_, i) => [
    `m${i}.mjs`,
    `${i < 39 ? `import { v${i + 1} } from './m${i + 1}.mjs';\n` : ''}` +
      `const table${i} = { a: ${i}, b: 'x${i}', c: [${i}, ${i + 1}] };\n` +
      `export class C${i} { #p = ${i}; get p() { return this.#p + table${i}.a; } m(f) { return () => f(this.#p); } }\n` +
      `export const v${i} = new C${i}().p${i < 39 ? ` + v${i + 1}` : ''};\n`,
  ]),
);

describe('making the compile cache', () => {
  test('a making that allocates past the young generation reports its mark-compacts and is refused', async () => {
    const dir = await app('heavy', {
      'heavy.mjs':
        'const kept = [];\nfor (let i = 0; i < 3000; i++) kept.push(new Array(20000).fill(i));\nexport const n = kept.length;\n',
    });
    const making = await makeCompileCache(process.execPath, dir, 'cc', ['/app/heavy.mjs']);
    assert.ok(making.majorCollections > 0, `${making.majorCollections} mark-compacts`);
    assert.throws(() => assertUntimed(making, 'heavy'), /mark-compact\(s\) ran while making heavy/);
  });

  test("a making that keeps 500,000 small objects runs no marking (it does with V8's defaults), and gives the same bytes on a busy machine", async () => {
    // 500,000 small objects kept: with V8's default young generation two mark-compacts ran here.
    const keep =
      'export const kept = [];\nfor (let i = 0; i < 500_000; i++) kept.push({ a: i, b: `s${i}`, c: [i] });\n';
    const dir = await app('small', { ...SMALL, 'keep.mjs': keep });
    const quiet = await makeCompileCache(process.execPath, dir, 'quiet', ['/app/keep.mjs', '/app/m0.mjs']);
    assert.equal(quiet.majorCollections, 0);
    assert.doesNotThrow(() => assertUntimed(quiet, 'small'));
    const busy = await whileBusy(2, () =>
      makeCompileCache(process.execPath, dir, 'busy', ['/app/keep.mjs', '/app/m0.mjs']),
    );
    assert.equal(busy.majorCollections, 0);
    const [a, b] = [await entries(join(dir, 'quiet')), await entries(join(dir, 'busy'))];
    assert.ok(a.size >= 41, `${a.size} entries`);
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    for (const [name, bytes] of a) assert.ok(bytes.equals(b.get(name)!), `entry ${name} differs`);
  });

  test("the making's V8 flags leave V8's flag hash alone: its cache directory is the runtime's", async () => {
    const dir = await app('hash', SMALL);
    const making = await makeCompileCache(process.execPath, dir, 'made', ['/app/m0.mjs']);
    const plain = join(work, 'plain-cache');
    await promisify(execFile)(process.execPath, ['-e', '0'], { env: { NODE_COMPILE_CACHE: plain } });
    assert.deepEqual(making.subdirectories, await readdir(plain));
  });
});

describe('choosing the bytes of each entry', () => {
  const b = (text: string): Buffer => Buffer.from(text);
  const table: { name: string; makings: Record<string, string>[]; agreed: Record<string, string> }[] = [
    { name: 'all alike', makings: [{ x: '1' }, { x: '1' }, { x: '1' }], agreed: { x: '1' } },
    { name: 'one making differs (first)', makings: [{ x: '2' }, { x: '1' }, { x: '1' }], agreed: { x: '1' } },
    { name: 'one making differs (last)', makings: [{ x: '1' }, { x: '1' }, { x: '2' }], agreed: { x: '1' } },
    { name: 'no two alike', makings: [{ x: '1' }, { x: '2' }, { x: '3' }], agreed: {} },
    { name: 'missing from one making', makings: [{ x: '1' }, {}, { x: '1' }], agreed: { x: '1' } },
    { name: 'in one making only', makings: [{}, { x: '1' }, {}], agreed: {} },
    { name: 'same length, other bytes', makings: [{ x: 'ab' }, { x: 'ba' }, { x: 'ba' }], agreed: { x: 'ba' } },
  ];
  for (const row of table)
    test(row.name, () => {
      const makings = row.makings.map((m) => new Map(Object.entries(m).map(([k, v]) => [k, b(v)])));
      const agreed = Object.fromEntries([...agreedEntries(makings)].map(([k, v]) => [k, v.toString()]));
      assert.deepEqual(agreed, row.agreed);
    });

  test('two builds whose makings each differ once, in different places, agree', () => {
    const stable = { x: '1', y: '2', z: '3' };
    const buildA = [{ ...stable, x: '9' }, stable, stable];
    const buildB = [stable, stable, { ...stable, z: '8' }];
    const pick = (build: Record<string, string>[]) =>
      agreedEntries(build.map((m) => new Map(Object.entries(m).map(([k, v]) => [k, b(v)]))));
    assert.deepEqual(pick(buildA), pick(buildB));
  });
});
