// A process that starts attached children and then waits, never stopping them: the parent signals it
// (SIGKILL, SIGTERM, SIGINT, SIGHUP) as a cancelled test run, a timed-out CI job or a closed terminal
// does. Run by test/unit/attached-children.test.ts and test/cluster/attached-cluster.test.ts:
//   node attached-holder.ts process <dir>   two `sh` children naming <dir>, cleaned up as startCluster does
//   node attached-holder.ts cluster         a real attached control plane (startCluster without dir)
//   node attached-holder.ts serve <dir>     a `kubiya-runner serve` (startServe) from <dir>'s files
//                                           (serve-work.ts writeServeFiles), its config file in <dir>
// prints one JSON line {dir, pids} once everything runs.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { whenThisProcessEnds } from '../../src/adapters/exit-cleanup.ts';
import { startProcess } from '../../src/dev/processes.ts';
import { startCluster } from '../../src/dev/cluster.ts';
import { requireTools } from './cluster.ts';
import { startServe } from './serve-process.ts';
import { serveConfigOf } from './serve-work.ts';

function holdProcesses(dir: string): { dir: string; pids: number[] } {
  const started = ['a', 'b'].map((n) =>
    startProcess(n, 'sh', ['-c', 'sleep 120; true', 'sh', join(dir, n)], join(dir, `${n}.log`), false, undefined, true),
  );
  whenThisProcessEnds(() => {
    for (const p of started) p.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, pids: started.map((p) => p.pid) };
}

async function holdCluster(): Promise<{ dir: string; pids: number[] }> {
  const c = await startCluster({ tools: requireTools(), crds: false, nodes: 1 });
  return { dir: c.dir, pids: c.pids.map((p) => p.pid) };
}

async function holdServe(dir: string): Promise<{ dir: string; pids: number[] }> {
  const s = await startServe(serveConfigOf(dir), dir);
  return { dir, pids: s.child.pid === undefined ? [] : [s.child.pid] };
}

if (import.meta.main) {
  const [mode, dir] = process.argv.slice(2);
  const held =
    mode === 'cluster' ? await holdCluster() : mode === 'serve' ? await holdServe(dir ?? '') : holdProcesses(dir ?? '');
  process.stdout.write(`${JSON.stringify(held)}\n`);
  setInterval(() => undefined, 60_000);
}
