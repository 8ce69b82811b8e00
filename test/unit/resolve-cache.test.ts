/**
 * The entry point's resolution cache (bin/resolve-cache.js, issue #20 start → ready, h-start-3):
 * a record in the compile cache's directory answers package resolutions at the next start. A
 * record decides which file runs, so the class is: every record that is not this install's own
 * answer must be ignored, never followed — another fingerprint (Node, root, package.json, the
 * lockfiles changed), a damaged record (cut; an answer changed after its checksum was written,
 * which would otherwise send a start to a file that is not there), a malformed file, an entry that is not [key, url, format], an answer outside
 * the app's root and its node_modules (a planted module elsewhere), a format Node does not load
 * modules with. And what is cached at all: package specifiers and anything asked from inside
 * node_modules; never a relative import of our own sources (they change in a checkout), never a
 * builtin. The positive control (a record within the allowed places is followed) shows the record
 * is really used, so the refusals can fail. Each case runs in a child process: hooks are global.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { cacheable, fingerprint, recordText, resolutionsFile } from '../../bin/resolve-cache.js';

const REPO = join(import.meta.dirname, '..', '..');
const SRC = pathToFileURL(join(REPO, 'src', 'cli', 'serve.ts')).href;
const IN_PACKAGE = pathToFileURL(join(REPO, 'node_modules', 'yaml', 'dist', 'index.js')).href;

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-resolve-cache-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('what is cached: packages and resolutions from inside node_modules; never our relative imports or builtins', () => {
  const table: [string, string | undefined, boolean][] = [
    ['zod', SRC, true],
    ['@kubernetes/client-node', SRC, true],
    ['yaml/util', SRC, true],
    ['./dist/index.js', IN_PACKAGE, true],
    ['../x.js', IN_PACKAGE, true],
    ['undici', IN_PACKAGE, true],
    ['./io.ts', SRC, false],
    ['../app/server.ts', SRC, false],
    ['/etc/passwd', SRC, false],
    ['file:///tmp/x.js', SRC, false],
    ['data:text/javascript,1', SRC, false],
    ['node:fs', SRC, false],
    ['node:fs', IN_PACKAGE, false],
    ['zod', undefined, false],
    ['zod', 'data:text/javascript,import "zod"', false],
  ];
  for (const [specifier, parent, expected] of table)
    assert.equal(cacheable(specifier, parent), expected, `${specifier} from ${parent ?? '(entry)'}`);
});

test('the fingerprint changes with Node, the root, package.json, either lockfile and node_modules itself', async () => {
  const root = join(work, 'root');
  await mkdir(join(root, 'node_modules'), { recursive: true });
  const base = fingerprint(root);
  assert.match(base, new RegExp(`^${process.version.replace(/\./g, '\\.')}\\|${process.arch}\\|`));
  const seen = new Set([base]);
  for (const file of ['package.json', 'package-lock.json', join('node_modules', '.package-lock.json')]) {
    await writeFile(join(root, file), '{}');
    const now = fingerprint(root);
    assert.ok(!seen.has(now), `${file} created: a new fingerprint`);
    seen.add(now);
    await writeFile(join(root, file), '{"changed":true}');
    const changed = fingerprint(root);
    assert.ok(!seen.has(changed), `${file} rewritten: a new fingerprint`);
    seen.add(changed);
  }
  await mkdir(join(root, 'node_modules', 'a-package-put-there-by-hand'));
  assert.ok(!seen.has(fingerprint(root)), 'a package directory added by hand: a new fingerprint');
  assert.notEqual(fingerprint(join(work, 'another-root')), fingerprint(root));
  assert.equal(fingerprint(`${root}/`), fingerprint(root), 'the same root however it is spelled');
});

test('each root has a record of its own (the checkouts of one user share the per-uid directory)', () => {
  assert.match(resolutionsFile('/a/checkout'), /^kubiya-resolutions-v1-[0-9a-f]{16}\.json$/);
  assert.notEqual(resolutionsFile('/a/checkout'), resolutionsFile('/another/checkout'));
  assert.equal(resolutionsFile('/a/checkout/'), resolutionsFile('/a/checkout'));
});

/** A child process that starts the cache in `dir`, imports `yaml`, saves, and reports. */
async function child(dir: string): Promise<{ stats: { known: number; hits: number; learnt: number }; yaml: string }> {
  const script = `
    const { startResolutionCache } = await import(${JSON.stringify(pathToFileURL(join(REPO, 'bin', 'resolve-cache.js')).href)});
    const cache = startResolutionCache(${JSON.stringify(dir)}, ${JSON.stringify(REPO)});
    const yaml = await import(${JSON.stringify(pathToFileURL(join(REPO, 'test', 'support', 'imports-yaml.mjs')).href)});
    const stats = { ...cache.stats };
    cache.save();
    console.log(JSON.stringify({ stats, yaml: yaml.which }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: REPO });
  return JSON.parse(stdout) as { stats: { known: number; hits: number; learnt: number }; yaml: string };
}

test('a second start answers from the record, with what Node itself answered', async () => {
  const dir = join(work, 'warm');
  await mkdir(dir, { mode: 0o700 });
  const first = await child(dir);
  assert.equal(first.stats.known, 0);
  assert.ok(first.stats.learnt > 0, 'the first start learnt the package resolutions');
  assert.equal(first.yaml, 'yaml');
  const text = await readFile(join(dir, resolutionsFile(REPO)), 'utf8');
  assert.equal((JSON.parse(text.slice(text.indexOf('\n') + 1)) as unknown[]).length, first.stats.learnt);
  assert.equal((await stat(join(dir, resolutionsFile(REPO)))).mode & 0o777, 0o600);
  const second = await child(dir);
  assert.equal(second.stats.known, first.stats.learnt);
  assert.equal(second.stats.hits, first.stats.learnt, 'every resolution answered from the record');
  assert.equal(second.stats.learnt, 0);
  assert.equal(second.yaml, 'yaml');
});

test('a record that is not this install’s own answer is ignored: the real package is loaded', async () => {
  const dir = join(work, 'planted');
  await mkdir(dir, { mode: 0o700 });
  await child(dir);
  const file = join(dir, resolutionsFile(REPO));
  const text = await readFile(file, 'utf8');
  const print = (JSON.parse(text.slice(0, text.indexOf('\n'))) as { fingerprint: string }).fingerprint;
  const entries = JSON.parse(text.slice(text.indexOf('\n') + 1)) as [string, string, unknown][];
  const yamlKey = entries.find(([k]) => k.split('\0')[1] === 'yaml');
  assert.ok(yamlKey !== undefined, 'the record holds the import of yaml');
  const planted = join(work, 'planted.mjs');
  await writeFile(planted, 'export const parse = () => "planted";\n');
  const plantedUrl = pathToFileURL(planted).href;
  // A module within the allowed places that is not yaml: the positive control.
  const commander = pathToFileURL(join(REPO, 'node_modules', 'commander', 'esm.mjs')).href;
  const swap = (url: string, format: unknown = 'module'): unknown[] =>
    entries.map(([k, u, f]) => (k === yamlKey[0] ? [k, url, format] : [k, u, f]));
  const missing = pathToFileURL(join(REPO, 'node_modules', 'yaml', 'dist', 'no-such-file.js')).href;
  const damaged = recordText(print, swap(commander)).replace(commander, missing);
  const cases: [string, string, string][] = [
    ['another fingerprint', recordText(`${print}x`, swap(commander)), 'yaml'],
    ['damaged: an answer changed after it was written (the checksum no longer matches)', damaged, 'yaml'],
    ['cut in half', recordText(print, swap(commander)).slice(0, text.length >> 1), 'yaml'],
    ['no header line', JSON.stringify(swap(commander)), 'yaml'],
    ['malformed JSON', '{"fingerprint":', 'yaml'],
    ['not an object', '[]\n[]', 'yaml'],
    ['entries not a list', recordText(print, {} as unknown as unknown[]), 'yaml'],
    ['an answer outside the root', recordText(print, swap(plantedUrl)), 'yaml'],
    ['a data: URL', recordText(print, swap('data:text/javascript,1')), 'yaml'],
    ['an unknown format', recordText(print, swap(commander, 'addon')), 'yaml'],
    ['a format of the wrong type', recordText(print, swap(commander, 1)), 'yaml'],
    [
      'an entry of the wrong shape',
      recordText(
        print,
        entries.map((e) => (e[0] === yamlKey[0] ? [e[0], commander] : e)),
      ),
      'yaml',
    ],
    ['positive control', recordText(print, swap(commander)), 'commander'],
  ];
  for (const [name, text, expected] of cases) {
    await writeFile(file, text, { mode: 0o600 });
    const r = await child(dir);
    assert.equal(r.yaml, expected, name);
  }
});

test('a file the record names that is gone (removed by hand) fails one start, and the record goes with it', async () => {
  const dir = join(work, 'stale');
  await mkdir(dir, { mode: 0o700 });
  await child(dir);
  const file = join(dir, resolutionsFile(REPO));
  const text = await readFile(file, 'utf8');
  const print = (JSON.parse(text.slice(0, text.indexOf('\n'))) as { fingerprint: string }).fingerprint;
  const entries = JSON.parse(text.slice(text.indexOf('\n') + 1)) as [string, string, unknown][];
  const gone = pathToFileURL(join(REPO, 'node_modules', 'yaml', 'dist', 'removed-by-hand.js')).href;
  await writeFile(
    file,
    recordText(
      print,
      entries.map(([k, u, f]) => (k.split('\0')[1] === 'yaml' ? [k, gone, f] : [k, u, f])),
    ),
  );
  await assert.rejects(child(dir), /removed-by-hand/);
  await assert.rejects(stat(file), { code: 'ENOENT' }, 'the record is removed');
  assert.equal((await child(dir)).yaml, 'yaml', 'the next start resolves again');
});
