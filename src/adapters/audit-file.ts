import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { chain, GENESIS } from '../audit/chain.ts';
import type { AuditEntry, AuditRecord, AuditSink } from '../audit/record.ts';

interface Pending {
  readonly entry: AuditEntry;
  readonly resolve: (r: AuditRecord) => void;
  readonly reject: (e: unknown) => void;
}

export const AUDIT_FILE = 'audit.log';

/**
 * Write-ahead audit log: JSON lines, hash-chained, group-committed. Appends that arrive while a
 * batch is being written form the next batch; every batch is one write and one fdatasync, and each
 * append resolves only after its batch is durable. A failed write or sync rejects the whole batch
 * and rolls the chain back, so a caller never acts on a record that is not on disk.
 */
export class FileAuditLog implements AuditSink {
  private queue: Pending[] = [];
  private flushing = false;
  private closed = false;

  private readonly file: FileHandle;
  private seq: number;
  private prev: string;
  /** Bytes of whole, durable records in the file; a failed batch is truncated back to it. */
  private size: number;
  /** Called after each durable batch with its write+sync seconds and what is queued behind it. */
  onBatch: ((seconds: number, queued: number) => void) | undefined;
  /** False after a failed batch until the next one succeeds (for /ready). */
  healthy = true;

  private constructor(file: FileHandle, seq: number, prev: string, size: number) {
    this.file = file;
    this.seq = seq;
    this.prev = prev;
    this.size = size;
  }

  static async open(dir: string): Promise<FileAuditLog> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, AUDIT_FILE);
    const { seq, prev } = await lastLink(path);
    const file = await open(path, 'a', 0o600);
    return new FileAuditLog(file, seq, prev, (await file.stat()).size);
  }

  append(entry: AuditEntry): Promise<AuditRecord> {
    if (this.closed) return Promise.reject(new Error('audit log is closed'));
    return new Promise<AuditRecord>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      const startSeq = this.seq;
      const startPrev = this.prev;
      try {
        const records = batch.map((p) => {
          const record = chain(p.entry, this.seq + 1, this.prev);
          this.seq = record.seq;
          this.prev = record.hash;
          return record;
        });
        const t0 = process.hrtime.bigint();
        const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
        await this.file.write(text);
        await this.file.datasync();
        this.size += Buffer.byteLength(text);
        this.healthy = true;
        this.onBatch?.(Number(process.hrtime.bigint() - t0) / 1e9, this.queue.length);
        batch.forEach((p, i) => p.resolve(records[i] as AuditRecord));
      } catch (error) {
        this.healthy = false;
        // Never leave a partial batch behind a later one: cut the file back to its last whole record.
        await this.file.truncate(this.size).catch(() => undefined);
        this.seq = startSeq;
        this.prev = startPrev;
        for (const p of batch) p.reject(error);
      }
    }
    this.flushing = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing) await new Promise((r) => setTimeout(r, 1));
    await this.file.close();
  }
}

async function lastLink(path: string): Promise<{ seq: number; prev: string }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return { seq: 0, prev: GENESIS };
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  const last = lines.at(-1);
  if (last === undefined) return { seq: 0, prev: GENESIS };
  const record = JSON.parse(last) as AuditRecord;
  return { seq: record.seq, prev: record.hash };
}

/** Reads every record of an audit directory (for the CLI, the demo and tests). */
export async function readAuditLog(dir: string): Promise<AuditRecord[]> {
  const text = await readFile(join(dir, AUDIT_FILE), 'utf8');
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as AuditRecord);
}
