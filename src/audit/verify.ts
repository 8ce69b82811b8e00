import type { KeyObject } from 'node:crypto';
import { GENESIS, hashFromLine, hashRecord } from './chain.ts';
import { checkpointValid, type Checkpoint } from './checkpoint.ts';
import type { AuditRecord } from './record.ts';

function withoutHash(record: AuditRecord): Omit<AuditRecord, 'hash'> {
  const { hash: _hash, ...rest } = record;
  return rest;
}

export interface VerifyProblem {
  /** The first sequence number that cannot be trusted. */
  readonly seq: number;
  readonly reason: string;
  readonly where?: string | undefined;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly records: number;
  readonly lastSeq: number;
  readonly head: string;
  readonly checkpoints: { readonly total: number; readonly verified: number; readonly lastSeq: number };
  readonly firstBad?: VerifyProblem | undefined;
}

/**
 * Streaming verifier: feed it every line of every segment in order, then the checkpoints. It
 * checks sequence, prev link and hash of each record; then that each checkpoint is signed by the
 * given key, names a record that exists, and matches that record's hash. It reports the first
 * record that cannot be trusted.
 */
export class AuditVerifier {
  private expected = 1;
  private prev = GENESIS;
  private count = 0;
  private problem: VerifyProblem | undefined;
  private readonly heads = new Map<number, string>();
  private readonly wanted: Set<number>;

  /** `checkpointSeqs`: sequence numbers whose hashes the checkpoints will be compared with. */
  constructor(checkpointSeqs: Iterable<number> = []) {
    this.wanted = new Set(checkpointSeqs);
  }

  get failed(): boolean {
    return this.problem !== undefined;
  }

  line(text: string, where?: string): void {
    if (this.problem !== undefined) return;
    let record: AuditRecord;
    try {
      record = JSON.parse(text) as AuditRecord;
    } catch {
      this.problem = { seq: this.expected, reason: 'not a JSON record', where };
      return;
    }
    if (record.seq !== this.expected) {
      this.problem = { seq: this.expected, reason: `expected seq ${this.expected}, found ${String(record.seq)} (a record is missing, duplicated or out of order)`, where };
      return;
    }
    if (record.prev !== this.prev) {
      this.problem = { seq: this.expected, reason: 'prev does not match the hash of the record before it', where };
      return;
    }
    const hash = record.hash;
    // Lines written by the appender are canonical JSON + hash: hash their bytes; otherwise re-canonicalise.
    const computed = hashFromLine(text) ?? hashRecord(withoutHash(record));
    if (computed !== hash) {
      this.problem = { seq: this.expected, reason: 'hash does not match the record (it was altered)', where };
      return;
    }
    if (this.wanted.has(record.seq)) this.heads.set(record.seq, hash);
    this.prev = hash;
    this.expected++;
    this.count++;
  }

  finish(checkpoints: readonly Checkpoint[], publicKey: KeyObject | undefined): VerifyReport {
    let verified = 0;
    let lastCheckpoint = 0;
    const lastSeq = this.expected - 1;
    if (this.problem === undefined) {
      for (const [i, c] of checkpoints.entries()) {
        const at = `checkpoints.jsonl line ${i + 1}`;
        if (publicKey !== undefined && !checkpointValid(c, publicKey)) {
          this.problem = { seq: Math.min(c.seq, lastSeq + 1), reason: `checkpoint for seq ${c.seq} has an invalid signature (replaced or forged)`, where: at };
          break;
        }
        if (c.seq < lastCheckpoint) {
          this.problem = { seq: c.seq, reason: `checkpoints go backwards (${c.seq} after ${lastCheckpoint})`, where: at };
          break;
        }
        if (c.seq > lastSeq) {
          this.problem = { seq: lastSeq + 1, reason: `the log ends at seq ${lastSeq} but a checkpoint vouches for seq ${c.seq}: records were cut off the end`, where: at };
          break;
        }
        if (this.heads.get(c.seq) !== c.head) {
          this.problem = { seq: c.seq, reason: `record ${c.seq} does not match the head hash of its checkpoint (history was rewritten)`, where: at };
          break;
        }
        if (publicKey !== undefined) verified++;
        lastCheckpoint = c.seq;
      }
    }
    return {
      ok: this.problem === undefined,
      records: this.count,
      lastSeq,
      head: this.prev,
      checkpoints: { total: checkpoints.length, verified, lastSeq: lastCheckpoint },
      ...(this.problem !== undefined ? { firstBad: this.problem } : {}),
    };
  }
}
