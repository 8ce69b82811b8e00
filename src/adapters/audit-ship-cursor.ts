import { basename, join } from 'node:path';
import { MAX_RECORD_BYTES } from '../audit/limits.ts';
import { listSegments, segmentName, segmentNumber } from './audit-files.ts';
import { openAuditFile, readAuditText } from './audit-open.ts';

/**
 * Where the decision-log shipper (audit-ship.ts) has got to, and how far the copy of it kept in
 * `ship-cursor.json` on the audit volume is believed (red team 17, finding 7: pointing it at
 * segment 99999999 stopped all shipping with no error). The file is read once, when shipping
 * starts, and only as a hint: it must name a position the shipper itself could have saved (the
 * byte just after a whole record of an existing segment, that record's seq); otherwise shipping
 * starts again from the first record, and the reason is reported. While shipping runs, the
 * position is kept in memory; the file is only written, for the next start.
 */

/** The last shipped seq and the byte just after it (in segment `segment`). */
export interface Cursor {
  readonly seq: number;
  readonly segment: number;
  readonly offset: number;
}

export const SHIP_CURSOR = 'ship-cursor.json';

/** Nothing shipped yet: before seq 1, at the start of segment 1. */
export const START: Cursor = { seq: 0, segment: 1, offset: 0 };

const wellFormed = (c: unknown): c is Cursor => {
  const o = c as { seq?: unknown; segment?: unknown; offset?: unknown } | null;
  return (
    typeof o === 'object' &&
    o !== null &&
    [o.seq, o.segment, o.offset].every((v) => Number.isSafeInteger(v) && (v as number) >= 0) &&
    (o.segment as number) >= 1
  );
};

/**
 * Why the cursor `c` is not a position the shipper could have saved, or undefined when it is:
 * START, or `offset` just after a whole record (a newline before it, at most MAX_RECORD_BYTES
 * back) of an existing segment, whose seq is `c.seq`. Reads at most one record's bytes.
 */
async function cursorProblem(dir: string, c: Cursor): Promise<string | undefined> {
  if (c.seq === 0 && c.segment === 1 && c.offset === 0) return undefined;
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
    let seq: unknown;
    try {
      seq = (JSON.parse(window.toString('utf8', start, window.length - 1)) as { seq?: unknown } | null)?.seq;
    } catch {
      seq = undefined;
    }
    if (seq !== c.seq)
      return `the record ending at byte ${c.offset} of ${basename(file)} is seq ${String(seq)}, not the cursor's seq ${c.seq}`;
    return undefined;
  } finally {
    await fh.close();
  }
}

/**
 * The position to start shipping from: the saved cursor when it checks (cursorProblem), else START
 * with `problem` saying why (for AUDIT_SHIP_FAILED): no file is START with no problem; a file that
 * is not a regular file, not JSON, not a cursor or not a saved position is a problem. Starting
 * over ships records again (at least once: the collector sees the same decision_id twice), never
 * fewer.
 */
export async function loadCursor(dir: string): Promise<{ cursor: Cursor; problem?: string }> {
  const path = join(dir, SHIP_CURSOR);
  let text: string;
  try {
    text = await readAuditText(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { cursor: START };
    return { cursor: START, problem: restart(`cannot be read (${e instanceof Error ? e.message : String(e)})`) };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { cursor: START, problem: restart('is not JSON') };
  }
  if (!wellFormed(parsed)) return { cursor: START, problem: restart('is not a cursor {seq, segment, offset}') };
  const cursor = { seq: parsed.seq, segment: parsed.segment, offset: parsed.offset };
  const why = await cursorProblem(dir, cursor);
  return why === undefined ? { cursor } : { cursor: START, problem: restart(why) };
}

const restart = (why: string): string =>
  `${SHIP_CURSOR} ${why}: shipping starts again from the first record (at least once: records already shipped are sent again with the same decision_id), nothing is skipped`;
