import { mkdir } from 'node:fs/promises';
import type { AuditEntry, AuditRecord, AuditSink } from '../audit/record.ts';
import { ChainedBatch, oneBatch, ThreadCpu, type Pacer, type Pending } from './audit-batch.ts';
import { AuditCheckpointer } from './audit-checkpointer.ts';
import { startCommit, type CommitTarget, type InFlight } from './audit-commit.ts';
import { AuditDirLock } from './audit-file-lock.ts';
import { nodeAuditFs } from './audit-fs.ts';
import { lostLock, resumeLog, type AuditLogOptions, type Resumed } from './audit-log-files.ts';
import { AuditSegment } from './audit-segment.ts';

export { readAuditLog } from './audit-files.ts';
export { repairTail } from './audit-tail.ts';

/**
 * Write-ahead audit log: JSON lines in size-rotated segments, hash-chained across segments,
 * group-committed, with signed checkpoints beside them. Appends that arrive while a batch is being
 * written form the next batch; every batch is one write and one fdatasync, and each append
 * resolves only after its batch is durable. Before each batch is written the directory lock is
 * checked (still the same file, still ours): a batch of a writer that lost its lock is refused
 * with AUDIT_LOCKED and nothing is written. A failed batch is cut back off the file, rolled out of
 * the chain and rejected, so a caller never acts on a record that is not on disk.
 */
export class FileAuditLog implements AuditSink {
  private queue: Pending[] = [];
  private flushing = false;
  private closed = false;
  /** seq and hash of the last durable record. */
  private seq: number;
  private prev: string;
  /** The current segment file: a batch's write and sync, its cut-back, the next segment. */
  private readonly segment: AuditSegment;
  /** The signed checkpoints, when configured. */
  private readonly checkpoints: AuditCheckpointer | undefined;
  /** Two batches, reused: the one being written and the next, encoded meanwhile. */
  private readonly batches: readonly [ChainedBatch, ChainedBatch] = [new ChainedBatch(), new ChainedBatch()];
  /** Appends chained after the batch being written (encoded while it is written), not yet written. */
  private next: ChainedBatch | undefined;
  private readonly pacer: Pacer;
  private early = true;
  /** The main thread's CPU time, read when each batch is made durable (for the pacer). */
  private readonly cpu = new ThreadCpu();
  /** Called after each durable batch with its write+sync seconds and what is queued behind it. */
  onBatch: ((seconds: number, queued: number) => void) | undefined;
  /** False after a failed batch until the next one succeeds (for /ready); false for good once the lock is lost. */
  healthy = true;
  private readonly lock: AuditDirLock | undefined;
  /** What opening found (resumeLog): the records adopted unwitnessed, the bytes of a torn checkpoint line cut. */
  readonly resumed: Pick<Resumed, 'adopted' | 'cut'>;
  /** What each batch's commit needs (audit-commit.ts). */
  private readonly target: CommitTarget;

  private constructor(dir: string, resumed: Resumed, options: AuditLogOptions, lock: AuditDirLock | undefined) {
    const fs = options.fs ?? nodeAuditFs;
    this.seq = resumed.seq;
    this.prev = resumed.prev;
    this.lock = lock;
    this.segment = new AuditSegment(dir, fs, resumed, options.segmentBytes ?? 64 * 1024 * 1024);
    this.pacer = options.pacer ?? oneBatch;
    this.target = { segment: this.segment, lock, durable: (io, write) => this.durable(io, write) };
    const c = options.checkpoint;
    this.checkpoints =
      c === undefined
        ? undefined
        : new AuditCheckpointer(
            dir,
            fs,
            c,
            resumed.checkpointed,
            () => this.head(),
            () => this.mayWrite(),
            resumed.adopted,
          );
    this.resumed = { adopted: resumed.adopted, cut: resumed.cut };
  }

  /** The directory lock is still ours: false once it is lost, else the lock's check (see AuditDirLock.check). */
  private mayWrite(): boolean | Promise<boolean> {
    if (this.lock === undefined) return true;
    return !this.lock.lost && this.lock.check();
  }

  /**
   * Opens (or creates) an audit directory: takes its exclusive lock (AuditLocked, code
   * AUDIT_LOCKED, when another live writer holds it), then repairs a torn last line (see
   * repairTail) and continues the chain. With checkpoints, the last checkpoint must be this key's
   * and match the chain, and the records after it are adopted, not witnessed (checkResume;
   * AuditResumeRefused, code AUDIT_RESUME_REFUSED, otherwise).
   */
  static async open(dir: string, options: AuditLogOptions = {}): Promise<FileAuditLog> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    let log: FileAuditLog | undefined;
    const lock = await AuditDirLock.acquire(dir, { ...options.lock, onLost: () => log?.lockLost() });
    try {
      const c = options.checkpoint;
      const signer = c === undefined ? undefined : { key: c.key, kid: c.kid };
      log = new FileAuditLog(dir, await resumeLog(dir, options.fs, signer), options, lock);
      return log;
    } catch (e) {
      await lock.release();
      throw e;
    }
  }

  /** True while this log still holds its directory's lock. */
  get locked(): boolean {
    return this.lock !== undefined && !this.lock.lost;
  }

  private lockLost(): void {
    this.healthy = false;
  }

  /** Sequence number and hash of the last durable record. */
  head(): { seq: number; hash: string } {
    return { seq: this.seq, hash: this.prev };
  }

  append(entry: AuditEntry): Promise<AuditRecord> {
    if (this.closed) return Promise.reject(new Error('audit log is closed'));
    if (this.lock?.lost === true) return Promise.reject(lostLock());
    const broken = this.segment.broken;
    if (broken !== undefined) return Promise.reject(broken);
    // The periodic checkpoint starts with the first append: opening a log writes nothing.
    this.checkpoints?.start();
    return new Promise<AuditRecord>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (!this.flushing) {
        // The flush starts after the code that appended has run to its next await: the records one
        // step appends together (verify and validate, evaluate and mutate) then share one group
        // commit, where a flush started here would commit the first alone and the rest after it.
        this.flushing = true;
        queueMicrotask(() => void this.flush());
      }
    });
  }

  /**
   * The group-commit loop. Each batch is chained after the durable head (or after the batch being
   * written), lock-checked, written, fdatasynced, and only then acknowledged and made the head.
   * Appends that arrive while a batch is written are chained and encoded meanwhile, into the next
   * batch, whose write starts as soon as the one before is durable (before that one's appends are
   * acknowledged); when the disk is faster than the encoding (CommitPacer), a queue found idle is
   * split in two so that one half is encoded while the other is written.
   */
  private async flush(): Promise<void> {
    this.flushing = true;
    let inFlight = this.startNext();
    while (inFlight !== undefined) {
      const { batch, io } = inFlight;
      // Appends released by the batch before (and any that came meanwhile) reach the queue first.
      if (this.early) await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.queue.length > 0) this.encode((this.next = this.other(batch).reset(batch.seq, batch.prev)), Infinity);
      const failure = await io;
      const accepted = batch.accepted;
      if (failure !== undefined) {
        this.healthy = false;
        for (const a of accepted) a.pending.reject(failure.error);
        // Chained after the failed batch: chained again after the durable head, before what came later.
        if (this.next !== undefined) this.queue = [...this.next.pendings(), ...this.queue];
        this.next = undefined;
        inFlight = this.startNext(batch);
        continue;
      }
      this.seq = batch.seq;
      this.prev = batch.prev;
      this.pacer.cpu(accepted.length, this.cpu.lap()); // the main thread's CPU since the last durable batch
      this.early = this.startEarly();
      if (this.early) {
        inFlight = this.startNext(batch);
        // The next batch's write is issued (its lock check answered) before the appends just made
        // durable are: their producers' next stages then run while it is written, not before it
        // can start (the check's answer waited for all of them; issue 20, decision latency).
        await inFlight?.issued;
        for (const a of accepted) a.pending.resolve(a.record);
      } else {
        for (const a of accepted) a.pending.resolve(a.record);
        if (this.afterBatchDue()) await this.afterBatch().catch(() => undefined);
        await new Promise<void>((resolve) => setImmediate(resolve)); // their producers' next appends join
        inFlight = this.startNext(batch);
      }
    }
    this.flushing = false;
  }

  /**
   * Starts writing the next batch: the one encoded ahead (with what came since, see fill) or a new
   * one chained after the durable head (in the object of `done`, the batch just finished, whose
   * appends are answered already: one buffer stays warm). Undefined when there is nothing to write.
   */
  private startNext(done?: ChainedBatch): InFlight | undefined {
    while (this.queue.length > 0 || this.next !== undefined) {
      const batch = this.next ?? (done ?? this.batches[0]).reset(this.seq, this.prev);
      this.next = undefined;
      this.fill(batch);
      if (batch.size === 0) continue;
      return startCommit(batch, this.target);
    }
    return undefined;
  }

  /** The batch object that is not `batch` (both are reused, one written while the other is encoded). */
  private other(batch: ChainedBatch | undefined): ChainedBatch {
    return this.batches[0] === batch ? this.batches[1] : this.batches[0];
  }

  /**
   * Should the next batch be written at once, before the appends of the batch just made durable
   * are acknowledged (so that their producers' work overlaps its I/O)? Yes whenever any append
   * came during that commit (encoded ahead, or still queued) and no checkpoint or new segment is
   * due first: those appends have waited a whole commit already, and holding them back until the
   * acknowledged producers had run (their next stage's CPU, then one turn) made each of them wait
   * that CPU too, on every commit (issue 20, decision latency at 50 % load). The acknowledged
   * producers' next appends are chained and encoded meanwhile, into the batch after. The cost is
   * more, smaller batches when producers are staggered (the append bench's 200,000 records: 1,049
   * group commits instead of 783, BENCHMARKS.md "decision latency under load"); when nothing came
   * during the commit, nothing changes.
   */
  private startEarly(): boolean {
    return ((this.next?.size ?? 0) > 0 || this.queue.length > 0) && !this.afterBatchDue();
  }

  /**
   * Puts the queue's appends into `current` (new, or encoded ahead): all of them, or, when
   * CommitPacer says splitting pays, as many as make `current` half of what is at hand; the rest
   * is encoded while `current` is written.
   */
  private fill(current: ChainedBatch): void {
    const queued = this.queue.length;
    if (queued === 0) return;
    const total = current.size + queued;
    this.encode(current, this.pacer.split(total) ? Math.max(0, Math.ceil(total / 2) - current.size) : queued);
  }

  /** Chains and encodes the first `n` queued appends (all of them when `n` is at least as many) into `batch`. */
  private encode(batch: ChainedBatch, n: number): void {
    const all = n >= this.queue.length;
    const taken = all ? this.queue : this.queue.slice(0, n);
    this.queue = all ? [] : this.queue.slice(n);
    batch.addAll(taken);
  }

  /** A batch is durable (startCommit): its seconds feed the pacer and onBatch. */
  private durable(ioSeconds: number, writeSeconds: number): void {
    this.healthy = this.lock?.lost !== true;
    this.pacer.io(ioSeconds);
    this.onBatch?.(writeSeconds, this.queue.length + (this.next?.size ?? 0));
  }

  /** Is a checkpoint or a new segment due after the batch just made durable? */
  private afterBatchDue(): boolean {
    return this.checkpoints?.due(this.seq) === true || this.segment.full;
  }

  /** The checkpoint (every `every` records), then the next segment, when due. */
  private async afterBatch(): Promise<void> {
    if (this.checkpoints?.due(this.seq) === true) await this.checkpointNow();
    if (this.segment.full) await this.segment.next();
  }

  /**
   * Writes a signed checkpoint of the current head, if checkpoints are configured and anything was
   * appended since the last (AuditCheckpointer.now: serialised with the timer's and close's).
   * Rejects with the write's error.
   */
  checkpointNow(): Promise<void> {
    return this.checkpoints?.now() ?? Promise.resolve();
  }

  /**
   * Closes without writing anything (no checkpoint) and releases the lock: for a start-up that
   * failed before anything was appended.
   */
  async abandon(): Promise<void> {
    await this.shutdown(false);
  }

  /** Waits for the batches in flight, writes a last checkpoint (unless the lock is lost), closes and releases the lock. */
  async close(): Promise<void> {
    await this.shutdown(this.lock?.lost !== true);
  }

  private async shutdown(checkpoint: boolean): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((r) => setTimeout(r, 1));
    this.checkpoints?.stop();
    if (checkpoint) await this.checkpointNow().catch(() => undefined);
    await this.segment.close();
    await this.lock?.release();
  }
}
