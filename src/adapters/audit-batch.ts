import { AuditRecordInvalid, LineBatch } from '../audit/chain.ts';
import type { AuditEntry, AuditRecord } from '../audit/record.ts';

/** One append waiting for its batch to be durable. */
export interface Pending {
  readonly entry: AuditEntry;
  readonly resolve: (r: AuditRecord) => void;
  readonly reject: (e: unknown) => void;
}

/**
 * A group commit's records, chained after a head (`startSeq`, `startPrev`) and encoded into their
 * lines, not yet written. A record that cannot be canonicalised is rejected at once with
 * AUDIT_RECORD_INVALID and takes no seq. Records can be added until the batch is written; `seq`
 * and `prev` are then the head the batch leaves when it is durable.
 */
export class ChainedBatch {
  readonly lines = new LineBatch();
  accepted: { readonly pending: Pending; readonly record: AuditRecord }[] = [];
  startSeq = 0;
  startPrev = '';
  seq = 0;
  prev = '';

  /** Empties the batch (the line buffer is reused) and chains what comes next after `seq`/`prev`. */
  reset(seq: number, prev: string): this {
    this.lines.reset();
    this.accepted = [];
    this.startSeq = this.seq = seq;
    this.startPrev = this.prev = prev;
    return this;
  }

  get size(): number {
    return this.accepted.length;
  }

  /** Chains and encodes each pending entry in order. */
  addAll(pendings: readonly Pending[]): void {
    for (const p of pendings) {
      let record: AuditRecord;
      try {
        record = this.lines.add(p.entry, this.seq + 1, this.prev);
      } catch (error) {
        p.reject(
          error instanceof AuditRecordInvalid
            ? error
            : new AuditRecordInvalid(error instanceof Error ? error.message : 'not serialisable'),
        );
        continue;
      }
      this.seq = record.seq;
      this.prev = record.hash;
      this.accepted.push({ pending: p, record });
    }
  }

  /** The pending appends of the batch, in order (to chain them again after a failed batch before it). */
  pendings(): Pending[] {
    return this.accepted.map((a) => a.pending);
  }
}

/** What the appender asks and tells about splitting group commits (CommitPacer, or a test's own). */
export interface Pacer {
  /** The wall time of one batch's lock check, write and fdatasync. */
  io(seconds: number): void;
  /** The main thread's CPU time over the last `records` records (encoding, and the producers' work). */
  cpu(records: number, seconds: number): void;
  /** Should `records` records be written as two batches, the second encoded during the first's I/O? */
  split(records: number): boolean;
}

/**
 * The appender's default: never split; every group commit takes all the appends at hand (one
 * write and one fdatasync for them). Appends that arrive while a batch is written are still
 * chained and encoded meanwhile. Splitting (CommitPacer) was measured slower on this project's
 * machines, in wall rate and in CPU per record (BENCHMARKS.md, "The append regression"): it
 * doubles the lock checks, writes and fdatasyncs per record, and on two shared cores the CPU it
 * hopes to overlap with the disk is rarely idle.
 */
export const oneBatch: Pacer = { io: () => undefined, cpu: () => undefined, split: () => false };

/**
 * When to split a group commit in two (opt-in, AuditLogOptions.pacer): the second half is chained and encoded while the first is
 * being written and synced, and once the first is durable the second is written while the
 * first's producers build their next records, so the disk and the CPU work at once. That pays
 * only while one batch's I/O (lock check, write, fdatasync) takes less time than the main thread's
 * CPU work for the records at hand; on a slower disk they stay in one batch (one fdatasync for
 * all, as without pipelining). Both are measured (moving averages); until both are known, nothing
 * is split.
 */
export class CommitPacer implements Pacer {
  private ioSeconds = Number.POSITIVE_INFINITY;
  private cpuSecondsPerRecord = 0;

  /** Records the wall time of one batch's lock check, write and sync. */
  io(seconds: number): void {
    this.ioSeconds = Number.isFinite(this.ioSeconds) ? 0.8 * this.ioSeconds + 0.2 * seconds : seconds;
  }

  /** Records the main thread's CPU time over `records` records. */
  cpu(records: number, seconds: number): void {
    if (records === 0) return;
    const per = seconds / records;
    this.cpuSecondsPerRecord = this.cpuSecondsPerRecord === 0 ? per : 0.8 * this.cpuSecondsPerRecord + 0.2 * per;
  }

  /** Is writing `records` records as two batches (the second encoded during the first's I/O) faster? */
  split(records: number): boolean {
    return records >= 2 && this.ioSeconds < records * this.cpuSecondsPerRecord;
  }
}

/** The main thread's CPU time (process.threadCpuUsage) in laps: what the appender tells the pacer. */
export class ThreadCpu {
  private mark = ThreadCpu.micros();

  /** CPU seconds of this thread since the last lap (or since it was made). */
  lap(): number {
    const now = ThreadCpu.micros();
    const seconds = (now - this.mark) / 1e6;
    this.mark = now;
    return seconds;
  }

  private static micros(): number {
    const cpu = process.threadCpuUsage();
    return cpu.user + cpu.system;
  }
}
