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
//   reproducible. The runtime keeps its own random hash seed;
// - a module's entry also depends on when V8's collector marked the heap, which V8 paces by time:
//   the making runs with a young generation large enough that no mark-compact runs, and a making
//   in which one ran is refused (MAKING_FLAGS).
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

/**
 * The making script (an ES module, run from /app): imports each module of ENTRIES (absolute, or a
 * bare name resolved from /app) and prints `{"majorCollections":N}`, the collections of the old
 * generation (mark-compacts, incremental marking) that ran meanwhile, as v8.GCProfiler saw them;
 * it waits 50 ms first, so that a marking begun during the imports and finished by a task counts.
 */
const SCRIPT = [
  "import { GCProfiler } from 'node:v8';",
  'const profiler = new GCProfiler();',
  'profiler.start();',
  'for (const m of JSON.parse(process.env.ENTRIES)) await import(m);',
  'await new Promise((resolve) => setTimeout(resolve, 50));',
  'const major = profiler.stop().statistics.filter((s) => /MarkSweepCompact|IncrementalMarking/.test(s.gcType));',
  'process.stdout.write(JSON.stringify({ majorCollections: major.length }));',
].join('\n');

/**
 * V8 flags of the making process only. `--predictable --random-seed` fix V8's hash seed. 64 MiB
 * semi-spaces let the making run without any marking (with V8's defaults it ran one mark-compact:
 * `--trace-gc`, incremental marking begun at a 19 MiB old generation). V8 starts and paces marking
 * by measured time, so when it runs depends on the machine's load, and two builds of one commit
 * did differ in a few entries (seen 2026-11-30, and in the CI run on record; here under three busy
 * loops and a disk writer 1 making of 90 gave 4 of 1,803 entries different, none with these
 * flags in 40). None of these flags enters V8's flag hash (the cache directory's name), so the
 * runtime, without them, accepts the entries (test/image/compile-cache.test.ts).
 */
const MAKING_FLAGS = [
  '--predictable',
  '--random-seed=20',
  '--min-semi-space-size=64',
  '--max-semi-space-size=64',
] as const;

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

/** What one making gave: the cache directory's subdirectories and the mark-compacts that ran meanwhile. */
export interface Making {
  readonly subdirectories: string[];
  readonly majorCollections: number;
}

/**
 * Runs SCRIPT under `node` (with MAKING_FLAGS) with the app at /app and the cache in
 * /app/<cacheDir> (emptied first, portable), importing `entries`. Throws (the child's stderr in
 * the message) when `unshare` or an import fails.
 */
export async function makeCompileCache(
  node: string,
  app: string,
  cacheDir: string,
  entries: readonly string[],
): Promise<Making> {
  const dir = join(app, cacheDir);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const root = await mkdtemp(join(tmpdir(), 'kubiya-compile-cache-'));
  try {
    const args = [...MAKING_FLAGS, '--input-type=module', '-e', SCRIPT];
    const { stdout } = await promisify(execFile)(
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
    const { majorCollections } = JSON.parse(stdout.slice(stdout.lastIndexOf('{'))) as { majorCollections: number };
    return { subdirectories: await readdir(dir), majorCollections };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Throws when a making ran a mark-compact: its entries may differ from another build's. */
export function assertUntimed(making: Making, what: string): void {
  if (making.majorCollections > 0)
    throw new Error(
      `compile cache: ${making.majorCollections} mark-compact(s) ran while making ${what}; V8 paces them by time, so the image would not be reproducible (raise the making's young generation in MAKING_FLAGS)`,
    );
}

/** How many times the cache is made; an entry is kept with the bytes most makings gave it. */
export const MAKINGS = 3;

/**
 * The bytes of each entry that at least two of `makings` (name → bytes, one map per making) gave
 * alike; an entry no two makings agree on is left out. With a per-making chance p that an entry
 * comes out different, two builds then disagree with a chance of the order of p², not the ~2p of
 * keeping one making's bytes.
 */
export function agreedEntries(makings: readonly ReadonlyMap<string, Buffer>[]): Map<string, Buffer> {
  const agreed = new Map<string, Buffer>();
  const names = new Set(makings.flatMap((m) => [...m.keys()]));
  for (const name of [...names].sort()) {
    const versions = makings.map((m) => m.get(name)).filter((b): b is Buffer => b !== undefined);
    const chosen = versions.find((b, i) => versions.some((c, j) => j !== i && c.equals(b)));
    if (chosen !== undefined) agreed.set(name, chosen);
  }
  return agreed;
}

/** The entries of one making's cache subdirectory, name → bytes. */
async function readEntries(dir: string): Promise<Map<string, Buffer>> {
  const names = await readdir(dir);
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n))] as const)));
}

/**
 * Fills `<options.app>/<options.cacheDir>` (emptied first) with the compile cache of
 * CACHED_ENTRIES and of every production dependency (package.json \`dependencies\`), imported (the
 * app is never run) by `options.node` with the app at /app. The cache is made MAKINGS times and
 * each entry keeps the bytes at least two makings gave it (agreedEntries); the making script's own
 * entries (\`[eval]\`, found by making the cache of nothing) are left out. Returns the cache
 * subdirectory's name and its number of entries. Throws when `unshare` or an import fails, when a
 * making ran a mark-compact (assertUntimed), or when Node wrote no single subdirectory ending in
 * the namespace's uid (0).
 */
export async function writeCompileCache(options: CompileCacheOptions): Promise<{ tag: string; entries: number }> {
  const { node, app, cacheDir, uid } = options;
  const pkg = JSON.parse(await readFile(join(app, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const entries = [...CACHED_ENTRIES, ...Object.keys(pkg.dependencies ?? {})];
  const own = '-0';
  const dirs = Array.from({ length: MAKINGS }, (_, i) => `${cacheDir}.making-${i}`);
  const script = `${cacheDir}.script`;
  try {
    const makings: Map<string, Buffer>[] = [];
    let made = '';
    for (const [i, at] of dirs.entries()) {
      const making = await makeCompileCache(node, app, at, entries);
      assertUntimed(making, `the cache (making ${i + 1} of ${MAKINGS})`);
      const [sub, ...more] = making.subdirectories;
      if (sub === undefined || more.length > 0 || !sub.endsWith(own) || (made !== '' && sub !== made))
        throw new Error(
          `compile cache: expected one directory ending in ${own}, found ${JSON.stringify(making.subdirectories)}`,
        );
      made = sub;
      makings.push(await readEntries(join(app, at, sub)));
    }
    const agreed = agreedEntries(makings);
    await makeCompileCache(node, app, script, []);
    for (const name of await readdir(join(app, script, made))) agreed.delete(name);
    const tag = made.slice(0, -own.length) + `-${uid}`;
    const dir = join(app, cacheDir, tag);
    await rm(join(app, cacheDir), { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const [name, bytes] of agreed) await writeFile(join(dir, name), bytes);
    return { tag, entries: agreed.size };
  } finally {
    for (const at of [...dirs, script]) await rm(join(app, at), { recursive: true, force: true });
  }
}
