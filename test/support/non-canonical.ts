/**
 * The other spellings of an audit record line that `audit verify` must refuse (the appender writes
 * only the RFC 8785 canonical form, so any other spelling of the same JSON is tampering): one table
 * for the tests that check that refusal on different paths (test/unit/audit-verify-bytes.test.ts:
 * the byte path against the text path on a written log; test/unit/red-team-7-verify-differential.test.ts:
 * fastLine against line() against an oracle, re-hashed). A new spelling goes here and both run it.
 *
 * Each edit takes the canonical text of one record (with or without its trailing `"hash"` member)
 * that has a top-level `"seq"` integer, a `"message"` string and an `"n"` number member somewhere,
 * and returns another spelling; it throws when the text lacks what it edits (so a row never
 * silently tests the unchanged line).
 */

/** `text` with the first match of `find` replaced by `to`; throws when nothing matches. */
function edit(text: string, find: RegExp, to: (match: string, ...groups: string[]) => string): string {
  if (!find.test(text)) throw new Error(`no ${String(find)} in ${text.slice(0, 80)}`);
  return text.replace(find, to);
}

/** The first two top-level members swapped (every value re-spelled by JSON.stringify, as canonical JSON spells it). */
function firstTwoSwapped(text: string): string {
  const o = JSON.parse(text) as Record<string, unknown>;
  const [a, b, ...rest] = Object.keys(o);
  if (a === undefined || b === undefined) throw new Error('fewer than two members');
  const member = (k: string): string => `${JSON.stringify(k)}:${JSON.stringify(o[k])}`;
  return `{${[b, a, ...rest].map(member).join(',')}}`;
}

const MESSAGE = /"message":"/;
const N = /"n":(-?[0-9.e+-]+)/;
const SEQ = /"seq":([0-9]+)/;

/** name → the edit of a canonical record text into a non-canonical spelling of (nearly) the same record. */
export const NON_CANONICAL: readonly (readonly [string, (canonical: string) => string])[] = [
  ['a duplicated member', (c) => edit(c, /"message":"[^"]*"/, (m) => `${m},${m}`)],
  ['a duplicated seq', (c) => edit(c, SEQ, (m) => `${m},${m}`)],
  ['an escaped letter', (c) => edit(c, /"message":"/, () => '"m\\u0065ssage":"')],
  ['an escaped slash', (c) => edit(c, MESSAGE, (m) => `${m}\\/`)],
  ['an upper-case \\u escape', (c) => edit(c, MESSAGE, (m) => `${m}\\u001F`)],
  ['\\u0008 for \\b', (c) => edit(c, MESSAGE, (m) => `${m}\\u0008`)],
  ['a negative zero', (c) => edit(c, N, () => '"n":-0')],
  ['a trailing zero (1.0, 1.50)', (c) => edit(c, N, (_, v) => `"n":${v}${v?.includes('.') === true ? '' : '.'}0`)],
  ['an exponent (1e0)', (c) => edit(c, N, (_, v) => `"n":${v}e0`)],
  ['an upper-case exponent (1E0)', (c) => edit(c, N, (_, v) => `"n":${v}E0`)],
  ['seq 1.0', (c) => edit(c, SEQ, (_, v) => `"seq":${v}.0`)],
  ['seq with a leading zero', (c) => edit(c, SEQ, (_, v) => `"seq":0${v}`)],
  ['seq 1e0', (c) => edit(c, SEQ, (_, v) => `"seq":${v}e0`)],
  ['seq as a string', (c) => edit(c, SEQ, (_, v) => `"seq":"${v}"`)],
  ['a space after a colon', (c) => edit(c, MESSAGE, () => '"message": "')],
  ['a space after a comma', (c) => edit(c, /","/, () => '", "')],
  ['a BOM first', (c) => `\uFEFF${c}`],
  ['a CR inside the line', (c) => edit(c, /,"/, () => ',\r"')],
  ['a raw NUL in a string', (c) => edit(c, MESSAGE, (m) => `${m}\u0000`)],
  ['a raw tab in a string', (c) => edit(c, MESSAGE, (m) => `${m}\t`)],
  ['members out of order', firstTwoSwapped],
  ['a hash member first', (c) => `{"hash":"${'0'.repeat(64)}",${c.slice(1)}`],
  ['a trailing comma', (c) => `${c.slice(0, -1)},}`],
  ['two objects', (c) => `${c.slice(0, -1)}}{}`],
];

/**
 * Text an attacker splices into a canonical line: other escapes, other number forms, whitespace, a
 * BOM, CR, NUL, structure, member names. For generated edits (fast-check constantFrom).
 */
export const SPELLING_TOKENS: readonly string[] = [
  ...['\\u0022', '\\u005c', '\\u005C', '\\/', '\\u00e9', '\\u0041', '\\u001F', '\\u001f', '\\u0008', '\\b'],
  ...['\\ud83d\\ude00', '\\ud800', '\\u0000', '\\n', 'u'],
  ...['-0', '0.0', '1.0', '1e2', '1E2', '1e+2', '01', '.5', '+1', '-', '+', '1', '0', 'e', 'E', '.'],
  ...[' ', '\t', '\r', '\n', '\uFEFF', '\u0000', '\u0001', '\u007f', '\u0085', '\u2028'],
  ...['"', ',', ':', '{', '}', '[', ']', '\\', '/', 'a', 'n', 't', 'f', 'l', 'true', 'null'],
  ...['"seq":1,', '"prev":"', '"hash":"', ',"a":1', ',"seq":1', 'é', '\u{1F600}'],
];
