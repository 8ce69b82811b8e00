import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import type { AuditEntry, AuditRecord } from './record.ts';

export const GENESIS = '0'.repeat(64);

/** hash = SHA-256 over the RFC 8785 canonical JSON of the record without its own hash. */
export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  const canonical = canonicalJson(record);
  if (canonical === undefined) throw new TypeError('audit record is not serialisable');
  return createHash('sha256').update(canonical).digest('hex');
}

export function chain(entry: AuditEntry, seq: number, prev: string): AuditRecord {
  return chainLine(entry, seq, prev).record;
}

/**
 * The record and its line as written: the canonical JSON that was hashed, with `"hash"` appended
 * as the last member. A verifier can then hash the line's own bytes (see hashFromLine) instead of
 * re-canonicalising a parsed object.
 */
export function chainLine(entry: AuditEntry, seq: number, prev: string): { record: AuditRecord; line: string } {
  const unhashed = { ...entry, seq, prev };
  const canonical = canonicalJson(unhashed);
  if (canonical === undefined) throw new TypeError('audit record is not serialisable');
  const hash = createHash('sha256').update(canonical).digest('hex');
  return { record: { ...unhashed, hash }, line: `${canonical.slice(0, -1)},"hash":"${hash}"}` };
}

const SUFFIX = 9 + 64 + 2; // ,"hash":"<64 hex>"}

/**
 * Fast check of a line written by chainLine: if the line is the hashed canonical text followed by
 * its own hash, returns that hash (the SHA-256 preimage pins every byte before it). Returns
 * undefined for any other line; the caller then falls back to parse + canonicalise.
 */
export function hashFromLine(line: string): string | undefined {
  if (line.length <= SUFFIX || !line.endsWith('"}') || line.charCodeAt(line.length - SUFFIX) !== 44 /* , */) return undefined;
  const body = `${line.slice(0, line.length - SUFFIX)}}`;
  const hash = createHash('sha256').update(body).digest('hex');
  return line.endsWith(`,"hash":"${hash}"}`) ? hash : undefined;
}
