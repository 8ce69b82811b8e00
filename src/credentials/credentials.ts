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
  const secrets =
    typeof settings === 'object' && settings !== null ? (settings as { secrets?: unknown }).secrets : undefined;
  const credentials =
    typeof secrets === 'object' && secrets !== null ? (secrets as { credentials?: unknown }).credentials : undefined;
  const c =
    typeof credentials === 'object' && credentials !== null
      ? (credentials as { envNames?: unknown; values?: unknown })
      : {};
  return Object.freeze({ envNames: compile(c.envNames), values: compile(c.values) });
}

/** Ids of the value patterns that match `text` (empty: no credential seen). */
export function credentialHits(patterns: readonly CredentialPattern[], text: string): string[] {
  return patterns
    .filter((p) => {
      p.regex.lastIndex = 0;
      return p.regex.test(text);
    })
    .map((p) => p.id);
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
      const head = /^\((?:\?(?:[:=!]|<?[A-Za-z_][A-Za-z0-9_]*>|P<[A-Za-z_][A-Za-z0-9_]*>|[imsU-]+:))?/.exec(
        source.slice(i),
      )![0];
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
      if (closed && q !== '?' && closedUnbounded)
        return 'a quantified group holds an unbounded quantifier (nested quantifiers)';
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
          if (body[k] === '\\') {
            k++;
            continue;
          }
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

/**
 * Keywords of the DEFAULT credential patterns (policies/data.json), keyed by each pattern's exact
 * text: every string a pattern matches holds at least one of its keywords once folded
 * (foldForKeywords). A prefilter, for speed only: a pattern whose keywords are all absent from a
 * text cannot match it, so it is not run. A pattern without an entry (an operator's own, or a
 * default edited by one character) is always run. The same table as the policy's
 * (policies/kubiya/rules/secrets/prefilter_keywords.rego); test/policies/prefilter-keywords.test.ts
 * keeps the two equal and checks generated matches of every pattern hold a keyword.
 */
export const PATTERN_KEYWORDS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '(?i:(^|[ \\t])--?([A-Za-z0-9_.-]{0,128}(passw(or)?d|passphrase|secret|token|credentials?|(api|access|private|secret|signing|encryption)[_-]?key)|([A-Za-z0-9_.-]{0,128}[_.-])?(pass|pwd))[ \\t]+[^ \\t\\r\\n"\'$&;|<-])':
    ['pass', 'pwd', 'secret', 'token', 'credential', 'key'],
  '(?i:(^|[^A-Za-z0-9-])(set-)?cookie["\']?[ \\t]{0,16}:[ \\t]{0,16}["\']?[^ \\t\\r\\n"\'$;=]{1,256}=[^ \\t\\r\\n"\'$;])':
    ['cookie'],
  '(?i:(^|_)(session_?)?cookie[0-9]*$)': ['cookie'],
  '(?i:(encryption|signing|master|hmac|session|crypt|cipher|jwt|license)_?key([0-9]*$|_))': ['key'],
  '(?i:(passw(or)?d|passphrase)([0-9]*$|_)|(^|_)(pass|pwd)([0-9]*$|_))': ['pass', 'pwd'],
  '(?i:(passw(or)?d|passphrase|secret|token|credentials?|(api|access|private|secret|signing|encryption)[_-]?key|(^|[^a-z0-9])(pass|pwd))["\']?[ \\t]*[:=][ \\t]*["\']?[^ \\t\\r\\n"\'$&;|,*<>{}()/-])':
    ['pass', 'pwd', 'secret', 'token', 'credential', 'key'],
  '(?i:(token|bearer)([0-9]*$|_)|(^|_)pat([0-9]*$|_))': ['token', 'bearer', 'pat'],
  '(?i:access_?key([0-9]*$|_))': ['accesskey', 'access_key'],
  '(?i:api_?key([0-9]*$|_))': ['apikey', 'api_key'],
  '(?i:authorization["\']?[ \\t]*[:=][ \\t]*["\']?(bearer|basic|token|digest|negotiate)[ \\t]+[^ \\t\\r\\n$"\'])': [
    'authorization',
  ],
  '(?i:bearer)[ \\t]+[A-Za-z0-9._~+/-]{16,}=*': ['bearer'],
  '(?i:credentials?([0-9]*$|_))': ['credential'],
  '(?i:private_?key([0-9]*$|_))': ['privatekey', 'private_key'],
  '(?i:secret([0-9]*$|_))': ['secret'],
  '(^|[^A-Za-z0-9])(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}([^A-Za-z0-9]|$)': ['akia', 'asia', 'abia', 'acca'],
  '(^|[^A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}': ['xox'],
  '(^|[^A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}([^A-Za-z0-9_-]|$)': ['aiza'],
  '(^|[^A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\\.eyJ[A-Za-z0-9_-]{5,}\\.[A-Za-z0-9_-]*': ['eyj'],
  '(^|[^A-Za-z0-9_-])gl(pat|dt|rt|ptt|oas|cbt)-[A-Za-z0-9_-]{20,}': [
    'glpat-',
    'gldt-',
    'glrt-',
    'glptt-',
    'gloas-',
    'glcbt-',
  ],
  '(^|[^A-Za-z0-9_.-])(mysql(dump|admin|import|show|check)?|mariadb(-dump|-admin)?)([ \\t][^;&|\\r\\n]{0,512})?[ \\t]-p["\']?[^ \\t\\r\\n;&|$"\']':
    ['mysql', 'mariadb'],
  '(^|[^A-Za-z0-9_.-])curl([ \\t][^;&|\\r\\n]{0,512})?[ \\t](-u|--user)[ \\t=]{0,16}["\']?[^ \\t\\r\\n"\':$]{1,256}:[^ \\t\\r\\n"\'$]':
    ['curl'],
  '(^|[^A-Za-z0-9_.-])sshpass[ \\t]{1,16}-p[ \\t]{0,16}["\']?[^ \\t\\r\\n;&|$"\'-]': ['sshpass'],
  '(^|[^A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})': [
    'ghp_',
    'gho_',
    'ghu_',
    'ghs_',
    'ghr_',
    'github_pat_',
  ],
  '(^|[^A-Za-z0-9_])[sr]k_live_[0-9A-Za-z]{16,}': ['k_live_'],
  '-----BEGIN ([A-Z0-9]{1,32} ){0,4}PRIVATE KEY-----': ['private key-----'],
  '://[0-9a-fA-F]{32}(:[0-9a-fA-F]{32})?@': ['://'],
  '[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/?#@ \\t\\r\\n:]*:[^/?@ \\t\\r\\n$][^/?@ \\t\\r\\n]*@': ['://'],
  'hooks\\.slack\\.com/(services|workflows|triggers)/[A-Za-z0-9_-]{4,}/[A-Za-z0-9/_-]{4,}': ['hooks.slack.com/'],
});

/**
 * `text` as keywords are looked for in it: lower case, after the two non-ASCII letters a
 * case-insensitive RE2 match folds onto ASCII letters (U+017F long s → s, U+212A Kelvin sign → k).
 */
export const foldForKeywords = (text: string): string =>
  text
    .replace(/\u017f/g, 's')
    .replace(/\u212a/g, 'k')
    .toLowerCase();

/** Whether folded text holds one of `keywords` (undefined: no keywords known, the pattern must run). */
export const mayMatch = (keywords: readonly string[] | undefined, folded: string): boolean =>
  keywords === undefined || keywords.some((k) => folded.includes(k));
