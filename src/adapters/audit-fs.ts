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
}

export interface AuditFs {
  /** Opens (creating with mode 0600) a file for appending. */
  openAppend(path: string): Promise<AuditFile>;
  /** fsync(2) of a directory, after a new file appeared in it. */
  syncDir(path: string): Promise<void>;
}

/** The real file system. */
export const nodeAuditFs: AuditFs = {
  openAppend: (path) => open(path, 'a', 0o600),
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
