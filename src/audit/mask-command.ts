import { foldForKeywords, mayMatch } from '../credentials/keywords.ts';
import { SECRET_NAME, type MaskPatterns } from './credential-patterns.ts';
import { COMPILED, FLOOR_GATE, MASK } from './mask-text.ts';

/**
 * The command-line rules of audit masking (mask.ts): which flag names say that the next word is a
 * secret, and which words of a container's command line a credential split over words touches.
 */

// Anchored at both ends: one start position, so the unbounded prefix costs O(length) per word.
const SECRET_FLAG = new RegExp(
  `^--?(?:[A-Za-z0-9_.-]*${SECRET_NAME.source}|(?:[A-Za-z0-9_.-]*[_.-])?(?:pass|pwd))$`,
  'i',
);
/** A flag name longer than this is not matched against the bundle's name patterns: it counts as secret-named (fail closed). */
const MAX_FLAG_NAME = 256;

/** A flag (`--db-pass`, `-token`) whose name says its value is a secret: the floor's names, or the bundle's env-name patterns. */
export function isSecretFlag(word: string, extra: MaskPatterns): boolean {
  // Both patterns below begin `^-`: a word that does not is no flag (issue 20: asked of every word of every list).
  if (word.charCodeAt(0) !== 0x2d) return false;
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
export function commandLineHits(v: Record<string, unknown>): { command: Set<number>; args: Set<number> } {
  const out = { command: new Set<number>(), args: new Set<number>() };
  const fields = (['command', 'args'] as const).filter((f) => Array.isArray(v[f]));
  const words: Word[] = [];
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
  markHits(line, words, out);
  return out;
}

type Word = { field: 'command' | 'args'; index: number; start: number; end: number };

/** Adds to `out` the words of `line` that the masked part of a floor row's match touches. */
function markHits(line: string, words: readonly Word[], out: { command: Set<number>; args: Set<number> }): void {
  const folded = foldForKeywords(line);
  // Most command lines hold no floor keyword: one test skips every row (each would be skipped alone).
  if (FLOOR_GATE !== undefined && !FLOOR_GATE.test(folded)) return;
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
}
