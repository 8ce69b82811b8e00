/**
 * Output files of the CLI (a command's `--out`: a policy bundle, an audit report; a `--junit`
 * file): written whole or not at all where a file system can promise it, and written THROUGH the
 * path where it cannot (red team 18, finding 1: renaming over whatever the path named replaced a
 * symlink, a FIFO, and — as root — the system's `/dev/stdout` link; it changed an existing file's
 * mode and owner, and failed on `>(…)`). What the path names decides (outputTarget):
 *
 * - nothing yet, or a regular file (through any symlinks: the file they lead to, never the link):
 *   the bytes go to a hidden file in the target's directory (`.kubiya-<uuid>.partial`, whatever
 *   the target's name's length), which is given the existing file's mode (and owner, as root) and
 *   renamed over the target once complete: a reader never sees part of a file; a command that
 *   fails, is stopped (the hidden file is removed on exit and stop signals: exit-cleanup.ts) or is
 *   killed leaves the target as it was. Where that cannot hold — the directory is not writable, or
 *   the file belongs to another user whose ownership this process cannot give back — the file is
 *   truncated and written in place, as `>` would.
 * - one of this process's descriptors (`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`,
 *   or a symlink leading to one): the bytes are made in a private temporary file, then written to
 *   that descriptor itself, never by opening the path again (red team 19, finding 2: with stdout
 *   redirected to a file — `>> log`, `exec >>build.log` — the file was taken as the output and
 *   replaced; opening the path again would truncate it). Not atomic: a stream has no "before".
 * - a FIFO, a character device, a socket or a dangling symlink: opened and written through, as a
 *   shell redirection would; not atomic.
 * - a directory: refused (OUTPUT_WRITE_FAILED).
 *
 * Every failure is an OutputWriteFailed naming the path and the system's reason.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { chmod, chown, lstat, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { whenThisProcessEnds, withTempDir } from './exit-cleanup.ts';

/** An output could not be written (code OUTPUT_WRITE_FAILED); the message names the path and why. */
export class OutputWriteFailed extends Error {
  override readonly name = 'OutputWriteFailed';
  readonly code = 'OUTPUT_WRITE_FAILED' as const;
}

/** How an output path is written (see the module's comment). */
export type OutputTarget =
  | { readonly kind: 'replace'; readonly file: string; readonly keep?: { mode: number; uid: number; gid: number } }
  | { readonly kind: 'through'; readonly file: string }
  | { readonly kind: 'descriptor'; readonly fd: number };

/** A path that names a descriptor of a process: /proc/<pid|self|thread-self>/fd/<n>. */
const FD_PATH = /^\/proc\/(self|thread-self|\d+)\/fd\/(\d+)$/;

/**
 * The descriptor of this process that `path` names, following its symlinks one at a time (the
 * directories on the way resolved: `/dev/fd` is a link to `/proc/self/fd`): `/dev/stdout` is 1,
 * `/dev/fd/3` is 3. undefined for any other path, and for another process's descriptors.
 */
async function descriptorOf(path: string): Promise<number | undefined> {
  let at = resolve(path);
  for (let hop = 0; hop < 40; hop++) {
    const dir = await realpath(dirname(at)).catch(() => undefined);
    if (dir === undefined) return undefined;
    const full = join(dir, basename(at));
    const m = FD_PATH.exec(full);
    if (m !== null)
      return m[1] === 'self' || m[1] === 'thread-self' || Number(m[1]) === process.pid ? Number(m[2]) : undefined;
    const link = await readlink(full).catch(() => undefined);
    if (link === undefined) return undefined; // not a symlink: not a descriptor
    at = resolve(dir, link);
  }
  return undefined;
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | undefined)?.code;

/**
 * What `path` names and so how it is written: `replace` (atomically; `file` the real path of an
 * existing regular file, symlinks resolved, with the mode and owner to keep, or the path itself
 * when nothing is there) or `through` (a stream, a device, a dangling symlink). Throws
 * OutputWriteFailed for a directory, or when the path cannot be looked at (EACCES, ELOOP...).
 */
export async function outputTarget(path: string): Promise<OutputTarget> {
  const fd = await descriptorOf(path);
  if (fd !== undefined) return { kind: 'descriptor', fd };
  let st;
  try {
    st = await stat(path); // follows symlinks: what a write through the path would reach
  } catch (e) {
    if (errno(e) !== 'ENOENT') throw failed(path, e);
    // Nothing at the path, or a symlink to nothing: a new file — through the link if it is one.
    const link = await lstat(path).catch((le: unknown) => {
      if (errno(le) === 'ENOENT') return undefined;
      throw failed(path, le);
    });
    return link?.isSymbolicLink() === true ? { kind: 'through', file: path } : { kind: 'replace', file: path };
  }
  if (st.isDirectory()) throw new OutputWriteFailed(`${path} is a directory; give a file name`);
  if (!st.isFile()) return { kind: 'through', file: path };
  const file = await realpath(path).catch((e: unknown) => {
    throw failed(path, e);
  });
  return { kind: 'replace', file, keep: { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid } };
}

function failed(path: string, e: unknown): OutputWriteFailed {
  const why = errno(e) ?? (e instanceof Error ? e.message : String(e));
  return new OutputWriteFailed(`cannot write ${path}: ${why}`);
}

/** May this process give a new file the owner `uid`? (itself, or root) */
const canOwnAs = (uid: number): boolean => process.getuid?.() === 0 || process.getuid?.() === uid;

/**
 * Runs `write(at)`, which must create the file `at` (it does not exist) and write all of it, so
 * that `path` ends up holding it: for a `replace` target `at` is a hidden file beside the target,
 * renamed over it once written; for a `through` target `at` is the path itself (opened for
 * writing, truncating, as `>`). Throws OutputWriteFailed (the path and the reason) for what the
 * file system refuses, and what `write` throws otherwise; the hidden file is removed then and
 * the target is untouched.
 */
export async function replaceWhole(path: string, write: (at: string) => Promise<void>): Promise<void> {
  const target = await outputTarget(path);
  if (target.kind === 'descriptor') return toDescriptor(path, target.fd, write);
  if (target.kind === 'through' || (target.keep !== undefined && !canOwnAs(target.keep.uid)))
    return writeThrough(path, write);
  const partial = join(dirname(target.file), `.kubiya-${randomUUID()}.partial`);
  const forget = whenThisProcessEnds(() => rmSync(partial, { force: true }));
  try {
    try {
      await write(partial);
    } catch (e) {
      // A directory this process may not create files in: the file itself may still be writable.
      if ((errno(e) === 'EACCES' || errno(e) === 'EPERM' || errno(e) === 'EROFS') && target.keep !== undefined)
        return await writeThrough(path, write);
      throw errno(e) !== undefined ? failed(path, e) : e;
    }
    try {
      if (target.keep !== undefined) {
        // chown first: it clears the set-id bits, which the chmod after it gives back (red team 19, finding 7)
        if (process.getuid?.() === 0) await chown(partial, target.keep.uid, target.keep.gid);
        await chmod(partial, target.keep.mode);
      }
      await rename(partial, target.file);
    } catch (e) {
      throw failed(path, e);
    }
  } finally {
    await rm(partial, { force: true }); // before unregistering: a stop signal meanwhile still removes it
    forget();
  }
}

/**
 * `write` into a private temporary file, then its bytes to descriptor `fd` (stdout and stderr
 * through their streams, which wait when a pipe is full; others through a stream on the
 * descriptor, left open).
 */
async function toDescriptor(path: string, fd: number, write: (at: string) => Promise<void>): Promise<void> {
  await withTempDir('kubiya-out-', async (dir) => {
    const at = join(dir, 'output');
    await write(at);
    const sink =
      fd === 1
        ? process.stdout
        : fd === 2
          ? process.stderr
          : createWriteStream('', { fd, autoClose: false, flush: false });
    try {
      await pipeline(createReadStream(at), sink, { end: fd !== 1 && fd !== 2 });
    } catch (e) {
      throw errno(e) !== undefined ? failed(path, e) : e;
    }
  });
}

async function writeThrough(path: string, write: (at: string) => Promise<void>): Promise<void> {
  try {
    await write(path);
  } catch (e) {
    throw errno(e) !== undefined ? failed(path, e) : e;
  }
}

/**
 * `data` written to `path` (replaceWhole: whole or not at all where that can hold, else through
 * the path); `mode` for a new file (default 0o666 less the umask; an existing file keeps its own).
 */
export async function writeFileWhole(path: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await replaceWhole(path, (at) =>
    writeFile(at, data, {
      // A hidden file is new ('wx': never an existing one); the path itself is truncated ('w').
      flag: at === path ? 'w' : 'wx',
      ...(mode === undefined ? {} : { mode }),
    }),
  );
}
