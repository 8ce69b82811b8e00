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

/*
 * The scanner keeps no state between calls and none outside its arguments: each step takes the
 * bytes, the index it starts at and the end of the span, and returns the index just past what it
 * read, or -1 when what it read is not shown canonical. Arguments and locals stay in registers
 * (module-level variables would be memory loads and stores at every byte and token).
 */

/**
 * True when `bytes[start, stop)` is the canonical text of a JSON object (see above). Records the
 * top-level `seq` and `prev` value spans in `fields`; a top-level `hash` member makes it false
 * (the hash is never inside the hashed text).
 */
export function canonicalObjectBytes(bytes: Buffer, start: number, stop: number, fields: TopFields): boolean {
  fields.seqStart = fields.seqEnd = fields.prevStart = fields.prevEnd = -1;
  return start < stop && bytes[start] === LBRACE && objectEnd(bytes, start, stop, 1, fields) === stop;
}

/** The value at `b[i]`: the index past it, or -1. `depth`: the containers it is in. */
function valueEnd(b: Buffer, i: number, stop: number, depth: number): number {
  if (i >= stop) return -1;
  const c = b[i] as number;
  if (c === QUOTE) return stringEnd(b, i, stop);
  if (c === LBRACE) return depth < MAX_DEPTH ? objectEnd(b, i, stop, depth + 1, null) : -1;
  if (c === LBRACKET) return depth < MAX_DEPTH ? arrayEnd(b, i, stop, depth + 1) : -1;
  if (c === 0x74) return literalEnd(b, i, stop, TRUE);
  if (c === 0x66) return literalEnd(b, i, stop, FALSE);
  if (c === 0x6e) return literalEnd(b, i, stop, NULL);
  return numberEnd(b, i, stop);
}

function literalEnd(b: Buffer, i: number, stop: number, word: Buffer): number {
  const n = word.length;
  if (i + n > stop) return -1;
  for (let k = 0; k < n; k++) if (b[i + k] !== word[k]) return -1;
  return i + n;
}

/** 1 for a byte that may stand for itself inside a string: not a control, not `"`, not `\`. */
const PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 256; c++) PLAIN[c] = c === QUOTE || c === BACKSLASH ? 0 : 1;

/** The string at `b[i]` (its opening quote) in JSON.stringify's spelling: the index past its closing quote, or -1. */
function stringEnd(b: Buffer, i: number, stop: number): number {
  const plain = PLAIN;
  let k = i + 1;
  for (;;) {
    // Past the end of the buffer b[k] is undefined and the loop stops; past `stop` the check below refuses.
    while (plain[b[k] as number] === 1) k++;
    if (k >= stop) return -1;
    const c = b[k];
    if (c === QUOTE) return k + 1;
    if (c !== BACKSLASH) return -1;
    k = escapeEnd(b, k, stop);
    if (k < 0) return -1;
  }
}

/** 1 for a byte that stands for itself in a key whose byte order is its UTF-16 order: printable ASCII but `"` and `\\`. */
const NARROW = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) NARROW[c] = PLAIN[c] as number;

/**
 * The key at `b[i]` (its opening quote) when it is ASCII without escapes ("narrow": each byte is
 * its UTF-16 code unit, so byte order is code-unit order): the index past its closing quote; -1
 * for any other key (an escape, a non-ASCII byte, a control, or no closing quote before `stop`),
 * which is then read as a string and compared on its decoded text. Exported for
 * test/unit/audit-fast-paths.test.ts.
 */
export function narrowKeyEnd(b: Buffer, i: number, stop: number): number {
  const narrow = NARROW;
  let k = i + 1;
  while (narrow[b[k] as number] === 1) k++;
  return k < stop && b[k] === QUOTE ? k + 1 : -1;
}

/** Second bytes of the escapes JSON.stringify writes in short form: `" \ b t n f r`. */
const SHORT = new Uint8Array(256);
for (const c of '"\\btnfr') SHORT[c.charCodeAt(0)] = 1;
/** The control characters with a short escape (`\b \t \n \f \r`): never written as `\u00xx`. */
const HAS_SHORT = new Set([0x08, 0x09, 0x0a, 0x0c, 0x0d]);
const HEX_LOWER = Buffer.from('0123456789abcdef');

/** At `b[k]`, a backslash: `\"`, `\\`, `\b`, `\t`, `\n`, `\f`, `\r`, or `\u00xx` (lower-case) for another control character. */
function escapeEnd(b: Buffer, k: number, stop: number): number {
  const e = b[k + 1] as number;
  if (SHORT[e] === 1) return k + 2 <= stop ? k + 2 : -1;
  if (e !== 0x75 || k + 6 > stop || b[k + 2] !== 0x30 || b[k + 3] !== 0x30) return -1;
  const hi = b[k + 4] as number;
  const lo = HEX_LOWER.indexOf(b[k + 5] as number);
  if (lo < 0 || (hi !== 0x30 && hi !== 0x31)) return -1;
  return HAS_SHORT.has((hi - 0x30) * 16 + lo) ? -1 : k + 6;
}

/** Bytes a number token is made of: digits, `-`, `+`, `.`, `e`, `E`. */
const NUMERIC = new Uint8Array(256);
for (const c of '0123456789-+.eE') NUMERIC[c.charCodeAt(0)] = 1;

/** A number token whose text is the ECMAScript spelling of its (finite) value: the index past it, or -1. */
function numberEnd(b: Buffer, i: number, stop: number): number {
  let k = i;
  while (k < stop && NUMERIC[b[k] as number] === 1) k++;
  if (k === i) return -1;
  if (plainInteger(b, i, k)) return k;
  const text = b.toString('latin1', i, k);
  const n = Number(text);
  return Number.isFinite(n) && String(n) === text ? k : -1;
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

/** The array at `b[i]` (its `[`): the index past its `]`, or -1. */
function arrayEnd(b: Buffer, i: number, stop: number, depth: number): number {
  let k = i + 1;
  if (k < stop && b[k] === RBRACKET) return k + 1;
  for (;;) {
    k = valueEnd(b, k, stop, depth);
    if (k < 0 || k >= stop) return -1;
    const c = b[k++];
    if (c === RBRACKET) return k;
    if (c !== COMMA) return -1;
  }
}

/**
 * The object at `b[i]` (its `{`): the index past its `}`, or -1. Its members strictly ascending;
 * `top` (the top-level object only) gets the spans of `seq` and `prev`, and a `hash` member refuses it.
 */
function objectEnd(b: Buffer, i: number, stop: number, depth: number, top: TopFields | null): number {
  let k = i + 1;
  if (k < stop && b[k] === RBRACE) return k + 1;
  let prevStart = -1;
  let prevEnd = -1;
  let prevWide = false;
  for (;;) {
    if (k >= stop || b[k] !== QUOTE) return -1;
    const keyStart = k;
    const narrowEnd = narrowKeyEnd(b, k, stop);
    const keyWide = narrowEnd < 0;
    const keyEnd = keyWide ? stringEnd(b, k, stop) : narrowEnd;
    if (keyEnd < 0) return -1;
    if (prevStart >= 0 && !ascending(b, prevStart, prevEnd, prevWide, keyStart, keyEnd, keyWide)) return -1;
    if (keyEnd >= stop || b[keyEnd] !== COLON) return -1;
    k = valueEnd(b, keyEnd + 1, stop, depth);
    if (k < 0 || (top !== null && !noteTop(b, keyStart, keyEnd, k, top))) return -1;
    prevStart = keyStart;
    prevEnd = keyEnd;
    prevWide = keyWide;
    if (k >= stop) return -1;
    const c = b[k++];
    if (c === RBRACE) return k;
    if (c !== COMMA) return -1;
  }
}

const SEQ = Buffer.from('"seq"');
const PREV = Buffer.from('"prev"');
const HASH = Buffer.from('"hash"');

/** The quoted key span is the bytes of `word` (a quoted key). */
function keyIs(b: Buffer, start: number, stop: number, word: Buffer): boolean {
  if (stop - start !== word.length) return false;
  for (let k = 1; k < word.length - 1; k++) if (b[start + k] !== word[k]) return false;
  return true;
}

/**
 * Records the spans of top-level `seq` and `prev` (the value runs from the key's colon to
 * `valueEnd`); false for a top-level `hash` (quoted key spans given).
 */
function noteTop(b: Buffer, keyStart: number, keyEnd: number, valueEnd: number, top: TopFields): boolean {
  if (keyIs(b, keyStart, keyEnd, HASH)) return false;
  if (keyIs(b, keyStart, keyEnd, SEQ)) {
    top.seqStart = keyEnd + 1;
    top.seqEnd = valueEnd;
  } else if (keyIs(b, keyStart, keyEnd, PREV)) {
    top.prevStart = keyEnd + 1;
    top.prevEnd = valueEnd;
  }
  return true;
}

/** Key a (quoted span) strictly before key b in UTF-16 code-unit order of their decoded text. */
function ascending(
  b: Buffer,
  aStart: number,
  aEnd: number,
  aWide: boolean,
  bStart: number,
  bEnd: number,
  bWide: boolean,
): boolean {
  if (aWide || bWide) {
    // Escapes or non-ASCII: UTF-8 byte order is not UTF-16 order everywhere, so compare the text.
    const x = JSON.parse(b.toString('utf8', aStart, aEnd)) as string;
    const y = JSON.parse(b.toString('utf8', bStart, bEnd)) as string;
    return x < y;
  }
  // ASCII without escapes: each byte is its UTF-16 code unit (the closing quotes are left out).
  const la = aEnd - aStart - 2;
  const lb = bEnd - bStart - 2;
  const n = la < lb ? la : lb;
  for (let k = 1; k <= n; k++) {
    const x = b[aStart + k] as number;
    const y = b[bStart + k] as number;
    if (x !== y) return x < y;
  }
  return la < lb;
}
