/**
 * How deep a JSON text nests, without parsing it (red team 17, finding 9: a record nested 5,000
 * deep verified, because JSON.parse is iterative, then `audit query --output json|ndjson` failed
 * with `INTERNAL: Maximum call stack size exceeded` in the recursive JSON.stringify).
 */

/**
 * True when `text` (JSON) has a container (object or array) nested more than `max` deep (the
 * top-level object is depth 1). Brackets inside strings are not counted (a `\` escapes the next
 * character). Linear in the text; stops at the first level past `max`.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
