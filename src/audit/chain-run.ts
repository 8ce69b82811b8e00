import { canonicalObjectBytes, type TopFields } from './canonical-bytes.ts';
import { ChainChecker } from './chain-check.ts';
import type { TrustedRun } from './chain-report.ts';
import { HASH_SUFFIX } from './line-bytes.ts';
import { MAX_RECORD_BYTES } from './limits.ts';

/**
 * A run of whole lines checked apart from the rest of the log, for `audit verify` on two cores
 * (src/adapters/audit-check-worker.ts): the run is taken up where its own first line says the chain
 * stands (its seq and prev), and every line must then pass ChainChecker.fastLine. The caller
 * adopts the run (ChainChecker.adopt) only if it starts where the caller's chain stands; otherwise,
 * or when this gives up, the caller checks the same lines itself, so the verdict and the problem
 * reported are always those of the sequential check.
 */

/**
 * The seq and prev a line claims, read on its bytes `b[start, end)` (its body shown canonical, the
 * seq 1 to 15 digits, the prev 64 characters), or undefined. The buffer is left as it was.
 */
export function claimedLink(b: Buffer, start: number, end: number): { seq: number; prev: string } | undefined {
  const cut = end - HASH_SUFFIX;
  if (cut <= start || b[cut] !== 0x2c) return undefined;
  const f: TopFields = { seqStart: -1, seqEnd: -1, prevStart: -1, prevEnd: -1 };
  b[cut] = 0x7d;
  try {
    if (!canonicalObjectBytes(b, start, cut + 1, f)) return undefined;
  } finally {
    b[cut] = 0x2c;
  }
  const digits = f.seqEnd - f.seqStart;
  if (f.seqStart < 0 || digits < 1 || digits > 15 || f.prevEnd - f.prevStart !== 66) return undefined;
  const seq = Number(b.toString('latin1', f.seqStart, f.seqEnd));
  if (!Number.isSafeInteger(seq) || seq < 1) return undefined;
  return { seq, prev: b.toString('latin1', f.prevStart + 1, f.prevEnd - 1) };
}

/**
 * Checks the whole lines of `b[from, to)` (`to` just past a newline) on bytes, taken up where the
 * first one claims; `wanted`: the checkpoint seqs whose hashes to keep. Undefined when any line is
 * not trusted that way (an empty line, or one longer than MAX_RECORD_BYTES, included): the caller
 * then checks them itself.
 */
export function checkRun(b: Buffer, from: number, to: number, wanted: Iterable<number>): TrustedRun | undefined {
  const first = b.indexOf(0x0a, from);
  if (first < 0 || first >= to) return undefined;
  const link = claimedLink(b, from, first);
  if (link === undefined) return undefined;
  const checker = new ChainChecker(wanted, link);
  for (let start = from, nl = first; nl >= 0 && nl < to; start = nl + 1, nl = b.indexOf(0x0a, start))
    if (nl - start > MAX_RECORD_BYTES || !checker.fastLine(b, start, nl)) return undefined;
  const { count, prev, heads } = checker.state;
  return { from: link, taken: count, head: prev, heads: [...heads] };
}
