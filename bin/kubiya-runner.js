#!/usr/bin/env node
// Entry point of the kubiya-runner CLI. The sources are TypeScript run directly by Node 24's
// type stripping (erasable syntax only), so there is no build step between a checkout and a run.
import { fileURLToPath } from 'node:url';
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `kubiya-runner needs Node.js 24 (found ${process.versions.node}). Run it through npm ("npm run ..." or "npx kubiya-runner"), which uses the pinned Node from node_modules/.bin.\n`,
  );
  process.exit(2);
}
// Turn signals into a normal exit so cleanup hooks (local control plane, audit flush) run.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
// V8's compile cache before the CLI's ~1,700 modules are loaded (./compile-cache.js, plain
// JavaScript so that nothing is type-stripped before it is on): a start from a checkout reads what
// the one before compiled; the image's own cache (its Env) is left as it is. In our own cache's
// directory, the answers of the package resolutions too (./resolve-cache.js).
const { enableCompileCache, flushCompileCacheSoon } = await import('./compile-cache.js');
const compileCache = enableCompileCache(process.env);
// Which descriptors the parent gave (an output may be written to /dev/fd/N only if N is one):
// noted before anything of the command opens one of its own.
await import('../src/adapters/given-descriptors.ts');
const resolutions =
  compileCache.state === 'on'
    ? (await import('./resolve-cache.js')).startResolutionCache(
        compileCache.directory,
        fileURLToPath(new URL('..', import.meta.url)),
      )
    : undefined;
if (resolutions !== undefined) process.once('exit', () => resolutions.save());
const { main } = await import('../src/cli/main.ts');
// A reader that goes away (`audit query | head`, a closed terminal) is not an error of the
// command: its output stops, the command finishes and exits with its own code. Any other write
// error is still thrown.
const closed = new Set();
/** @param {NodeJS.WriteStream} stream */
const writer = (stream) => {
  stream.on('error', (/** @type {NodeJS.ErrnoException} */ e) => {
    if (e.code !== 'EPIPE') throw e;
    closed.add(stream);
  });
  return (s) => {
    if (!closed.has(stream)) stream.write(s + '\n');
  };
};
const io = {
  out: writer(process.stdout),
  err: writer(process.stderr),
  color: Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined,
};
// The one place that reads process.env (above, and here): it is handed to the CLI, which hands it to config loading.
process.exitCode = await main(process.argv.slice(2), io, process.env, {
  compileCache,
  flushCaches: () => flushCompileCacheSoon(compileCache, 2000, () => resolutions?.save()),
});
