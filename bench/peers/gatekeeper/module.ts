import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../../src/adapters/tools.ts';
import { crdManifests, type CrdManifest } from '../../../src/dev/bootstrap.ts';

const run = promisify(execFile);

/** tools/gatekeeper: the one place Gatekeeper's version is pinned (its go.mod). */
export const GATEKEEPER_TOOL_DIR = join(REPO_ROOT, 'tools', 'gatekeeper');
const MODULE = 'github.com/open-policy-agent/gatekeeper/v3';

/** The pinned version (e.g. "v3.23.1"), read from a go.mod's `require` line; undefined when absent. */
export function pinnedVersion(goMod: string): string | undefined {
  const escaped = MODULE.replaceAll('.', '\\.').replaceAll('/', '\\/');
  return new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(goMod)?.[1];
}

/** The pinned Gatekeeper version of tools/gatekeeper/go.mod. */
export async function gatekeeperVersion(): Promise<string> {
  const v = pinnedVersion(await readFile(join(GATEKEEPER_TOOL_DIR, 'go.mod'), 'utf8'));
  if (v === undefined) throw new Error(`tools/gatekeeper/go.mod does not require ${MODULE}`);
  return v;
}

/**
 * Gatekeeper's CRDs as its release ships them (charts/gatekeeper/crds/*.yaml), read at run time
 * from the pinned module in the Go module cache (`go mod download -json` in tools/gatekeeper gives
 * its directory, downloading it when the cache lacks it): nothing of Gatekeeper is copied into this
 * repository.
 */
export async function gatekeeperCrds(): Promise<CrdManifest[]> {
  const version = await gatekeeperVersion();
  const { stdout } = await run('go', ['mod', 'download', '-json', `${MODULE}@${version}`], {
    cwd: GATEKEEPER_TOOL_DIR,
    maxBuffer: 1 << 20,
  });
  const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (dir === undefined) throw new Error(`go mod download ${MODULE}@${version} gave no directory`);
  const crdDir = join(dir, 'charts', 'gatekeeper', 'crds');
  const files = (await readdir(crdDir)).filter((f) => f.endsWith('.yaml')).sort();
  const crds: CrdManifest[] = [];
  // As the manifests say them (installCrds posts plain JSON: no client-node model drops a key).
  for (const f of files) crds.push(...crdManifests(await readFile(join(crdDir, f), 'utf8'), f));
  return crds;
}
