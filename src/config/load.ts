import { parse } from 'yaml';
import { fail, ok, type Result } from '../errors/result.ts';
import { configSchema, type Config } from './schema.ts';
import { parseProblem } from '../errors/parse-problem.ts';

/** Environment overrides, and the config path each sets. Documented in docs/configuration.md. */
export const ENV_OVERRIDES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  RUNNER_TOKEN: ['runner', 'token'],
  KUBIYA_RUNNER_NAME: ['runner', 'name'],
  KUBIYA_RUNNER_TOKEN_FILE: ['runner', 'tokenFile'],
  KUBIYA_WORKFLOW_NAMESPACE: ['runner', 'workflow', 'namespace'],
  KUBIYA_WORKFLOW_MAX_CONCURRENT: ['runner', 'workflow', 'maxConcurrent'],
  KUBIYA_CONTROL_PLANE_URL: ['controlPlane', 'url'],
  KUBIYA_CONTROL_PLANE_ISSUER: ['controlPlane', 'issuer'],
  KUBIYA_JWKS_FILE: ['controlPlane', 'jwksFile'],
  KUBIYA_JWKS_URL: ['controlPlane', 'jwksUrl'],
  KUBIYA_POLICY_BUNDLE: ['policy', 'bundle'],
  KUBIYA_AUDIT_DIR: ['audit', 'dir'],
  KUBIYA_SERVER_HOST: ['server', 'host'],
  KUBIYA_SERVER_PORT: ['server', 'port'],
  KUBIYA_KUBECONFIG: ['kubernetes', 'kubeconfig'],
  KUBIYA_LOG_LEVEL: ['log', 'level'],
});

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1] as string] = value;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses the YAML text of the config file, applies environment overrides (text as written, the two
 * integer settings from decimal digits; an empty variable counts as unset), validates the whole against the strict schema and freezes it.
 * Every problem is reported with its path; nothing is partially applied.
 */
export function loadConfig(
  yamlText: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Result<Config> {
  let doc: unknown = {};
  if (yamlText !== undefined) {
    try {
      doc = parse(yamlText, { maxAliasCount: 0, uniqueKeys: true }) ?? {};
    } catch (e) {
      return fail('CONFIG_INVALID', `config file: ${parseProblem(e)}`, {
        issues: [{ path: '', message: 'not valid YAML' }],
      });
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return fail('CONFIG_INVALID', 'config file must be a YAML mapping', {
      issues: [{ path: '', message: 'must be a mapping' }],
    });
  }
  const merged = structuredClone(doc) as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = overrideValue(name, raw);
    if (typeof value === 'object') issues.push({ path: path.join('.'), message: `${name} ${value.refused}` });
    else setPath(merged, path, value);
  }
  if (issues.length > 0)
    return fail(
      'CONFIG_INVALID',
      `environment overrides are invalid (${issues.length}):\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
      { issues },
    );
  return parseConfig(merged);
}

/** The overrides whose setting is an integer; every other one is text. */
const INTEGER_OVERRIDES: ReadonlySet<string> = new Set(['KUBIYA_WORKFLOW_MAX_CONCURRENT', 'KUBIYA_SERVER_PORT']);

// C0 and C1 controls and DEL: never part of a path, a URL, a name or a token.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * An override as its setting takes it (red team 14, finding 1): text exactly as written (never
 * read as YAML, so ` #…` is no comment, quotes stay, `12` stays text), an integer from decimal
 * digits only. Refused, never trimmed: white space at either end and control characters (a value
 * read from a file or a Secret with its newline). The reason never quotes the value.
 */
function overrideValue(name: string, raw: string): string | number | { refused: string } {
  if (INTEGER_OVERRIDES.has(name))
    return /^[0-9]{1,9}$/.test(raw) ? Number(raw) : { refused: 'must be a decimal integer (digits 0-9 only)' };
  if (CONTROL.test(raw)) return { refused: 'must not contain a control character (a newline, CR, NUL, ...)' };
  if (raw.trim() !== raw) return { refused: 'must not begin or end with white space (it is not trimmed)' };
  return raw;
}

/**
 * The one way to make a Config: validates a document (the YAML file with its environment
 * overrides applied, or an object the demo or a test writes) against the strict schema, fills
 * the schema's defaults and freezes the result. `CONFIG_INVALID` lists every problem with its path.
 */
export function parseConfig(doc: unknown): Result<Config> {
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) {
    const issues: ConfigIssue[] = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.'),
      message: i.message,
    }));
    return fail(
      'CONFIG_INVALID',
      `configuration is invalid (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n${issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
      { issues },
    );
  }
  return ok(deepFreeze(parsed.data));
}
