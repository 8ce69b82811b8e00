/**
 * What an output path leads to, found by walking it one component at a time as the kernel does:
 * `.` and `..`, doubled slashes, each symlink read and its target walked in turn (at most 40, as
 * ELOOP). A pattern on a resolved path is not enough (red team 20, finding 2): `/proc/thread-self/fd/1`
 * resolves to `/proc/<pid>/task/<tid>/fd/1`, and a link in any process's `fd` directory leads to
 * what that descriptor is, so following it renamed over the log a `>>` or `exec >>` had opened.
 *
 * Links in procfs (a file system whose type, statfs, is procfs, wherever it is mounted) are of two
 * kinds: those at its top (`self`, `thread-self`, `mounts`) are plain links and are followed; those
 * below are the kernel's "magic" links, never followed by their text:
 *
 * - one in a process's `fd` directory (`/proc/<pid>/fd/N`, `/proc/<pid>/task/<tid>/fd/N`, and so
 *   `/dev/fd/N`, `/dev/stdout`): if that process is this one (its status's Tgid), the target is
 *   descriptor N. If it is another process's (a shell's `/proc/$$/fd/1`), the path is refused: this
 *   process cannot write at that process's offset, and opening the file anew would truncate it
 *   (`>`) or put the output where that process's next write goes (OUTPUT_WRITE_FAILED loses
 *   nothing, and says to name a descriptor of this command);
 * - any other (`cwd`, `root`, `exe`, `map_files/…`), and any path that goes on past a magic link:
 *   opened and written through, as `>` would; never renamed over.
 */
import { fstatSync, type Stats } from 'node:fs';
import { lstat, readFile, readlink, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** An output could not be written (code OUTPUT_WRITE_FAILED); the message names the path and why. */
export class OutputWriteFailed extends Error {
  override readonly name = 'OutputWriteFailed';
  readonly code = 'OUTPUT_WRITE_FAILED' as const;
}

/** How an output path is written (atomic-file.ts). */
export type OutputTarget =
  | { readonly kind: 'replace'; readonly file: string; readonly keep?: { mode: number; uid: number; gid: number } }
  | { readonly kind: 'through'; readonly file: string }
  | { readonly kind: 'descriptor'; readonly fd: number };

export const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

export function failed(path: string, e: unknown): OutputWriteFailed {
  const why = errno(e) ?? (e instanceof Error ? e.message : String(e));
  return new OutputWriteFailed(`cannot write ${path}: ${why}`);
}

const PROC_SUPER_MAGIC = 0x9fa0;
const MAX_LINKS = 40; // the kernel's own bound (ELOOP)

const onProc = async (dir: string): Promise<boolean> =>
  (await statfs(dir).catch(() => undefined))?.type === PROC_SUPER_MAGIC;

/** The thread group (process) whose `fd` directory `dir` is, or undefined when `dir` is not one. */
async function fdDirOwner(dir: string): Promise<number | undefined> {
  if (basename(dir) !== 'fd') return undefined;
  const status = await readFile(join(dirname(dir), 'status'), 'utf8').catch(() => '');
  const tgid = /^Tgid:\s*(\d+)$/m.exec(status)?.[1];
  return tgid === undefined ? undefined : Number(tgid);
}

/** What a symlink in (resolved) directory `dir` is: a plain one, a descriptor's, or another magic one. */
async function linkKind(dir: string): Promise<'plain' | 'magic' | { owner: number | undefined }> {
  if (!(await onProc(dir))) return 'plain';
  if (!(await onProc(dirname(dir))) || dir === '/') return 'plain'; // the top of procfs: self, thread-self
  if (basename(dir) !== 'fd') return 'magic';
  return { owner: await fdDirOwner(dir) };
}

const isName = (c: string): boolean => c !== '' && c !== '.';

/**
 * Where `path` leads (see the module's comment). Throws OutputWriteFailed for a directory, another
 * process's descriptor, or a path that cannot be looked at (ENOENT in a directory, EACCES, ELOOP...).
 */
export async function outputTarget(path: string): Promise<OutputTarget> {
  const pending = path.split('/');
  let at = path.startsWith('/') ? '/' : process.cwd();
  let links = 0;
  let finalIsLink = false; // the last name came from a symlink's text: a new file there is made through it
  for (;;) {
    const name = pending.shift();
    if (name === undefined)
      return existing(path, at, await lstat(at).catch((e: unknown) => Promise.reject(failed(path, e))));
    if (!isName(name)) continue;
    if (name === '..') {
      at = dirname(at);
      continue;
    }
    const last = !pending.some(isName);
    const next = join(at, name);
    let st: Stats;
    try {
      st = await lstat(next);
    } catch (e) {
      if (errno(e) === 'ENOENT' && last)
        return finalIsLink ? { kind: 'through', file: path } : { kind: 'replace', file: next };
      throw failed(path, e);
    }
    if (st.isSymbolicLink()) {
      const kind = await linkKind(at);
      if (kind === 'magic' || (kind !== 'plain' && !last)) return { kind: 'through', file: path };
      if (kind !== 'plain') return descriptor(path, kind.owner, Number(name));
      if (++links > MAX_LINKS)
        throw new OutputWriteFailed(`cannot write ${path}: ELOOP (more than ${MAX_LINKS} symlinks)`);
      const text = await readlink(next).catch((e: unknown) => Promise.reject(failed(path, e)));
      pending.unshift(...text.split('/'));
      if (text.startsWith('/')) at = '/';
      finalIsLink ||= last;
      continue;
    }
    if (last) return existing(path, next, st);
    if (!st.isDirectory()) throw new OutputWriteFailed(`cannot write ${path}: ENOTDIR (${next} is not a directory)`);
    at = next;
  }
}

function descriptor(path: string, owner: number | undefined, fd: number): OutputTarget {
  if (owner === process.pid) return { kind: 'descriptor', fd };
  throw new OutputWriteFailed(
    `cannot write ${path}: it is descriptor ${fd} of another process${owner === undefined ? '' : ` (${owner})`}, which this command cannot write at that process's offset (opening it anew would truncate it, or be overwritten); give one of this command's own (/dev/stdout, /dev/fd/N)`,
  );
}

function existing(path: string, file: string, st: Stats): OutputTarget {
  if (st.isDirectory()) throw new OutputWriteFailed(`${path} is a directory; give a file name`);
  if (!st.isFile()) return { kind: 'through', file: path };
  return { kind: 'replace', file, keep: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } };
}

const sameFile = (a: Stats, b: Stats): boolean => a.dev === b.dev && a.ino === b.ino;

/**
 * Does `path` lead to this command's standard output: descriptor 1, or the same file, pipe or
 * terminal (`/dev/fd/3` after `3>&1`)? False for a path that cannot be written (the write says why).
 */
export async function leadsToStdout(path: string): Promise<boolean> {
  const target = await outputTarget(path).catch(() => undefined);
  if (target === undefined) return false;
  if (target.kind === 'descriptor' && target.fd === 1) return true;
  try {
    const st = target.kind === 'descriptor' ? fstatSync(target.fd) : await stat(target.file);
    return sameFile(st, fstatSync(1));
  } catch {
    return false; // a new file, or descriptor 1 closed
  }
}
