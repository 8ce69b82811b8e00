#!/usr/bin/env node
// Entry point of the kubiya-runner CLI. The sources are TypeScript run directly by Node 24's
// type stripping (erasable syntax only), so there is no build step between a checkout and a run.
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
const { main } = await import('../src/cli/main.ts');
const io = {
  out: (s) => process.stdout.write(s + '\n'),
  err: (s) => process.stderr.write(s + '\n'),
  color: Boolean(process.stdout.isTTY) && process.env.NO_COLOR === undefined,
};
// The one place that reads process.env: it is handed to the CLI, which hands it to config loading.
process.exitCode = await main(process.argv.slice(2), io, process.env);
