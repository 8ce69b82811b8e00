import { join } from 'node:path';
import { writeAll, type AuditFile, type AuditFs } from './audit-fs.ts';
import { segmentName } from './audit-files.ts';
import { brokenTail, type AuditLogBroken } from './audit-log-files.ts';

/**
 * The audit log's current segment file (for FileAuditLog, audit-file.ts): a batch's bytes written
 * and fdatasynced, a failed batch cut back off it, and the move to the next segment once it is full.
 */
export class AuditSegment {
  private readonly dir: string;
  private readonly fs: AuditFs;
  private readonly segmentBytes: number;
  private file: AuditFile;
  private segment: number;
  /** Bytes of whole, durable records in the current segment. */
  private size: number;
  /** Set once a failed batch could not be cut back off the segment: every later write is refused. */
  private brokenBy: AuditLogBroken | undefined;
  /**
   * The directory was fsynced since the current segment file was opened (so its name survives a
   * crash). False at the start (resumeLog may have created the file) and after a rotation until
   * syncDir succeeds; the first write then syncs the directory first (red team 10, finding 5).
   */
  private dirSynced = false;

  /**
   * `resumed`: the segment open for appending, its number and its bytes of whole records
   * (audit-log-files.ts resumeLog); `segmentBytes`: the size after which the next batch goes to a
   * new segment (see full, next).
   */
  constructor(
    dir: string,
    fs: AuditFs,
    resumed: { readonly file: AuditFile; readonly segment: number; readonly size: number },
    segmentBytes: number,
  ) {
    this.dir = dir;
    this.fs = fs;
    this.segmentBytes = segmentBytes;
    this.file = resumed.file;
    this.segment = resumed.segment;
    this.size = resumed.size;
  }

  /** Why nothing more may be written (a failed batch that could not be cut back), or undefined. */
  get broken(): AuditLogBroken | undefined {
    return this.brokenBy;
  }

  /** The current segment has reached its size: the next batch belongs in a new one (next()). */
  get full(): boolean {
    return this.size >= this.segmentBytes;
  }

  /**
   * Writes `bytes` (whole records), after the directory's fsync when the segment file is new to
   * this process (see dirSynced), and fdatasyncs (unless the file's writes are durable already,
   * AuditFile.syncedWrites: O_DSYNC): resolves once they are durable. A failed write or sync is
   * cut back off the file (cutBack) and rejects with the write's or sync's error, so a partial
   * batch never stays behind a later one.
   */
  async write(bytes: Buffer): Promise<void> {
    try {
      if (!this.dirSynced) {
        await this.fs.syncDir(this.dir);
        this.dirSynced = true;
      }
      await writeAll(this.file, bytes);
      if (this.file.syncedWrites !== true) await this.file.datasync();
      this.size += bytes.byteLength;
    } catch (error) {
      await this.cutBack();
      throw error;
    }
  }

  /**
   * Cuts a failed batch back off the segment (to the bytes of its durable records) and makes the
   * cut durable (fdatasync after the truncate), trying twice; when both fail the log is broken
   * (brokenTail): the refused records may stay on disk, and no later batch may follow them (red
   * team round 6, finding 2: the next batch was appended after them, a seq twice in the chain, and
   * records on disk whose appends were refused). The sync matters most with O_DSYNC
   * (syncedWrites): the part of the failed batch written before the failure is on stable storage
   * already, and ftruncate(2) alone is not, so a crash before the next batch brought the refused
   * records back (red team 10, finding 1).
   */
  private async cutBack(): Promise<void> {
    let cause: unknown;
    for (let attempt = 0; attempt < 2; attempt++)
      try {
        await this.file.truncate(this.size);
        await this.file.datasync();
        return;
      } catch (e) {
        cause = e;
      }
    this.brokenBy = brokenTail(segmentName(this.segment), cause);
  }

  /**
   * Closes this segment and opens the next (the chain continues there: its first prev is this
   * file's last hash), synced into the directory; if that sync fails, the next write syncs it
   * before writing (no record is acknowledged in a file whose name a crash may lose).
   */
  async next(): Promise<void> {
    await this.file.close();
    this.segment++;
    this.dirSynced = false;
    this.file = await this.fs.openAppend(join(this.dir, segmentName(this.segment)));
    this.size = 0;
    await this.fs.syncDir(this.dir);
    this.dirSynced = true;
  }

  /** Closes the segment file. */
  close(): Promise<void> {
    return this.file.close();
  }
}
