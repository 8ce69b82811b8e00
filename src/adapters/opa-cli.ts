import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { create } from 'tar';
import type { ErrorCode } from '../errors/codes.ts';
import { DECISION_ENTRYPOINT } from '../evaluate/policy-engine.ts';
import {
  BUNDLE_SCHEMA_FILE,
  checkPolicyData,
  FRAGMENT_FILE,
  settingsJsonSchema,
  settingsSchema,
  type Fragments,
} from '../policy/settings-schema.ts';
import { readTarGz } from './opa-wasm.ts';
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
  const current = JSON.parse(
    (await run(opa, ['capabilities', '--current'], { maxBuffer: 16 * 1024 * 1024 })).stdout,
  ) as Capabilities;
  const sdk = JSON.parse(await readFile(SDK_CAPABILITIES, 'utf8')) as Capabilities;
  const allowed = new Set(sdk.builtins.map((b) => b.name));
  const caps = {
    ...current,
    builtins: current.builtins.filter((b) => allowed.has(b.name)),
    wasm_abi_versions: sdk.wasm_abi_versions,
  };
  await writeFile(outFile, JSON.stringify(caps));
  return outFile;
}

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    if (entry.name.endsWith('.rego') || entry.name === 'data.json' || entry.name === FRAGMENT_FILE)
      out.push(join(entry.parentPath, entry.name));
  }
  return out.sort();
}

/** Revision = content hash of the Rego sources and data: same inputs, same revision. */
export async function policyRevision(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await sourceFiles(dir)) {
    hash
      .update(relative(dir, file))
      .update('\0')
      .update(await readFile(file))
      .update('\0');
  }
  return `sha256-${hash.digest('hex').slice(0, 16)}`;
}

/** A build failure with its catalogue code (POLICY_BUILD_FAILED, or POLICY_SETTINGS_INVALID). */
export class PolicyBuildError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * The settings schema fragments of a policy directory: every `settings.schema.json`, keyed by the
 * name of the folder it is in (the rule package's name, which is its key under kubiya.settings).
 */
export async function readSettingsFragments(policyDir: string): Promise<Fragments> {
  const out: Record<string, unknown> = {};
  for (const entry of await readdir(policyDir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.name !== FRAGMENT_FILE) continue;
    const key = basename(entry.parentPath);
    const file = join(entry.parentPath, entry.name);
    if (key in out)
      throw new PolicyBuildError(
        'POLICY_SETTINGS_INVALID',
        `two settings fragments for "${key}" (${relative(policyDir, file)})`,
      );
    try {
      out[key] = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      throw new PolicyBuildError(
        'POLICY_SETTINGS_INVALID',
        `${relative(policyDir, file)} is not JSON: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }
  return out;
}

/**
 * Writes files (path → bytes) as a reproducible tar.gz (fixed mtime, portable headers), each
 * under "/" as `opa build` names them (OPA's bundle loader finds the module by that name).
 */
async function writeTarGz(outFile: string, files: Map<string, Uint8Array>): Promise<void> {
  const dir = await mkdtemp(join(dirname(outFile), '.bundle-'));
  try {
    const names = [...files.keys()].filter((n) => n !== '' && !n.endsWith('/')).sort();
    for (const name of names) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), files.get(name)!);
    }
    await create(
      {
        gzip: true,
        file: outFile,
        cwd: dir,
        portable: true,
        mtime: new Date(0),
        noDirRecurse: true,
        prefix: '/',
        preservePaths: true,
      },
      names,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `opa build -t wasm` of a policy directory into a bundle.tar.gz; returns its path and revision.
 * The bundle's data is checked against the settings schema (core + the directory's fragments)
 * first — a wrong type never reaches a running runner — and the merged schema is added to the
 * bundle as settings.schema.json, so the runner checks settings from Helm values against the
 * same schema at start and on reload. Throws PolicyBuildError.
 */
export async function buildBundle(
  opa: string,
  policyDir: string,
  outPath: string,
): Promise<{ file: string; revision: string }> {
  const fragments = await readSettingsFragments(policyDir);
  const schema = settingsSchema(fragments);
  if (!schema.ok) throw new PolicyBuildError(schema.error.code, schema.error.message);
  const revision = await policyRevision(policyDir);
  const outFile = resolve(outPath);
  await mkdir(dirname(outFile), { recursive: true });
  const capabilities = await wasmCapabilities(opa, `${outFile}.capabilities.json`);
  // opa names the modules (in the bundle and in policy.wasm) by the path it is given: build from
  // inside the directory ("."), so the bundle's bytes do not depend on where the sources live.
  await run(
    opa,
    [
      'build',
      '-t',
      'wasm',
      '-e',
      DECISION_ENTRYPOINT,
      '--capabilities',
      capabilities,
      '--revision',
      revision,
      '--ignore',
      '*_test.rego',
      '-o',
      outFile,
      '.',
    ],
    { cwd: policyDir },
  )
    .catch((e: unknown) => {
      const out = (key: string): string =>
        typeof e === 'object' && e !== null && key in e ? String((e as Record<string, unknown>)[key]) : '';
      throw new PolicyBuildError(
        'POLICY_BUILD_FAILED',
        `opa build failed:\n${`${out('stderr')}\n${out('stdout')}`.trim()}`,
      );
    })
    .finally(() => rm(capabilities, { force: true }));
  const files = await readTarGz(outFile);
  const dataRaw = files.get('data.json');
  const data: unknown = dataRaw === undefined ? {} : JSON.parse(Buffer.from(dataRaw).toString('utf8'));
  const checked = checkPolicyData(data, fragments);
  if (!checked.ok) {
    await rm(outFile, { force: true });
    throw new PolicyBuildError(checked.error.code, checked.error.message);
  }
  files.set(BUNDLE_SCHEMA_FILE, Buffer.from(`${JSON.stringify(settingsJsonSchema(fragments), null, 2)}\n`));
  await writeTarGz(outFile, files);
  return { file: outFile, revision };
}
