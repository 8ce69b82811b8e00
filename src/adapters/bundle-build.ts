/** A policy bundle built, checked and (optionally) signed: the one `policy build` writes and the runner loads. */
import type { KeyObject } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { DECISION_ENTRYPOINT, DERIVED_ENTRYPOINT } from '../evaluate/policy-engine.ts';
import { BUNDLE_SCHEMA_FILE, checkPolicyData, settingsJsonSchema, settingsSchema } from '../policy/settings-schema.ts';
import { bakeSettings, type BakedSettings } from '../policy/bake.ts';
import { SIGNATURES_FILE, signBundleFiles } from '../policy/bundle-signature.ts';
import { BUNDLE_FIXTURES_FILE, candidateProblems, type BundleFixture } from '../policy/candidate.ts';
import { fixtureCases } from '../policy/fixtures.ts';
import { defaultRunnerConfig, podContextOf } from '../policy/pod-context.ts';
import { writeTarGz } from './bundle-tar.ts';
import { opaBuildWasm } from './opa-cli.ts';
import { loadEngine, readTarGz } from './opa-wasm.ts';
import { fixturesDirOf, readFixtureDocs } from './policy-fixtures.ts';
import { hasDerivedRule, PolicyBuildError, readSettingsFragments, snapshotRevision } from './policy-sources.ts';
import { inSource, withPolicySnapshot, type PolicySnapshot } from './policy-snapshot.ts';

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
 * same schema at start and on reload. The directory is read once and opa compiles that copy
 * (withPolicySnapshot); only a bundle that passed every check is written to `outPath`, atomically
 * (writeTarGz): a failed or killed build leaves `outPath` as it was. Throws PolicyBuildError.
 */
export async function buildBundle(
  opa: string,
  policyDir: string,
  outPath: string,
  options: BuildOptions = {},
): Promise<{ file: string; revision: string }> {
  // read once: opa compiles the copy, so what is hashed and checked here is what it compiles
  return withPolicySnapshot(policyDir, (snapshot) => buildFrom(opa, snapshot, outPath, options));
}

/** buildBundle from a snapshot of the policy directory (opa reads `snapshot.root`). */
async function buildFrom(
  opa: string,
  snapshot: PolicySnapshot,
  outPath: string,
  options: BuildOptions,
): Promise<{ file: string; revision: string }> {
  const policyDir = snapshot.source;
  const fragments = readSettingsFragments(snapshot);
  const schema = settingsSchema(fragments);
  if (!schema.ok) throw new PolicyBuildError(schema.error.code, schema.error.message);
  const sourceRevision = snapshotRevision(snapshot);
  const outFile = resolve(outPath);
  // The directory of --out is made when missing (a user's path). One that exists (a temporary
  // directory of engineFor's) is not asked for again: a recursive mkdir in flight when the process
  // is stopped would make a removed temporary directory again (red team 18, finding 4).
  const parent = dirname(outFile);
  if (
    !(await stat(parent).then(
      (st) => st.isDirectory(),
      () => false,
    ))
  )
    await mkdir(parent, { recursive: true });
  // opa's bundle is not the one built here: it stays private; outFile is written once, checked and whole
  const opaOut = join(snapshot.scratch, 'opa-bundle.tar.gz');
  await opaBuildWasm(opa, snapshot.root, opaOut, {
    entrypoints: [DECISION_ENTRYPOINT, ...(hasDerivedRule(snapshot) ? [DERIVED_ENTRYPOINT] : [])],
    revision: sourceRevision,
  }).catch((e: unknown) => {
    throw e instanceof PolicyBuildError ? new PolicyBuildError(e.code, inSource(snapshot, e.message)) : e;
  });
  const files = await readTarGz(opaOut);
  const dataRaw = files.get('data.json');
  const built: unknown = dataRaw === undefined ? {} : JSON.parse(Buffer.from(dataRaw).toString('utf8'));
  const { data, revision } = bake(files, built, sourceRevision, options.settings);
  const checked = checkPolicyData(data, fragments);
  if (!checked.ok) throw new PolicyBuildError(checked.error.code, checked.error.message);
  files.set(BUNDLE_SCHEMA_FILE, Buffer.from(`${JSON.stringify(settingsJsonSchema(fragments), null, 2)}\n`));
  const fixturesDir = options.fixtures ?? fixturesDirOf(policyDir);
  const fixtures = await checkAgainstFixtures(
    policyDir,
    fixturesDir,
    files,
    data,
    revision,
    options.checkFixtures ?? true,
  );
  files.set(BUNDLE_FIXTURES_FILE, Buffer.from(`${JSON.stringify(fixtures)}\n`));
  if (options.signingKey !== undefined)
    files.set(SIGNATURES_FILE, Buffer.from(await signBundleFiles(files, options.signingKey)));
  await writeTarGz(outFile, files);
  return { file: outFile, revision };
}
