/**
 * A byte-level check that a JSON text is exactly what canonicalJson (canonical.ts) writes for the
 * value it parses to, without parsing it into objects or serialising it again: the verifier's fast
 * path (chain-check.ts, ChainChecker.lineBytes). It answers only "shown canonical" (true) or "not
 * shown here" (false); on false the caller decides with the full parse-and-reserialise check, so a
 * false never rejects a line by itself.
 *
 * Canonical here is the text JSON.stringify gives for the value with every object's members in
 * ascending UTF-16 code-unit order (RFC 8785 for plain data; see canonical.ts):
 * - no whitespace between tokens;
 * - strings: raw characters except `"` and `\` (escaped as `\"` and `\\`) and the controls below
 *   U+0020, written `\b \t \n \f \r` or `\u00xx` (lower-case hex), nothing else escaped (no `\/`,
 *   no `\u` for other characters); the bytes are valid UTF-8 (the caller checks that first);
 * - numbers: the ECMAScript Number::toString spelling of a finite number (no `-0`, no `1.0`,
 *   no `1E3`);
 * - literals `true`, `false`, `null`;
 * - object members strictly ascending (so also no duplicate member);
 * - nesting at most MAX_DEPTH deep (deeper texts are left to the full check).
 */

/** Spans (byte offsets, end exclusive) of the top-level `seq` and `prev` values; -1 when absent. */
export interface TopFields {
  seqStart: number;
  seqEnd: number;
  prevStart: number;
  prevEnd: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const MAX_DEPTH = 64;
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

// The scanner's state, module-level so the recursive steps share it without allocating.
const NONE = Buffer.alloc(0);
let buf: Buffer = NONE;
let at = 0;
let end = 0;
let top: TopFields | undefined;

/**
 * True when `bytes[start, stop)` is the canonical text of a JSON object (see above). Records the
 * top-level `seq` and `prev` value spans in `fields`; a top-level `hash` member makes it false
 * (the hash is never inside the hashed text).
 */
export function canonicalObjectBytes(bytes: Buffer, start: number, stop: number, fields: TopFields): boolean {
  buf = bytes;
  at = start;
  end = stop;
  top = fields;
  fields.seqStart = fields.seqEnd = fields.prevStart = fields.prevEnd = -1;
  try {
    return at < end && buf[at] === LBRACE && object(1) && at === end;
  } finally {
    buf = NONE; // the caller's buffer is not kept
    top = undefined;
  }
}

function value(depth: number): boolean {
  if (at >= end) return false;
  const c = buf[at] as number;
  if (c === QUOTE) return str();
  if (c === LBRACE) return depth < MAX_DEPTH && object(depth + 1);
  if (c === LBRACKET) return depth < MAX_DEPTH && array(depth + 1);
  if (c === 0x74) return literal(TRUE);
  if (c === 0x66) return literal(FALSE);
  if (c === 0x6e) return literal(NULL);
  return num();
}

function literal(word: Buffer): boolean {
  if (at + word.length > end) return false;
  for (let k = 0; k < word.length; k++) if (buf[at + k] !== word[k]) return false;
  at += word.length;
  return true;
}

/** 1 for a byte that may stand for itself inside a string: not a control, not `"`, not `\`. */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 256; c++) PLAIN[c] = c === QUOTE || c === BACKSLASH ? 0 : 1;

/** A string at `at` (on its opening quote) in JSON.stringify's spelling; `at` ends after it. */
function str(): boolean {
  // Locals in the loop: module-level variables live in memory, not in registers.
  const b = buf;
  const plain = PLAIN;
  let i = at + 1;
  for (;;) {
    while (plain[b[i] as number] === 1) i++;
    if (i >= end) return false;
    const c = b[i];
    if (c === QUOTE) {
      at = i + 1;
      return true;
    }
    at = i;
    if (c !== BACKSLASH || !escape()) return false;
    i = at;
  }
}

/**
 * The quoted key span `b[start, stop)` has an escape or a non-ASCII byte (then its byte order is not
 * its UTF-16 order). Exported for test/unit/audit-fast-paths.test.ts.
 */
export function wideKey(b: Buffer, start: number, stop: number): boolean {
  for (let k = start + 1; k < stop - 1; k++) {
    const c = b[k] as number;
    if (c >= 0x80 || c === BACKSLASH) return true;
  }
  return false;
}

/** Second bytes of the escapes JSON.stringify writes in short form: `" \ b t n f r`. */
const SHORT = new Uint8Array(256);
for (const c of '"\\btnfr') SHORT[c.charCodeAt(0)] = 1;
/** The control characters with a short escape (`\b \t \n \f \r`): never written as `\u00xx`. */
const HAS_SHORT = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d]);

/** `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`, or `\u00xx` (lower-case) for another control character. */
function escape(): boolean {
  const e = buf[at + 1] as number;
  if (SHORT[e] === 1) {
    at += 2;
    return at <= end;
  }
  if (e !== 0x75 || at + 6 > end || buf[at + 2] !== 0x30 || buf[at + 3] !== 0x30) return false;
  const hi = buf[at + 4] as number;
  const lo = HEX_LOWER.indexOf(buf[at + 5] as number);
  if (lo < 0 || (hi !== 0x30 && hi !== 0x31)) return false;
  if (HAS_SHORT.has((hi - 0x30) * 16 + lo)) return false;
  at += 6;
  return true;
}

const HEX_LOWER = Buffer.from('0123456789abcdef');

/** Bytes a number token is made of: digits, `-`, `+`, `.`, `e`, `E`. */
const NUMERIC = new Uint8Array(256);
for (const c of '0123456789-+.eE') NUMERIC[c.charCodeAt(0)] = 1;

/** A number token whose text is the ECMAScript spelling of its (finite) value. */
function num(): boolean {
  const s = at;
  while (at < end && NUMERIC[buf[at] as number] === 1) at++;
  if (at === s) return false;
  if (plainInteger(buf, s, at)) return true;
  const text = buf.toString('latin1', s, at);
  const n = Number(text);
  return Number.isFinite(n) && String(n) === text;
}

/**
 * `b[s, e)` is `[-]digits`, 1 to 15 digits, no leading zero unless it is "0" itself (so not "-0"):
 * its own spelling, with no string made. Exported for test/unit/audit-fast-paths.test.ts.
 */
export function plainInteger(b: Buffer, s: number, e: number): boolean {
  const from = b[s] === 0x2d ? s + 1 : s;
  const digits = e - from;
  if (digits < 1 || digits > 15) return false;
  for (let k = from; k < e; k++) {
    const c = b[k] as number;
    if (c < 0x30 || c > 0x39) return false;
  }
  return b[from] !== 0x30 || (digits === 1 && from === s);
}

/** The byte at `at`, or -1 past the end of the span (never a byte of the next line). */
const peek = (): number => (at < end ? (buf[at] as number) : -1);

function array(depth: number): boolean {
  at++;
  if (peek() === RBRACKET) {
    at++;
    return true;
  }
  for (;;) {
    if (!value(depth)) return false;
    const c = peek();
    at++;
    if (c === RBRACKET) return true;
    if (c !== COMMA) return false;
  }
}

function object(depth: number): boolean {
  at++;
  if (peek() === RBRACE) {
    at++;
    return true;
  }
  let prevStart = -1;
  let prevEnd = -1;
  let prevWide = false;
  for (;;) {
    if (peek() !== QUOTE) return false;
    const keyStart = at;
    if (!str()) return false;
    const keyEnd = at;
    const keyWide = wideKey(buf, keyStart, keyEnd);
    if (prevStart >= 0 && !ascending(prevStart, prevEnd, prevWide, keyStart, keyEnd, keyWide)) return false;
    if (peek() !== COLON) return false;
    at++;
    const valueStart = at;
    if (!value(depth)) return false;
    if (depth === 1 && !noteTop(keyStart, keyEnd, valueStart)) return false;
    prevStart = keyStart;
    prevEnd = keyEnd;
    prevWide = keyWide;
    const c = peek();
    at++;
    if (c === RBRACE) return true;
    if (c !== COMMA) return false;
  }
}

const SEQ = Buffer.from('"seq"');
const PREV = Buffer.from('"prev"');
const HASH = Buffer.from('"hash"');

/** The quoted key span is the bytes of `word` (a quoted key). */
function keyIs(start: number, stop: number, word: Buffer): boolean {
  if (stop - start !== word.length) return false;
  for (let k = 1; k < word.length - 1; k++) if (buf[start + k] !== word[k]) return false;
  return true;
}

/** Records the spans of top-level `seq` and `prev`; false for a top-level `hash` (quoted key spans given). */
function noteTop(keyStart: number, keyEnd: number, valueStart: number): boolean {
  if (top === undefined) return true;
  if (keyIs(keyStart, keyEnd, HASH)) return false;
  if (keyIs(keyStart, keyEnd, SEQ)) {
    top.seqStart = valueStart;
    top.seqEnd = at;
  } else if (keyIs(keyStart, keyEnd, PREV)) {
    top.prevStart = valueStart;
    top.prevEnd = at;
  }
  return true;
}

/** Key a (quoted span) strictly before key b in UTF-16 code-unit order of their decoded text. */
function ascending(
  aStart: number,
  aEnd: number,
  aWide: boolean,
  bStart: number,
  bEnd: number,
  bWide: boolean,
): boolean {
  if (aWide || bWide) {
    // Escapes or non-ASCII: UTF-8 byte order is not UTF-16 order everywhere, so compare the text.
    const a = JSON.parse(buf.toString('utf8', aStart, aEnd)) as string;
    const b = JSON.parse(buf.toString('utf8', bStart, bEnd)) as string;
    return a < b;
  }
  // ASCII without escapes: each byte is its UTF-16 code unit (the closing quotes are left out).
  const la = aEnd - aStart - 2;
  const lb = bEnd - bStart - 2;
  const n = la < lb ? la : lb;
  for (let k = 1; k <= n; k++) {
    const x = buf[aStart + k] as number;
    const y = buf[bStart + k] as number;
    if (x !== y) return x < y;
  }
  return la < lb;
}
