import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAllYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { REPO_ROOT } from '../../../src/adapters/tools.ts';

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
export async function gatekeeperCrds(): Promise<V1CustomResourceDefinition[]> {
  const version = await gatekeeperVersion();
  const { stdout } = await run('go', ['mod', 'download', '-json', `${MODULE}@${version}`], {
    cwd: GATEKEEPER_TOOL_DIR,
    maxBuffer: 1 << 20,
  });
  const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  if (dir === undefined) throw new Error(`go mod download ${MODULE}@${version} gave no directory`);
  const crdDir = join(dir, 'charts', 'gatekeeper', 'crds');
  const files = (await readdir(crdDir)).filter((f) => f.endsWith('.yaml')).sort();
  const crds: V1CustomResourceDefinition[] = [];
  for (const f of files) {
    // Deserialised into the client's model (loadAllYaml), not plain YAML: the client serialises a
    // plain object by its model's property names and would drop x-kubernetes-preserve-unknown-fields.
    for (const o of loadAllYaml(await readFile(join(crdDir, f), 'utf8')) as (V1CustomResourceDefinition | null)[])
      if (o?.kind === 'CustomResourceDefinition') crds.push(o);
  }
  if (crds.length === 0) throw new Error(`no CRDs in ${crdDir}`);
  return crds;
}
