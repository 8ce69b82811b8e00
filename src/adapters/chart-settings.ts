import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isMap, isNode, isScalar, parseAllDocuments, type Document, type YAMLMap } from 'yaml';
import type { ErrorCode } from '../errors/codes.ts';
import { holdsPrivateKey, maskKeyMaterial } from '../policy/key-material.ts';
import { execFileOwned, namingSources, withTempDir } from './exit-cleanup.ts';
import { REPO_ROOT } from './tools.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorFile, whyUnreadable } from './operator-file.ts';

/** The chart whose rendering `policy eval|replay|test --values` reads. */
export const RUNNER_CHART = join(REPO_ROOT, 'charts', 'kubiya-runner');

/** What a runner installed by the chart with some values is configured with. */
export interface ChartSettings {
  /**
   * The exact text of the policy data file the chart mounts at `policy.data` (ConfigMap
   * `<fullname>-policy-data`); undefined when the chart renders none (with `policy.verificationKeys`
   * the settings come from the signed bundle only).
   */
  readonly dataText: string | undefined;
  /** The exact text of the runner configuration it mounts (ConfigMap `<fullname>-config`, runner.yaml). */
  readonly runnerYaml: string;
  /**
   * The PEM texts of `policy.verificationKeys` as the chart mounts them (ConfigMap
   * `<fullname>-policy-keys`, `key-<i>.pem` in order); empty when the values set none.
   */
  readonly verificationKeys: readonly string[];
}

/**
 * A chart that did not render (helm's message, values schema failures included), with its code:
 * POLICY_KEY_PRIVATE when the chart refused a private key in `policy.verificationKeys`, else
 * CONFIG_INVALID.
 */
export class ChartRenderError extends Error {
  readonly code: ErrorCode;
  constructor(message: string, code: ErrorCode = 'CONFIG_INVALID') {
    super(message);
    this.code = code;
  }
}

/** The chart's own refusal of a private verification key (templates/_helpers.tpl checkVerificationKeys). */
const CHART_PRIVATE_KEY = /policy\.verificationKeys\[\d+\] holds a PRIVATE key/;

interface ConfigMapDoc {
  kind?: string;
  metadata?: { name?: string };
  data?: Record<string, string>;
}

/**
 * Values laid over the user's for the render that only checks `policy.verificationKeys` as helm
 * reads them (renderBakedSettings): the settings removed (helm deletes a key set to null).
 */
const KEY_CHECK_OVERRIDES = 'policy:\n  settings: null\n';

/**
 * Values laid over the user's when the settings are rendered to be baked into a bundle
 * (`policy build --values`): the settings render exactly as the chart renders them, whatever the
 * values say about where the bundle comes from and how it is verified (a values file that sets
 * verification keys renders no settings; see templates/configmap-policy-data.yaml).
 */
export const BAKE_OVERRIDES =
  'policy:\n  verificationKeys: []\n  bundleConfigMap: ""\n  service:\n    url: ""\n    bearerTokenSecret:\n      name: ""\n';

/** A values file read once (its text), and the private copy of it that helm reads. */
interface ValuesCopy {
  /** The path the user gave. */
  readonly source: string;
  /** The copy helm is given (mode 0600 in a 0700 directory). */
  readonly path: string;
  /** The text read, which the copy holds. */
  readonly text: string;
}

/**
 * Reads each values file once (a regular file or a pipe — `--values <(sops -d values.yaml)` — at
 * most OPERATOR_FILE_MAX_BYTES.config), writes what was read to a private copy, runs `use` on the
 * copies and removes them whatever `use` does: helm reads the copies, so what the runner checks
 * (a private key in `policy.verificationKeys`) is what helm renders, and a file changed or swapped
 * after the check cannot reach helm (before, helm read the user's path again after our check).
 * Throws ChartRenderError('CONFIG_INVALID') naming a file that cannot be read, and what `use` throws.
 */
async function withValuesCopies<T>(
  valuesFiles: readonly string[],
  use: (copies: readonly ValuesCopy[], dir: string) => Promise<T>,
): Promise<T> {
  const read: { bytes: Uint8Array; text: string }[] = [];
  for (const f of valuesFiles) {
    const bytes = await readOperatorFile(f, OPERATOR_FILE_MAX_BYTES.config).catch((e: unknown) => {
      throw new ChartRenderError(`--values ${whyUnreadable(f, e)}`, 'CONFIG_INVALID');
    });
    read.push({ bytes, text: utf8Of(f, bytes) });
  }
  return withTempDir('kubiya-values-', async (dir) => {
    const copies = await Promise.all(
      read.map(async ({ bytes, text }, i) => {
        const path = join(dir, `values-${i}.yaml`);
        // The bytes read, not a decoding of them (red team 18, finding 10): helm reads what was checked.
        await writeFile(path, bytes, { mode: 0o600, flag: 'wx' });
        return { source: valuesFiles[i]!, path, text };
      }),
    );
    return use(copies, dir);
  });
}

/**
 * `helm template` of the chart with the values files given (the pinned helm, as `helm install -f`
 * would render them), and the two files the runner reads from it: the policy data and runner.yaml.
 * Each values file is read once and helm reads that copy (withValuesCopies). Throws
 * ChartRenderError with helm's stderr when the values do not render (a schema failure names the
 * value's path; a file is named by the path given, never the copy), key material masked (helm
 * echoes a refused value whole: a private key pasted into `policy.verificationKeys` must not
 * reach a terminal or a CI log).
 */
export async function renderChartSettings(
  helm: string,
  valuesFiles: readonly string[],
  chart = RUNNER_CHART,
): Promise<ChartSettings> {
  return withValuesCopies(valuesFiles, (copies) => renderCopies(helm, copies, chart));
}

/** renderChartSettings of values already copied (helm reads `copies[i].path`, in order). */
async function renderCopies(
  helm: string,
  copies: readonly Pick<ValuesCopy, 'source' | 'path'>[],
  chart = RUNNER_CHART,
): Promise<ChartSettings> {
  // The kube version the chart is tested against (src/dev/manifest.ts KUBE_VERSION); helm's own default is too old.
  // A stand-in runner token: the chart refuses to render without one (or runner.existingSecret),
  // and values files that hold policy settings rarely hold the token (it is given at install, often
  // with --set). It reaches only the chart's Secret, which is not read here; a --set outranks the
  // files, so a token they hold is neither used nor checked.
  const args = ['template', 'kubiya-runner', chart, '--namespace', 'kubiya', '--kube-version', '1.37.2'];
  args.push('--set-string', 'runner.token=settings-render');
  for (const c of copies) args.push('--values', c.path);
  const inSource = (text: string): string =>
    namingSources(
      text,
      copies.map((c) => ({ copy: c.path, source: c.source })),
    );
  const stdout = await execFileOwned(helm, args, { maxBuffer: 16 * 1024 * 1024 }).then(
    (r) => r.stdout,
    (e: { stderr?: string; message?: string }) => {
      const said = maskKeyMaterial(inSource((e.stderr ?? e.message ?? '').trim()));
      throw new ChartRenderError(
        `helm template failed: ${said}`,
        CHART_PRIVATE_KEY.test(said) ? 'POLICY_KEY_PRIVATE' : 'CONFIG_INVALID',
      );
    },
  );
  const maps = parseAllDocuments(stdout)
    .map((d) => d.toJS() as ConfigMapDoc | null)
    .filter((d): d is ConfigMapDoc => d?.kind === 'ConfigMap');
  const find = (suffix: string, key: string): string | undefined =>
    maps.find((m) => m.metadata?.name?.endsWith(suffix) === true)?.data?.[key];
  const runnerYaml = find('-config', 'runner.yaml');
  if (runnerYaml === undefined) throw new ChartRenderError('the chart rendered no ConfigMap *-config with runner.yaml');
  const keys = maps.find((m) => m.metadata?.name?.endsWith('-policy-keys') === true)?.data ?? {};
  const verificationKeys: string[] = [];
  for (let i = 0; keys[`key-${i}.pem`] !== undefined; i++) verificationKeys.push(keys[`key-${i}.pem`]!);
  return { dataText: find('-policy-data', 'data.json'), runnerYaml, verificationKeys };
}

/**
 * The policy data file the chart renders from these values, to be baked into a bundle by
 * `policy build --values` before it is signed: the user's values with BAKE_OVERRIDES after them.
 * Each values file is read once: the private-key check and helm see the same bytes. Throws
 * ChartRenderError as renderChartSettings does, and POLICY_KEY_PRIVATE when a values file
 * holds a private key in `policy.verificationKeys` (the overrides would hide it from the chart's
 * own check: red-team round 3, finding 10).
 */
export async function renderBakedSettings(helm: string, valuesFiles: readonly string[]): Promise<string> {
  return withValuesCopies(valuesFiles, async (copies, dir) => {
    const leaked = privateKeyInValues(copies);
    if (leaked !== undefined)
      throw new ChartRenderError(
        `${leaked} holds a PRIVATE key: put only the public key there (openssl pkey -pubout), and rotate that key pair: the private key has been in a values file`,
        'POLICY_KEY_PRIVATE',
      );
    // helm's own reading of the keys: the chart refuses a private key wherever helm's parser finds
    // one (YAML 1.1 merge keys, !!binary...: red team 19, finding 1). The bake overrides below would
    // hide it, so this render comes first, without them and without the settings (which the chart
    // refuses beside verification keys: baking them is what this command is for). Only its
    // private-key refusal counts; the render with the overrides decides everything else.
    const check = join(dir, 'key-check.yaml');
    await writeFile(check, KEY_CHECK_OVERRIDES, { mode: 0o600, flag: 'wx' });
    await renderCopies(helm, [...copies, { source: check, path: check }]).catch((e: unknown) => {
      if (e instanceof ChartRenderError && e.code === 'POLICY_KEY_PRIVATE') throw e;
    });
    const bake = join(dir, 'bake.yaml');
    await writeFile(bake, BAKE_OVERRIDES, { mode: 0o600, flag: 'wx' });
    const { dataText } = await renderCopies(helm, [...copies, { source: bake, path: bake }]);
    if (dataText === undefined) throw new ChartRenderError('the chart rendered no ConfigMap *-policy-data');
    return dataText;
  });
}

/**
 * The text of values file `file` (its `bytes`), which must be UTF-8 as YAML 1.2 and helm require:
 * ill-formed bytes are refused here, not read as U+FFFD (red team 18, finding 10: the check read
 * a file helm refuses). Throws ChartRenderError('CONFIG_INVALID') naming the file and the byte.
 */
function utf8Of(file: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    throw new ChartRenderError(
      `--values ${file} is not UTF-8 (byte ${at}); helm refuses it too: save it as UTF-8`,
      'CONFIG_INVALID',
    );
  }
}

/**
 * The offset of the first byte that does not decode as UTF-8 (bytes.length when all do): where the
 * lenient decoding first holds a U+FFFD that the bytes do not spell (EF BF BD). Before it every
 * character re-encodes to the bytes it came from, so its offset is the prefix's encoded length.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const lenient = new TextDecoder('utf-8').decode(bytes);
  for (let i = lenient.indexOf('\uFFFD'); i >= 0; i = lenient.indexOf('\uFFFD', i + 1)) {
    const at = Buffer.byteLength(lenient.slice(0, i));
    if (!(bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd)) return at;
  }
  return bytes.length;
}

/** A pair's key is the plain scalar `name`. */
const named = (key: unknown, name: string): boolean => isScalar(key) && key.value === name;

/**
 * Every `policy.verificationKeys` list written in `doc`, as values: one per pair, duplicates of
 * either key included (helm keeps the last; each one is in the file).
 */
function everyVerificationKeysList(doc: Document): unknown[] {
  const tops = isMap(doc.contents) ? doc.contents.items : [];
  const policies = tops.filter((p) => named(p.key, 'policy') && isMap(p.value)).map((p) => p.value as YAMLMap);
  return policies
    .flatMap((m) => m.items.filter((p) => named(p.key, 'verificationKeys')))
    .map((p): unknown => (isNode(p.value) ? (p.value.toJS(doc, { maxAliasCount: 100 }) as unknown) : p.value));
}

/**
 * Where the values put private key material in `policy.verificationKeys`
 * (`<file>: policy.verificationKeys[<i>]`, never the key), or undefined. Every file is checked, not
 * only the one whose list helm would keep: a private key in any values file is exposed. Read as
 * helm reads it (red team 18, finding 9: a duplicate key made the check skip the file while helm
 * took the last one): duplicate keys allowed, and EVERY `policy` mapping of the document checked,
 * not only the one kept; aliases resolved (up to 100, as the yaml library bounds them). A file the
 * check cannot parse is refused (ChartRenderError CONFIG_INVALID, naming it and the reason), never
 * taken as holding nothing.
 */
function privateKeyInValues(copies: readonly Pick<ValuesCopy, 'source' | 'text'>[]): string | undefined {
  for (const { source, text } of copies) {
    // YAML 1.1, as helm's go-yaml reads values: `<<` merge keys and `!!binary` (red team 19,
    // finding 1); every document of the file (helm reads the first; a key in any is exposed), and a
    // trailing `---` or a comment-only document is no error (finding 6).
    const docs = parseAllDocuments(text, { uniqueKeys: false, version: '1.1', merge: true });
    for (const doc of docs) {
      if (doc.errors.length > 0)
        throw new ChartRenderError(
          `--values ${source} cannot be read as YAML: ${doc.errors[0]!.message.split('\n')[0]}`,
          'CONFIG_INVALID',
        );
      let whole: unknown;
      try {
        whole = doc.toJS({ maxAliasCount: 100 });
      } catch (e) {
        throw new ChartRenderError(
          `--values ${source} cannot be read as YAML: ${e instanceof Error ? e.message : String(e)}`,
          'CONFIG_INVALID',
        );
      }
      // Every `policy.verificationKeys` list of the document: each one a duplicate key makes at
      // either level (helm keeps the last; every one is in the file), and the list as resolved.
      const lists: unknown[] = [
        (whole as { policy?: { verificationKeys?: unknown } } | null)?.policy?.verificationKeys,
      ];
      lists.push(...everyVerificationKeysList(doc));
      for (const keys of lists) {
        if (!Array.isArray(keys)) continue;
        const i = keys.findIndex((k) => holdsPrivateKey(keyText(k)));
        if (i >= 0) return `${source}: policy.verificationKeys[${i}]`;
      }
    }
  }
  return undefined;
}

/** A list item as text: a string, or the bytes of a `!!binary` scalar as UTF-8; '' for anything else. */
const keyText = (k: unknown): string =>
  typeof k === 'string' ? k : k instanceof Uint8Array ? Buffer.from(k).toString('utf8') : '';
