/**
 * The credential patterns of `kubiya.settings.secrets.credentials` as JavaScript regular
 * expressions. ONE list serves both: the Rego rule SECRET_LITERAL (policies/kubiya/rules/secrets,
 * RE2 via regex.match) and the masking of audit records and log lines (src/audit/mask.ts). The
 * canonical default list is policies/data.json (the chart's values.yaml carries the same list;
 * test/unit/settings.test.ts keeps them equal). Patterns are written in the common subset of RE2
 * and ECMAScript: no look-around, no back-references, case-insensitivity only as `(?i:...)`
 * groups, `[ \t]` rather than `\s` (whose meaning differs between the two engines).
 *
 * Shape:
 *   { envNames: [{ id, pattern }], values: [{ id, pattern }] }
 *   envNames: matched (unanchored) against env variable NAMES whose value is a literal string;
 *   values:   matched (unanchored) against env values, command and args, and any string to mask.
 */
export interface CredentialPattern {
  readonly id: string;
  /** Compiled with the "g" flag for masking; reset lastIndex (or use String.replace) between uses. */
  readonly regex: RegExp;
}

export interface CredentialPatterns {
  readonly envNames: readonly CredentialPattern[];
  readonly values: readonly CredentialPattern[];
}

function compile(list: unknown): CredentialPattern[] {
  if (!Array.isArray(list)) return [];
  const out: CredentialPattern[] = [];
  for (const p of list as unknown[]) {
    if (typeof p !== 'object' || p === null) continue;
    const { id, pattern } = p as { id?: unknown; pattern?: unknown };
    if (typeof id !== 'string' || typeof pattern !== 'string') continue;
    try {
      out.push({ id, regex: new RegExp(jsSource(pattern), 'g') });
    } catch {
      // the settings schema refuses patterns that do not compile; nothing to mask with here
    }
  }
  return out;
}

/** The compiled patterns of a `kubiya.settings` object (missing or malformed parts: no patterns). */
export function credentialPatterns(settings: unknown): CredentialPatterns {
  const secrets = typeof settings === 'object' && settings !== null ? (settings as { secrets?: unknown }).secrets : undefined;
  const credentials = typeof secrets === 'object' && secrets !== null ? (secrets as { credentials?: unknown }).credentials : undefined;
  const c = typeof credentials === 'object' && credentials !== null ? (credentials as { envNames?: unknown; values?: unknown }) : {};
  return Object.freeze({ envNames: compile(c.envNames), values: compile(c.values) });
}

/** Ids of the value patterns that match `text` (empty: no credential seen). */
export function credentialHits(patterns: readonly CredentialPattern[], text: string): string[] {
  return patterns.filter((p) => {
    p.regex.lastIndex = 0;
    return p.regex.test(text);
  }).map((p) => p.id);
}

const UNBOUNDED = /^(?:\*|\+|\{\d+,\})/;
const QUANTIFIER = /^(?:\*|\+|\?|\{\d+(?:,\d*)?\})/;

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
  // mandatory literal characters since the start of the current alternative
  let literals = 0;
  let keyword = false;
  // per open group: does its body hold an unbounded quantifier?
  const groups: boolean[] = [];
  let closedUnbounded = false;
  let i = 0;
  const quantifierAt = (at: number): string | undefined => QUANTIFIER.exec(source.slice(at))?.[0];
  while (i < source.length) {
    const c = source[i]!;
    let atomEnd: number;
    let literal = false;
    let closed = false;
    if (c === '\\') {
      literal = /^[^A-Za-z0-9]$/.test(source[i + 1] ?? '');
      atomEnd = i + 2;
    } else if (c === '[') {
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      atomEnd = j + 1;
    } else if (c === '(') {
      groups.push(false);
      const head = /^\((?:\?(?:[:=!]|<?[A-Za-z_][A-Za-z0-9_]*>|P<[A-Za-z_][A-Za-z0-9_]*>|[imsU-]+:))?/.exec(source.slice(i))![0];
      i += head.length;
      continue;
    } else if (c === ')') {
      closedUnbounded = groups.pop() ?? false;
      closed = true;
      atomEnd = i + 1;
    } else if (c === '|') {
      literals = 0;
      i++;
      continue;
    } else if ('^$.'.includes(c)) {
      atomEnd = i + 1;
    } else {
      literal = true;
      atomEnd = i + 1;
    }
    const q = quantifierAt(atomEnd);
    if (q !== undefined) {
      const unbounded = UNBOUNDED.test(q);
      if (closed && q !== '?' && closedUnbounded) return 'a quantified group holds an unbounded quantifier (nested quantifiers)';
      if (unbounded) {
        if (!keyword) return `an unbounded quantifier (${q}) before three mandatory literal characters (a keyword)`;
        for (let g = 0; g < groups.length; g++) groups[g] = true;
      }
      if (closed && closedUnbounded) for (let g = 0; g < groups.length; g++) groups[g] = true;
      i = atomEnd + q.length;
      if (source[i] === '?') i++; // lazy
      continue;
    }
    if (closed && closedUnbounded) for (let g = 0; g < groups.length; g++) groups[g] = true;
    if (literal && ++literals >= 3) keyword = true;
    i = atomEnd;
  }
  return undefined;
}

const swapCase = (c: string): string => (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase());
const isLetter = (c: string): boolean => /^[A-Za-z]$/.test(c);

/**
 * A pattern's source as JavaScript should compile it: every `(?i:...)` group spelled out as
 * explicit case classes (`(?i:ab[c-e])` → `(?:[aA][bB][c-eC-E])`). V8 (Node 24) mis-handles
 * case-insensitive modifier groups holding an alternation whose branches share a first letter
 * (`(?i:(signing|session)_?key)` does not match "SIGNING_KEY"), so the masker would miss what
 * RE2 (the policy) denies. ASCII letters only (the patterns' alphabet); everything else unchanged.
 */
export function jsSource(pattern: string): string {
  let out = '';
  const groups: boolean[] = []; // per open group: case-insensitive?
  let i = 0;
  const ci = (): boolean => groups.includes(true);
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      out += pattern.slice(i, i + 2);
      i += 2;
    } else if (c === '[') {
      let j = i + 1;
      let body = '';
      if (pattern[j] === '^') j++;
      const head = pattern.slice(i, j);
      if (pattern[j] === ']') body += pattern[j++];
      while (j < pattern.length && pattern[j] !== ']') {
        const step = pattern[j] === '\\' ? 2 : 1;
        body += pattern.slice(j, j + step);
        j += step;
      }
      let extra = '';
      if (ci()) {
        for (let k = 0; k < body.length; k++) {
          if (body[k] === '\\') { k++; continue; }
          if (body[k + 1] === '-' && k + 2 < body.length && isLetter(body[k]!) && isLetter(body[k + 2]!)) {
            extra += `${swapCase(body[k]!)}-${swapCase(body[k + 2]!)}`;
            k += 2;
          } else if (isLetter(body[k]!)) extra += swapCase(body[k]!);
        }
      }
      out += `${head}${body}${extra}]`;
      i = j + 1;
    } else if (c === '(') {
      if (pattern.startsWith('(?i:', i)) {
        groups.push(true);
        out += '(?:';
        i += 4;
      } else {
        groups.push(false);
        out += c;
        i++;
      }
    } else if (c === ')') {
      groups.pop();
      out += c;
      i++;
    } else if (ci() && isLetter(c)) {
      out += `[${c}${swapCase(c)}]`;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
