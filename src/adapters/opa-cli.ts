/** The opa command line: the capabilities the WASM SDK supports, and `opa build -t wasm` under them. */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { maskKeyMaterial } from '../policy/key-material.ts';
import { PolicyBuildError } from './policy-sources.ts';
import { execFileOwned } from './exit-cleanup.ts';
import { REPO_ROOT } from './tools.ts';

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
    (await execFileOwned(opa, ['capabilities', '--current'], { maxBuffer: 16 * 1024 * 1024 })).stdout,
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

/** Options of opaBuildWasm. */
export interface OpaBuildOptions {
  /** The entrypoints compiled into policy.wasm (OPA's `-e`, e.g. kubiya/main/decision), in order. */
  readonly entrypoints: readonly string[];
  /** The bundle's manifest revision (OPA's `--revision`). */
  readonly revision: string;
}

/**
 * `opa build -t wasm` of a policy directory (its *_test.rego files left out) into `outFile`, a
 * bundle.tar.gz, under wasmCapabilities so a builtin the SDK lacks fails here, not at evaluation.
 * Built from inside the directory ("."): opa names the modules (in the bundle and in policy.wasm)
 * by the path it is given, so the bundle's bytes do not depend on where the sources live. Throws
 * PolicyBuildError (POLICY_BUILD_FAILED) with opa's output, key material masked.
 * https://www.openpolicyagent.org/docs/cli#build
 */
export async function opaBuildWasm(
  opa: string,
  policyDir: string,
  outFile: string,
  options: OpaBuildOptions,
): Promise<void> {
  const capabilities = await wasmCapabilities(opa, `${outFile}.capabilities.json`);
  await execFileOwned(
    opa,
    [
      'build',
      '-t',
      'wasm',
      ...options.entrypoints.flatMap((e) => ['-e', e]),
      '--capabilities',
      capabilities,
      '--revision',
      options.revision,
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
}
