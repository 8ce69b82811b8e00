import { isUtf8 } from 'node:buffer';
import { readdir, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import type { Checkpoint } from '../audit/checkpoint.ts';
import type { AuditRecord } from '../audit/record.ts';
import { ChainChecker } from '../audit/chain-check.ts';
import type { ChainReport } from '../audit/chain-report.ts';
import { LineSplitter, OVERLONG } from '../audit/line-split.ts';
import { MAX_RECORD_BYTES, TOO_LONG } from '../audit/limits.ts';
import { openAuditFile } from './audit-open.ts';
import { checkSegmentBytes, EMPTY_LINE, NO_NEWLINE, NOT_UTF8, RunWorker, VERIFY_CHUNK } from './audit-check-read.ts';

/** Layout of an audit directory: segment-00000001.jsonl, segment-00000002.jsonl, ..., checkpoints.jsonl */
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';
const SEGMENT = /^segment-(\d{8})\.jsonl$/;

export const segmentName = (n: number): string => `segment-${String(n).padStart(8, '0')}.jsonl`;

/** Segment files of a directory, in order. */
export async function listSegments(dir: string): Promise<string[]> {
  const names = (await readdir(dir)).filter((n) => SEGMENT.test(n)).sort();
  return names.map((n) => join(dir, n));
}

/** A name a reader could take for a segment: `segment-`, digits, `.jsonl`, in any case (finding 16 of red team 17). */
const SEGMENT_LIKE = /^segment-\d+\.jsonl$/i;

/**
 * Entries of an audit directory that are not read as segments though their names say they are
 * (red team 17, finding 16: `segment-2.jsonl`, a 9-digit number, an upper-case name were skipped
 * without a word): `lookalike` matches `segment-<digits>.jsonl` in any case but is not the 8-digit
 * name the appender writes; `other` is any other name starting `segment-` (a `.bak` or `~` copy).
 * Sorted names, not paths.
 */
export async function straySegments(dir: string): Promise<{ lookalike: string[]; other: string[] }> {
  const names = (await readdir(dir)).filter((n) => n.toLowerCase().startsWith('segment-') && !SEGMENT.test(n)).sort();
  return { lookalike: names.filter((n) => SEGMENT_LIKE.test(n)), other: names.filter((n) => !SEGMENT_LIKE.test(n)) };
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
  /** True for a line longer than MAX_RECORD_BYTES: its bytes were not kept (`line` is empty). */
  readonly overlong?: boolean;
}

/**
 * Every line of every segment, in order, streamed in 1 MiB chunks (logs may be larger than
 * memory; splitting buffers on "\n" is several times cheaper than readline here), in time linear
 * in the bytes whatever the lines' lengths (LineSplitter). Empty lines are yielded too: the
 * appender never writes one, so the checker must see them. `files`: only these segments (paths,
 * in order; default every segment of `dir`).
 */
export async function* auditLines(dir: string, files?: readonly string[]): AsyncGenerator<AuditLine> {
  for (const file of files ?? (await listSegments(dir))) {
    const name = file.split('/').pop() ?? file;
    let n = 0;
    const lines = new LineSplitter(MAX_RECORD_BYTES);
    const fh = await openAuditFile(file);
    for await (const chunk of fh.createReadStream({ highWaterMark: 1024 * 1024 })) {
      for (const bytes of lines.push(chunk as Buffer)) {
        n++;
        yield bytes === OVERLONG
          ? { line: '', where: `${name}:${n}`, terminated: true, utf8: true, overlong: true }
          : { line: bytes.toString('utf8'), where: `${name}:${n}`, terminated: true, utf8: isUtf8(bytes) };
      }
    }
    const rest = lines.rest();
    if (rest === OVERLONG) yield { line: '', where: `${name}:${n + 1}`, terminated: false, utf8: true, overlong: true };
    else if (rest !== undefined)
      yield { line: rest.toString('utf8'), where: `${name}:${n + 1}`, terminated: false, utf8: isUtf8(rest) };
  }
}

/**
 * Every record of an audit directory, in order, UNVERIFIED (parse errors throw; empty lines are
 * skipped). For tests and tools that wrote the log themselves; anything that reports on a log it
 * did not write reads it with readTrusted.
 */
export async function readAuditLog(dir: string): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const { line, where, overlong } of auditLines(dir)) {
    if (overlong === true) throw new Error(`${where}: ${TOO_LONG}`);
    if (line.length > 0) out.push(JSON.parse(line) as AuditRecord);
  }
  return out;
}

export async function readCheckpoints(dir: string): Promise<Checkpoint[]> {
  let fh;
  try {
    fh = await openAuditFile(join(dir, CHECKPOINTS_FILE));
  } catch (e) {
    // No checkpoints file: no checkpoints. One that is there but not a regular file is an error.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  // Read in chunks, a line at most CHECKPOINT_LINE_BYTES (red team 16, finding 6: read whole, a
  // 300 MiB sparse file took audit verify to 694 MB). A line that does not parse, or is longer,
  // stays in place as a non-checkpoint: the checker names it.
  const out: Checkpoint[] = [];
  const lines = new LineSplitter(CHECKPOINT_LINE_BYTES);
  const take = (line: Buffer | typeof OVERLONG | undefined): void => {
    if (line === undefined || (line !== OVERLONG && line.length === 0)) return;
    try {
      out.push(line === OVERLONG ? (null as unknown as Checkpoint) : (JSON.parse(line.toString('utf8')) as Checkpoint));
    } catch {
      out.push(null as unknown as Checkpoint);
    }
  };
  try {
    for await (const chunk of fh.createReadStream({ highWaterMark: 1024 * 1024, autoClose: false }))
      for (const line of lines.push(chunk as Buffer)) take(line);
    take(lines.rest());
  } finally {
    await fh.close();
  }
  return out;
}

/** The longest line of checkpoints.jsonl read as a checkpoint (a signed checkpoint is under 1 KiB). */
const CHECKPOINT_LINE_BYTES = 64 * 1024;

/** Feeds one line to the checker, naming lines the appender never writes; its record when trusted. */
export function checkLine(
  checker: ChainChecker,
  { line, where, terminated, utf8, overlong }: AuditLine,
): AuditRecord | undefined {
  if (overlong === true) {
    checker.stray(TOO_LONG, where);
    return undefined;
  }
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

/**
 * The audit chain check of a directory (`audit verify`): the chain through every segment, then the
 * checkpoints. A broken log is a report (`ok: false`, the first bad seq), not a throw; a segment
 * that cannot be read throws (the CLI answers AUDIT_READ_FAILED). Reads bytes (checkSegmentBytes):
 * the verdict is the same as reading the lines through checkLine().
 */
export async function checkAuditDir(
  dir: string,
  publicKey: KeyObject | undefined,
  onProgress?: (records: number) => void,
  options: CheckOptions = {},
): Promise<ChainReport & { segments: number }> {
  const checkpoints = await readCheckpoints(dir);
  const wanted = checkpoints.map((c) => c?.seq);
  const checker = new ChainChecker(wanted);
  const segments = await listSegments(dir);
  let total = 0;
  const counted = (k: number): void => {
    const before = total;
    total += k;
    if (onProgress !== undefined && Math.floor(total / 100_000) > Math.floor(before / 100_000))
      onProgress(total - (total % 100_000));
  };
  const parallel = options.parallel ?? 'auto';
  const worker = (await useWorker(segments, parallel))
    ? new RunWorker(
        wanted.filter((s) => typeof s === 'number'),
        parallel === 'auto',
      )
    : undefined;
  try {
    for (const file of segments) {
      if (checker.failed) break;
      await checkSegmentBytes(checker, file, counted, { chunk: options.chunk ?? VERIFY_CHUNK, worker });
    }
  } finally {
    await worker?.close();
  }
  return { ...checker.finish(checkpoints, publicKey), segments: (await listSegments(dir)).length };
}

/**
 * How checkAuditDir reads: `chunk` bytes a read (default 4 MiB); `parallel` a second thread
 * (audit-check-read.ts): always, never, or 'auto' (the default: with more than one core and at
 * least PARALLEL_FROM bytes of segments, where the thread's start-up is paid back; and adaptive:
 * a few chunks on one thread whenever the worker did not pay, see RunWorker).
 */
export interface CheckOptions {
  readonly chunk?: number;
  readonly parallel?: boolean | 'auto';
}

/**
 * Segment bytes from which 'auto' starts the second thread: its start-up (a new isolate loading the
 * check's modules) cost ~0.15 CPU-s on the bench machine, as much as checking ~50,000 records.
 */
export const PARALLEL_FROM = 256 * 1024 * 1024;

async function useWorker(segments: readonly string[], parallel: boolean | 'auto'): Promise<boolean> {
  if (parallel !== 'auto') return parallel;
  if (availableParallelism() < 2) return false;
  let bytes = 0;
  for (const file of segments) bytes += (await stat(file)).size;
  return bytes >= PARALLEL_FROM;
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
    const record = checkLine(checker, l);
    if (record !== undefined && keep(record)) kept.push(record);
  }
  const report = { ...checker.finish(checkpoints, publicKey), segments: (await listSegments(dir)).length };
  const firstBad = report.firstBad?.seq;
  const records = firstBad === undefined ? kept : kept.filter((r) => r.seq < firstBad);
  const trusted = firstBad === undefined ? report.records : Math.min(report.records, firstBad - 1);
  return { records, report, untrusted: lines - trusted };
}
