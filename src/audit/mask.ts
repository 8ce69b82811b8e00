import type { AuditEntry } from './record.ts';
import type { PolicyInput } from '../evaluate/evaluate.ts';
import { foldForKeywords, mayMatch } from '../credentials/keywords.ts';
import {
  CREDENTIAL_PATTERNS,
  FLOOR_KEYWORDS,
  FLOOR_ONLY,
  SECRET_NAME,
  type MaskPatterns,
} from './credential-patterns.ts';

// The pattern tables live in credential-patterns.ts; re-exported so callers keep one import.
export { CREDENTIAL_PATTERNS, FLOOR_KEYWORDS, maskPatternsOf, type MaskPatterns } from './credential-patterns.ts';

/**
 * Credentials never land in the permanent log (issue 14 §6): every audit record is masked before
 * it is hashed, with the JSON pointers of what was masked in its `masked` array (OPA's
 * decision-log convention). The patterns: credential-patterns.ts.
 */

/** What a masked credential is replaced with. */
export const MASK = '***';

const COMPILED = CREDENTIAL_PATTERNS.map((p) => ({
  ...p,
  // A row without keywords (none today) is always run.
  keywords: FLOOR_KEYWORDS[p.name],
  re: new RegExp(p.source, p.caseInsensitive ? 'gi' : 'g'),
  // The number of capture groups: an empty alternative always matches and reports every group.
  groups: (new RegExp(`${p.source}|`).exec('')?.length ?? 1) - 1,
}));
// Anchored at both ends: one start position, so the unbounded prefix costs O(length) per word.
const SECRET_FLAG = new RegExp(
  `^--?(?:[A-Za-z0-9_.-]*${SECRET_NAME.source}|(?:[A-Za-z0-9_.-]*[_.-])?(?:pass|pwd))$`,
  'i',
);
/** A flag name longer than this is not matched against the bundle's name patterns: it counts as secret-named (fail closed). */
const MAX_FLAG_NAME = 256;

const NO_HITS: readonly string[] = Object.freeze([]);
const gates = new WeakMap<MaskPatterns, RegExp | undefined>();
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * One regex for "the folded text holds a keyword of some row": the floor's and the bundle's value
 * patterns' keywords. Undefined when a bundle pattern has no keywords (it must always run).
 */
function anyKeywordOf(extra: MaskPatterns): RegExp | undefined {
  if (gates.has(extra)) return gates.get(extra);
  const words = new Set<string>();
  let gate: RegExp | undefined;
  if (extra.values.every((p) => p.keywords !== undefined)) {
    for (const p of COMPILED) for (const w of p.keywords ?? []) words.add(w);
    for (const p of extra.values) for (const w of p.keywords ?? []) words.add(w);
    // A floor row without keywords (none today) must always run too.
    gate = COMPILED.every((p) => p.keywords !== undefined)
      ? new RegExp([...words].map(escapeRegExp).join('|'))
      : undefined;
  }
  gates.set(extra, gate);
  return gate;
}

/**
 * `text` with every credential the patterns find replaced by ***; the names of the patterns that
 * hit. The floor first (it keeps readable prefixes such as `Bearer `), then `extra` (the bundle's
 * value patterns, whole match masked, hit names prefixed `settings:`).
 */
export function maskText(
  text: string,
  extra: MaskPatterns = FLOOR_ONLY,
): { readonly text: string; readonly hits: readonly string[] } {
  // Records repeat the same names, images and keys: a text known to hold nothing is not looked at again.
  if (cleanTexts.get(extra)?.has(text) === true) return { text, hits: NO_HITS };
  // Keywords are looked for in the original text: masking only removes text and inserts "***"
  // (no keyword holds "*"), so it creates no keyword that was not there.
  const folded = foldForKeywords(text);
  // Most strings (names, images, quantities) hold no keyword at all: one test skips every row.
  const gate = anyKeywordOf(extra);
  if (gate !== undefined && !gate.test(folded)) {
    rememberClean(text, extra);
    return { text, hits: NO_HITS };
  }
  let out = text;
  const hits: string[] = [];
  for (const p of COMPILED) {
    if (!mayMatch(p.keywords, folded)) continue;
    const next = out.replace(p.re, (_match: string, ...rest: unknown[]) => {
      const [prefix, suffix] = [p.groups >= 1 ? rest[0] : undefined, p.groups >= 2 ? rest[1] : undefined];
      return `${typeof prefix === 'string' ? prefix : ''}${MASK}${typeof suffix === 'string' ? suffix : ''}`;
    });
    if (next !== out) hits.push(p.name);
    out = next;
  }
  for (const p of extra.values) {
    if (!mayMatch(p.keywords, folded)) continue;
    // A bundle pattern may match *** itself (then there is nothing left to mask).
    const next = out.replace(p.regex, (match: string) => (match === MASK ? match : MASK));
    if (next !== out) hits.push(`settings:${p.id}`);
    out = next;
  }
  if (hits.length === 0) rememberClean(text, extra);
  return { text: out, hits };
}

/**
 * Texts maskText found nothing in, per pattern set (a set is frozen, so the answer cannot change):
 * at most CLEAN_MAX texts of at most CLEAN_LENGTH UTF-16 units each (≤ 2 MiB per pattern set),
 * emptied when full. Only texts with nothing to mask are kept, so no credential the patterns know
 * outlives its record here.
 */
const cleanTexts = new WeakMap<MaskPatterns, Set<string>>();
const CLEAN_MAX = 4096;
const CLEAN_LENGTH = 256;

function rememberClean(text: string, extra: MaskPatterns): void {
  if (text.length > CLEAN_LENGTH) return;
  let clean = cleanTexts.get(extra);
  if (clean === undefined) cleanTexts.set(extra, (clean = new Set()));
  else if (clean.size >= CLEAN_MAX) clean.clear();
  clean.add(text);
}

/** A flag (`--db-pass`, `-token`) whose name says its value is a secret: the floor's names, or the bundle's env-name patterns. */
function isSecretFlag(word: string, extra: MaskPatterns): boolean {
  if (SECRET_FLAG.test(word)) return true;
  const flag = /^--?([A-Za-z0-9_.-]+)$/.exec(word);
  if (flag === null || extra.names.length === 0) return false;
  if (flag[1]!.length > MAX_FLAG_NAME) return true;
  const asEnvName = flag[1]!.replace(/[-.]/g, '_');
  return extra.names.some((p) => {
    p.regex.lastIndex = 0;
    return p.regex.test(asEnvName);
  });
}

/**
 * A container's command line: `command` then `args`, joined by single spaces, checked with the
 * floor as one text (the policy's SECRET_LITERAL checks the same joined line), so a credential
 * split over words is found: a secret-named flag and its value (also the last word of `command`
 * and the first of `args`), `mysql -u root -phunter2`, `curl -u admin:hunter2`. Returns, per
 * field, the indexes of the words the masked part of a match touches. The bundle's patterns mask
 * word by word only (their whole match is masked: across words it would hide the flag names).
 */
function commandLineHits(v: Record<string, unknown>): { command: Set<number>; args: Set<number> } {
  const out = { command: new Set<number>(), args: new Set<number>() };
  const fields = (['command', 'args'] as const).filter((f) => Array.isArray(v[f]));
  const words: { field: 'command' | 'args'; index: number; start: number; end: number }[] = [];
  let line = '';
  for (const field of fields) {
    const list = v[field] as unknown[];
    for (let index = 0; index < list.length; index++) {
      const w = list[index];
      if (typeof w !== 'string') return out;
      if (line !== '' || words.length > 0) line += ' ';
      words.push({ field, index, start: line.length, end: line.length + w.length });
      line += w;
    }
  }
  if (words.length < 2) return out;
  const folded = foldForKeywords(line);
  for (const p of COMPILED) {
    if (!mayMatch(p.keywords, folded)) continue;
    for (const m of line.matchAll(p.re)) {
      const prefix = p.groups >= 1 && typeof m[1] === 'string' ? m[1].length : 0;
      const suffix = p.groups >= 2 && typeof m[2] === 'string' ? m[2].length : 0;
      const from = m.index + prefix;
      const to = m.index + m[0].length - suffix;
      // A match inside one word is that word's own (maskText masks it there); an already masked part stays.
      const end = m.index + m[0].length;
      if (to <= from || line.slice(from, to) === MASK || words.some((w) => w.start <= m.index && end <= w.end))
        continue;
      for (const w of words) if (w.start < to && w.end > from) out[w.field].add(w.index);
    }
  }
  return out;
}

/** RFC 6901 escaping of one pointer segment. */
const segment = (k: string): string =>
  k.includes('~') || k.includes('/') ? k.replace(/~/g, '~0').replace(/\//g, '~1') : k;

/**
 * `value` with credentials masked, every changed string's JSON pointer (from `base`) pushed onto
 * `masked`. Three rules, in order:
 *   - a plain env value (under a key `env`: a map of name → string, or a list of {name, value}) is
 *     masked whole, whatever it looks like: env is where credentials go by habit;
 *   - in an argv-like list of strings, the element after a flag named like a secret
 *     (`--password`, `--api-key`, `-token`) is masked whole;
 *   - every other string (keys included) is masked where a CREDENTIAL_PATTERNS row matches;
 * `extra` (the running bundle's patterns, maskPatternsOf) widens the last two rules.
 */
export function maskValue(value: unknown, base: string, masked: string[], extra: MaskPatterns = FLOOR_ONLY): unknown {
  const walk = (v: unknown, path: string, parentKey: string | undefined, lineHits?: ReadonlySet<number>): unknown => {
    if (typeof v === 'string') {
      const m = maskText(v, extra);
      if (m.text === v) return v;
      masked.push(path);
      return m.text;
    }
    if (Array.isArray(v)) {
      if (parentKey === 'env') return v.map((e: unknown, i) => maskEnvEntry(e, `${path}/${i}`));
      return v.map((x: unknown, i) => {
        const previous: unknown = v[i - 1];
        // The word after a secret-named flag, unless it is another option or a shell reference (as secret-flag-value).
        if (
          typeof x === 'string' &&
          x !== MASK &&
          ((typeof previous === 'string' && !/^[-$]/.test(x) && isSecretFlag(previous, extra)) ||
            (lineHits?.has(i) === true && maskText(x, extra).text === x))
        ) {
          masked.push(`${path}/${i}`);
          return MASK;
        }
        return walk(x, `${path}/${i}`, undefined);
      });
    }
    if (typeof v === 'object' && v !== null) {
      const out: Record<string, unknown> = {};
      const record = v as Record<string, unknown>;
      // Most objects have neither list: no line to scan.
      const line = Array.isArray(record.command) || Array.isArray(record.args) ? commandLineHits(record) : undefined;
      for (const k of Object.keys(v)) {
        const x = record[k];
        // A key can carry a credential too (an env name is any C identifier: ghp_... is one).
        const maskedKey = maskText(k, extra).text;
        let key = k;
        if (maskedKey !== k) {
          key = maskedKey;
          for (let n = 2; Object.hasOwn(out, key); n++) key = `${maskedKey}-${n}`;
        }
        const at = `${path}/${segment(key)}`;
        if (maskedKey !== k) masked.push(at);
        const value =
          parentKey === 'env' && typeof x === 'string'
            ? maskWhole(x, at)
            : walk(x, at, k, k === 'command' || k === 'args' ? line?.[k] : undefined);
        // defineProperty: a "__proto__" key (JSON.parse makes it an own property) stays a key.
        if (key === '__proto__')
          Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
        else out[key] = value;
      }
      return out;
    }
    return v;
  };
  const maskWhole = (x: string, path: string): string => {
    if (x !== MASK) masked.push(path);
    return MASK;
  };
  const maskEnvEntry = (e: unknown, path: string): unknown => {
    if (typeof e !== 'object' || e === null || Array.isArray(e)) return walk(e, path, undefined);
    const { value: plain, ...rest } = e as Record<string, unknown>;
    const restMasked = walk(rest, path, undefined) as Record<string, unknown>;
    return typeof plain === 'string'
      ? { ...restMasked, value: maskWhole(plain, `${path}/value`) }
      : { ...restMasked, ...(plain !== undefined ? { value: walk(plain, `${path}/value`, undefined) } : {}) };
  };
  return walk(value, base, undefined);
}

/** Fields of an audit entry that are ours, never user text, and not masked. */
const OWN_FIELDS = new Set([
  'decision_id',
  'timestamp',
  'stage',
  'outcome',
  'code',
  'runner',
  'labels',
  'masked',
  'erased',
  'metrics',
  'bundles',
]);

/**
 * An audit entry as it may be written: every field that can carry user text (message, input,
 * result, patch, pod, workflow, step, path) masked, and `masked` listing each masked JSON pointer
 * (merged with what the entry already listed, without duplicates). Apply before hashing. `extra`:
 * the running bundle's credential patterns on top of the floor (maskPatternsOf).
 */
export function maskEntry<E extends AuditEntry>(entry: E, extra: MaskPatterns = FLOOR_ONLY): E {
  const masked: string[] = [...(entry.masked ?? [])];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry))
    out[k] = OWN_FIELDS.has(k) || v === undefined ? v : maskValue(v, `/${segment(k)}`, masked, extra);
  const unique = [...new Set(masked)];
  return (unique.length > 0 ? { ...out, masked: unique } : out) as E;
}

/**
 * The policy input as it may be written to the audit log: plain env values (which may hold
 * credentials) are replaced by "***", and credential-looking text anywhere (args, command, ...),
 * before hashing; their JSON pointers (from `/input`) listed in `masked`. Secret references keep
 * their names: they say which secret, never what is in it.
 */
export function maskInput(
  input: PolicyInput,
  extra: MaskPatterns = FLOOR_ONLY,
): { input: PolicyInput; masked: string[] } {
  const masked: string[] = [];
  const out = maskValue(input, '/input', masked, extra) as PolicyInput;
  return { input: out, masked: [...new Set(masked)] };
}
