import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { atItsPlace, writeCliBundle } from '../../scripts/image/bundle.ts';

/**
 * The image's bundled CLI (scripts/image/bundle.ts, ADR 0006). The class: a bundled file that no
 * longer finds what lies beside it (a Worker script, a data file) because `import.meta.url`,
 * `__dirname` or `__filename` now name the bundle; a file that believes it is the entry point
 * (`import.meta.main`); a CommonJS dependency whose `require` of a builtin fails in an ES module; a
 * builtin imported as an ES module (its facade's getters load what the runner never uses);
 * and a bundle that ships although esbuild could not resolve an import.
 */
const run = promisify(execFile);
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-bundle-unit-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

test('each reference to its own place becomes the place the file has in the image', () => {
  const app = '/build/app';
  const cases: [text: string, file: string, expected: string][] = [
    ['new URL("./w.ts", import.meta.url)', '/build/app/src/a/x.ts', 'new URL("./w.ts", "file:///app/src/a/x.ts")'],
    ['import.meta.filename', '/build/app/src/x.ts', '"/app/src/x.ts"'],
    ['import.meta.dirname', '/build/app/src/x.ts', '"/app/src"'],
    ['if (import.meta.main) run()', '/build/app/src/x.ts', 'if (false) run()'],
    [
      'join(__dirname, "worker.js")',
      '/build/app/node_modules/p/lib/i.js',
      'join("/app/node_modules/p/lib", "worker.js")',
    ],
    ['typeof __filename', '/build/app/node_modules/p/i.js', 'typeof "/app/node_modules/p/i.js"'],
    // a property of that name is not the variable
    ['o.__dirname + x__dirname', '/build/app/node_modules/p/i.js', 'o.__dirname + x__dirname'],
    ['const a = 1;', '/build/app/src/x.ts', 'const a = 1;'],
  ];
  for (const [text, file, expected] of cases) assert.equal(atItsPlace(text, file, app, '/app'), expected, text);
  for (const decl of ['var __dirname = "x"; f(__dirname)', 'const __filename = u(); g(__filename)'])
    assert.throws(() => atItsPlace(decl, '/build/app/node_modules/p/i.js', app, '/app'), /declares __dirname/);
});

// Red team 9, finding 2: every other form of import.meta was left to esbuild, which keeps it as the
// bundle's own (file:///app/dist/cli.js): the file's place silently became the bundle's. Each form
// now stops the build, naming the file; no file the image bundles today uses one (scanned).
test('an import.meta the rewrite cannot place stops the build', () => {
  const forms = [
    'const m = import.meta; const u = m.url;',
    "const u = import.meta['url'];",
    'const { url } = import.meta;',
    'const u = import.meta?.url;',
    'const u = import.meta /* x */ .url;',
    "const r = import.meta.resolve('./x.js');",
    'console.log(import.meta)',
  ];
  for (const text of forms)
    assert.throws(
      () => atItsPlace(text, '/build/app/src/x.ts', '/build/app', '/app'),
      /src\/x\.ts: import\.meta used in a form the bundle cannot place/,
      text,
    );
});

test('the bundled CLI runs, and its files still find what lies beside their own place', async () => {
  const app = join(dir, 'app');
  await mkdir(join(app, 'bin'), { recursive: true });
  await mkdir(join(app, 'src', 'cli'), { recursive: true });
  await mkdir(join(app, 'node_modules', 'dep'), { recursive: true });
  await writeFile(
    join(app, 'bin', 'kubiya-runner.js'),
    "const { main } = await import('../src/cli/main.ts');\nconsole.log(JSON.stringify(await main()));\n",
  );
  await writeFile(
    join(app, 'src', 'cli', 'main.ts'),
    [
      "import { readFileSync } from 'node:fs';",
      "import { STATUS_CODES } from 'node:http';",
      "import dep from 'dep';",
      'export async function main(): Promise<unknown> {',
      "  const beside: string = readFileSync(new URL('./beside.txt', import.meta.url), 'utf8');",
      "  const undici = process.moduleLoadList.some((m) => m.includes('deps/undici'));",
      '  return { beside, dep: dep(), main: import.meta.main, ok: STATUS_CODES[200], undici };',
      '}',
    ].join('\n'),
  );
  await writeFile(join(app, 'src', 'cli', 'beside.txt'), 'the sources’ file');
  await writeFile(join(app, 'node_modules', 'dep', 'package.json'), '{"name":"dep","main":"index.js"}');
  await writeFile(
    join(app, 'node_modules', 'dep', 'index.js'),
    "const { readFileSync } = require('node:fs');\nconst { join } = require('node:path');\nmodule.exports = () => readFileSync(join(__dirname, 'data.txt'), 'utf8');\n",
  );
  await writeFile(join(app, 'node_modules', 'dep', 'data.txt'), 'the dependency’s file');
  const { entry, cli } = await writeCliBundle(app, app);
  // The sources are gone from the bundle's view only: removing main.ts proves it is not imported.
  await rm(join(app, 'src', 'cli', 'main.ts'));
  const { stdout } = await run(process.execPath, [entry]);
  // undici: an ES import of node:http would have loaded Node's own (its ES facade reads every getter).
  assert.deepEqual(JSON.parse(stdout), {
    beside: 'the sources’ file',
    dep: 'the dependency’s file',
    main: false,
    ok: 'OK',
    undici: false,
  });
  assert.ok(cli.endsWith(join('dist', 'cli.js')));
  assert.ok(pathToFileURL(entry).href.endsWith('/dist/kubiya-runner.js'));
});

test('a bundle with an import esbuild cannot resolve is not written', async () => {
  const app = join(dir, 'broken');
  await mkdir(join(app, 'bin'), { recursive: true });
  await mkdir(join(app, 'src', 'cli'), { recursive: true });
  await writeFile(join(app, 'bin', 'kubiya-runner.js'), "await import('../src/cli/main.ts');\n");
  await writeFile(join(app, 'src', 'cli', 'main.ts'), "import 'not-installed';\nexport const main = 1;\n");
  await assert.rejects(writeCliBundle(app, app), /not-installed/);
});
