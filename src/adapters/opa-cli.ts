import { createHash, type KeyObject } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { create } from 'tar';
import type { ErrorCode } from '../errors/codes.ts';
import { DECISION_ENTRYPOINT, DERIVED_ENTRYPOINT } from '../evaluate/policy-engine.ts';
import {
  BUNDLE_SCHEMA_FILE,
  checkPolicyData,
  FRAGMENT_FILE,
  settingsJsonSchema,
  settingsSchema,
  type Fragments,
} from '../policy/settings-schema.ts';
import { bakeSettings, type BakedSettings } from '../policy/bake.ts';
import { maskKeyMaterial } from '../policy/key-material.ts';
import { SIGNATURES_FILE, signBundleFiles } from '../policy/bundle-signature.ts';
import { BUNDLE_FIXTURES_FILE, candidateProblems, type BundleFixture } from '../policy/candidate.ts';
import { fixtureCases } from '../policy/fixtures.ts';
import { defaultRunnerConfig, podContextOf } from '../policy/pod-context.ts';
import { loadEngine, readTarGz } from './opa-wasm.ts';
import { fixturesDirOf, readFixtureDocs } from './policy-fixtures.ts';
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

/**
 * Whether a policy directory defines the derived-settings rule (DERIVED_ENTRYPOINT, a rule
 * `derived` in package kubiya.main outside the tests): built as a second entrypoint when it does.
 * A directory from before it (an operator's copy) builds as it did and decides the same.
 */
async function hasDerivedRule(dir: string): Promise<boolean> {
  for (const file of await sourceFiles(dir)) {
    if (!file.endsWith('.rego') || file.endsWith('_test.rego')) continue;
    const text = await readFile(file, 'utf8');
    if (/^package kubiya\.main\s*$/m.test(text) && /^derived\s*:=/m.test(text)) return true;
  }
  return false;
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
export async function writeTarGz(outFile: string, files: Map<string, Uint8Array>): Promise<void> {
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
 * Evaluates the freshly built module against the fixture suites (by default `policy-fixtures`
 * beside the policy directory; inputs built with
 * the configuration defaults) and scans its Rego for what the WASM host cannot run; throws
 * PolicyBuildError (POLICY_BUILD_FAILED) naming every problem. Returns the inputs, which go into
 * the bundle so the runner checks them again before the bundle replaces a running one. With
 * `check` false (`policy test`, which reports each case in its table) only the inputs are made.
 */
async function checkAgainstFixtures(
  policyDir: string,
  fixturesDir: string,
  files: Map<string, Uint8Array<ArrayBuffer>>,
  data: unknown,
  revision: string,
  check: boolean,
): Promise<BundleFixture[]> {
  let fixtures: BundleFixture[];
  try {
    const ctx = podContextOf(defaultRunnerConfig());
    fixtures = (await readFixtureDocs(fixturesDir))
      .flatMap(({ file, doc }) => fixtureCases(file, doc, ctx))
      .map((c) => ({ name: `${c.file}#${c.step}`, input: c.input }));
  } catch (e) {
    throw new PolicyBuildError(
      'POLICY_BUILD_FAILED',
      `fixture suites in ${fixturesDir}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!check) return fixtures;
  const wasm = files.get('policy.wasm');
  if (wasm === undefined) throw new PolicyBuildError('POLICY_BUILD_FAILED', 'opa build wrote no policy.wasm');
  const engine = await loadEngine({ wasm, data, revision });
  const sources = [...files.entries()]
    .filter(([name]) => name.endsWith('.rego'))
    .map(([file, bytes]) => ({ file: relative(policyDir, `/${file}`), text: Buffer.from(bytes).toString('utf8') }));
  const problems = candidateProblems(engine, fixtures, sources);
  if (problems.length > 0)
    throw new PolicyBuildError(
      'POLICY_BUILD_FAILED',
      `the compiled WASM cannot decide (the runner would fail closed):\n  ${problems.join('\n  ')}`,
    );
  return fixtures;
}

/** bakeSettings when settings are given (PolicyBuildError POLICY_SETTINGS_INVALID), else the data and revision as built. */
function bake(
  files: Map<string, Uint8Array>,
  data: unknown,
  revision: string,
  settings: BakedSettings | undefined,
): { data: unknown; revision: string } {
  if (settings === undefined) return { data, revision };
  try {
    return bakeSettings(files, data, revision, settings);
  } catch (e) {
    throw new PolicyBuildError('POLICY_SETTINGS_INVALID', (e as Error).message);
  }
}

/** Options of buildBundle. */
export interface BuildOptions {
  /** false: make the fixture inputs but do not refuse a bundle that fails on them (`policy test` reports each). */
  readonly checkFixtures?: boolean;
  /** The fixture suites (default: `policy-fixtures` beside the policy directory). */
  readonly fixtures?: string;
  /** Sign the bundle (OPA's `.signatures.json`, src/policy/bundle-signature.ts) with this private key. */
  readonly signingKey?: KeyObject;
  /** Settings baked into the bundle's data before it is checked and signed (src/policy/bake.ts). */
  readonly settings?: BakedSettings;
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
  options: BuildOptions = {},
): Promise<{ file: string; revision: string }> {
  const fragments = await readSettingsFragments(policyDir);
  const schema = settingsSchema(fragments);
  if (!schema.ok) throw new PolicyBuildError(schema.error.code, schema.error.message);
  const sourceRevision = await policyRevision(policyDir);
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
      ...((await hasDerivedRule(policyDir)) ? ['-e', DERIVED_ENTRYPOINT] : []),
      '--capabilities',
      capabilities,
      '--revision',
      sourceRevision,
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
        `opa build failed:\n${maskKeyMaterial(`${out('stderr')}\n${out('stdout')}`.trim())}`,
      );
    })
    .finally(() => rm(capabilities, { force: true }));
  const files = await readTarGz(outFile);
  const dataRaw = files.get('data.json');
  const built: unknown = dataRaw === undefined ? {} : JSON.parse(Buffer.from(dataRaw).toString('utf8'));
  const { data, revision } = await Promise.resolve()
    .then(() => bake(files, built, sourceRevision, options.settings))
    .catch(async (e: unknown) => {
      await rm(outFile, { force: true });
      throw e;
    });
  const checked = checkPolicyData(data, fragments);
  if (!checked.ok) {
    await rm(outFile, { force: true });
    throw new PolicyBuildError(checked.error.code, checked.error.message);
  }
  files.set(BUNDLE_SCHEMA_FILE, Buffer.from(`${JSON.stringify(settingsJsonSchema(fragments), null, 2)}\n`));
  const fixturesDir = options.fixtures ?? fixturesDirOf(policyDir);
  const fixtures = await checkAgainstFixtures(
    policyDir,
    fixturesDir,
    files,
    data,
    revision,
    options.checkFixtures ?? true,
  ).catch(async (e: unknown) => {
    await rm(outFile, { force: true });
    throw e;
  });
  files.set(BUNDLE_FIXTURES_FILE, Buffer.from(`${JSON.stringify(fixtures)}\n`));
  if (options.signingKey !== undefined)
    files.set(SIGNATURES_FILE, Buffer.from(await signBundleFiles(files, options.signingKey)));
  await writeTarGz(outFile, files);
  return { file: outFile, revision };
}
