import { constants } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ChainChecker } from '../audit/chain-check.ts';
import { MAX_RECORD_BYTES } from '../audit/limits.ts';
import {
  cursorSignatureValid,
  lineHasHash,
  parseCursor,
  signCursor,
  START,
  type ShipPosition,
} from '../audit/ship-cursor.ts';
import { checkSegmentBytes } from './audit-check-read.ts';
import { listSegments, segmentName, segmentNumber } from './audit-files.ts';
import { openAuditFile } from './audit-open.ts';
import type { CheckpointSigner } from './audit-resume.ts';

/**
 * Where the decision-log shipper (audit-ship.ts) has got to, and how far the copy of it kept in
 * `ship-cursor.json` on the audit volume is believed. That volume is what the shipped copy
 * protects, so the file proves nothing by being there: red team 17, finding 7 (a cursor naming
 * segment 99999999 stopped all shipping) and red team 18, finding 2 (a cursor moved forward to the
 * end of a later whole record was believed, and the records between were never shipped). The
 * runner signs what it saves with its checkpoint key (audit/ship-cursor.ts), and when shipping
 * starts believes the file only if that key signed it and the record it names is, byte for byte,
 * where it says (ADR 0010). Otherwise shipping starts again from the first record and the reason is
 * reported. While shipping runs the position is kept in memory; the file is only written.
 */

export const SHIP_CURSOR = 'ship-cursor.json';

export { START };

/**
 * Why the position `c` is not a record end of the log as it is, or undefined when it is: START, or
 * `offset` just after a whole record (a newline before it, at most MAX_RECORD_BYTES back) of an
 * existing segment, whose seq is `c.seq` and whose bytes hash to `c.hash`. Reads at most one record.
 */
async function positionProblem(dir: string, c: ShipPosition): Promise<string | undefined> {
  if (c.seq === 0 && c.segment === START.segment && c.offset === 0 && c.hash === START.hash) return undefined;
  const file = (await listSegments(dir)).find((f) => segmentNumber(f) === c.segment);
  if (file === undefined) return `it names ${segmentName(c.segment)}, which does not exist`;
  const fh = await openAuditFile(file);
  try {
    const { size } = await fh.stat();
    if (c.offset === 0 || c.offset > size)
      return `it names byte ${c.offset} of ${basename(file)} (${size} bytes), which no shipped record ends at`;
    const length = Math.min(c.offset, MAX_RECORD_BYTES + 1);
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, c.offset - length);
    const window = buf.subarray(0, bytesRead);
    if (window.at(-1) !== 0x0a) return `byte ${c.offset} of ${basename(file)} is not the end of a record`;
    const start = window.lastIndexOf(0x0a, window.length - 2) + 1;
    if (start === 0 && c.offset > length) return `the record before byte ${c.offset} is longer than any record`;
    const line = window.subarray(start, window.length - 1);
    let seq: unknown;
    try {
      seq = (JSON.parse(line.toString('utf8')) as { seq?: unknown } | null)?.seq;
    } catch {
      seq = undefined;
    }
    if (seq !== c.seq)
      return `the record ending at byte ${c.offset} of ${basename(file)} is ${typeof seq === 'number' ? `seq ${seq}` : 'not a record'}, not the cursor's seq ${c.seq}`;
    if (!lineHasHash(line, c.hash))
      return `the record ending at byte ${c.offset} of ${basename(file)} is not the seq ${c.seq} the cursor was saved for (its bytes do not hash to the cursor's hash: another chain, or a rewritten record)`;
    return undefined;
  } finally {
    await fh.close();
  }
}

/** Read size of the proof: each chunk is checked in one turn of the main thread (1 MiB: about 2 ms), beside the decisions. */
const PROOF_CHUNK = 1024 * 1024;

/**
 * Why the log before the position `c` (which positionProblem found to be the end of record
 * `c.seq` with hash `c.hash`) is not that record's chain, or undefined when it is: every line of
 * every segment up to byte `c.offset` of segment `c.segment` is a record the appender wrote (the
 * checks of `audit verify`: bytes, hash, seq, prev), from seq 1, and the last is `c.seq` with hash
 * `c.hash`. Without this, a segment and a cursor of another chain signed with the same key (the
 * chart's replicas share it) would be believed with this chain's unshipped records before them.
 * Reads the log up to the cursor once, at `audit verify`'s rate, when shipping starts.
 */
async function chainProblem(dir: string, c: ShipPosition): Promise<string | undefined> {
  const checker = new ChainChecker();
  for (const file of (await listSegments(dir)).filter((f) => segmentNumber(f) <= c.segment)) {
    const end = segmentNumber(file) === c.segment ? c.offset : undefined;
    await checkSegmentBytes(checker, file, () => undefined, { chunk: PROOF_CHUNK, end });
    if (checker.failed) break;
  }
  const bad = checker.finish([], undefined).firstBad;
  if (bad !== undefined)
    return `the log before it is not one chain up to seq ${c.seq} (seq ${bad.seq}${bad.where !== undefined ? `, ${bad.where}` : ''}: ${bad.reason}): a segment of another log, or records replaced`;
  const { expected, prev } = checker.state;
  if (expected - 1 !== c.seq || prev !== c.hash)
    return `the log before it ends at seq ${expected - 1}, not at the cursor's seq ${c.seq} with its hash: a segment of another log`;
  return undefined;
}

/**
 * Why the signed cursor file's text is not believed, or the position it proves. Believed only if
 * it is a SignedCursor, signed by `signer`'s kid, whose signature verifies with its key, at a
 * record end whose record is still the one it was signed for (positionProblem: one record read,
 * most refusals end here), and the log before it is that record's chain (chainProblem).
 */
async function provedPosition(dir: string, text: string, signer: CheckpointSigner): Promise<ShipPosition | string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  const c = parseCursor(parsed);
  if (typeof c === 'string') return c;
  if (c.kid !== signer.kid)
    return `is signed by kid ${c.kid}, not by this runner's checkpoint key (kid ${signer.kid}): saved before the key was rotated, or by another signer`;
  if (!cursorSignatureValid(c, createPublicKey(signer.key)))
    return `names this runner's kid ${signer.kid} but its signature does not verify with this runner's key (edited, or forged)`;
  const position = { seq: c.seq, segment: c.segment, offset: c.offset, hash: c.hash };
  if (position.seq === 0) return (await positionProblem(dir, position)) ?? position;
  return (await positionProblem(dir, position)) ?? (await chainProblem(dir, position)) ?? position;
}

/**
 * The text of the cursor file at `path` (undefined when there is none), or why it is not taken: not
 * a regular file (openAuditFile), or longer than CURSOR_MAX_BYTES (not read further: a sparse
 * file of gigabytes costs nothing). The error's message names the path, never the content.
 */
async function cursorText(path: string): Promise<string | { problem: string } | undefined> {
  try {
    const fh = await openAuditFile(path);
    try {
      const buf = Buffer.alloc(CURSOR_MAX_BYTES + 1);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      if (bytesRead > CURSOR_MAX_BYTES)
        return { problem: `is longer than any cursor (over ${CURSOR_MAX_BYTES} bytes)` };
      return buf.toString('utf8', 0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { problem: `cannot be read (${e instanceof Error ? e.message : String(e)})` };
  }
}

/**
 * The position to start shipping from: the saved cursor when it is proved (provedPosition), else
 * START with `problem` saying why (for AUDIT_SHIP_FAILED). No file is START with no problem; a file
 * that is not a regular file, not JSON, not a signed cursor of this key, or not a record end of
 * this chain is a problem. Starting over ships records again (at least once: the collector sees
 * the same decision_id twice), never fewer. The message names files, bytes, seqs and kids: never
 * a signature or a record's content.
 */
export async function loadCursor(
  dir: string,
  signer: CheckpointSigner,
): Promise<{ cursor: ShipPosition; problem?: string }> {
  const read = await cursorText(join(dir, SHIP_CURSOR));
  if (read === undefined) return { cursor: START };
  if (typeof read !== 'string') return { cursor: START, problem: restart(read.problem) };
  const proved = await provedPosition(dir, read, signer);
  return typeof proved === 'string' ? { cursor: START, problem: restart(proved) } : { cursor: proved };
}

/** The most of `ship-cursor.json` read (a cursor is about 250 bytes; a larger file is refused unread). */
const CURSOR_MAX_BYTES = 4096;

const restart = (why: string): string =>
  `${SHIP_CURSOR} ${why}: shipping starts again from the first record (at least once: records already shipped are sent again with the same decision_id), nothing is skipped`;

/**
 * Saves `position` signed by `signer`, whole or not at all: written to `ship-cursor.json.tmp`,
 * synced, renamed over the cursor. Whatever was at the temporary name (a leftover of a crash, or a
 * link someone planted to a segment) is removed first and the file made anew (O_EXCL, O_NOFOLLOW):
 * the runner never writes through a name on the volume it did not just create. A crash before the
 * rename leaves the previous cursor (behind: records are shipped again, never skipped).
 */
export async function saveCursor(dir: string, position: ShipPosition, signer: CheckpointSigner): Promise<void> {
  const tmp = join(dir, `${SHIP_CURSOR}.tmp`);
  await rm(tmp, { force: true });
  const fh = await open(
    tmp,
    constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW | constants.O_NONBLOCK,
    0o600,
  );
  try {
    await fh.writeFile(JSON.stringify(signCursor(position, signer)));
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, SHIP_CURSOR));
}
