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
 * - one of this process's descriptors (`/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`,
 *   `/proc/thread-self/fd/N`, a symlink to one: output-target.ts walks the path): the bytes are
 *   written to that descriptor itself, never by opening the path again and never renamed over (red
 *   team 19, finding 2; red team 20, finding 2); descriptor-output.ts says which descriptors are
 *   taken and how. Not atomic: a stream has no "before". Another process's descriptor is refused.
 * - a FIFO, a character device, a socket or a dangling symlink: opened and written through, as a
 *   shell redirection would; not atomic.
 * - a directory: refused (OUTPUT_WRITE_FAILED).
 *
 * Every failure is an OutputWriteFailed naming the path and the system's reason.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, chown, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { toDescriptor } from './descriptor-output.ts';
import { whenThisProcessEnds, withTempDir } from './exit-cleanup.ts';
import { errno, failed, OutputWriteFailed, outputTarget, type OutputTarget } from './output-target.ts';

export { OutputWriteFailed } from './output-target.ts';

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
  if (target.kind === 'descriptor') return toDescriptor(path, target.fd, await staged(path, write));
  return toFile(path, target, write);
}

async function toFile(
  path: string,
  target: Exclude<OutputTarget, { kind: 'descriptor' }>,
  write: (at: string) => Promise<void>,
): Promise<void> {
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
    await rm(partial, { force: true }).catch(() => undefined); // before unregistering: a stop signal meanwhile still removes it
    forget();
  }
}

/**
 * What `write` makes, read back from a private temporary file (replaceWhole to a descriptor; for
 * bytes already in memory, writeFileWhole needs no such file). A temporary directory that cannot be
 * made is an OutputWriteFailed that says so (red team 20, finding 5: it was INTERNAL).
 */
async function staged(path: string, write: (at: string) => Promise<void>): Promise<Uint8Array> {
  try {
    return await withTempDir('kubiya-out-', async (dir) => {
      await write(join(dir, 'output'));
      return await readFile(join(dir, 'output'));
    });
  } catch (e) {
    if (errno(e) === undefined) throw e;
    throw new OutputWriteFailed(`cannot write ${path}: staging it in a temporary file: ${(e as Error).message}`);
  }
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
 * the path; to a descriptor straight from memory); `mode` for a new file (default 0o666 less the umask; an existing file keeps its own).
 */
export async function writeFileWhole(path: string, data: string | Uint8Array, mode?: number): Promise<void> {
  const target = await outputTarget(path);
  if (target.kind === 'descriptor') return toDescriptor(path, target.fd, Buffer.from(data));
  await toFile(path, target, (at) =>
    writeFile(at, data, {
      // A hidden file is new ('wx': never an existing one); the path itself is truncated ('w').
      flag: at === path ? 'w' : 'wx',
      ...(mode === undefined ? {} : { mode }),
    }),
  );
}
