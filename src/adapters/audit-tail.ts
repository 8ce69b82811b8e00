import { open, type FileHandle } from 'node:fs/promises';
import { GENESIS } from '../audit/chain.ts';
import { MAX_RECORD_BYTES } from '../audit/limits.ts';
import type { AuditRecord } from '../audit/record.ts';
import { openAuditFile } from './audit-open.ts';

/**
 * The most bytes of a last segment read to find its last whole record: a torn line and the whole
 * record before it, each at most MAX_RECORD_BYTES and a newline. Resuming reads this much at most,
 * whatever the segment's size (it read the whole segment: a tampered segment of 3 GiB of zeros
 * after its records ended start-up with ERR_FS_FILE_TOO_LARGE, a smaller one held it in memory).
 */
export const TAIL_WINDOW_BYTES = 2 * (MAX_RECORD_BYTES + 1);

/**
 * Finds the last whole record of a segment and cuts anything after it (a line torn by a crash in
 * the middle of a batch write). Only unacknowledged records can be torn: a batch is acknowledged
 * after its fdatasync, so every acknowledged record is whole and stays. Reads only the segment's
 * last TAIL_WINDOW_BYTES; throws, cutting nothing, when no whole record starts and ends within them
 * in a segment longer than that (more than one torn record's worth of bytes that are not records:
 * not a crash's tear, and not for the runner to delete). Throws, reading nothing, when the segment
 * is not a regular file (openAuditFile: a FIFO would block for ever, a device never ends).
 */
export async function repairTail(file: string): Promise<{ seq: number; prev: string; size: number }> {
  const segment = await openAuditFile(file);
  let window: { buf: Buffer; offset: number };
  try {
    window = await lastBytes(segment, TAIL_WINDOW_BYTES);
  } finally {
    await segment.close();
  }
  const { buf, offset } = window;
  let end = buf.length;
  let last: AuditRecord | undefined;
  while (end > 0) {
    const nl = buf.lastIndexOf(0x0a, end - 1);
    if (nl !== end - 1) {
      end = nl + 1; // bytes after the last newline are torn
      continue;
    }
    const start = buf.lastIndexOf(0x0a, end - 2) + 1;
    if (start === 0 && offset > 0) break; // the line may begin before the window: not known whole
    try {
      last = JSON.parse(buf.subarray(start, end - 1).toString('utf8')) as AuditRecord;
      break;
    } catch {
      end = start; // a torn or garbled last line
    }
  }
  if (last === undefined && offset > 0)
    throw new Error(
      `${file}: no whole record in its last ${TAIL_WINDOW_BYTES} bytes (a crash tears at most one record): not cut automatically; inspect the segment (audit verify)`,
    );
  if (end < buf.length) {
    const fh = await open(file, 'r+');
    try {
      await fh.truncate(offset + end);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
  return last === undefined
    ? { seq: 0, prev: GENESIS, size: 0 }
    : { seq: last.seq, prev: last.hash, size: offset + end };
}

/** The last `max` bytes of an open file (all of it when smaller), and where they start. */
export async function lastBytes(fh: FileHandle, max: number): Promise<{ buf: Buffer; offset: number }> {
  const { size } = await fh.stat();
  const offset = Math.max(0, size - max);
  const buf = Buffer.alloc(size - offset);
  let filled = 0;
  while (filled < buf.length) {
    const { bytesRead } = await fh.read(buf, filled, buf.length - filled, offset + filled);
    if (bytesRead === 0) break; // shrank meanwhile
    filled += bytesRead;
  }
  return { buf: buf.subarray(0, filled), offset };
}
