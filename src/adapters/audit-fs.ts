import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * The file operations the appender depends on for durability (a port, so a test can see that an
 * append is acknowledged only after the sync call returns). `fs/promises` FileHandles fit it.
 */
export interface AuditFile {
  write(bytes: Buffer, offset: number, length: number): Promise<{ bytesWritten: number }>;
  /** fdatasync(2): the written bytes are on stable storage when this resolves. */
  datasync(): Promise<void>;
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
  /**
   * True when every successful write is already durable when it returns (the file is open with
   * O_DSYNC: write(2) returns after what fdatasync(2) would have flushed), so the appender need
   * not call datasync after it: one thread-pool call per group commit instead of two, and one
   * turn of the main thread less between the write and the acknowledgement (issue 20, decision
   * latency). Absent or false: the appender calls datasync after each batch's write.
   */
  readonly syncedWrites?: boolean;
}

export interface AuditFs {
  /**
   * Opens (creating with mode 0600) a file for appending; rejects when the path is not a regular
   * file (a FIFO, a device, a directory, or a symlink to one), so no record is ever acknowledged
   * as durable that went to /dev/null or waits for a FIFO's reader.
   */
  openAppend(path: string): Promise<AuditFile>;
  /** fsync(2) of a directory, after a new file appeared in it. */
  syncDir(path: string): Promise<void>;
}

/**
 * O_APPEND, created 0600, and O_DSYNC: each write(2) returns once its bytes are on stable storage.
 * O_NONBLOCK: opening a FIFO for writing fails at once (ENXIO: no reader) instead of waiting for
 * one; it changes nothing for a regular file.
 */
const APPEND_DSYNC =
  constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_DSYNC | constants.O_NONBLOCK;

/** The real file system: files for appending open with O_DSYNC (see AuditFile.syncedWrites). */
export const nodeAuditFs: AuditFs = {
  openAppend: async (path) => {
    const fh = await open(path, APPEND_DSYNC, 0o600);
    // Red team 14, "seen and left alone": the appender's own directory may hold what it did not
    // make there (a restored backup, a hand-made link); only a regular file takes records.
    const st = await fh.stat().catch(async (e: unknown) => {
      await fh.close();
      throw e;
    });
    if (!st.isFile()) {
      await fh.close();
      throw new Error(`${path} is not a regular file: the audit log appends only to regular files`);
    }
    return {
      write: (bytes, offset, length) => fh.write(bytes, offset, length),
      datasync: () => fh.datasync(),
      truncate: (length) => fh.truncate(length),
      close: () => fh.close(),
      syncedWrites: true,
    };
  },
  syncDir: async (path) => {
    const dir = await open(path, 'r');
    await dir.sync().finally(() => dir.close());
  },
};

/**
 * write(2) may write part of a buffer and report success (a filling disk does that); only the
 * whole buffer counts, or an error.
 */
export async function writeAll(file: AuditFile, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.byteLength) {
    const { bytesWritten } = await file.write(bytes, offset, bytes.byteLength - offset);
    if (bytesWritten <= 0) throw new Error('audit write made no progress');
    offset += bytesWritten;
  }
}
