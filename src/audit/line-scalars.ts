/**
 * The scalar writers of the audit line walk (line-encode.ts): bytes, numbers and strings written as
 * JSON.stringify spells them, in UTF-8, into the buffer the walk holds (`st`). Each takes a position
 * and returns the one after what it wrote, or GIVE_UP (also when given GIVE_UP, or when the buffer
 * is full); positions are never stored.
 */

/** encodeRecord's answer when it does not take the record: nothing it wrote counts. */
export const GIVE_UP = -1;

/** JSON.stringify's short escapes for the control characters that have one (else `\u00xx`). */
const SHORT_ESCAPE: Readonly<Record<number, number>> = { 8: 0x62, 9: 0x74, 10: 0x6e, 12: 0x66, 13: 0x72 };
const HEX = '0123456789abcdef';

// The buffer being written and where the walk must stop (exclusive): one walk at a time (see
// line-encode.ts `busy`; encodeRecord sets both). A const holder, so the hot functions load two monomorphic fields; positions are passed
// and returned (GIVE_UP to give up), never stored.
/** The buffer the walk writes into and its end (exclusive); set by encodeRecord. */
export const st: { out: Uint8Array; limit: number } = { out: new Uint8Array(0), limit: 0 };

/** One byte at `p`; the end, or GIVE_UP (also when `p` is, or the buffer is full). */
export function byte(p: number, b: number): number {
  if (p === GIVE_UP || p >= st.limit) return GIVE_UP;
  st.out[p] = b;
  return p + 1;
}

/** Bytes at `at`; the end, or GIVE_UP. */
export function raw(at: number, bytes: Uint8Array): number {
  if (at === GIVE_UP || at + bytes.length > st.limit) return GIVE_UP;
  const b = st.out;
  let p = at;
  for (let i = 0; i < bytes.length; i++) b[p++] = bytes[i] as number;
  return p;
}

/**
 * A finite number as Number#toString (JSON.stringify) spells it, at `at`: a non-negative integer
 * below 2^53 digit by digit (no string made), anything else through String; the end, or GIVE_UP
 * (not finite, or the buffer full).
 */
export function number(at: number, v: number): number {
  if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)))
    return Number.isFinite(v) ? ascii(at, String(v)) : GIVE_UP;
  let digits = 1;
  for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
  if (at + digits > st.limit) return GIVE_UP;
  const b = st.out;
  let t = v;
  for (let p = at + digits - 1; p >= at; p--) {
    b[p] = 0x30 + (t % 10);
    t = Math.floor(t / 10);
  }
  return at + digits;
}

/** An ASCII text that needs no escape (a number's or a literal's spelling) at `at`; the end, or GIVE_UP. */
export function ascii(at: number, s: string): number {
  if (at + s.length > st.limit) return GIVE_UP;
  const b = st.out;
  let p = at;
  for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
  return p;
}

/**
 * A string as JSON.stringify writes it, in UTF-8, at `at`: `"` and `\\` escaped, control characters
 * as `\\b \\t \\n \\f \\r` or `\\u00xx`, everything else as is (a surrogate pair as its 4 UTF-8 bytes).
 * The end, or GIVE_UP for a lone surrogate (the library refuses it), a full buffer, or `at` GIVE_UP.
 */
export function string(at: number, s: string): number {
  const n = s.length;
  // At most 6 bytes per code unit (`\\u00xx`), plus the quotes.
  if (at === GIVE_UP || at + n * 6 + 2 > st.limit) return GIVE_UP;
  const b = st.out;
  let p = at;
  b[p++] = 0x22;
  // The common case: printable ASCII without `"` or `\\`, byte for byte.
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) break;
    b[p++] = c;
  }
  if (i < n) p = careful(b, p, s, i);
  if (p === GIVE_UP) return p;
  b[p++] = 0x22;
  return p;
}

/** string's rest, from code unit `from`, at `at`: escaped and encoded as JSON.stringify and UTF-8 do; the end, or GIVE_UP. */
function careful(b: Uint8Array, at: number, s: string, from: number): number {
  const n = s.length;
  let p = at;
  for (let i = from; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x80) {
      if (c === 0x22 || c === 0x5c) b[p++] = 0x5c;
      b[p++] = c;
    } else if (c < 0x20) {
      b[p++] = 0x5c;
      const short = SHORT_ESCAPE[c];
      if (short !== undefined) b[p++] = short;
      else {
        b[p++] = 0x75;
        b[p++] = 0x30;
        b[p++] = 0x30;
        b[p++] = HEX.charCodeAt(c >> 4);
        b[p++] = HEX.charCodeAt(c & 15);
      }
    } else if (c < 0x800) {
      b[p++] = 0xc0 | (c >> 6);
      b[p++] = 0x80 | (c & 63);
    } else if (c < 0xd800 || c > 0xdfff) {
      b[p++] = 0xe0 | (c >> 12);
      b[p++] = 0x80 | ((c >> 6) & 63);
      b[p++] = 0x80 | (c & 63);
    } else {
      // A surrogate: only a high one followed by a low one is a character (4 bytes); else give up.
      const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (c > 0xdbff || d < 0xdc00 || d > 0xdfff) return GIVE_UP;
      const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      b[p++] = 0xf0 | (cp >> 18);
      b[p++] = 0x80 | ((cp >> 12) & 63);
      b[p++] = 0x80 | ((cp >> 6) & 63);
      b[p++] = 0x80 | (cp & 63);
      i++;
    }
  }
  return p;
}
