import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditEntry, AuditRecord } from './record.ts';

export const GENESIS = '0'.repeat(64);

/** hash = SHA-256 over the RFC 8785 canonical JSON of the record without its own hash. */
export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  const canonical = canonicalize(record);
  if (canonical === undefined) throw new TypeError('audit record is not serialisable');
  return createHash('sha256').update(canonical).digest('hex');
}

export function chain(entry: AuditEntry, seq: number, prev: string): AuditRecord {
  const unhashed = { ...entry, seq, prev };
  return { ...unhashed, hash: hashRecord(unhashed) };
}

/** Checks a sequence of records; returns the index of the first bad one, or -1. */
export function firstBroken(records: readonly AuditRecord[], startPrev = GENESIS, startSeq = 1, onProgress?: (done: number) => void): number {
  let prev = startPrev;
  for (const [i, r] of records.entries()) {
    if (onProgress !== undefined && i > 0 && i % 100_000 === 0) onProgress(i);
    const { hash, ...rest } = r;
    if (r.seq !== startSeq + i || r.prev !== prev || hashRecord(rest) !== hash) return i;
    prev = hash;
  }
  return -1;
}
