/**
 * A policy directory read once, into a private copy that `opa build` and `opa test` then read: what
 * the runner checks, hashes into the revision and scans is byte for byte what opa compiles.
 *
 * Why a copy (red team 17 round, the class "what we check is not what opa reads"):
 * - opa follows a symlink to a directory (checked with the pinned opa: `pol/linked -> ../other`
 *   put `pol/linked/x.rego` in the bundle); a recursive readdir does not, so a module there was
 *   compiled but neither hashed into the revision nor checked for FIFOs;
 * - opa opens every file it walks, whatever its name: a FIFO named `notes.txt` held `opa build`
 *   (killed by `timeout 10`), though opa loads only Rego, JSON and YAML;
 * - anything checked before opa runs can be swapped before opa reads it.
 * The copy holds only regular files opa loads (OPA_LOADS), at the paths opa gives them (through
 * symlinked directories), in a directory only this process's user can read; opa sees nothing else.
 */
import { mkdir, readdir, realpath, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mkdirWithin, namingSources, withTempDir } from './exit-cleanup.ts';
import { PolicyBuildError } from './policy-build-error.ts';
import { OPERATOR_FILE_MAX_BYTES, readRegularFile } from './operator-file.ts';

/**
 * The files `opa build` loads from a policy directory: Rego modules, and JSON and YAML documents as
 * data under their directory's path (not only data.json: red team 16, finding 1). Hidden files
 * too (`.x.rego` is compiled).
 */
export const OPA_LOADS = /\.(rego|json|ya?ml)$/;

/** The deepest a policy directory may nest, the most entries it may hold, and its bytes in all. */
export const POLICY_TREE_LIMITS = {
  depth: 32,
  entries: 20_000,
  bytes: 4 * OPERATOR_FILE_MAX_BYTES.policy,
} as const;

/** A policy directory as read once: its copy, and the bytes of each file in it. */
export interface PolicySnapshot {
  /** The directory read (absolute, as given). */
  readonly source: string;
  /** The private copy (mode 0700 under the system's temporary directory), for opa to read. */
  readonly root: string;
  /** A private directory beside the copy for what is made from it (opa's output), removed with it. */
  readonly scratch: string;
  /** Each file of the copy: its path relative to the root (`/`-separated, through symlinked directories), sorted. */
  readonly files: ReadonlyMap<string, Uint8Array>;
}

/** What is found at a path of the walk, a symlink followed. */
type Found = 'directory' | 'file' | 'other' | 'dangling';

async function found(path: string, isSymlink: boolean, isDir: boolean, isFile: boolean): Promise<Found> {
  if (!isSymlink) return isDir ? 'directory' : isFile ? 'file' : 'other';
  const target = await stat(path).catch(() => undefined);
  if (target === undefined) return 'dangling';
  return target.isDirectory() ? 'directory' : target.isFile() ? 'file' : 'other';
}

const refused = (message: string): PolicyBuildError => new PolicyBuildError('POLICY_BUILD_FAILED', message);

/**
 * Reads the policy directory `dir` as opa walks it: every directory (a symlink to one followed,
 * a loop refused), every file whose name opa loads, read whole as a regular file. A file opa would
 * not load is not opened. Throws PolicyBuildError('POLICY_BUILD_FAILED') naming the path (never
 * its bytes) for: a loaded name that is not a regular file (a FIFO, a device, a socket, a
 * symlink to one or to nothing), a file over OPERATOR_FILE_MAX_BYTES.policy, more than
 * POLICY_TREE_LIMITS entries, depth or bytes, a symlink loop; and what readdir(3) throws for `dir`.
 */
export async function readPolicyTree(dir: string): Promise<Map<string, Uint8Array>> {
  const files = new Map<string, Uint8Array>();
  let entries = 0;
  let bytes = 0;
  const walk = async (at: string, rel: string, ancestors: readonly string[]): Promise<void> => {
    for (const entry of (await readdir(at, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (++entries > POLICY_TREE_LIMITS.entries)
        throw refused(`${dir} holds more than ${POLICY_TREE_LIMITS.entries} entries`);
      const path = join(at, entry.name);
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (relPath.split('/').length > POLICY_TREE_LIMITS.depth)
        throw refused(`${path} is nested deeper than ${POLICY_TREE_LIMITS.depth} directories`);
      const kind = await found(path, entry.isSymbolicLink(), entry.isDirectory(), entry.isFile());
      if (kind === 'directory') {
        const real = await realpath(path);
        if (ancestors.includes(real))
          throw refused(`${path} is a symlink loop (it leads back to ${real}): opa would walk it without end`);
        await walk(path, relPath, [...ancestors, real]);
        continue;
      }
      if (!OPA_LOADS.test(entry.name)) continue;
      if (kind === 'dangling') throw refused(`${path} is a symlink to nothing: opa would fail to load it`);
      if (kind === 'other')
        throw refused(
          `${path} is not a regular file or a directory: a policy directory holds only those (opa would read it without end)`,
        );
      const size = (await stat(path)).size;
      if (size > OPERATOR_FILE_MAX_BYTES.policy)
        throw refused(`${path} is larger than ${OPERATOR_FILE_MAX_BYTES.policy} bytes: refused before opa reads it`);
      const content = await readRegularFile(path, OPERATOR_FILE_MAX_BYTES.policy).catch((e: unknown) => {
        throw refused(e instanceof Error ? e.message : `cannot read ${path}`);
      });
      bytes += content.length;
      if (bytes > POLICY_TREE_LIMITS.bytes)
        throw refused(`${dir} holds more than ${POLICY_TREE_LIMITS.bytes} bytes of policy sources`);
      files.set(relPath, content);
    }
  };
  await walk(dir, '', [await realpath(dir)]);
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Reads `dir` once (readPolicyTree), writes the copy, runs `use` on it and removes the copy
 * whatever `use` does, or when this process ends first (withTempDir). Throws what readPolicyTree throws, and what `use` throws.
 */
export async function withPolicySnapshot<T>(dir: string, use: (snapshot: PolicySnapshot) => Promise<T>): Promise<T> {
  const files = await readPolicyTree(dir);
  return withTempDir('kubiya-policy-', async (base) => {
    const root = join(base, 'policies');
    const scratch = join(base, 'scratch');
    await mkdir(root, { mode: 0o700 });
    await mkdir(scratch, { mode: 0o700 });
    for (const [rel, content] of files) {
      const path = join(root, rel);
      await mkdirWithin(root, dirname(path));
      await writeFile(path, content, { mode: 0o600, flag: 'wx' });
    }
    return use({ source: dir, root, scratch, files });
  });
}

/** `text` (opa's output about the copy) with the copy's path replaced by the directory it was read from. */
export function inSource(snapshot: PolicySnapshot, text: string): string {
  return namingSources(text, [{ copy: snapshot.root, source: snapshot.source }]);
}
