import { hash as oneShot } from 'node:crypto';
import { encodeRecord, GIVE_UP } from './line-encode.ts';
import { recordCanonical } from './record-canonical.ts';
import type { AuditEntry, AuditRecord } from './record.ts';
import { MAX_RECORD_BYTES, MAX_RECORD_DEPTH } from './limits.ts';
import { nestsDeeperThan } from './nesting.ts';

/**
 * An audit entry that cannot be canonicalised (RFC 8785 refuses it). Only that entry's append
 * fails, with code AUDIT_RECORD_INVALID; the log itself is healthy. The message is the
 * canonicaliser's (it never quotes the value).
 */
export class AuditRecordInvalid extends Error {
  override readonly name = 'AuditRecordInvalid';
  readonly code = 'AUDIT_RECORD_INVALID' as const;
  /** `reason`: why RFC 8785 refuses it; `message`, when given, the whole message instead. */
  constructor(reason: string, message?: string) {
    super(message ?? `audit record cannot be canonicalised (RFC 8785): ${reason}`);
  }
}

/** The record's line would be longer than MAX_RECORD_BYTES (`bytes` without its newline): never written. */
function tooLong(bytes: number): AuditRecordInvalid {
  return new AuditRecordInvalid(
    'too long',
    `audit record is ${bytes} bytes; a record is at most ${MAX_RECORD_BYTES} bytes (readers and the shipper hold no more)`,
  );
}

export const GENESIS = '0'.repeat(64);

/** Bytes a line takes after its canonical text's closing `}`: `,"hash":"` + 64 hex + `"}` + newline, less the `}`. */
const HASH_ROOM = 9 + 64 + 3;
/** Room LineBatch.add leaves for line-encode.ts's walk (a record's text is ~1 KB; a longer one is still written, by the string path). */
const FAST_ROOM = 64 * 1024;

export function chain(entry: AuditEntry, seq: number, prev: string): AuditRecord {
  return chainLine(entry, seq, prev).record;
}

/**
 * The record and its line as written: the canonical JSON that was hashed, with `"hash"` appended
 * as the last member (see lineOf). The verifier accepts exactly these bytes and nothing else.
 * Throws AuditRecordInvalid when the record has no RFC 8785 form (a lone UTF-16 surrogate, NaN or
 * Infinity, a cycle, a BigInt): such a record cannot be hashed, so it is never written; and when
 * its line would be longer than MAX_RECORD_BYTES (src/audit/limits.ts).
 */
export function chainLine(entry: AuditEntry, seq: number, prev: string): { record: AuditRecord; line: string } {
  const unhashed = { ...entry, seq, prev };
  const canonical = canonicalOf(unhashed);
  const hash = sha256Hex(canonical);
  const line = lineOf(canonical, hash);
  const bytes = Buffer.byteLength(line); // lineOf gives the line without its newline
  if (bytes > MAX_RECORD_BYTES) throw tooLong(bytes);
  return { record: { ...unhashed, hash }, line };
}

/**
 * The canonical text of a record without hash; AuditRecordInvalid when it has none, or when the
 * entry carries a `hash` member of its own: its line would hold two (the verifier, reading the
 * last, could never accept it, and the chain would break there; red team 11). line-encode.ts's
 * walk gives such a record up (not an AuditRecord member), so it always comes here.
 */
function canonicalOf(unhashed: object): string {
  if (Object.hasOwn(unhashed, 'hash')) throw new AuditRecordInvalid('the entry has a hash member of its own');
  let canonical: string | undefined;
  try {
    canonical = recordCanonical(unhashed);
  } catch (e) {
    throw new AuditRecordInvalid(e instanceof Error ? e.message : 'not serialisable');
  }
  if (canonical === undefined) throw new AuditRecordInvalid('not serialisable');
  // Only records the fast walk gave up on come here, the deep ones among them (line-encode.ts: past 100).
  if (nestsDeeperThan(canonical, MAX_RECORD_DEPTH))
    throw new AuditRecordInvalid(
      `objects and arrays nested more than ${MAX_RECORD_DEPTH} deep`,
      `audit record is nested more than ${MAX_RECORD_DEPTH} deep; a record is at most that deep (readers print it with JSON.stringify)`,
    );
  return canonical;
}

/** The bytes of `,"hash":"` (latin1). */
const HASH_HEAD: readonly number[] = [...Buffer.from(',"hash":"', 'latin1')];

/**
 * Writes `,"hash":"<hash>"}` and a newline at `at` (over the canonical text's closing `}`), byte by
 * byte (`hash` is 64 lower-case hex characters; no string is made); returns the end. The caller
 * has reserved HASH_ROOM bytes after the text.
 */
function hashMember(buf: Buffer, at: number, hash: string): number {
  let p = at;
  for (let i = 0; i < HASH_HEAD.length; i++) buf[p++] = HASH_HEAD[i] as number;
  for (let i = 0; i < hash.length; i++) buf[p++] = hash.charCodeAt(i);
  buf[p++] = 0x22;
  buf[p++] = 0x7d;
  buf[p++] = 0x0a;
  return p;
}

/** encodeRecord, or GIVE_UP when a getter of the record threw (the string path then decides, and says why). */
function walk(buf: Buffer, at: number, end: number, unhashed: object): number {
  try {
    return encodeRecord(buf, at, end, unhashed);
  } catch {
    return GIVE_UP;
  }
}

/**
 * The lines of one batch, encoded straight into one reused buffer: each record's canonical text
 * is written as UTF-8 once, hashed in place, and its closing `}` replaced by `,"hash":"<hash>"}`
 * and a newline. The bytes are exactly chainLine's lines, each followed by "\n" (no string per
 * line, no join, no second encoding). The canonical text is written by line-encode.ts's walk
 * straight into the buffer when it takes the record, else through recordCanonical's string (the
 * same bytes). `bytes()` is valid until the next `reset()`.
 */
export class LineBatch {
  private buf = Buffer.allocUnsafe(256 * 1024);
  private used = 0;
  /** A walk of this batch's (line-encode.ts) is under way: a getter of its record is running. */
  private walking = false;
  /**
   * Lines added during that walk (a getter of the record appending to this same batch: never done
   * by the appender, whose getters can only queue), copied, so that they can be put back over what
   * the walk, writing from the same offset, wrote over them.
   */
  private madeInWalk: { readonly at: number; readonly bytes: Buffer }[] = [];

  /** Starts a new batch (the buffer shrinks back after an unusually large one). */
  reset(): void {
    if (this.buf.length > 16 * 1024 * 1024) this.buf = Buffer.allocUnsafe(256 * 1024);
    this.used = 0;
  }

  /**
   * Chains `entry` as record `seq` after `prev` and appends its line. Throws AuditRecordInvalid
   * (and appends nothing) when the record has no canonical form or its line would be longer than
   * MAX_RECORD_BYTES, as chainLine.
   */
  add(entry: AuditEntry, seq: number, prev: string): AuditRecord {
    const unhashed: Record<string, unknown> = { ...entry, seq, prev };
    // The walk writes at most up to FAST_ROOM bytes before the hash member's room (a longer record
    // takes the string path, which reserves what it needs).
    this.reserve(FAST_ROOM + HASH_ROOM);
    let start = this.used;
    const buf = this.buf;
    let end = GIVE_UP;
    if (!this.walking) {
      this.walking = true;
      try {
        end = walk(buf, start, buf.length - HASH_ROOM, unhashed);
      } finally {
        this.walking = false;
      }
      // A getter of the record added lines to this batch meanwhile (see madeInWalk): the walk may
      // have written over them; they are put back, and this record's line goes after them through
      // the string path, as before the walk existed.
      if (this.madeInWalk.length > 0 || this.used !== start || this.buf !== buf) {
        for (const line of this.madeInWalk) line.bytes.copy(this.buf, line.at);
        this.madeInWalk = [];
        end = GIVE_UP;
      }
    }
    if (end === GIVE_UP) {
      const canonical = canonicalOf(unhashed);
      // UTF-8 takes at most 3 bytes per UTF-16 code unit; the hash member and newline HASH_ROOM more.
      this.reserve(canonical.length * 3 + HASH_ROOM);
      start = this.used;
      end = start + this.buf.write(canonical, start, 'utf8');
      // The line: the text less its `}`, then `,"hash":"<64 hex>"}` (HASH_ROOM less `}` and newline).
      const bytes = end - start + HASH_ROOM - 2;
      if (bytes > MAX_RECORD_BYTES) throw tooLong(bytes);
    }
    const hash = oneShot('sha256', this.buf.subarray(start, end), 'hex');
    this.used = hashMember(this.buf, end - 1, hash);
    if (this.walking) this.madeInWalk.push({ at: start, bytes: Buffer.from(this.buf.subarray(start, this.used)) });
    unhashed.hash = hash;
    return unhashed as unknown as AuditRecord;
  }

  /** The batch's bytes so far. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  private reserve(n: number): void {
    if (this.used + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + n));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
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
