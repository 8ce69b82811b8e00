import type { FileHandle } from 'node:fs/promises';
import { openRegularFile } from './operator-file.ts';

/**
 * Opens a file of an audit directory for reading, for the readers of a log they did not write
 * (`audit verify`, `query`, `report`, `policy replay`; red team 14, finding 2) and for the
 * appender's own (the last segment's tail and the checkpoints file on resume, the directory lock's
 * file): without blocking
 * (O_NONBLOCK: a FIFO's open(2) would wait for a writer for ever, and SIGTERM does not end a
 * process stuck there), then refused unless it is a regular file. A symlink to a regular file is
 * read; a FIFO, a device (`/dev/zero` never ends), a directory or a socket is an error, which the
 * CLI answers with AUDIT_READ_FAILED. O_NONBLOCK changes nothing for a regular file's reads.
 * The same open as every file an operator names (operator-file.ts).
 */
export async function openAuditFile(path: string): Promise<FileHandle> {
  return openRegularFile(path);
}

/** The whole text (UTF-8) of a regular file of an audit directory, opened as `openAuditFile` opens it; throws what it throws (ENOENT included). */
export async function readAuditText(path: string): Promise<string> {
  const fh = await openAuditFile(path);
  return fh.readFile('utf8').finally(() => fh.close());
}
