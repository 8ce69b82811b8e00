const UNBOUNDED = /^(?:\*|\+|\{\d+,\})/;
const QUANTIFIER = /^(?:\*|\+|\?|\{\d+(?:,\d*)?\})/;
const GROUP_HEAD = /^\((?:\?(?:[:=!]|<?[A-Za-z_][A-Za-z0-9_]*>|P<[A-Za-z_][A-Za-z0-9_]*>|[imsU-]+:))?/;

/** What the scan knows so far. */
interface Scan {
  /** Mandatory literal characters since the start of the current alternative. */
  literals: number;
  /** Three mandatory literal characters were seen: an unbounded quantifier is harmless from here on. */
  keyword: boolean;
  /** Per open group: does its body hold an unbounded quantifier? */
  readonly groups: boolean[];
}

/** One atom (an escape, a class, a group's end, an anchor or a character) and where it ends. */
interface Atom {
  readonly end: number;
  /** A mandatory literal character (a quantifier may still make it optional). */
  readonly literal: boolean;
  /** Set when the atom closes a group: whether that group's body held an unbounded quantifier. */
  readonly closedUnbounded?: boolean;
}

/**
 * Why a credential pattern could make JavaScript masking slow (super-linear backtracking in V8),
 * or undefined when it passes. Masking runs the patterns on the event loop over strings of up to
 * 64 KiB (a whole signed assignment), so the settings schema refuses (and masking skips) a
 * pattern that:
 *   - reaches an unbounded quantifier (`*`, `+`, `{n,}`) before any three mandatory literal
 *     characters (`[A-Za-z_]*password`, `.*token`, `\S+@`): tried from every start position,
 *     each try scanning to the end of the text, that is quadratic; bound the prefix (`{0,64}`) or
 *     start with the keyword;
 *   - quantifies (other than `?`) a group that itself holds an unbounded quantifier (`(a+)+`,
 *     `([a-z]+ )*`): exponential in the worst case; bound the inner one.
 * A structural check, not a proof: it reads the source token by token (escapes, classes, groups)
 * and is deliberately strict. RE2 (the policy) is linear whatever the pattern.
 */
export function linearTimeProblem(source: string): string | undefined {
  const scan: Scan = { literals: 0, keyword: false, groups: [] };
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (c === '(') {
      scan.groups.push(false);
      i += GROUP_HEAD.exec(source.slice(i))![0].length;
      continue;
    }
    if (c === '|') {
      scan.literals = 0;
      i++;
      continue;
    }
    const atom = atomAt(source, i, scan.groups);
    const q = QUANTIFIER.exec(source.slice(atom.end))?.[0];
    if (q !== undefined) {
      const problem = quantified(scan, atom, q);
      if (problem !== undefined) return problem;
      i = atom.end + q.length;
      if (source[i] === '?') i++; // lazy
      continue;
    }
    if (atom.closedUnbounded === true) markAll(scan.groups);
    if (atom.literal && ++scan.literals >= 3) scan.keyword = true;
    i = atom.end;
  }
  return undefined;
}

/** The atom at `i` (not a group's start nor `|`); a `)` closes the innermost open group. */
function atomAt(source: string, i: number, groups: boolean[]): Atom {
  const c = source[i]!;
  if (c === '\\') return { end: i + 2, literal: /^[^A-Za-z0-9]$/.test(source[i + 1] ?? '') };
  if (c === '[') {
    let j = i + 1;
    if (source[j] === '^') j++;
    if (source[j] === ']') j++;
    while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
    return { end: j + 1, literal: false };
  }
  if (c === ')') return { end: i + 1, literal: false, closedUnbounded: groups.pop() ?? false };
  return { end: i + 1, literal: !'^$.'.includes(c) };
}

/** The problem a quantifier `q` on `atom` makes, if any; marks the open groups as holding an unbounded one. */
function quantified(scan: Scan, atom: Atom, q: string): string | undefined {
  const closedUnbounded = atom.closedUnbounded === true;
  if (closedUnbounded && q !== '?') return 'a quantified group holds an unbounded quantifier (nested quantifiers)';
  if (UNBOUNDED.test(q)) {
    if (!scan.keyword) return `an unbounded quantifier (${q}) before three mandatory literal characters (a keyword)`;
    markAll(scan.groups);
  }
  if (closedUnbounded) markAll(scan.groups);
  return undefined;
}

function markAll(groups: boolean[]): void {
  for (let g = 0; g < groups.length; g++) groups[g] = true;
}
