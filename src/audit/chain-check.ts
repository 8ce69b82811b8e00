import type { KeyObject } from 'node:crypto';
import { canonicalObjectBytes, type TopFields } from './canonical-bytes.ts';
import { GENESIS, sha256Hex } from './chain.ts';
import { checkCheckpoints, type ChainProblem, type ChainReport, type TrustedRun } from './chain-report.ts';
import type { Checkpoint } from './checkpoint.ts';
import { HASH_FRAME, HASH_SUFFIX, isDecimal, sameBytes, sameText, sha256Bytes } from './line-bytes.ts';
import { trustedCanonical } from './line-canonical.ts';
import { MAX_RECORD_DEPTH, TOO_DEEP } from './limits.ts';
import { nestsDeeperThan } from './nesting.ts';
import type { AuditRecord } from './record.ts';

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
  /** Where the last trusted line came from when lineBytes took it (its `where` is built only if needed). */
  private lastFile: string | undefined;
  private lastLine = 0;
  private readonly fields: TopFields = { seqStart: -1, seqEnd: -1, prevStart: -1, prevEnd: -1 };
  private readonly heads = new Map<number, string>();
  private readonly wanted: Set<number>;

  /**
   * `checkpointSeqs`: sequence numbers whose hashes the checkpoints will be compared with. `from`:
   * where the chain is taken up (the expected seq and the previous hash; default seq 1 after
   * GENESIS), for a run of lines checked apart from the rest (chain-run.ts).
   */
  constructor(checkpointSeqs: Iterable<number> = [], from?: { readonly seq: number; readonly prev: string }) {
    this.wanted = new Set(checkpointSeqs);
    if (from !== undefined) {
      this.expected = from.seq;
      this.prev = from.prev;
    }
  }

  /** Where the chain stands: the next expected seq, the last trusted hash, the heads kept for checkpoints. */
  get state(): {
    readonly expected: number;
    readonly prev: string;
    readonly count: number;
    readonly heads: ReadonlyMap<number, string>;
  } {
    return { expected: this.expected, prev: this.prev, count: this.count, heads: this.heads };
  }

  /**
   * Takes a run of lines another checker trusted on bytes (chain-run.ts) as if fastLine had taken
   * each here: only when the run starts where this chain stands (its first seq is the expected one
   * and its first prev the last trusted hash); false leaves the checker as it was. `file:lastLine`
   * names the run's last line.
   */
  adopt(run: TrustedRun, file: string, lastLine: number): boolean {
    if (this.problem !== undefined || run.from.seq !== this.expected || run.from.prev !== this.prev) return false;
    for (const [seq, hash] of run.heads) if (this.wanted.has(seq)) this.heads.set(seq, hash);
    this.expected += run.taken;
    this.count += run.taken;
    this.prev = run.head;
    this.lastFile = file;
    this.lastLine = lastLine;
    return true;
  }

  /** True once a line, a stray or a checkpoint could not be trusted (nothing after it is taken). */
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
    // Before the parse: a record nested deeper than the appender writes would verify, then crash a
    // reader's JSON.stringify (red team 17, finding 9). The fast path takes at most 64 levels.
    if (nestsDeeperThan(text, MAX_RECORD_DEPTH)) return bad(TOO_DEEP);
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
    this.lastFile = undefined;
    this.expected++;
    this.count++;
    return record;
  }

  /**
   * The same check as line() on the line's bytes, `bytes[start, end)` (without its newline, valid
   * UTF-8: the caller checks), for `audit verify`, which needs no records: the SHA-256 is taken over
   * the bytes themselves and canonical form is checked on them (canonical-bytes.ts), with no parse
   * and no re-serialisation. Only a line that passes every check is taken here; any other line
   * (or one the byte check cannot show canonical) goes through line() itself, so the verdict and the
   * problem reported are line()'s. `file:line` names it. True when the line was trusted.
   */
  lineBytes(bytes: Buffer, start: number, end: number, file: string, line: number): boolean {
    if (this.problem !== undefined) return false;
    if (this.fastLine(bytes, start, end)) {
      this.lastFile = file;
      this.lastLine = line;
      return true;
    }
    return this.line(bytes.toString('utf8', start, end), `${file}:${line}`) !== undefined;
  }

  /**
   * Takes the line if it is provably trusted: `,"hash":"<hash>"}` ends it, the text before it closed
   * with `}` is canonical with top-level `seq` the expected number and `prev` the previous hash, and
   * its SHA-256 is `<hash>`. The comma before `"hash"` is turned into `}` for the hash and the
   * check, then put back (the buffer is the reader's own). False leaves the checker as it was.
   * Public for test/unit/audit-fast-paths.test.ts (the lines it must take, and the ones it must
   * leave to line()); callers use lineBytes.
   */
  fastLine(bytes: Buffer, start: number, end: number): boolean {
    const cut = end - HASH_SUFFIX;
    if (cut <= start || bytes[end - 1] !== 0x7d || bytes[end - 2] !== 0x22 || !sameBytes(bytes, cut, HASH_FRAME))
      return false;
    const f = this.fields;
    bytes[cut] = 0x7d;
    try {
      if (!canonicalObjectBytes(bytes, start, cut + 1, f)) return false;
      if (!isDecimal(bytes, f.seqStart, f.seqEnd, this.expected)) return false;
      if (f.prevEnd - f.prevStart !== 66 || !sameText(bytes, f.prevStart + 1, this.prev)) return false;
      const hash = sha256Bytes(bytes.subarray(start, cut + 1));
      if (!sameText(bytes, cut + 9, hash)) return false;
      if (this.wanted.has(this.expected)) this.heads.set(this.expected, hash);
      this.prev = hash;
      this.expected++;
      this.count++;
      return true;
    } finally {
      bytes[cut] = 0x2c;
    }
  }

  /**
   * The record is whole and hashes right, but it was chained to another predecessor: the record
   * before it was replaced (rewritten and re-hashed, so its own hash is valid), or this one was
   * re-chained. Either way nothing vouches for the one before: it is the first that cannot be trusted.
   */
  private relinked(where: string | undefined): undefined {
    const replaced = Math.max(1, this.expected - 1);
    const last = this.lastFile !== undefined ? `${this.lastFile}:${this.lastLine}` : this.lastWhere;
    const at = this.expected > 1 ? `${last ?? '?'}, whose successor is at ${where ?? '?'}` : where;
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

  /**
   * The verdict, after the last line: the checkpoints (checkCheckpoints, chain-report.ts) are
   * compared with the chain only when every line was trusted.
   */
  finish(checkpoints: readonly Checkpoint[], publicKey: KeyObject | undefined): ChainReport {
    const lastSeq = this.expected - 1;
    let verified = 0;
    let lastCheckpoint = 0;
    let adopted: ChainReport['checkpoints']['adopted'] = [];
    if (this.problem === undefined) {
      ({
        verified,
        lastCheckpoint,
        adopted,
        problem: this.problem,
      } = checkCheckpoints(checkpoints, { lastSeq, heads: this.heads }, publicKey));
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
        adopted: this.problem === undefined ? adopted : [],
      },
      ...(this.problem !== undefined ? { firstBad: this.problem } : {}),
    };
  }
}
