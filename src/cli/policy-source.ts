import { Option } from 'commander';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ChartRenderError, renderChartSettings } from '../adapters/chart-settings.ts';
import type { KeyObject } from 'node:crypto';
import { buildBundle, type BuildOptions } from '../adapters/bundle-build.ts';
import { withTempDir } from '../adapters/exit-cleanup.ts';
import { OutputWriteFailed } from '../adapters/atomic-file.ts';
import { PolicyBuildError } from '../adapters/policy-sources.ts';
import { policyVerificationKeys, VerificationKeyError, verificationKeyOf } from '../adapters/policy-keys.ts';
import { verifyBundleFiles } from '../policy/bundle-signature.ts';
import { bundleOf, loadEngine, readBundle, readBundleFiles, type BundleFiles } from '../adapters/opa-wasm.ts';
import { resolveTools, type ToolName } from '../adapters/tools.ts';
import type { PolicyEngine } from '../evaluate/policy-engine.ts';
import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { effectiveData, overlayRevision, settingsOf, unsignedOverlayProblem } from '../policy/overlay.ts';
import { defaultRunnerConfig } from '../policy/pod-context.ts';
import { checkPolicyData, fragmentsOf } from '../policy/settings-schema.ts';
import type { Workflow } from '../validate/schema.ts';
import { validate } from '../validate/validate.ts';
import { CliError } from './io.ts';
import type { Env } from './serve.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText, whyUnreadable } from '../adapters/operator-file.ts';
import { parseProblem } from '../errors/parse-problem.ts';

/** Policies are read from ./policies of the working directory unless --policies says otherwise. */
export const DEFAULT_POLICIES = 'policies';

/** The path of a pinned tool, or a CliError saying how to build it. */
export function toolPath(name: ToolName): string {
  const tools = resolveTools([name]);
  if (!tools.ok) throw new CliError(tools.error.code, tools.error.message);
  return tools.value[name];
}

/**
 * A build failure as a CLI error with its code (POLICY_SETTINGS_INVALID for settings,
 * OUTPUT_WRITE_FAILED for the `--out` path, else POLICY_BUILD_FAILED).
 */
export function buildFailure(e: unknown): never {
  throw new CliError(
    e instanceof PolicyBuildError || e instanceof OutputWriteFailed ? e.code : 'POLICY_BUILD_FAILED',
    e instanceof Error ? e.message : String(e),
  );
}

/**
 * Where the settings a command decides with come from, besides the bundle's own data:
 * `--values` (the Helm chart rendered with these values files: its policy data and runner.yaml,
 * exactly as a runner installed with them reads them) or `--data` (a data file laid over the
 * bundle's settings, as the runner's `policy.data` is).
 */
export interface SettingsSource {
  readonly label: string;
  /** The overlay data file's exact text; undefined when the chart renders none (values with verification keys). */
  readonly dataText: string | undefined;
  /** runner.yaml as the chart renders it (only with --values). */
  readonly runnerYaml?: string;
  /** The PEM texts of the `policy.verificationKeys` the chart renders (only with --values; empty: none). */
  readonly verificationKeys?: readonly string[];
}

export interface SourceOptions {
  readonly values?: string[];
  readonly data?: string;
  readonly verificationKey?: string[];
}

/** --values and --data, shared by eval, replay and test. */
export function sourceOptions(): Option[] {
  return [
    new Option(
      '--values <file...>',
      'Helm values files: decide with exactly the settings and runner configuration the chart renders from them',
    ),
    new Option('--data <file>', "a data file laid over the bundle's settings, as the runner's policy.data is"),
    new Option(
      '--verification-key <pem...>',
      "check --bundle's signature as a runner with these policy.verificationKeys does (unsigned or tampered: refused)",
    ),
  ];
}

/** The settings source the options name, or undefined for the bundle's own data. */
export async function settingsSource(opts: SourceOptions): Promise<SettingsSource | undefined> {
  if (opts.values !== undefined && opts.data !== undefined)
    throw new CliError('CONFIG_INVALID', '--values and --data both give the settings: use one');
  if (opts.values !== undefined) {
    const rendered = await renderChartSettings(
      toolPath('helm'),
      opts.values.map((f) => resolve(f)),
    ).catch((e: unknown) => {
      throw e instanceof ChartRenderError ? new CliError(e.code, e.message) : new CliError('CONFIG_INVALID', String(e));
    });
    return { label: `chart values ${opts.values.join(', ')}`, ...rendered };
  }
  if (opts.data !== undefined) {
    const file = opts.data;
    const dataText = await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.policy).catch((e: unknown) => {
      throw new CliError('CONFIG_INVALID', whyUnreadable(file, e));
    });
    return { label: opts.data, dataText };
  }
  return undefined;
}

/**
 * The bundle's files with the source's settings laid over its data, checked as the runner checks
 * them. `signed` (--verification-key given): as a verifying runner, only the empty overlay is
 * accepted and changes nothing; any other is POLICY_SETTINGS_UNSIGNED (the settings must be baked
 * into the signed bundle: `policy build --values`).
 */
function withSettings(
  files: BundleFiles,
  source: SettingsSource | undefined,
  name: string,
  signed = false,
): BundleFiles {
  const own = (): BundleFiles => {
    const checked = checkPolicyData(files.data, fragmentsOf(files.settingsSchema));
    if (!checked.ok) throw new CliError(checked.error.code, `${name}: ${checked.error.message}`);
    return files;
  };
  if (source?.dataText === undefined) return own();
  let overlay: unknown;
  try {
    overlay = JSON.parse(source.dataText);
  } catch (e) {
    throw new CliError('POLICY_SETTINGS_INVALID', `${source.label}: ${parseProblem(e)}`);
  }
  if (signed) {
    const problem = unsignedOverlayProblem(overlay, source.label);
    if (problem !== undefined) throw new CliError(problem.code, problem.message);
    return own();
  }
  const settings = settingsOf(overlay);
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
    throw new CliError('POLICY_SETTINGS_INVALID', `${source.label} has no kubiya.settings object`);
  const data = effectiveData(files.data, overlay);
  const checked = checkPolicyData(data, fragmentsOf(files.settingsSchema));
  if (!checked.ok) throw new CliError(checked.error.code, `${source.label} over ${name}: ${checked.error.message}`);
  return { ...files, data, revision: overlayRevision(files.revision, source.dataText) };
}

const keyError = (e: unknown): never => {
  throw new CliError(e instanceof VerificationKeyError ? e.code : 'CONFIG_INVALID', (e as Error).message);
};
const fingerprint = (k: KeyObject): string => k.export({ type: 'spki', format: 'der' }).toString('base64');

/**
 * The verification keys the command verifies --bundle with, as the runner would (red-team round 3,
 * finding 5): the `policy.verificationKeys` the --values render (a runner installed with them
 * verifies with exactly these), and --verification-key. Both given: they must be the same set of
 * keys (CONFIG_INVALID otherwise: a bundle signed with a key only --verification-key names would
 * pass here and be refused by the runner; one signed with a key only the values name, the
 * reverse). Keys and no --bundle: a bundle built now is unsigned, so the runner would refuse it
 * (POLICY_BUNDLE_UNSIGNED for the values' keys, CONFIG_INVALID for --verification-key).
 */
async function verificationKeys(
  opts: SourceOptions,
  bundle: string | undefined,
  source: SettingsSource | undefined,
): Promise<KeyObject[]> {
  const rendered = (source?.verificationKeys ?? []).map((pem, i) => {
    try {
      return verificationKeyOf(pem, `${source!.label}: policy.verificationKeys[${i}]`);
    } catch (e) {
      return keyError(e);
    }
  });
  if (opts.verificationKey === undefined) {
    if (rendered.length > 0 && bundle === undefined)
      throw new CliError(
        'POLICY_BUNDLE_UNSIGNED',
        `${source!.label} set policy.verificationKeys: a runner installed with them refuses an unsigned bundle, and one built now is unsigned. Give the signed candidate with --bundle`,
        1,
      );
    return rendered;
  }
  if (bundle === undefined)
    throw new CliError('CONFIG_INVALID', '--verification-key checks a bundle: give it with --bundle');
  const given = await policyVerificationKeys(opts.verificationKey).catch(keyError);
  if (rendered.length > 0) {
    const a = new Set(rendered.map(fingerprint));
    const b = new Set(given.map(fingerprint));
    if (a.size !== b.size || [...a].some((f) => !b.has(f)))
      throw new CliError(
        'CONFIG_INVALID',
        `--verification-key and the policy.verificationKeys of ${source!.label} are not the same keys: the runner verifies with the values' keys only. Give the same keys, or leave out --verification-key`,
      );
  }
  return given;
}

/**
 * The bundle given (or one built now from the policy directory), deciding with the source's
 * settings; with verification keys (--verification-key, or those the --values render), its
 * signature is checked first, as the runner checks it, and only the empty settings overlay is
 * accepted (POLICY_SETTINGS_UNSIGNED otherwise).
 */
export async function engineFor(
  bundle: string | undefined,
  policies: string,
  source?: SettingsSource,
  build: BuildOptions = {},
  opts: SourceOptions = {},
): Promise<PolicyEngine> {
  const notLoaded = (e: unknown): never => {
    throw new CliError('POLICY_NOT_LOADED', `cannot load bundle ${bundle}: ${(e as Error).message ?? String(e)}`);
  };
  const keys = await verificationKeys(opts, bundle, source);
  if (bundle !== undefined) {
    const raw = await readBundleFiles(resolve(bundle)).catch(notLoaded);
    if (keys.length > 0) {
      const verified = await verifyBundleFiles(raw, keys);
      if (!verified.ok) throw new CliError(verified.error.code, `bundle ${bundle}: ${verified.error.message}`, 1);
    }
    const files = (() => {
      try {
        return bundleOf(raw, bundle);
      } catch (e) {
        return notLoaded(e);
      }
    })();
    return loadEngine(withSettings(files, source, `bundle ${bundle}`, keys.length > 0)).catch(notLoaded);
  }
  // Removed however the command ends, a stop signal included (red team 18, finding 4).
  return withTempDir('kubiya-policy-', async (dir) => {
    const built = await buildBundle(toolPath('opa'), resolve(policies), join(dir, 'bundle.tar.gz'), build).catch(
      buildFailure,
    );
    return loadEngine(withSettings(await readBundle(built.file), source, `policies ${policies}`));
  });
}

/**
 * The runner configuration pods are built with: the `--config` file with the environment
 * overrides `serve` applies; else the runner.yaml the chart renders from --values; else the
 * configuration defaults. Either way a pod is built exactly as `serve` with that configuration
 * builds it, so eval and serve decide alike.
 */
export async function runnerConfig(file: string | undefined, env: Env, source?: SettingsSource): Promise<Config> {
  if (file === undefined && source?.runnerYaml === undefined) return defaultRunnerConfig();
  let text: string;
  if (file !== undefined) {
    try {
      text = await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.config);
    } catch (e) {
      throw new CliError('CONFIG_INVALID', whyUnreadable(file, e));
    }
  } else text = source!.runnerYaml!;
  const config = loadConfig(text, file !== undefined ? env : {});
  if (!config.ok) throw new CliError(config.error.code, config.error.message);
  return config.value;
}

/** A file holding a workflow (with steps) or one step; returns a validated workflow. */
export async function workflowFrom(file: string): Promise<Workflow> {
  let doc: unknown;
  try {
    doc = parse(await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.config), { maxAliasCount: 0 });
  } catch (e) {
    throw new CliError('VALIDATE_SCHEMA', `cannot read ${file}: ${parseProblem(e)}`);
  }
  const isWorkflow = typeof doc === 'object' && doc !== null && 'steps' in doc;
  // A fixture file is a workflow with an "expect" map: evaluate its workflow.
  const { expect: _expect, ...claim } = isWorkflow ? (doc as Record<string, unknown>) : {};
  const wf = isWorkflow
    ? { runId: 'eval', name: 'eval', ...claim }
    : { id: 'eval', name: 'eval', runId: 'eval', steps: [doc] };
  const valid = validate(wf);
  if (!valid.ok) {
    const issues = (valid.error.details as { issues: { path: string; message: string }[] }).issues;
    throw new CliError(
      'VALIDATE_SCHEMA',
      `${file} is not a valid ${isWorkflow ? 'workflow' : 'step'}:\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
    );
  }
  return valid.value;
}
