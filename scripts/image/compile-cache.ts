// V8's compile cache, built into the image (issue #20, start → ready). Without it every start of a
// new pod strips the types of our ~130 TypeScript modules and compiles them and the ~1,400 modules
// of the production dependencies (client-node alone is ~870) before it can serve; with it Node reads
// their compiled code instead. It is made here, at build time, by the image's own Node importing the
// CLI's command modules and every production dependency, so it is part of the app layer:
// root-owned, read-only at run time, covered by the image digest (no process can plant code in it,
// unlike a writable cache volume).
//
// Facts of Node 24's cache (lib/internal/modules/typescript.js, src/compile_cache.cc) that shape it:
// - a stripped TypeScript module is cached with a `//# sourceURL=` of its absolute path, which a
//   later start reuses as is (seen with Node 24.21: a cache made elsewhere names that place in every
//   stack trace). So the cache is made with the staged app mounted at /app itself: a user and mount
//   namespace (`unshare --user --map-root-user --mount`, no privilege needed) whose root holds
//   the host's /usr (for the libraries), the staged app at /app and the Node binary;
// - the cache's subdirectory is named after the Node version, the architecture, V8's flag hash and
//   the **uid** of the process: it is renamed here to the runner's uid (65532);
// - V8's code cache holds string hashes from the process's random hash seed, so two builds differ
//   byte for byte; `--predictable --random-seed` fix the seed for the making process only (neither
//   enters V8's flag hash, so the runtime, without them, accepts the entries), which keeps the image
//   reproducible. The runtime keeps its own random hash seed.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** Where the cache is in the image, and the environment that makes Node read it. */
export const COMPILE_CACHE_DIR = '/app/compile-cache';
export const COMPILE_CACHE_ENV = [`NODE_COMPILE_CACHE=${COMPILE_CACHE_DIR}`, 'NODE_COMPILE_CACHE_PORTABLE=1'] as const;

/** What a cache build needs: the Node binary the image runs, the app directory, the cache directory in it, the uid. */
export interface CompileCacheOptions {
  readonly node: string;
  /** The staged app directory: /app at run time. */
  readonly app: string;
  /** The cache directory, relative to the app directory. */
  readonly cacheDir: string;
  /** The uid the runtime runs as (its cache subdirectory is named after it). */
  readonly uid: number;
}

/**
 * The modules whose graphs are cached besides every dependency: the bundled CLI (what the image's
 * entry point imports: bundle.ts), and the CLI and its commands from the sources (`node
 * /app/bin/kubiya-runner.js`, the audit check's Worker; `dev` is not in images).
 */
export const CACHED_ENTRIES = [
  '/app/dist/cli.js',
  '/app/src/cli/main.ts',
  '/app/src/cli/serve.ts',
  '/app/src/cli/policy.ts',
  '/app/src/cli/audit.ts',
  '/app/src/cli/demo.ts',
] as const;

/** The making script: imports each module of ENTRIES (absolute, or a bare name resolved from /app). */
const SCRIPT = 'void (async () => { for (const m of JSON.parse(process.env.ENTRIES)) await import(m); })()';

/**
 * A root of the host's /usr (and the merged-usr links, /dev), the app at /app and the Node binary
 * at /node, in its own user and mount namespace; runs `/node "$@"` in /app there.
 */
const IN_APP_ROOT = `set -eu
mount -t tmpfs -o mode=0755 tmpfs "$R"
for d in bin lib lib64 sbin usr dev; do
  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$R/$d"
  elif [ -d "/$d" ]; then mkdir "$R/$d" && mount --rbind "/$d" "$R/$d"; fi
done
mkdir "$R/app" && mount --bind "$APP" "$R/app"
touch "$R/node" && mount --bind "$NODE" "$R/node"
exec chroot "$R" /bin/sh -c 'cd /app && exec /node "$@"' sh "$@"`;

/** Runs SCRIPT under `node` with the app at /app and the cache in /app/<cacheDir> (portable), importing `entries`. */
async function make(node: string, app: string, cacheDir: string, entries: readonly string[]): Promise<string[]> {
  const dir = join(app, cacheDir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const root = await mkdtemp(join(tmpdir(), 'kubiya-compile-cache-'));
  try {
    const args = ['--predictable', '--random-seed=20', '-e', SCRIPT];
    await promisify(execFile)(
      'unshare',
      ['--user', '--map-root-user', '--mount', '--fork', 'sh', '-c', IN_APP_ROOT, 'sh', ...args],
      {
        env: {
          R: root,
          APP: app,
          NODE: node,
          NODE_COMPILE_CACHE: `/app/${cacheDir}`,
          NODE_COMPILE_CACHE_PORTABLE: '1',
          ENTRIES: JSON.stringify(entries),
        },
        maxBuffer: 16 * 1024 * 1024,
      },
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  return readdir(dir);
}

/**
 * Fills `<options.app>/<options.cacheDir>` (emptied first) with the compile cache of
 * CACHED_ENTRIES and of every production dependency (package.json \`dependencies\`), imported (never
 * run) by `options.node` with the app at /app. The making script's own entries (\`[eval]\`, found by
 * making the cache of nothing) are left out, and so are the entries a second making does not give
 * byte for byte alike (reproducibility). Returns the cache subdirectory's name and its number of
 * entries. Throws when `unshare` or an import fails, or Node wrote no single subdirectory ending in
 * the namespace's uid (0).
 */
export async function writeCompileCache(options: CompileCacheOptions): Promise<{ tag: string; entries: number }> {
  const { node, app, cacheDir, uid } = options;
  const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const made = await make(node, app, cacheDir, [...CACHED_ENTRIES, ...Object.keys(pkg.dependencies ?? {})]);
  const own = '-0';
  if (made.length !== 1 || !made[0]!.endsWith(own))
    throw new Error(`compile cache: expected one directory ending in ${own}, found ${JSON.stringify(made)}`);
  const dir = join(app, cacheDir);
  const script = `${cacheDir}.script`;
  const again = `${cacheDir}.again`;
  try {
    await make(node, app, script, []);
    for (const name of await readdir(join(app, script, made[0]!))) await rm(join(dir, made[0]!, name), { force: true });
    // Made a second time, and only the entries equal byte for byte in both are kept: an entry can
    // still differ between two makes of the same files (seen 2026-11-30: 5 bytes of one of 1,732
    // entries, undici's socks5-client.js, between two builds; V8 state that depends on when the
    // collector ran), and the image must be reproducible (test/image). A dropped entry is compiled
    // at start, as without a cache.
    await make(node, app, again, [...CACHED_ENTRIES, ...Object.keys(pkg.dependencies ?? {})]);
    for (const name of await readdir(join(dir, made[0]!))) {
      const second = await readFile(join(app, again, made[0]!, name)).catch(() => undefined);
      if (second === undefined || !second.equals(await readFile(join(dir, made[0]!, name))))
        await rm(join(dir, made[0]!, name), { force: true });
    }
  } finally {
    await rm(join(app, script), { recursive: true, force: true });
    await rm(join(app, again), { recursive: true, force: true });
  }
  const tag = made[0]!.slice(0, -own.length) + `-${uid}`;
  if (tag !== made[0]) await rename(join(dir, made[0]!), join(dir, tag));
  return { tag, entries: (await readdir(join(dir, tag))).length };
}
