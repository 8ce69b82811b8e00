import { canonicalJson } from './canonical.ts';
import { lineOf } from './chain.ts';
import { HASH_SUFFIX } from './line-bytes.ts';

const HEX64 = /^[0-9a-f]{64}$/;

/** Objects whose members are in RFC 8785 order (strictly ascending UTF-16 code units), at every depth. */
function sortedDeep(value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (depth > 100) return false;
  if (Array.isArray(value)) {
    for (const v of value) if (!sortedDeep(v, depth + 1)) return false;
    return true;
  }
  const o = value as Record<string, unknown>;
  let last: string | undefined;
  for (const k in o) {
    if (last !== undefined && !(last < k)) return false;
    if (!sortedDeep(o[k], depth + 1)) return false;
    last = k;
  }
  return true;
}

/**
 * The canonical text (without hash) of a line, when the line is provably what the appender wrote:
 * its members are in canonical order at every depth with `hash` last, and JSON.stringify of its
 * parsed value gives back exactly its text (so no duplicate, whitespace, escape or number
 * re-spelling). RFC 8785 serialises plain data exactly as JSON.stringify does in that order (see
 * canonical.ts). Undefined means "not shown here": the caller decides with the full canonicaliser
 * (lone-surrogate escapes and integer-like keys always go there). Exported for
 * test/unit/audit-fast-paths.test.ts (the lines it must take, and the ones it must give up on).
 */
export function fastCanonical(text: string, parsed: Record<string, unknown>): string | undefined {
  if (text.includes('\\ud')) return undefined;
  let last: string | undefined;
  let hashSeen = false;
  for (const k in parsed) {
    if (hashSeen) return undefined; // hash must be the last member
    if (k === 'hash') {
      hashSeen = true;
      continue;
    }
    if (last !== undefined && !(last < k)) return undefined;
    if (!sortedDeep(parsed[k], 1)) return undefined;
    last = k;
  }
  if (!hashSeen || JSON.stringify(parsed) !== text) return undefined;
  return `${text.slice(0, text.length - HASH_SUFFIX)}}`;
}

/** The canonical text of a parsed record without its hash, or undefined if it has none. */
function canonicalWithoutHash(record: Record<string, unknown>): string | undefined {
  const { hash: _hash, ...rest } = record;
  try {
    return canonicalJson(rest);
  } catch {
    return undefined;
  }
}

/**
 * The canonical text (without hash) of a line whose hash is 64 lowercase hex, when the line is
 * exactly what the appender writes for it: shown by fastCanonical, else by the full canonicaliser.
 * Undefined when the hash is malformed or the line is any other spelling.
 */
export function trustedCanonical(text: string, fields: Record<string, unknown>, hash: unknown): string | undefined {
  if (typeof hash !== 'string' || !HEX64.test(hash)) return undefined;
  const fast = fastCanonical(text, fields);
  if (fast !== undefined) return fast;
  const slow = canonicalWithoutHash(fields);
  return slow !== undefined && text === lineOf(slow, hash) ? slow : undefined;
}
