import { signCheckpoint, type Adopted } from '../audit/checkpoint.ts';
import type { AuditFs } from './audit-fs.ts';
import { appendCheckpoint, type AuditLogOptions } from './audit-log-files.ts';

/** The checkpoint settings of an audit log (AuditLogOptions.checkpoint): the signing key, its kid, every `every` records or `intervalMs`. */
export type CheckpointSettings = NonNullable<AuditLogOptions['checkpoint']>;

/**
 * The signed checkpoints of an audit log (for FileAuditLog, audit-file.ts): one of the current
 * head every `every` records (the batch loop asks due()), every `intervalMs` once started, and on
 * close. Writes are serialised: each reads the head only when the one before it is written.
 */
export class AuditCheckpointer {
  private readonly dir: string;
  private readonly fs: AuditFs;
  private readonly settings: CheckpointSettings;
  /** seq of the last checkpoint written (0 for none). */
  private checkpointed: number;
  private readonly head: () => { readonly seq: number; readonly hash: string };
  private readonly mayWrite: () => boolean | Promise<boolean>;
  /** Records adopted at start (resumeLog): named, signed, by the next checkpoint written, then cleared. */
  private adopted: Adopted | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The checkpoint being written: checkpoints are written one at a time, in the order of their heads. */
  private writing: Promise<void> = Promise.resolve();

  /**
   * `checkpointed`: the seq of the last checkpoint written (0 for none); `head`: the seq and hash
   * of the last durable record; `mayWrite`: false when the directory lock is no longer ours (then
   * nothing is written); `adopted`: the records found after the last own checkpoint at start.
   */
  constructor(
    dir: string,
    fs: AuditFs,
    settings: CheckpointSettings,
    checkpointed: number,
    head: () => { readonly seq: number; readonly hash: string },
    mayWrite: () => boolean | Promise<boolean>,
    adopted?: Adopted,
  ) {
    this.adopted = adopted;
    this.dir = dir;
    this.fs = fs;
    this.settings = settings;
    this.checkpointed = checkpointed;
    this.head = head;
    this.mayWrite = mayWrite;
  }

  /** Starts the interval timer (unref'd) if it is not running: the periodic checkpoint starts with the first append. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.now().catch(() => undefined), this.settings.intervalMs);
    this.timer.unref();
  }

  /** Stops the interval timer. */
  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** `every` records or more were made durable since the last checkpoint, up to `seq`. */
  due(seq: number): boolean {
    return seq - this.checkpointed >= this.settings.every;
  }

  /**
   * Writes a signed checkpoint of the current head (if anything was appended since the last).
   * Its three callers (the interval timer, the batch loop's `every`, close) are serialised: each
   * reads the head only when the one before it is written, so checkpoints.jsonl never holds a lower
   * seq after a higher one (red team round 6, finding 1: a slow write overtaken by a later one made
   * `audit verify` report an intact log as broken). Rejects with the write's error.
   */
  now(): Promise<void> {
    const write = this.writing.catch(() => undefined).then(() => this.write());
    this.writing = write;
    return write;
  }

  private async write(): Promise<void> {
    if (this.head().seq <= this.checkpointed) return;
    const may = this.mayWrite();
    if (may === false || (may !== true && !(await may))) return;
    // The head as it stands after the lock check.
    const { seq, hash } = this.head();
    const { key, kid } = this.settings;
    const adopted = this.adopted;
    const time = new Date().toISOString();
    const checkpoint = signCheckpoint(
      { seq, head: hash, time, kid, ...(adopted !== undefined ? { adopted } : {}) },
      key,
    );
    await appendCheckpoint(this.fs, this.dir, checkpoint);
    this.checkpointed = seq;
    if (this.adopted === adopted) this.adopted = undefined;
  }
}
