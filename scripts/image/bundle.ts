// The CLI as two files in the image (issue #20, start → ready; ADR 0006): `dist/cli.js`, the module
// graph of src/cli/main.ts (our ~190 TypeScript modules and the ~1,580 modules of the production
// dependencies, client-node's ~870 among them) in one ES module, and `dist/kubiya-runner.js`, the
// entry point (bin/kubiya-runner.js with its two cache modules) importing it. Even with V8's compile
// cache, a start spent most of its CPU resolving, reading, linking and instantiating ~1,770 modules
// one by one; one module removes that work (the code evaluated is the same).
//
// What keeps the bundle the same program as the sources it is made of:
// - every file keeps its own place: `import.meta.url` (and `.filename`, `.dirname`) and, in a
//   CommonJS file, `__filename` and `__dirname` are replaced by the path the file has in the image
//   (`/app/...`, where the image ships it too), so that what a module opens relative to itself (a
//   Worker's script, a file beside it) is what it opened before; `import.meta.main` is false in
//   every bundled file (none of them is the process's entry point any more);
// - CommonJS dependencies' `require` of Node's builtins goes through a real `require`;
// - the build fails on any esbuild warning or error (an import it could not resolve, a
//   `require` it cannot see, a `__dirname` it could not replace), and on an `import.meta` in any
//   form but `.url`, `.filename`, `.dirname` and `.main`: nothing half-bundled ships;
// - Node's builtins are `require`d, not imported (see builtinsRequired);
// - the output depends only on the staged files (no absolute build paths, no time stamps), so the
//   image stays reproducible (test/image).
// The sources and node_modules stay in the image beside it (the audit check's Worker script is read
// from src/, and a dependency may read its own files).
import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { extname, join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { APP_DIR } from './rootfs.ts';

/** Where the bundle is in the app directory, and the entry point the image runs. */
export const BUNDLE_DIR = 'dist';
export const BUNDLED_ENTRY = `${APP_DIR}/${BUNDLE_DIR}/kubiya-runner.js`;
export const BUNDLED_CLI = `${APP_DIR}/${BUNDLE_DIR}/cli.js`;

/** A real `require` for the CommonJS modules bundled into an ES module (esbuild's shim calls it). */
const REQUIRE_BANNER =
  "import { createRequire as __kubiyaCreateRequire } from 'node:module';\nconst require = __kubiyaCreateRequire(import.meta.url);";

const LOADERS: Readonly<Record<string, 'ts' | 'js'>> = {
  '.ts': 'ts',
  '.mts': 'ts',
  '.js': 'js',
  '.mjs': 'js',
  '.cjs': 'js',
};

/**
 * The text of `file` (under `app`) with the references to its own place replaced by the place it
 * has at `root` (the image's /app). Throws when a CommonJS file declares `__dirname` or
 * `__filename` itself, or when `import.meta` is left after the rewrite (another form: aliased,
 * destructured, indexed, `?.`, `.resolve`; or in a comment or string) — its text cannot be rewritten
 * safely: the build stops.
 */
export function atItsPlace(text: string, file: string, app: string, root: string): string {
  const at = `${root}/${relative(app, file).split('\\').join('/')}`;
  const url = pathToFileURL(at).href;
  const dir = at.slice(0, at.lastIndexOf('/'));
  let out = text
    .replace(/\bimport\.meta\.url\b/g, JSON.stringify(url))
    .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(at))
    .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dir))
    .replace(/\bimport\.meta\.main\b/g, 'false');
  // Any other use (`const m = import.meta`, `import.meta['url']`, `{ url } = import.meta`,
  // `import.meta?.url`, `import.meta.resolve(...)`) would be left for esbuild, which keeps it as the
  // bundle's own: the file would name /app/dist/cli.js as its place, and what it opens beside
  // itself would be looked for there. Not rewritable safely: the build stops (red team 9, finding 2).
  const left = /.{0,40}\bimport\.meta\b.{0,40}/.exec(out);
  if (left !== null)
    throw new Error(
      `${file}: import.meta used in a form the bundle cannot place (${left[0].trim()}): cannot bundle it`,
    );
  if (/\b__(dirname|filename)\b/.test(out)) {
    if (/\b(var|let|const|function)\s+__(dirname|filename)\b/.test(out))
      throw new Error(`${file} declares __dirname or __filename itself: cannot bundle it at its place`);
    out = out
      .replace(/(?<![.\w$])__dirname\b/g, JSON.stringify(dir))
      .replace(/(?<![.\w$])__filename\b/g, JSON.stringify(at));
  }
  return out;
}

/** The esbuild plugin of atItsPlace, for every script under `app`. */
function atItsPlacePlugin(app: string, root: string): Plugin {
  return {
    name: 'at-its-place',
    setup(b) {
      b.onLoad({ filter: /\.(ts|mts|js|mjs|cjs)$/ }, async (args) => {
        if (relative(app, args.path).startsWith('..')) return undefined;
        const loader = LOADERS[extname(args.path)];
        if (loader === undefined) return undefined;
        return { contents: atItsPlace(await readFile(args.path, 'utf8'), args.path, app, root), loader };
      });
    },
  };
}

/**
 * Node's builtins as CommonJS `require`s, not ES imports: an ES import of a builtin makes Node build
 * its ES facade, which reads every export, getters included, and `node:http`'s getters load Node's
 * own undici (`fetch`, WebSocket): ~45 ms of CPU at every start for nothing the runner uses. A
 * `require` returns the same module object, whose properties are read where they are used.
 */
const builtinsRequired: Plugin = {
  name: 'builtins-required',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
      args.kind === 'import-statement' && isBuiltin(args.path)
        ? { path: args.path, namespace: 'builtin-required' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin-required' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

/** In the entry point, the CLI's import (`../src/cli/main.ts`) names the bundled CLI beside it, left as an import. */
const cliExternal: Plugin = {
  name: 'cli-external',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/src\/cli\/main\.ts$/ }, () => ({ path: './cli.js', external: true }));
  },
};

/**
 * Writes `<out>/cli.js` and `<out>/kubiya-runner.js` (default out: `<app>/dist`, where the image has
 * them) from the staged app `app` (its sources and production node_modules), for the app at `root`
 * at run time (default /app). Returns the two files' paths. Throws when esbuild reports any warning
 * or error. The bench (bench/start-ready.ts, `--shipped`) bundles a checkout in place (`app` and
 * `root` the checkout) into a temporary `out`, so that nothing is written into the checkout.
 */
export async function writeCliBundle(
  app: string,
  root: string = APP_DIR,
  out: string = join(app, BUNDLE_DIR),
): Promise<{ entry: string; cli: string }> {
  const common = {
    absWorkingDir: app,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    logLevel: 'silent',
    legalComments: 'inline',
    charset: 'utf8',
    write: true,
    // Whitespace and syntax only (the names stay, for stack traces): an 11 MiB text becomes 5.5 MiB,
    // ~20 ms less CPU at every start to read and check it. The source map beside it is not read at
    // run time; `NODE_OPTIONS=--enable-source-maps` maps a stack trace back to the TypeScript.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
  } as const;
  const results = [
    await build({
      ...common,
      entryPoints: [join(app, 'src', 'cli', 'main.ts')],
      outfile: join(out, 'cli.js'),
      banner: { js: REQUIRE_BANNER },
      plugins: [builtinsRequired, atItsPlacePlugin(app, root)],
    }),
    await build({
      ...common,
      entryPoints: [join(app, 'bin', 'kubiya-runner.js')],
      outfile: join(out, 'kubiya-runner.js'),
      plugins: [cliExternal, atItsPlacePlugin(app, root)],
    }),
  ];
  const problems = results.flatMap((r) => [...r.errors, ...r.warnings]);
  if (problems.length > 0)
    throw new Error(
      `bundle: ${problems.length} esbuild warnings or errors: ${problems
        .slice(0, 5)
        .map((p) => `${p.location?.file ?? ''}:${p.location?.line ?? ''} ${p.text}`)
        .join('; ')}`,
    );
  return { entry: join(out, 'kubiya-runner.js'), cli: join(out, 'cli.js') };
}
