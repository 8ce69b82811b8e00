import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/**
 * Opens a file of an audit directory for reading, for the readers of a log they did not write
 * (`audit verify`, `query`, `report`, `policy replay`; red team 14, finding 2) and for the
 * appender's own (the last segment's tail and the checkpoints file on resume, the directory lock's
 * file): without blocking
 * (O_NONBLOCK: a FIFO's open(2) would wait for a writer for ever, and SIGTERM does not end a
 * process stuck there), then refused unless it is a regular file. A symlink to a regular file is
 * read; a FIFO, a device (`/dev/zero` never ends), a directory or a socket is an error, which the
 * CLI answers with AUDIT_READ_FAILED. O_NONBLOCK changes nothing for a regular file's reads.
 */
export async function openAuditFile(path: string): Promise<FileHandle> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new Error(`${path} is not a regular file (${kindOf(st)}): refused, not read`);
    return fh;
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** The whole text (UTF-8) of a regular file of an audit directory, opened as `openAuditFile` opens it; throws what it throws (ENOENT included). */
export async function readAuditText(path: string): Promise<string> {
  const fh = await openAuditFile(path);
  return fh.readFile('utf8').finally(() => fh.close());
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}
