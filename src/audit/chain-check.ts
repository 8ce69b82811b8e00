import type { KeyObject } from 'node:crypto';
import { canonicalJson } from './canonical.ts';
import { GENESIS, lineOf, sha256Hex } from './chain.ts';
import { checkpointValid, type Checkpoint } from './checkpoint.ts';
import { keyId } from './keys.ts';
import type { AuditRecord } from './record.ts';

const HEX64 = /^[0-9a-f]{64}$/;

/** Objects whose members are in RFC 8785 order (strictly ascending UTF-16 code units), at every depth. */
function sortedDeep(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (depth > 100) return false;
  if (Array.isArray(value)) {
    for (const v of value) if (!sortedDeep(v, depth + 1)) return false;
    return true;
  }
  const o = value as Record<string, unknown>;
  let last: string | undefined;
  for (const k in o) {
    if (last !== undefined && !(last < k)) return false;
    if (!sortedDeep(o[k], depth + 1)) return false;
    last = k;
  }
  return true;
}

/**
 * The canonical text (without hash) of a line, when the line is provably what the appender wrote:
 * its members are in canonical order at every depth with `hash` last, and JSON.stringify of its
 * parsed value gives back exactly its text (so no duplicate, whitespace, escape or number
 * re-spelling). RFC 8785 serialises plain data exactly as JSON.stringify does in that order (see
 * canonical.ts). Undefined means "not shown here": the caller decides with the full canonicaliser
 * (lone-surrogate escapes and integer-like keys always go there).
 */
function fastCanonical(text: string, parsed: Record<string, unknown>): string | undefined {
  if (text.includes('\\ud')) return undefined;
  let last: string | undefined;
  let hashSeen = false;
  for (const k in parsed) {
    if (hashSeen) return undefined; // hash must be the last member
    if (k === 'hash') {
      hashSeen = true;
      continue;
    }
    if (last !== undefined && !(last < k)) return undefined;
    if (!sortedDeep(parsed[k], 1)) return undefined;
    last = k;
  }
  if (!hashSeen || JSON.stringify(parsed) !== text) return undefined;
  return `${text.slice(0, text.length - HASH_SUFFIX)}}`;
}

/** `,"hash":"<64 hex>"}` */
const HASH_SUFFIX = 9 + 64 + 2;

/** The canonical text of a parsed record without its hash, or undefined if it has none. */
function canonicalWithoutHash(record: Record<string, unknown>): string | undefined {
  const { hash: _hash, ...rest } = record;
  try {
    return canonicalJson(rest);
  } catch {
    return undefined;
  }
}

/**
 * The canonical text (without hash) of a line whose hash is 64 lowercase hex, when the line is
 * exactly what the appender writes for it: shown by fastCanonical, else by the full canonicaliser.
 * Undefined when the hash is malformed or the line is any other spelling.
 */
function trustedCanonical(text: string, fields: Record<string, unknown>, hash: unknown): string | undefined {
  if (typeof hash !== 'string' || !HEX64.test(hash)) return undefined;
  const fast = fastCanonical(text, fields);
  if (fast !== undefined) return fast;
  const slow = canonicalWithoutHash(fields);
  return slow !== undefined && text === lineOf(slow, hash) ? slow : undefined;
}

/** Why a checkpoint's signature fails: another key (its kid differs from the given key's) or a forgery. */
function signatureReason(c: Checkpoint, publicKey: KeyObject): string {
  const given = keyId(publicKey);
  const kid = typeof c.kid === 'string' ? c.kid.slice(0, 64) : '?';
  return kid !== given
    ? `checkpoint for seq ${c.seq} is signed by kid ${kid}, key given is kid ${given} (another key, or a forged checkpoint)`
    : `checkpoint for seq ${c.seq} has an invalid signature for kid ${given} (replaced or forged)`;
}

export interface ChainProblem {
  /** The first sequence number that cannot be trusted. */
  readonly seq: number;
  readonly reason: string;
  readonly where?: string | undefined;
}

export interface ChainReport {
  readonly ok: boolean;
  readonly records: number;
  readonly lastSeq: number;
  readonly head: string;
  /**
   * `lastSeq`: the last record a checkpoint vouches for (its head matched; its signature too when a
   * key was given). `uncovered`: the records after it, which no checkpoint vouches for (a record
   * appended there with a correct seq, prev and hash verifies): `{ from, to }` seq range, or null
   * when every record is covered or the log is broken.
   */
  readonly checkpoints: {
    readonly total: number;
    readonly verified: number;
    readonly lastSeq: number;
    readonly uncovered: { readonly from: number; readonly to: number } | null;
  };
  readonly firstBad?: ChainProblem | undefined;
}

/**
 * The audit chain check, streaming (the `audit verify` command; "verify" in code is the token check
 * only): feed it every line of every segment in order, then the checkpoints. It
 * checks that each line is byte for byte what the appender writes, and its sequence, prev link
 * and hash; then that each checkpoint is signed by the
 * given key, names a record that exists, and matches that record's hash. It reports the first
 * record that cannot be trusted.
 */
export class ChainChecker {
  private expected = 1;
  private prev = GENESIS;
  private count = 0;
  private problem: ChainProblem | undefined;
  private lastWhere: string | undefined;
  private readonly heads = new Map<number, string>();
  private readonly wanted: Set<number>;

  /** `checkpointSeqs`: sequence numbers whose hashes the checkpoints will be compared with. */
  constructor(checkpointSeqs: Iterable<number> = []) {
    this.wanted = new Set(checkpointSeqs);
  }

  get failed(): boolean {
    return this.problem !== undefined;
  }

  /**
   * Checks one line (without its newline) and returns its record if it is trusted. A line is
   * trusted only if its bytes are exactly what the appender writes: the RFC 8785 canonical JSON of
   * the record without `hash`, with `"hash"` as the last member, whose SHA-256 is that hash, whose
   * `seq` follows the previous record's and whose `prev` is the previous record's hash. Any other
   * spelling of the same JSON (a duplicated member, reordered keys, whitespace, another escape, a
   * CR) is tampering: readers disagree on what such a line says, so it is not "the same record".
   */
  line(text: string, where?: string): AuditRecord | undefined {
    if (this.problem !== undefined) return undefined;
    const bad = (reason: string): undefined => {
      this.problem = { seq: this.expected, reason, where };
      return undefined;
    };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return bad('not a JSON record');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('not a JSON record');
    const record = parsed as AuditRecord;
    if (record.seq !== this.expected)
      return bad(
        `expected seq ${this.expected}, found ${String(record.seq)} (a record is missing, duplicated or out of order)`,
      );
    const hash = record.hash;
    const canonical = trustedCanonical(text, parsed as Record<string, unknown>, hash);
    if (canonical === undefined) {
      return bad(
        'the line is not the canonical serialisation the appender writes (a duplicated or reordered member, whitespace, another escape or a CR): it was altered',
      );
    }
    if (sha256Hex(canonical) !== hash) return bad('hash does not match the record (it was altered)');
    if (record.prev !== this.prev) return this.relinked(where);
    if (this.wanted.has(record.seq)) this.heads.set(record.seq, hash);
    this.prev = hash;
    this.lastWhere = where;
    this.expected++;
    this.count++;
    return record;
  }

  /**
   * The record is whole and hashes right, but it was chained to another predecessor: the record
   * before it was replaced (rewritten and re-hashed, so its own hash is valid), or this one was
   * re-chained. Either way nothing vouches for the one before: it is the first that cannot be trusted.
   */
  private relinked(where: string | undefined): undefined {
    const replaced = Math.max(1, this.expected - 1);
    const at = this.expected > 1 ? `${this.lastWhere ?? '?'}, whose successor is at ${where ?? '?'}` : where;
    this.problem = {
      seq: replaced,
      reason: `record ${this.expected}'s prev is not the hash of record ${this.expected - 1}: record ${replaced} was replaced (rewritten and re-hashed) or the link was altered`,
      where: at,
    };
    return undefined;
  }

  /** A line of the log that is not a record at all (an empty line, or a last line without its newline). */
  stray(reason: string, where?: string): void {
    if (this.problem === undefined) this.problem = { seq: this.expected, reason, where };
  }

  finish(checkpoints: readonly Checkpoint[], publicKey: KeyObject | undefined): ChainReport {
    let verified = 0;
    let lastCheckpoint = 0;
    const lastSeq = this.expected - 1;
    if (this.problem === undefined) {
      for (const [i, c] of checkpoints.entries()) {
        const at = `checkpoints.jsonl line ${i + 1}`;
        if (
          typeof c !== 'object' ||
          c === null ||
          !Number.isSafeInteger(c.seq) ||
          c.seq < 1 ||
          typeof c.head !== 'string' ||
          typeof c.sig !== 'string'
        ) {
          this.problem = {
            seq: Math.min(lastCheckpoint + 1, lastSeq + 1),
            reason: 'a line of the checkpoints file is not a checkpoint (altered)',
            where: at,
          };
          break;
        }
        if (publicKey !== undefined && !checkpointValid(c, publicKey)) {
          // A forged checkpoint may stand in for one that would have caught a rewrite: nothing after the last good one is vouched for.
          this.problem = {
            seq: Math.min(lastCheckpoint + 1, lastSeq + 1),
            reason: signatureReason(c, publicKey),
            where: at,
          };
          break;
        }
        if (c.seq < lastCheckpoint) {
          this.problem = {
            seq: c.seq,
            reason: `checkpoints go backwards (${c.seq} after ${lastCheckpoint})`,
            where: at,
          };
          break;
        }
        if (c.seq > lastSeq) {
          this.problem = {
            seq: lastSeq + 1,
            reason: `the log ends at seq ${lastSeq} but a checkpoint vouches for seq ${c.seq}: records were cut off the end`,
            where: at,
          };
          break;
        }
        if (this.heads.get(c.seq) !== c.head) {
          // The chain is whole, so the rewrite spans from somewhere after the last good checkpoint: from there nothing is trusted.
          this.problem = {
            seq: lastCheckpoint + 1,
            reason: `record ${c.seq} does not match the head hash of its checkpoint: history after seq ${lastCheckpoint} was rewritten (and re-chained)`,
            where: at,
          };
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
      checkpoints: {
        total: checkpoints.length,
        verified,
        lastSeq: lastCheckpoint,
        uncovered:
          this.problem === undefined && lastSeq > lastCheckpoint ? { from: lastCheckpoint + 1, to: lastSeq } : null,
      },
      ...(this.problem !== undefined ? { firstBad: this.problem } : {}),
    };
  }
}
