import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { DECISION_ENTRYPOINT } from '../evaluate/policy-engine.ts';
import { REPO_ROOT } from './tools.ts';

const run = promisify(execFile);

/** The builtins the JS WASM SDK (and the WASM module itself) implement, as the SDK ships them. */
export const SDK_CAPABILITIES = join(REPO_ROOT, 'node_modules', '@open-policy-agent', 'opa-wasm', 'capabilities.json');

interface Capabilities {
  builtins: { name: string }[];
  [key: string]: unknown;
}

/**
 * Capabilities for `opa build`: the language features of the pinned opa (Rego v1) with only the
 * builtins the JS SDK provides, so a policy using any other builtin fails to build instead of
 * failing at evaluation time.
 */
export async function wasmCapabilities(opa: string, outFile: string): Promise<string> {
  const current = JSON.parse((await run(opa, ['capabilities', '--current'], { maxBuffer: 16 * 1024 * 1024 })).stdout) as Capabilities;
  const sdk = JSON.parse(await readFile(SDK_CAPABILITIES, 'utf8')) as Capabilities;
  const allowed = new Set(sdk.builtins.map((b) => b.name));
  const caps = { ...current, builtins: current.builtins.filter((b) => allowed.has(b.name)), wasm_abi_versions: sdk.wasm_abi_versions };
  await writeFile(outFile, JSON.stringify(caps));
  return outFile;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    if (entry.name.endsWith('.rego') || entry.name === 'data.json') out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

/** Revision = content hash of the Rego sources and data: same inputs, same revision. */
export async function policyRevision(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await sourceFiles(dir)) {
    hash.update(relative(dir, file)).update('\0').update(await readFile(file)).update('\0');
  }
  return `sha256-${hash.digest('hex').slice(0, 16)}`;
}

/** `opa build -t wasm` of a policy directory into a bundle.tar.gz; returns its path and revision. */
export async function buildBundle(opa: string, policyDir: string, outFile: string): Promise<{ file: string; revision: string }> {
  const revision = await policyRevision(policyDir);
  await mkdir(dirname(outFile), { recursive: true });
  const capabilities = await wasmCapabilities(opa, `${outFile}.capabilities.json`);
  await run(opa, [
    'build', '-t', 'wasm', '-e', DECISION_ENTRYPOINT,
    '--capabilities', capabilities,
    '--revision', revision,
    '--ignore', '*_test.rego',
    '-o', outFile,
    policyDir,
  ]).catch((e: unknown) => {
    const out = (key: string): string => (typeof e === 'object' && e !== null && key in e ? String((e as Record<string, unknown>)[key]) : '');
    throw new Error(`opa build failed:\n${`${out('stderr')}\n${out('stdout')}`.trim()}`);
  }).finally(() => rm(capabilities, { force: true }));
  return { file: outFile, revision };
}
