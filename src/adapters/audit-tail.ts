import { open } from 'node:fs/promises';
import { GENESIS } from '../audit/chain.ts';
import type { AuditRecord } from '../audit/record.ts';
import { openAuditFile } from './audit-open.ts';

/**
 * Finds the last whole record of a segment and cuts anything after it (a line torn by a crash in
 * the middle of a batch write). Only unacknowledged records can be torn: a batch is acknowledged
 * after its fdatasync, so every acknowledged record is whole and stays. Throws, reading nothing,
 * when the segment is not a regular file (openAuditFile: a FIFO would block for ever, a device
 * never ends).
 */
export async function repairTail(file: string): Promise<{ seq: number; prev: string; size: number }> {
  const segment = await openAuditFile(file);
  const buf = await segment.readFile().finally(() => segment.close());
  let end = buf.length;
  let last: AuditRecord | undefined;
  while (end > 0) {
    const nl = buf.lastIndexOf(0x0a, end - 1);
    if (nl !== end - 1) {
      end = nl + 1; // bytes after the last newline are torn
      continue;
    }
    const start = buf.lastIndexOf(0x0a, end - 2) + 1;
    try {
      last = JSON.parse(buf.subarray(start, end - 1).toString('utf8')) as AuditRecord;
      break;
    } catch {
      end = start; // a torn or garbled last line
    }
  }
  if (end < buf.length) {
    const fh = await open(file, 'r+');
    try {
      await fh.truncate(end);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
  return last === undefined ? { seq: 0, prev: GENESIS, size: 0 } : { seq: last.seq, prev: last.hash, size: end };
}
