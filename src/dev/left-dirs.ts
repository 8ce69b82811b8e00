import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { argNames, runningCommandLines } from './processes.ts';

/** The prefix of the temp directory an attached cluster makes for itself (startCluster without `dir`). */
export const CLUSTER_TEMP_PREFIX = 'kubiya-cluster-';

/**
 * Removes the temp directories of attached clusters whose process ended without its cleanup (SIGKILL:
 * no handler runs; each holds about 125 MB of etcd WAL): every `<base>/kubiya-cluster-*` directory
 * that has not changed for `minAgeMs` (a cluster being started writes into its directory within
 * seconds) and that no running process names (argNames: none of its components runs). Returns the
 * directories removed; one that cannot be removed (another user's) is left.
 */
export function clearLeftClusterDirs(base: string = tmpdir(), minAgeMs = 60_000): string[] {
  let names: string[];
  try {
    names = readdirSync(base).filter((n) => n.startsWith(CLUSTER_TEMP_PREFIX));
  } catch {
    return [];
  }
  const old = names.map((n) => join(base, n)).filter((dir) => oldDirectory(dir, minAgeMs));
  const running = old.length > 0 ? runningCommandLines() : [];
  const removed: string[] = [];
  for (const dir of old) {
    if (running.some((argv) => argv.some((a) => argNames(a, dir)))) continue;
    try {
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // not ours to remove
    }
  }
  return removed;
}

function oldDirectory(path: string, minAgeMs: number): boolean {
  try {
    const s = statSync(path);
    return s.isDirectory() && Date.now() - s.mtimeMs >= minAgeMs;
  } catch {
    return false;
  }
}
