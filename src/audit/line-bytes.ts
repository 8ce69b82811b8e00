import { hash as oneShot } from 'node:crypto';

/**
 * Byte-level helpers of the audit chain check's fast path (chain-check.ts ChainChecker.fastLine,
 * chain-run.ts): a trusted line ends with `,"hash":"<64 hex>"}`, and its members are compared on
 * the buffer without making strings of the bytes.
 */

/** Length in bytes of a trusted line's end, `,"hash":"<64 hex>"}`: 9 + 64 + 2. */
export const HASH_SUFFIX = 9 + 64 + 2;

/** The bytes a trusted line's hash member starts with: `,"hash":"` (latin1). */
export const HASH_FRAME: Buffer = Buffer.from(',"hash":"', 'latin1');

/** True when `b[at, at + word.length)` is `word` (bytes past the buffer's end never match). */
export function sameBytes(b: Buffer, at: number, word: Buffer): boolean {
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word[k]) return false;
  return true;
}

/** True when `b[at, at + text.length)` is the ASCII `text` (a hex hash), compared byte by byte. */
export function sameText(b: Buffer, at: number, text: string): boolean {
  for (let k = 0; k < text.length; k++) if (b[at + k] !== text.charCodeAt(k)) return false;
  return true;
}

/**
 * True when `b[s, e)` (a number token the canonical check took: its own ECMAScript spelling) is the
 * decimal `n`: 1 to 15 digits only (no sign, fraction or exponent; a canonical integer has no
 * leading zero) whose value is `n`. Anything else is false (the caller then says why).
 */
export function isDecimal(b: Buffer, s: number, e: number, n: number): boolean {
  if (s < 0 || e - s < 1 || e - s > 15) return false;
  let v = 0;
  for (let k = s; k < e; k++) {
    const d = (b[k] as number) - 0x30;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  return v === n;
}

/** SHA-256 of `bytes`, lower-case hex (64 characters). */
export const sha256Bytes = (bytes: Buffer): string => oneShot('sha256', bytes, 'hex');
