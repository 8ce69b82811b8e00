import type { ChainedBatch } from './audit-batch.ts';
import type { AuditDirLock } from './audit-file-lock.ts';
import { lostLock } from './audit-log-files.ts';
import type { AuditSegment } from './audit-segment.ts';

/** How one commit ended: `{ error }` (refused or failed: nothing of the batch is on disk), or undefined once it is durable. */
export type CommitOutcome = { readonly error: unknown } | undefined;

/**
 * A batch being committed (FileAuditLog's group-commit loop, audit-file.ts): its commit's outcome
 * (`io`, never rejects) and `issued`, settled once its write is under way or the commit ended
 * without one (refused, failed).
 */
export interface InFlight {
  readonly batch: ChainedBatch;
  readonly io: Promise<CommitOutcome>;
  readonly issued: Promise<void>;
}

/** Where a batch is committed, and who hears of it (FileAuditLog). */
export interface CommitTarget {
  readonly segment: AuditSegment;
  /** The directory lock, checked right before each write; undefined when the log holds none (tests). */
  readonly lock: AuditDirLock | undefined;
  /**
   * Called once the batch is durable, before `io` resolves: `ioSeconds` from the start of the
   * commit (lock check included), `writeSeconds` the write and sync alone.
   */
  readonly durable: (ioSeconds: number, writeSeconds: number) => void;
}

/**
 * Starts committing `batch`: the directory lock must still be ours right before the write (see
 * AuditDirLock.check), or the batch is refused with AUDIT_LOCKED and nothing is written; then one
 * write and one fdatasync (AuditSegment.write, which cuts a failed write back off the file: never a
 * partial batch behind a later one). A log whose segment is broken refuses every batch.
 */
export function startCommit(batch: ChainedBatch, target: CommitTarget): InFlight {
  let issue = () => {};
  const issued = new Promise<void>((resolve) => (issue = resolve));
  const io = commit(batch, target, issue);
  void io.then(issue); // a commit that ended without a write (refused, failed); io never rejects
  return { batch, io, issued };
}

async function commit(batch: ChainedBatch, target: CommitTarget, issued: () => void): Promise<CommitOutcome> {
  const t0 = process.hrtime.bigint();
  const { segment, lock } = target;
  const broken = segment.broken;
  if (broken !== undefined) return { error: broken };
  if (lock !== undefined && !(await lock.check())) return { error: lostLock() };
  try {
    const t1 = process.hrtime.bigint();
    const written = segment.write(batch.lines.bytes());
    issued();
    await written;
    const done = process.hrtime.bigint();
    target.durable(Number(done - t0) / 1e9, Number(done - t1) / 1e9);
    return undefined;
  } catch (error) {
    return { error };
  }
}
