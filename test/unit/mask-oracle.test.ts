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
 * (commit 86f0c40), maskText included: the new one also remembers the texts it found nothing in.
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

const oldGates = new WeakMap<MaskPatterns, RegExp | undefined>();
const oldEscapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/**
 * One regex for "the folded text holds a keyword of some row": the floor's and the bundle's value
 * patterns' keywords. Undefined when a bundle pattern has no keywords (it must always run).
 */
function oldAnyKeywordOf(extra: MaskPatterns): RegExp | undefined {
  if (oldGates.has(extra)) return oldGates.get(extra);
  const words = new Set<string>();
  let gate: RegExp | undefined;
  if (extra.values.every((p) => p.keywords !== undefined)) {
    for (const p of OLD_COMPILED) for (const w of p.keywords ?? []) words.add(w);
    for (const p of extra.values) for (const w of p.keywords ?? []) words.add(w);
    // A floor row without keywords (none today) must always run too.
    gate = OLD_COMPILED.every((p) => p.keywords !== undefined)
      ? new RegExp([...words].map(oldEscapeRegExp).join('|'))
      : undefined;
  }
  oldGates.set(extra, gate);
  return gate;
}

/**
 * `text` with every credential the patterns find replaced by ***; the names of the patterns that
 * hit. The floor first (it keeps readable prefixes such as `Bearer `), then `extra` (the bundle's
 * value patterns, whole match masked, hit names prefixed `settings:`).
 */
function oldMaskText(
  text: string,
  extra: MaskPatterns = FLOOR_ONLY,
): { readonly text: string; readonly hits: readonly string[] } {
  // Keywords are looked for in the original text: masking only removes text and inserts "***"
  // (no keyword holds "*"), so it creates no keyword that was not there.
  const folded = foldForKeywords(text);
  // Most strings (names, images, quantities) hold no keyword at all: one test skips every row.
  const gate = oldAnyKeywordOf(extra);
  if (gate !== undefined && !gate.test(folded)) return { text, hits: [] };
  let out = text;
  const hits: string[] = [];
  for (const p of OLD_COMPILED) {
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
  return { text: out, hits };
}

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
      const m = oldMaskText(v, extra);
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
            (lineHits?.has(i) === true && oldMaskText(x, extra).text === x))
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
        const maskedKey = oldMaskText(k, extra).text;
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
  // Masked, it still holds "/" and "~": a masked key's pointer segment is escaped (issue 20, h-floor-7).
  'https://admin:hunter2@db.example/x~y',
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
  assert.equal(oldMaskText('plain').hits.length, 0);
});

/*
 * maskText remembers the texts it found nothing in, per pattern set. Class: "a remembered answer
 * differs from a fresh one". Variants: the same text asked twice (the second from memory), a text
 * clean for the floor but masked by a bundle (memory is per pattern set), a credential asked
 * twice (never remembered), more texts than the memory holds (it empties and starts again), and
 * texts longer than what it keeps.
 */
test('maskText from memory: the same text and hits as the old maskText, first and later calls, any pattern set', () => {
  fc.assert(
    fc.property(fc.array(text, { minLength: 1, maxLength: 8 }), fc.constantFrom(...BUNDLES), (texts, extra) => {
      for (const t of [...texts, ...texts]) assert.deepEqual(maskText(t, extra), oldMaskText(t, extra));
    }),
    { numRuns: 2000 },
  );
  const [floor, bundle] = BUNDLES as [MaskPatterns, MaskPatterns];
  const acme = 'deploy ACME-12345678';
  for (let i = 0; i < 2; i++) {
    assert.equal(maskText(acme, floor).text, acme, 'the floor does not know this format');
    assert.deepEqual(maskText(acme, bundle), { text: 'deploy ***', hits: ['settings:acme'] }, 'remembered per set');
  }
  const token = `token ghp_${'b'.repeat(36)}`;
  for (let i = 0; i < 3; i++) assert.equal(maskText(token, floor).text, 'token ***');
  for (let i = 0; i < 10_000; i++) assert.equal(maskText(`name-${i}`, floor).text, `name-${i}`);
  for (let i = 0; i < 3; i++) assert.equal(maskText(token, floor).text, 'token ***', 'after the memory was emptied');
  const long = `${'x'.repeat(300)} ghp_${'c'.repeat(36)}`;
  assert.equal(maskText(long, floor).text, `${'x'.repeat(300)} ***`);
});
