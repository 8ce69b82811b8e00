import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { GENESIS } from '../audit/chain.ts';
import type { Adopted, Checkpoint } from '../audit/checkpoint.ts';
import type { Pacer } from './audit-batch.ts';
import { AuditLocked, type LockOptions } from './audit-file-lock.ts';
import { nodeAuditFs, writeAll, type AuditFile, type AuditFs } from './audit-fs.ts';
import { CHECKPOINTS_FILE, listSegments, segmentName, segmentNumber } from './audit-files.ts';
import { checkResume, type CheckpointSigner } from './audit-resume.ts';
import { repairTail } from './audit-tail.ts';

/**
 * The appender's (FileAuditLog, audit-file.ts) file operations besides a batch's write: where a log
 * continues when it is opened, and a checkpoint line appended durably.
 */

export interface AuditLogOptions {
  /** The directory lock's timing (see AuditDirLock); the lock itself is always taken. */
  readonly lock?: Omit<LockOptions, 'onLost'> | undefined;
  /** File operations (default: the real file system); tests inject one to observe syncs. */
  readonly fs?: AuditFs | undefined;
  /** When to split a group commit in two (default: never, see oneBatch; CommitPacer measures); tests inject one. */
  readonly pacer?: Pacer | undefined;
  /** Start a new segment file once the current one passes this size. */
  readonly segmentBytes?: number;
  /** Signed checkpoints: every `every` records or `intervalMs`, whichever comes first. */
  readonly checkpoint?:
    { readonly key: KeyObject; readonly kid: string; readonly every: number; readonly intervalMs: number } | undefined;
}

/** Where an opened log continues: its last segment (open for appending), the chain's head, the last checkpoint. */
export interface Resumed {
  readonly file: AuditFile;
  readonly segment: number;
  /** seq and hash of the last whole record (0 and GENESIS in a new log). */
  readonly seq: number;
  readonly prev: string;
  /** Bytes of whole records in the last segment (a torn last line is cut off first, see repairTail). */
  readonly size: number;
  /** seq of the last checkpoint this runner's key signed and the chain matches (0 when none, or without a key). */
  readonly checkpointed: number;
  /** Records found after it, chain-checked, not witnessed: the next checkpoint names them (`adopted`). */
  readonly adopted: Adopted | undefined;
  /** Bytes of a torn last checkpoint line cut at start (0 for none). */
  readonly cut: number;
}

/**
 * Opens the last segment of a locked audit directory for appending, after repairing a torn last
 * line; a new segment that holds no record yet continues the chain of the one before. With the
 * checkpoint `signer`, the last checkpoint and the records after it are checked (checkResume:
 * AuditResumeRefused, code AUDIT_RESUME_REFUSED, on a mismatch) and the records after it adopted.
 */
export async function resumeLog(dir: string, fs: AuditFs = nodeAuditFs, signer?: CheckpointSigner): Promise<Resumed> {
  const segments = await listSegments(dir);
  const last = segments.at(-1);
  let link = { seq: 0, prev: GENESIS, size: 0 };
  if (last !== undefined) {
    link = await repairTail(last);
    if (link.seq === 0 && segments.length > 1) {
      const before = await repairTail(segments[segments.length - 2] as string);
      link = { ...before, size: 0 };
    }
  }
  const segment = last === undefined ? 1 : segmentNumber(last);
  const file = await fs.openAppend(join(dir, segmentName(segment)));
  // Without a signing key nothing is checkpointed: the checkpoints file is not read (its last line
  // steers nothing). With one, its last line is trusted only as checkResume allows.
  const trust =
    signer === undefined
      ? { checkpointed: 0, adopted: undefined, cut: 0 }
      : await checkResume(dir, segments, link, signer).catch(async (e: unknown) => {
          await file.close();
          throw e;
        });
  return { file, segment, seq: link.seq, prev: link.prev, size: link.size, ...trust };
}

/** Appends one signed checkpoint as a line of the directory's checkpoints file, durably (write + fdatasync). */
export async function appendCheckpoint(fs: AuditFs, dir: string, checkpoint: Checkpoint): Promise<void> {
  const fh = await fs.openAppend(join(dir, CHECKPOINTS_FILE));
  try {
    await writeAll(fh, Buffer.from(JSON.stringify(checkpoint) + '\n'));
    await fh.datasync();
  } finally {
    await fh.close();
  }
}

/** The refusal of an append once the directory lock is no longer ours (code AUDIT_LOCKED). */
export const lostLock = (): AuditLocked =>
  new AuditLocked(
    'this runner lost the audit directory lock (it was removed, taken by another writer or overwritten): no further records are written',
  );

/**
 * The appender can no longer write safely: a failed batch could not be cut back off its segment
 * (truncate failed twice), so its refused records may be on disk, and a later batch appended after
 * them would put a seq in the chain twice. Code AUDIT_UNAVAILABLE: every later append is refused
 * (fail closed: no side effect without a durable record); a restart repairs the segment's tail
 * (repairTail) and continues the chain after its last whole record.
 */
export class AuditLogBroken extends Error {
  override readonly name = 'AuditLogBroken';
  readonly code = 'AUDIT_UNAVAILABLE' as const;
}

/** The AuditLogBroken of a segment whose failed batch could not be cut off (`cause`: the truncate's error). */
export const brokenTail = (segment: string, cause: unknown): AuditLogBroken =>
  new AuditLogBroken(
    `a failed batch could not be cut back off ${segment} (${cause instanceof Error ? cause.message : 'truncate failed'}): no further records are written until the runner restarts`,
  );
