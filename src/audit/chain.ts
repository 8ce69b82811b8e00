import { hash as oneShot } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import type { AuditEntry, AuditRecord } from './record.ts';

/**
 * An audit entry that cannot be canonicalised (RFC 8785 refuses it). Only that entry's append
 * fails, with code AUDIT_RECORD_INVALID; the log itself is healthy. The message is the
 * canonicaliser's (it never quotes the value).
 */
export class AuditRecordInvalid extends Error {
  override readonly name = 'AuditRecordInvalid';
  readonly code = 'AUDIT_RECORD_INVALID' as const;
  constructor(reason: string) {
    super(`audit record cannot be canonicalised (RFC 8785): ${reason}`);
  }
}

export const GENESIS = '0'.repeat(64);

export function chain(entry: AuditEntry, seq: number, prev: string): AuditRecord {
  return chainLine(entry, seq, prev).record;
}

/**
 * The record and its line as written: the canonical JSON that was hashed, with `"hash"` appended
 * as the last member (see lineOf). The verifier accepts exactly these bytes and nothing else.
 * Throws AuditRecordInvalid when the record has no RFC 8785 form (a lone UTF-16 surrogate, NaN or
 * Infinity, a cycle, a BigInt): such a record cannot be hashed, so it is never written.
 */
export function chainLine(entry: AuditEntry, seq: number, prev: string): { record: AuditRecord; line: string } {
  const unhashed = { ...entry, seq, prev };
  let canonical: string | undefined;
  try {
    canonical = canonicalJson(unhashed);
  } catch (e) {
    throw new AuditRecordInvalid(e instanceof Error ? e.message : 'not serialisable');
  }
  if (canonical === undefined) throw new AuditRecordInvalid('not serialisable');
  const hash = sha256Hex(canonical);
  return { record: { ...unhashed, hash }, line: lineOf(canonical, hash) };
}

/**
 * The exact line the appender writes for a record whose canonical text (without `hash`) is
 * `canonical`: that text with `"hash"` appended as its last member.
 */
export function lineOf(canonical: string, hash: string): string {
  return `${canonical.slice(0, -1)},"hash":"${hash}"}`;
}

/** SHA-256 of the UTF-8 bytes of `text`, lower-case hex. */
export const sha256Hex = (text: string): string => oneShot('sha256', text, 'hex');
