/**
 * Output files written whole or not at all: a command's `--out` (a policy bundle, an audit
 * report), a JUnit file, a key set. The bytes go to a hidden file beside the target
 * (`.<name>.<uuid>.partial`, same directory, so rename(2) is atomic on one file system), which is
 * renamed over the target once complete. A reader never sees part of a file; a command that
 * fails, is stopped (the hidden file is removed on exit and stop signals: exit-cleanup.ts) or is
 * killed leaves the target as it was.
 */
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { whenThisProcessEnds } from './exit-cleanup.ts';

/**
 * Runs `write(partial)`, which must create the file `partial` and write all of it, then renames it
 * over `file`. Throws what `write` or rename(2) throws; the partial file is removed then, and
 * `file` is untouched.
 */
export async function replaceWhole(file: string, write: (partial: string) => Promise<void>): Promise<void> {
  const partial = join(dirname(file), `.${basename(file)}.${randomUUID()}.partial`);
  const forget = whenThisProcessEnds(() => rmSync(partial, { force: true }));
  try {
    await write(partial);
    await rename(partial, file);
  } finally {
    forget();
    await rm(partial, { force: true });
  }
}

/** `data` written to `file` whole or not at all (replaceWhole); `mode` for a new file (default 0o666 less the umask). */
export async function writeFileWhole(file: string, data: string | Uint8Array, mode?: number): Promise<void> {
  await replaceWhole(file, (partial) =>
    writeFile(partial, data, { flag: 'wx', ...(mode === undefined ? {} : { mode }) }),
  );
}
