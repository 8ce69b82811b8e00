import { isUtf8 } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Checkpoint } from '../audit/checkpoint.ts';
import type { AuditRecord } from '../audit/record.ts';
import { ChainChecker, type ChainReport } from '../audit/chain-check.ts';

/** Layout of an audit directory: segment-00000001.jsonl, segment-00000002.jsonl, ..., checkpoints.jsonl */
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';
const SEGMENT = /^segment-(\d{8})\.jsonl$/;

export const segmentName = (n: number): string => `segment-${String(n).padStart(8, '0')}.jsonl`;

/** Segment files of a directory, in order. */
export async function listSegments(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
  return names.map((n) => join(dir, n));
}

export function segmentNumber(path: string): number {
  return Number(SEGMENT.exec(path.split('/').pop() ?? '')?.[1] ?? '0');
}

/** One line of a segment: its text without the newline; `terminated` false for a last line with no newline. */
export interface AuditLine {
  readonly line: string;
  readonly where: string;
  readonly terminated: boolean;
  /** False when the line's bytes are not valid UTF-8: decoding would replace them, so the text is not the bytes. */
  readonly utf8: boolean;
}

/**
 * Every line of every segment, in order, streamed in 1 MiB chunks (logs may be larger than
 * memory; splitting buffers on "\n" is several times cheaper than readline here). Empty lines are
 * yielded too: the appender never writes one, so the checker must see them.
 */
export async function* auditLines(dir: string): AsyncGenerator<AuditLine> {
  for (const file of await listSegments(dir)) {
    const name = file.split('/').pop() ?? file;
    let n = 0;
    let carry: Buffer = Buffer.alloc(0);
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) {
      const buf: Buffer = carry.length > 0 ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
      let start = 0;
      for (let nl = buf.indexOf(0x0a, start); nl >= 0; nl = buf.indexOf(0x0a, start)) {
        n++;
        yield {
          line: buf.toString('utf8', start, nl),
          where: `${name}:${n}`,
          terminated: true,
          utf8: isUtf8(buf.subarray(start, nl)),
        };
        start = nl + 1;
      }
      carry = buf.subarray(start);
    }
    if (carry.length > 0)
      yield { line: carry.toString('utf8'), where: `${name}:${n + 1}`, terminated: false, utf8: isUtf8(carry) };
  }
}

/**
 * Every record of an audit directory, in order, UNVERIFIED (parse errors throw; empty lines are
 * skipped). For tests and tools that wrote the log themselves; anything that reports on a log it
 * did not write reads it with readTrusted.
 */
export async function readAuditLog(dir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { line } of auditLines(dir)) if (line.length > 0) out.push(JSON.parse(line) as AuditRecord);
  return out;
}

export async function readCheckpoints(dir: string): Promise<Checkpoint[]> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINTS_FILE), 'utf8');
  } catch {
    return [];
  }
  // A line that does not parse stays in place as a non-checkpoint: the checker names it.
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      try {
        return JSON.parse(l) as Checkpoint;
      } catch {
        return null as unknown as Checkpoint;
      }
    });
}

const NOT_UTF8 =
  'the line is not valid UTF-8: its bytes are not what the appender wrote (invalid bytes decode to U+FFFD, so its text could still hash right)';
const EMPTY_LINE = 'an empty line: the appender never writes one (a line was removed or inserted)';
const NO_NEWLINE =
  'the last line has no newline: a torn write (the runner repairs it when it next opens the log) or a cut';

/** Feeds one line to the checker, naming lines the appender never writes. */
function check(checker: ChainChecker, { line, where, terminated, utf8 }: AuditLine): AuditRecord | undefined {
  if (!utf8) {
    checker.stray(NOT_UTF8, where);
    return undefined;
  }
  if (line.length === 0) {
    checker.stray(EMPTY_LINE, where);
    return undefined;
  }
  if (!terminated) {
    checker.stray(NO_NEWLINE, where);
    return undefined;
  }
  return checker.line(line, where);
}

/** Read size of the verifier (a line longer than this grows the buffer). */
const VERIFY_CHUNK = 4 * 1024 * 1024;

/**
 * Feeds every line of one segment to the checker as bytes (ChainChecker.lineBytes), read in large
 * chunks into one buffer: no string, no parse and no record per trusted line. The same strays as
 * check(): invalid UTF-8, an empty line, a last line without its newline. `counted` is called per line.
 */
async function checkSegmentBytes(checker: ChainChecker, file: string, counted: (n: number) => void): Promise<void> {
  const name = file.split('/').pop() ?? file;
  const fh = await open(file, 'r');
  try {
    let buf = Buffer.allocUnsafe(VERIFY_CHUNK);
    let have = 0;
    let n = 0;
    for (let eof = false; !eof && !checker.failed;) {
      if (have === buf.length) buf = Buffer.concat([buf.subarray(0, have)], buf.length * 2);
      const { bytesRead } = await fh.read(buf, have, buf.length - have, null);
      eof = bytesRead === 0;
      have += bytesRead;
      const view = buf.subarray(0, have);
      const whole = view.lastIndexOf(0x0a) + 1;
      const allUtf8 = isUtf8(view.subarray(0, whole));
      let start = 0;
      for (let nl = view.indexOf(0x0a); nl >= 0 && !checker.failed; nl = view.indexOf(0x0a, start)) {
        n++;
        if (!allUtf8 && !isUtf8(view.subarray(start, nl))) checker.stray(NOT_UTF8, `${name}:${n}`);
        else if (nl === start) checker.stray(EMPTY_LINE, `${name}:${n}`);
        else checker.lineBytes(view, start, nl, name, n);
        counted(n);
        start = nl + 1;
      }
      if (eof && start < have && !checker.failed) {
        const tail = view.subarray(start, have);
        checker.stray(isUtf8(tail) ? NO_NEWLINE : NOT_UTF8, `${name}:${n + 1}`);
      }
      buf.copy(buf, 0, start, have);
      have -= start;
    }
  } finally {
    await fh.close();
  }
}

/**
 * The audit chain check of a directory (`audit verify`): the chain through every segment, then the
 * checkpoints. A broken log is a report (`ok: false`, the first bad seq), not a throw; a segment
 * that cannot be read throws (the CLI answers AUDIT_READ_FAILED). Reads bytes (checkSegmentBytes):
 * the verdict is the same as reading the lines through check().
 */
export async function checkAuditDir(
  dir: string,
  publicKey: KeyObject | undefined,
  onProgress?: (records: number) => void,
): Promise<ChainReport & { segments: number }> {
  const checkpoints = await readCheckpoints(dir);
  const checker = new ChainChecker(checkpoints.map((c) => c?.seq));
  const segments = await listSegments(dir);
  let total = 0;
  const counted = (): void => {
    if (onProgress !== undefined && ++total % 100_000 === 0) onProgress(total);
  };
  for (const file of segments) {
    if (checker.failed) break;
    await checkSegmentBytes(checker, file, counted);
  }
  return { ...checker.finish(checkpoints, publicKey), segments: (await listSegments(dir)).length };
}

/** A log read through the checker: only what precedes the first break. */
export interface TrustedLog {
  /** Records before the first bad one that `keep` selected, in order. */
  readonly records: AuditRecord[];
  readonly report: ChainReport & { readonly segments: number };
  /** Lines from the first bad record on (none when the log is intact): never used as records. */
  readonly untrusted: number;
}

/**
 * Reads an audit directory for reporting (`audit query`, `audit report`, `policy replay`): every
 * line goes through the checker, and nothing from the first bad record on is returned as a
 * record: a break found by the checkpoints (rewritten history, a forged signature) also drops
 * the records from the seq it names. `keep` selects what to hold in memory.
 */
export async function readTrusted(
  dir: string,
  publicKey: KeyObject | undefined,
  keep: (r: AuditRecord) => boolean = () => true,
): Promise<TrustedLog> {
  const checkpoints = await readCheckpoints(dir);
  const checker = new ChainChecker(checkpoints.map((c) => c?.seq));
  const kept: AuditRecord[] = [];
  let lines = 0;
  for await (const l of auditLines(dir)) {
    lines++;
    const record = check(checker, l);
    if (record !== undefined && keep(record)) kept.push(record);
  }
  const report = { ...checker.finish(checkpoints, publicKey), segments: (await listSegments(dir)).length };
  const firstBad = report.firstBad?.seq;
  const records = firstBad === undefined ? kept : kept.filter((r) => r.seq < firstBad);
  const trusted = firstBad === undefined ? report.records : Math.min(report.records, firstBad - 1);
  return { records, report, untrusted: lines - trusted };
}
