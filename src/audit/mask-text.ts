import { foldForKeywords, mayMatch } from '../credentials/keywords.ts';
import { CREDENTIAL_PATTERNS, FLOOR_KEYWORDS, FLOOR_ONLY, type MaskPatterns } from './credential-patterns.ts';

/**
 * Masking of one text (issue 14 §6): every match of the floor's credential patterns
 * (credential-patterns.ts) and of the running bundle's value patterns replaced by ***. The walk over
 * a record that calls it: mask.ts; credentials split over the words of a command line: mask-command.ts.
 */

/** What a masked credential is replaced with. */
export const MASK = '***';

/** The floor's rows, compiled once: its keywords, a global regex and its number of capture groups. */
export const COMPILED = CREDENTIAL_PATTERNS.map((p) => ({
  ...p,
  // A row without keywords (none today) is always run.
  keywords: FLOOR_KEYWORDS[p.name],
  re: new RegExp(p.source, p.caseInsensitive ? 'gi' : 'g'),
  // The number of capture groups: an empty alternative always matches and reports every group.
  groups: (new RegExp(`${p.source}|`).exec('')?.length ?? 1) - 1,
}));
const NO_HITS: readonly string[] = Object.freeze([]);
const gates = new WeakMap<MaskPatterns, RegExp | undefined>();
const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * One regex for "the folded text holds a keyword of some floor row" (undefined when a row has no
 * keywords: it must always run). A text it does not match is skipped by every floor row.
 */
export const FLOOR_GATE: RegExp | undefined = COMPILED.every((p) => p.keywords !== undefined)
  ? new RegExp(
      COMPILED.flatMap((p) => p.keywords ?? [])
        .map(escapeRegExp)
        .join('|'),
    )
  : undefined;

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
 * maskText's text alone: a text known to hold nothing is answered without building a result (the
 * walk over a record asks for every key and string, and most are known).
 */
export function maskedText(text: string, extra: MaskPatterns = FLOOR_ONLY): string {
  return cleanTexts.get(extra)?.has(text) === true ? text : maskText(text, extra).text;
}

/**
 * The texts known to hold nothing for `extra` (the set maskedText looks in, made when missing): a
 * walk over a record looks it up once instead of once per key and string (issue 20). Read-only to
 * callers: `has(text)` true means maskText(text, extra) is `{ text, hits: [] }`.
 */
export function cleanTextsOf(extra: MaskPatterns): ReadonlySet<string> {
  let clean = cleanTexts.get(extra);
  if (clean === undefined) cleanTexts.set(extra, (clean = new Set()));
  return clean;
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
