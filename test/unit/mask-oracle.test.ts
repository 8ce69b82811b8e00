import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SECRET_NAME, FLOOR_ONLY, type MaskPatterns } from '../../src/audit/credential-patterns.ts';
import {
  CREDENTIAL_PATTERNS,
  FLOOR_KEYWORDS,
  MASK,
  maskEntry,
  maskInput,
  maskPatternsOf,
  maskText,
} from '../../src/audit/mask.ts';
import { foldForKeywords, mayMatch } from '../../src/credentials/keywords.ts';
import type { AuditEntry } from '../../src/audit/record.ts';
import type { PolicyInput } from '../../src/evaluate/evaluate.ts';

/*
 * The masking walk was made cheaper (no regex per pointer segment, no defineProperty per member,
 * no command-line scan of objects without `command`/`args`, no array per clean string). What is
 * masked must not change: the class is "any value, any bundle pattern set → the same masked value,
 * the same `masked` pointers in the same order". The oracle below is the walk as it was before
 * (commit 86f0c40), with maskText (whose text is unchanged) shared.
 */
const OLD_COMPILED = CREDENTIAL_PATTERNS.map((p) => ({
  ...p,
  keywords: FLOOR_KEYWORDS[p.name],
  re: new RegExp(p.source, p.caseInsensitive ? 'gi' : 'g'),
  groups: (new RegExp(`${p.source}|`).exec('')?.length ?? 1) - 1,
}));
const OLD_SECRET_FLAG = new RegExp(
  `^--?(?:[A-Za-z0-9_.-]*${SECRET_NAME.source}|(?:[A-Za-z0-9_.-]*[_.-])?(?:pass|pwd))$`,
  'i',
);

function oldIsSecretFlag(word: string, extra: MaskPatterns): boolean {
  if (OLD_SECRET_FLAG.test(word)) return true;
  const flag = /^--?([A-Za-z0-9_.-]+)$/.exec(word);
  if (flag === null || extra.names.length === 0) return false;
  if (flag[1]!.length > 256) return true;
  const asEnvName = flag[1]!.replace(/[-.]/g, '_');
  return extra.names.some((p) => {
    p.regex.lastIndex = 0;
    return p.regex.test(asEnvName);
  });
}

function oldCommandLineHits(v: Record<string, unknown>): { command: Set<number>; args: Set<number> } {
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
  for (const p of OLD_COMPILED) {
    if (!mayMatch(p.keywords, folded)) continue;
    for (const m of line.matchAll(p.re)) {
      const prefix = p.groups >= 1 && typeof m[1] === 'string' ? m[1].length : 0;
      const suffix = p.groups >= 2 && typeof m[2] === 'string' ? m[2].length : 0;
      const from = m.index + prefix;
      const to = m.index + m[0].length - suffix;
      const end = m.index + m[0].length;
      if (to <= from || line.slice(from, to) === MASK || words.some((w) => w.start <= m.index && end <= w.end))
        continue;
      for (const w of words) if (w.start < to && w.end > from) out[w.field].add(w.index);
    }
  }
  return out;
}

const oldSegment = (k: string | number): string => String(k).replace(/~/g, '~0').replace(/\//g, '~1');

function oldMaskValue(value: unknown, base: string, masked: string[], extra: MaskPatterns = FLOOR_ONLY): unknown {
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
        if (
          typeof x === 'string' &&
          x !== MASK &&
          ((typeof previous === 'string' && !/^[-$]/.test(x) && oldIsSecretFlag(previous, extra)) ||
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
      const line = oldCommandLineHits(v as Record<string, unknown>);
      for (const [k, x] of Object.entries(v)) {
        const maskedKey = maskText(k, extra).text;
        let key = k;
        if (maskedKey !== k) {
          key = maskedKey;
          for (let n = 2; Object.hasOwn(out, key); n++) key = `${maskedKey}-${n}`;
          masked.push(`${path}/${oldSegment(key)}`);
        }
        const value =
          parentKey === 'env' && typeof x === 'string'
            ? maskWhole(x, `${path}/${oldSegment(key)}`)
            : walk(x, `${path}/${oldSegment(key)}`, k, k === 'command' || k === 'args' ? line[k] : undefined);
        Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
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

const OLD_OWN = new Set([
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

function oldMaskEntry<E extends AuditEntry>(entry: E, extra: MaskPatterns = FLOOR_ONLY): E {
  const masked: string[] = [...(entry.masked ?? [])];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry))
    out[k] = OLD_OWN.has(k) || v === undefined ? v : oldMaskValue(v, `/${oldSegment(k)}`, masked, extra);
  const unique = [...new Set(masked)];
  return (unique.length > 0 ? { ...out, masked: unique } : out) as E;
}

/** Words that trip the rules: credentials of several rows, secret-named flags, env-ish names, pointer characters. */
const WORDS = [
  `ghp_${'a'.repeat(36)}`,
  'Bearer abcdefghijklmnop',
  'https://admin:hunter2@db.example',
  'AKIAABCDEFGHIJKLMNOP',
  '--password',
  '--db-pass',
  '-token',
  '--pin',
  '-phunter2',
  '-u',
  'admin:hunter2',
  'mysql',
  'curl',
  'ACME-12345678',
  MASK,
  '$HOME',
  'env',
  'command',
  'args',
  'value',
  'name',
  '__proto__',
  'a/b~c',
  'ſecret',
  'K',
  'plain',
];
const word = fc.oneof(
  fc.constantFrom(...WORDS),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const text = fc.oneof(
  word,
  fc.array(word, { maxLength: 4 }).map((w) => w.join(' ')),
);
const { tree } = fc.letrec<{ tree: unknown }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    text,
    fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.double()),
    fc.array(tie('tree'), { maxLength: 5 }),
    fc.array(text, { maxLength: 6 }),
    fc.dictionary(word, tie('tree'), { maxKeys: 5 }),
    fc.record({ name: text, value: tie('tree') }, { requiredKeys: ['name'] }),
  ),
}));
const BUNDLES: readonly MaskPatterns[] = [
  FLOOR_ONLY,
  maskPatternsOf({
    secrets: {
      credentials: {
        envNames: [{ id: 'pin', pattern: '(?i:(^|_)pin(_|$))' }],
        values: [{ id: 'acme', pattern: 'ACME-[0-9]{8}' }],
      },
    },
  }),
];

const same = (a: unknown, b: unknown): void => {
  assert.deepEqual(a, b);
  // Key order and own "__proto__" members too.
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  if (typeof a === 'object' && a !== null) assert.deepEqual(Reflect.ownKeys(a), Reflect.ownKeys(b as object));
};

test('maskEntry: any entry, floor or bundle patterns → the same value and pointers as the walk before', () => {
  fc.assert(
    fc.property(
      fc.record({ input: tree, message: text, pod: tree, step: tree, masked: fc.array(text, { maxLength: 2 }) }),
      fc.constantFrom(...BUNDLES),
      (fields, extra) => {
        const entry = { decision_id: 'd', timestamp: 't', stage: 'evaluate', outcome: 'allow', runner: 'r', ...fields };
        same(maskEntry(entry as unknown as AuditEntry, extra), oldMaskEntry(entry as unknown as AuditEntry, extra));
      },
    ),
    { numRuns: 3000 },
  );
});

test('maskInput: any step with env (map or list), command and args → the same as the walk before', () => {
  const env = fc.oneof(
    fc.dictionary(word, fc.oneof(text, tree), { maxKeys: 4 }),
    fc.array(fc.oneof(fc.record({ name: word, value: fc.oneof(text, tree) }), tree), { maxLength: 4 }),
  );
  const argv = fc.array(fc.oneof(word, tree), { maxLength: 6 });
  fc.assert(
    fc.property(
      fc.record({ name: text, image: text, env, command: argv, args: argv, extra: tree }, { requiredKeys: [] }),
      fc.constantFrom(...BUNDLES),
      (step, extra) => {
        const input = { runner: 'r', workflow: { id: 'w', env: step.env }, step } as unknown as PolicyInput;
        const masked: string[] = [];
        const before = oldMaskValue(input, '/input', masked, extra);
        const after = maskInput(input, extra);
        same(after.input, before);
        assert.deepEqual(after.masked, [...new Set(masked)]);
      },
    ),
    { numRuns: 3000 },
  );
});

test('the oracle is not trivially equal: it masks (the generators reach the rules)', () => {
  const entry = {
    input: { step: { command: ['mysql', '-u', 'root', '-phunter2'], args: ['--password', 'x'], env: { A: 'b' } } },
    message: `token ghp_${'a'.repeat(36)}`,
    'a/b~c': { __proto__: 'x' },
  } as unknown as AuditEntry;
  const out = maskEntry(entry);
  same(out, oldMaskEntry(entry));
  assert.ok((out.masked ?? []).length >= 4, JSON.stringify(out.masked));
  assert.equal(maskText('plain').hits.length, 0);
});
