import { gunzip } from 'node:zlib';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { Parser, type ReadEntry } from 'tar';
import { DERIVED_ENTRYPOINT, type PolicyEngine } from '../evaluate/policy-engine.ts';
import { BUNDLE_FIXTURES_FILE } from '../policy/candidate.ts';
import { BUNDLE_SCHEMA_FILE } from '../policy/settings-schema.ts';
import { OperatorFileRefused, readOperatorFile } from './operator-file.ts';

export interface BundleFiles {
  readonly wasm: Uint8Array<ArrayBuffer>;
  readonly data: unknown;
  readonly revision: string;
  /** The merged settings JSON Schema `policy build` put in the bundle (settings.schema.json), if any. */
  readonly settingsSchema?: unknown;
  /** The fixture inputs `policy build` evaluated (fixtures.json), for the runner to evaluate again. */
  readonly fixtures?: Uint8Array;
  /** The Rego sources `opa build` put in the bundle (path → text), for the WASM compatibility scan. */
  readonly sources?: readonly { file: string; text: string }[];
  /** Every file as read (path in the bundle → bytes), for signature verification. */
  readonly raw?: ReadonlyMap<string, Uint8Array>;
}

const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;
const gunzipBounded = promisify(gunzip);

/** Reads an OPA bundle (tar.gz from `opa build -t wasm`, or a directory holding the same files). */
export async function readBundle(path: string): Promise<BundleFiles> {
  return bundleOf(await readBundleFiles(path), path);
}

/** Every file of a bundle (tar.gz or directory), unparsed: what a signature is checked over. */
export async function readBundleFiles(path: string): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const info = await stat(path);
  return info.isDirectory() ? readDir(path) : readTarGz(path);
}

/** The parts of a bundle's files the runner uses. Throws when policy.wasm or the revision is missing. */
export function bundleOf(files: Map<string, Uint8Array<ArrayBuffer>>, path: string): BundleFiles {
  const wasm = files.get('policy.wasm') ?? files.get('/policy.wasm');
  if (wasm === undefined) throw new Error(`bundle ${path} has no policy.wasm`);
  // OPA merges a data.json/data.yaml at any depth into data; this runner reads the root data.json
  // only: a bundle with data elsewhere would decide differently here and under OPA, so it is refused.
  const stray = [...files.keys()].find(
    (n) => /(^|\/)data\.(json|ya?ml)$/.test(n.replace(/^\/+/, '')) && n.replace(/^\/+/, '') !== 'data.json',
  );
  if (stray !== undefined) throw new Error(`bundle ${path} carries data at ${stray}: only the root data.json is read`);
  const dataRaw = files.get('data.json') ?? files.get('/data.json');
  const manifestRaw = files.get('.manifest') ?? files.get('/.manifest');
  const data: unknown = dataRaw === undefined ? {} : JSON.parse(Buffer.from(dataRaw).toString('utf8'));
  const manifest: unknown = manifestRaw === undefined ? {} : JSON.parse(Buffer.from(manifestRaw).toString('utf8'));
  const revision =
    typeof manifest === 'object' && manifest !== null && 'revision' in manifest && typeof manifest.revision === 'string'
      ? manifest.revision
      : '';
  if (revision === '') throw new Error(`bundle ${path} has no revision in .manifest`);
  const schemaRaw = files.get(BUNDLE_SCHEMA_FILE) ?? files.get(`/${BUNDLE_SCHEMA_FILE}`);
  const settingsSchema: unknown =
    schemaRaw === undefined ? undefined : JSON.parse(Buffer.from(schemaRaw).toString('utf8'));
  const fixtures = files.get(BUNDLE_FIXTURES_FILE);
  const sources = [...files.entries()]
    .filter(([name]) => name.endsWith('.rego'))
    .map(([file, bytes]) => ({ file, text: Buffer.from(bytes).toString('utf8') }));
  return {
    wasm,
    data,
    revision,
    sources,
    raw: files,
    ...(settingsSchema !== undefined ? { settingsSchema } : {}),
    ...(fixtures !== undefined ? { fixtures } : {}),
  };
}

/** The deepest directory a bundle directory may nest, and the most files it may hold. */
const MAX_DIR_DEPTH = 16;
const MAX_DIR_FILES = 10_000;

/**
 * Every regular file under a bundle directory, as OPA's directory loader reads one: recursively,
 * each named by its path relative to the directory with `/` separators (`kubiya/rules/x/x.rego`),
 * so a signature covers what is there — nested files included — not only the files read. The
 * kubelet's ConfigMap machinery (top-level `..data`, `..2026_…`) is skipped; its visible entries
 * are symlinks into it and are followed. Bounded: depth 16, 10 000 files. Returns name → absolute path.
 */
export async function bundleDirFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (at: string, prefix: string, depth: number): Promise<void> => {
    if (depth > MAX_DIR_DEPTH) throw new Error(`bundle ${dir} nests deeper than ${MAX_DIR_DEPTH} directories`);
    for (const name of (await readdir(at)).sort()) {
      if (depth === 0 && name.startsWith('..')) continue;
      const path = join(at, name);
      const info = await stat(path).catch(() => undefined);
      if (info?.isDirectory() === true) await walk(path, `${prefix}${name}/`, depth + 1);
      else if (info?.isFile() === true) out.set(`${prefix}${name}`, path);
      if (out.size > MAX_DIR_FILES) throw new Error(`bundle ${dir} holds more than ${MAX_DIR_FILES} files`);
    }
  };
  await walk(dir, '', 0);
  return out;
}

/** The files of a bundle directory (bundleDirFiles), read, bounded in total size like a tar.gz. */
async function readDir(dir: string): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const files = new Map<string, Uint8Array<ArrayBuffer>>();
  let total = 0;
  for (const [name, path] of await bundleDirFiles(dir)) {
    // gone since it was listed (a ConfigMap mount mid-swap): absent, as the signature check and bundleOf report
    // read as a regular file, never past the bundle's bound (replaced by a FIFO or grown since it was listed: refused)
    const bytes = await readOperatorFile(path, MAX_BUNDLE_BYTES - total).catch((e: unknown) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      if (e instanceof OperatorFileRefused && e.reason === 'too-large')
        throw new Error(`bundle ${dir} is larger than ${MAX_BUNDLE_BYTES} bytes`);
      throw e;
    });
    if (bytes === undefined) continue;
    total += bytes.byteLength;
    files.set(name, bytes);
  }
  return files;
}

/**
 * Every file of a tar.gz bundle by its path (leading "./" and "/" removed), bounded in size: the
 * compressed file and what it expands to are each at most MAX_BUNDLE_BYTES (zlib stops at the
 * bound, on the thread pool: a gzip bomb costs no more than a bundle of the largest size). Throws
 * an Error for a file that is too large or not gzip; never throws from an event (before
 * h-start-3 an expansion past the bound crashed the process through the stream pipeline).
 */
export async function readTarGz(file: string): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const compressed = await readOperatorFile(file, MAX_BUNDLE_BYTES).catch((e: unknown) => {
    if (e instanceof OperatorFileRefused && e.reason === 'too-large')
      throw new Error(`bundle ${file} is larger than ${MAX_BUNDLE_BYTES} bytes`);
    throw e;
  });
  let raw: Buffer;
  try {
    raw = await gunzipBounded(compressed, { maxOutputLength: MAX_BUNDLE_BYTES });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new Error(`bundle ${file} expands beyond ${MAX_BUNDLE_BYTES} bytes`, { cause: e });
    throw new Error(`bundle ${file} is not a gzip file: ${(e as Error).message}`, { cause: e });
  }
  return untar(raw);
}

/** The entries of an uncompressed tar (already bounded in size by its caller), by path. */
function untar(raw: Buffer): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  return new Promise((resolve, reject) => {
    const files = new Map<string, Uint8Array<ArrayBuffer>>();
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => files.set(entry.path.replace(/^\.\//, '/').replace(/^\/+/, ''), Buffer.concat(chunks)));
      },
    });
    parser.on('error', reject);
    parser.on('end', () => resolve(files));
    parser.end(raw);
  });
}

/**
 * WASM memory per policy instance, in 64 KiB pages: starts at 1 MiB, can never pass 64 MiB. The SDK
 * resets the heap after every evaluation, so one instance is reused for all decisions.
 */
export const WASM_MEMORY = Object.freeze({ initial: 16, maximum: 1024 });

/** A deep copy of `value`, frozen all the way down. */
function deepFreezeCopy(value: unknown): unknown {
  const copy = structuredClone(value);
  const freeze = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    for (const x of Object.values(v)) freeze(x);
    Object.freeze(v);
  };
  freeze(copy);
  return copy;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Gives a loaded policy its data, with data.kubiya.derived: the policy's own DERIVED_ENTRYPOINT
 * evaluated over that very data (the values its packages compute from the settings alone), so an
 * evaluation reads them instead of computing them again (issue 20 §2). Whatever `data` carries at
 * kubiya.derived is dropped first: only the policy's own result is ever there. Without the
 * entrypoint, when data.kubiya is not an object, or when the evaluation throws or is undefined,
 * the data is set as given without it, and the packages compute the values on each evaluation
 * (the same decision, at the old cost). Returns whether the derived values were set.
 */
export function setPolicyData(policy: LoadedPolicy, data: unknown): boolean {
  const kubiya = isRecord(data) ? data['kubiya'] : undefined;
  if (!isRecord(data) || !isRecord(kubiya)) {
    policy.setData(data as object);
    return false;
  }
  const { derived: _dropped, ...own } = kubiya;
  const base = { ...data, kubiya: own };
  policy.setData(base);
  if (!Object.hasOwn(policy.entrypoints as object, DERIVED_ENTRYPOINT)) return false;
  let derived: unknown;
  try {
    const resultSet: unknown = policy.evaluate({}, DERIVED_ENTRYPOINT);
    derived = Array.isArray(resultSet) ? (resultSet[0] as { result?: unknown } | undefined)?.result : undefined;
  } catch {
    return false;
  }
  if (!isRecord(derived)) return false;
  policy.setData({ ...base, kubiya: { ...own, derived } });
  return true;
}

/** Instantiates the WASM module with its data and exposes it as a PolicyEngine (its settings included). */
export async function loadEngine(bundle: BundleFiles): Promise<PolicyEngine & { memoryBytes(): number }> {
  const policy = await loadPolicy(bundle.wasm, { ...WASM_MEMORY });
  setPolicyData(policy, bundle.data);
  const entrypoints = Object.keys(policy.entrypoints as Record<string, number>);
  const kubiya =
    typeof bundle.data === 'object' && bundle.data !== null ? (bundle.data as { kubiya?: unknown }).kubiya : undefined;
  const settings =
    typeof kubiya === 'object' && kubiya !== null ? (kubiya as { settings?: unknown }).settings : undefined;
  return {
    revision: bundle.revision,
    entrypoints,
    // A private frozen copy: what masking reads can never differ from what was given to the policy.
    settings: settings === undefined ? undefined : deepFreezeCopy(settings),
    evaluate: (input, entrypoint) => policy.evaluate(input, entrypoint) as unknown,
    memoryBytes: () => (policy.mem as unknown as { buffer: ArrayBuffer }).buffer.byteLength,
  };
}
