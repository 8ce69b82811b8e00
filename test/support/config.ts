/**
 * Configs for tests, made the one way production makes them: a document parsed by the config
 * schema (`parseConfig`), so a test runs with the schema's defaults and none of its own. A test
 * states only what it changes, in the config file's own keys (`runner.workflow.failFastGrace`,
 * not the pipeline's `failFastGraceSeconds`).
 */
import { pipelineConfigOf } from '../../src/app/pipeline-config.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { Config, ConfigInput } from '../../src/config/schema.ts';
import type { PipelineConfig } from '../../src/pipeline/deps.ts';
import { ISSUER, RUNNER } from './tokens.ts';

type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> | undefined }
    : T;

/** The config keys a test sets on top of the base (objects merge, arrays and scalars replace). */
export type ConfigOverrides = DeepPartial<ConfigInput>;

/**
 * The base every test config starts from: the schema's required keys only. The paths are
 * placeholders for tests over in-memory ports, which never open them; a test that starts real
 * parts (startRunner, serve) overrides them with real files.
 */
const BASE: ConfigInput = {
  runner: { name: RUNNER },
  controlPlane: { issuer: ISSUER, jwksFile: '(in-memory keys: no file)' },
  policy: { bundle: '(in-memory policy: no bundle)' },
  audit: { dir: '(in-memory audit: no directory)' },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

/**
 * BASE with each of `overrides` merged on in order, through the schema (defaults filled, frozen).
 * Throws with CONFIG_INVALID's message, which names every bad path.
 */
export function testConfig(...overrides: readonly ConfigOverrides[]): Config {
  const parsed = parseConfig(overrides.reduce<unknown>(merge, BASE));
  if (!parsed.ok) throw new Error(parsed.error.message);
  return parsed.value;
}

/** The pipeline's view of testConfig(overrides), exactly as `serve` derives it. */
export function testPipelineConfig(overrides: ConfigOverrides = {}): PipelineConfig {
  return pipelineConfigOf(testConfig(overrides));
}

/** The smallest config file `loadConfig` accepts: the four required settings, nothing else (YAML text). */
export const MINIMAL_CONFIG_YAML = `
runner:
  name: production-runner
controlPlane:
  issuer: https://control-plane.kubiya.ai
  jwksFile: /etc/kubiya/jwks.json
policy:
  bundle: /etc/kubiya/policy/bundle.tar.gz
audit:
  dir: /var/lib/kubiya/audit
`;
