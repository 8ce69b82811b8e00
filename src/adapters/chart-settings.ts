import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ErrorCode } from '../errors/codes.ts';
import { maskKeyMaterial } from '../policy/key-material.ts';
import { execFileOwned, namingSources, withTempDir } from './exit-cleanup.ts';
import { REPO_ROOT } from './tools.ts';
import { expandedSize, helmReading, privateKeyEntry, privateKeyInText } from './values-keys.ts';
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
 * Values laid over the user's for the render that checks, as the chart checks them, the values
 * BAKE_OVERRIDES replace (renderBakedSettings): the settings removed (helm deletes a key set to
 * null), which the chart refuses beside verification keys and which this command exists to bake.
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
 * A file whose aliases expand it past that size is refused before helm reads it (expandedSize).
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
    const text = utf8Of(f, bytes);
    if (expandedSize(text, OPERATOR_FILE_MAX_BYTES.config) > OPERATOR_FILE_MAX_BYTES.config)
      throw new ChartRenderError(
        `--values ${f} cannot be read as YAML: its aliases expand it past ${OPERATOR_FILE_MAX_BYTES.config / 1024 / 1024} MiB, the most a values file may hold`,
        'CONFIG_INVALID',
      );
    read.push({ bytes, text });
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
 * The chart's refusal of verification keys without a signed bundle source: the one refusal of the
 * key check render that a file fit for `policy build --values` may meet (the bundle source is
 * given at install; the bundle being built is what it will serve).
 */
const NEEDS_SIGNED_SOURCE = /policy\.verificationKeys needs a signed bundle source/;

/**
 * The policy data file the chart renders from these values, to be baked into a bundle by
 * `policy build --values` before it is signed: the user's values with BAKE_OVERRIDES after them.
 * Each values file is read once: every check and helm see the same bytes. The overrides would hide
 * the chart's own checks of the values they replace (red-team round 3, finding 10; red team 20,
 * finding 1), so first, for each file: helm's own reading of it (helmReading) — a file helm cannot
 * read is CONFIG_INVALID, and private key material in any entry of `policy.verificationKeys`, in
 * any form (PEM, JWK string or mapping, base64...), is POLICY_KEY_PRIVATE, as is one the file
 * spells where helm does not read it (privateKeyInText); then the chart render without the
 * overrides and without the settings, every refusal of which counts but NEEDS_SIGNED_SOURCE.
 */
export async function renderBakedSettings(helm: string, valuesFiles: readonly string[]): Promise<string> {
  return withValuesCopies(valuesFiles, async (copies, dir) => {
    for (const copy of copies) {
      const read = await helmReading(helm, copy, dir);
      if (!read.ok) throw new ChartRenderError(`--values ${copy.source} cannot be read as YAML: ${read.why}`);
      const helmSees = privateKeyEntry(read.values);
      const i = helmSees >= 0 ? helmSees : privateKeyInText(copy.text);
      if (i >= 0)
        throw new ChartRenderError(
          `${copy.source}: policy.verificationKeys[${i}] holds a PRIVATE key: put only the public key there (openssl pkey -pubout), and rotate that key pair: the private key has been in a values file`,
          'POLICY_KEY_PRIVATE',
        );
    }
    const check = join(dir, 'key-check.yaml');
    await writeFile(check, KEY_CHECK_OVERRIDES, { mode: 0o600, flag: 'wx' });
    await renderCopies(helm, [...copies, { source: check, path: check }]).catch((e: unknown) => {
      if (!(e instanceof ChartRenderError && NEEDS_SIGNED_SOURCE.test(e.message))) throw e;
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
