/**
 * The audit chain check (src/audit/chain-check.ts) driven directly, in memory: no files, no
 * appender, so it runs in milliseconds (the narrow test set of the audit mutation scope,
 * docs/mutation.md). The class: "a log or checkpoint file an attacker or a clumsy operator edited
 * → the exact report `audit verify` prints", i.e. which record is the first that cannot be trusted,
 * why (the message the operator reads), where, and the counts around it. Every row runs on both
 * paths — the text path (ChainChecker.line, readers) and the byte path (lineBytes, `audit verify`,
 * lines cut out of one shared buffer at an offset) — and both must give the same report, field for
 * field. Variants: a line that is not a JSON object, a wrong or missing seq, another spelling, an
 * altered member under the old hash, a replaced record (re-hashed), a wrong first link, a stray
 * line, each malformed checkpoint shape, a checkpoint of another key, a forged signature, kids that
 * are long or not strings, checkpoints going backwards, one past the log's end, a re-chained history
 * under a checkpoint; and the intact log with no, some or every record covered.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, test } from 'node:test';
import { ChainChecker } from '../../src/audit/chain-check.ts';
import type { ChainReport } from '../../src/audit/chain-report.ts';
import { canonicalJson } from '../../src/audit/canonical.ts';
import { chainLine, GENESIS, lineOf, sha256Hex } from '../../src/audit/chain.ts';
import { signCheckpoint, type Checkpoint } from '../../src/audit/checkpoint.ts';
import { keyId } from '../../src/audit/keys.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const KID = keyId(publicKey);
const OTHER_KID = keyId(other.publicKey);
const N = 6;
const TIME = '2026-06-01T12:00:00.000Z';

const entry = (i: number, message = `m${i}`): AuditEntry => ({
  decision_id: `d-${i}`,
  timestamp: TIME,
  stage: 'evaluate',
  outcome: 'allow',
  message,
  runner: 'r',
  labels: { runner: 'r' },
  input: { n: i, list: [1, 'a', { b: true }] },
});

/** N records chained from GENESIS: their lines and hashes (hashes[0] is GENESIS, hashes[i] record i's). */
function log(): { lines: string[]; hashes: string[] } {
  const lines: string[] = [];
  const hashes = [GENESIS];
  for (let i = 1; i <= N; i++) {
    const { record, line } = chainLine(entry(i), i, hashes[i - 1] as string);
    lines.push(line);
    hashes.push(record.hash);
  }
  return { lines, hashes };
}
const { lines: LINES, hashes: H } = log();

const cp = (seq: number, head = H[seq] as string, key: KeyObject = privateKey, kid = KID): Checkpoint =>
  signCheckpoint({ seq, head, time: TIME, kid }, key);

type Mode = 'text' | 'bytes';

/** The report of `lines` then `checkpoints` (and `stray` after the lines), on one path. */
function report(
  mode: Mode,
  lines: readonly string[],
  checkpoints: readonly Checkpoint[],
  key: KeyObject | undefined,
  stray?: string,
): ChainReport {
  const checker = new ChainChecker(checkpoints.map((c) => (c as Partial<Checkpoint> | null)?.seq ?? 0));
  if (mode === 'text') lines.forEach((l, i) => checker.line(l, `seg:${i + 1}`));
  else {
    // One buffer for the whole segment, lines at their offsets, as the reader hands them over.
    const text = `${lines.join('\n')}\n`;
    const buf = Buffer.from(text, 'utf8');
    const copy = Buffer.from(buf);
    let start = 0;
    lines.forEach((_, i) => {
      const end = buf.indexOf(0x0a, start);
      checker.lineBytes(buf, start, end, 'seg', i + 1);
      start = end + 1;
    });
    assert.ok(buf.equals(copy), 'lineBytes leaves the reader its bytes as they were');
  }
  if (stray !== undefined) checker.stray(stray, `seg:${lines.length + 1}`);
  return checker.finish(checkpoints, key);
}

const REWRITTEN = 'the line is not the canonical serialisation the appender writes';
const edit = (seq: number, f: (l: string) => string): string[] => LINES.map((l, i) => (i === seq - 1 ? f(l) : l));

/** A record whose own hash is right but that replaces record `seq` (another message, re-hashed on the same prev). */
const replaced = (seq: number): string[] =>
  LINES.map((l, i) => (i === seq - 1 ? chainLine(entry(seq, 'rewritten'), seq, H[seq - 1] as string).line : l));

/** The log rewritten and re-chained from record `from` on (each record valid, linked to the new one before it). */
function rechained(from: number): { lines: string[]; head: string } {
  const lines = LINES.slice(0, from - 1);
  let prev = H[from - 1] as string;
  for (let i = from; i <= N; i++) {
    const { record, line } = chainLine(entry(i, `forged ${i}`), i, prev);
    lines.push(line);
    prev = record.hash;
  }
  return { lines, head: prev };
}

interface Row {
  name: string;
  lines: readonly string[];
  checkpoints?: readonly Checkpoint[];
  key?: KeyObject | undefined;
  stray?: string;
  want: ChainReport;
}

const broken = (
  trusted: number,
  firstBad: NonNullable<ChainReport['firstBad']>,
  checkpoints = 0,
  head = H[trusted] as string,
): ChainReport => ({
  ok: false,
  records: trusted,
  lastSeq: trusted,
  head,
  checkpoints: { total: checkpoints, verified: 0, lastSeq: 0, uncovered: null, adopted: [] },
  firstBad,
});

const RECHAINED = rechained(3);

/**
 * A line whose hash an attacker recomputed over `body` (a JSON text of record `seq` with the right
 * seq and prev) that is not the appender's spelling: the hash matches the bytes, so only the
 * canonical-form check can refuse it.
 */
const rehashed = (body: string): string => lineOf(body, sha256Hex(body));
const reorder = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).reverse());
const unhashed = (seq: number): Record<string, unknown> =>
  JSON.parse(canonicalJson({ ...entry(seq), seq, prev: H[seq - 1] }) as string) as Record<string, unknown>;
const NOT_CANONICAL = `${REWRITTEN} (a duplicated or reordered member, whitespace, another escape or a CR): it was altered`;
/** Re-hashed spellings of record 3 the appender never writes: each must be refused as not canonical. */
const RESPELLED: [string, string][] = [
  ['its members in reverse order', rehashed(JSON.stringify(reorder(unhashed(3))))],
  [
    'a nested object in reverse order',
    rehashed(JSON.stringify({ ...unhashed(3), input: reorder(unhashed(3).input as Record<string, unknown>) })),
  ],
  [
    'an object inside an array in reverse order',
    rehashed(JSON.stringify({ ...unhashed(3), input: { list: [1, { c: 1, b: 2 }], n: 3 } })),
  ],
  [
    'an object two arrays deep in reverse order',
    rehashed(JSON.stringify({ ...unhashed(3), input: { list: [[{ c: 1, b: 2 }]], n: 3 } })),
  ],
  [
    'the hash member first',
    ((body: string) => `{"hash":"${sha256Hex(body)}",${body.slice(1)}`)(canonicalJson(unhashed(3)) as string),
  ],
  [
    'the hash member in the middle',
    ((body: string) => body.replace('"input"', `"hash":"${sha256Hex(body)}","input"`) + '')(
      canonicalJson(unhashed(3)) as string,
    ),
  ],
  ['a lone surrogate (\\ud800) in a member', rehashed(JSON.stringify({ ...unhashed(3), message: '\ud800' }))],
  ['a lone surrogate in a key', rehashed(JSON.stringify({ ...unhashed(3), input: { '\udfff': 1 } }))],
  [
    'a hash of 65 characters',
    ((body: string) => `${body.slice(0, -1)},"hash":"0${sha256Hex(body)}"}`)(canonicalJson(unhashed(3)) as string),
  ],
  [
    'a hash of 63 characters',
    ((body: string) => `${body.slice(0, -1)},"hash":"${sha256Hex(body).slice(1)}"}`)(
      canonicalJson(unhashed(3)) as string,
    ),
  ],
  [
    'a hash that is not a string',
    ((body: string) => `${body.slice(0, -1)},"hash":1}`)(canonicalJson(unhashed(3)) as string),
  ],
];

const LINE_ROWS: Row[] = [
  {
    name: 'the intact log, no checkpoint: every record uncovered',
    lines: LINES,
    want: {
      ok: true,
      records: N,
      lastSeq: N,
      head: H[N] as string,
      checkpoints: { total: 0, verified: 0, lastSeq: 0, uncovered: { from: 1, to: N }, adopted: [] },
    },
  },
  {
    name: 'an empty log: nothing to vouch for',
    lines: [],
    want: {
      ok: true,
      records: 0,
      lastSeq: 0,
      head: GENESIS,
      checkpoints: { total: 0, verified: 0, lastSeq: 0, uncovered: null, adopted: [] },
    },
  },
  {
    name: 'a line that is not JSON',
    lines: edit(3, (l) => l.slice(0, -1)),
    want: broken(2, { seq: 3, reason: 'not a JSON record', where: 'seg:3' }),
  },
  ...(['[1]', 'null', '7', '"s"'] as const).map((json): Row => ({
    name: `a line that is JSON but not an object (${json})`,
    lines: edit(2, () => json),
    want: broken(1, { seq: 2, reason: 'not a JSON record', where: 'seg:2' }),
  })),
  {
    name: 'a removed line: the next seq is out of order',
    lines: LINES.filter((_, i) => i !== 2),
    want: broken(2, {
      seq: 3,
      reason: 'expected seq 3, found 4 (a record is missing, duplicated or out of order)',
      where: 'seg:3',
    }),
  },
  {
    name: 'a duplicated line',
    lines: [...LINES.slice(0, 2), LINES[1] as string, ...LINES.slice(2)],
    want: broken(2, {
      seq: 3,
      reason: 'expected seq 3, found 2 (a record is missing, duplicated or out of order)',
      where: 'seg:3',
    }),
  },
  {
    name: 'a record without seq',
    lines: edit(1, (l) => l.replace('"seq":1,', '')),
    want: broken(0, {
      seq: 1,
      reason: 'expected seq 1, found undefined (a record is missing, duplicated or out of order)',
      where: 'seg:1',
    }),
  },
  {
    name: 'another spelling of the same record (a space)',
    lines: edit(4, (l) => l.replace('"message":', '"message": ')),
    want: broken(3, {
      seq: 4,
      reason: `${REWRITTEN} (a duplicated or reordered member, whitespace, another escape or a CR): it was altered`,
      where: 'seg:4',
    }),
  },
  {
    name: 'the hash in upper case',
    lines: edit(4, (l) => l.slice(0, -66) + l.slice(-66).toUpperCase()),
    want: broken(3, {
      seq: 4,
      reason: `${REWRITTEN} (a duplicated or reordered member, whitespace, another escape or a CR): it was altered`,
      where: 'seg:4',
    }),
  },
  {
    name: 'a member altered under the old hash',
    lines: edit(5, (l) => l.replace('"m5"', '"m6"')),
    want: broken(4, { seq: 5, reason: 'hash does not match the record (it was altered)', where: 'seg:5' }),
  },
  {
    name: 'a record replaced and re-hashed: its successor no longer links to it',
    lines: replaced(3),
    want: broken(
      3,
      {
        seq: 3,
        reason:
          "record 4's prev is not the hash of record 3: record 3 was replaced (rewritten and re-hashed) or the link was altered",
        where: 'seg:3, whose successor is at seg:4',
      },
      0,
      chainLine(entry(3, 'rewritten'), 3, H[2] as string).record.hash,
    ),
  },
  {
    name: 'the first record not linked to GENESIS',
    lines: edit(1, () => chainLine(entry(1), 1, 'f'.repeat(64)).line),
    want: broken(0, {
      seq: 1,
      reason:
        "record 1's prev is not the hash of record 0: record 1 was replaced (rewritten and re-hashed) or the link was altered",
      where: 'seg:1',
    }),
  },
  ...RESPELLED.map(([what, line]): Row => ({
    name: `re-hashed, ${what}`,
    lines: LINES.map((l, i) => (i === 2 ? line : l)),
    want: broken(2, { seq: 3, reason: NOT_CANONICAL, where: 'seg:3' }),
  })),
  {
    name: 'a record with the next seq skipped but the right prev (re-hashed)',
    lines: LINES.map((l, i) => (i === 2 ? chainLine(entry(3), 4, H[2] as string).line : l)),
    want: broken(2, {
      seq: 3,
      reason: 'expected seq 3, found 4 (a record is missing, duplicated or out of order)',
      where: 'seg:3',
    }),
  },
  {
    name: 'a record with the right seq linked to another hash (re-hashed)',
    lines: LINES.map((l, i) => (i === 2 ? chainLine(entry(3), 3, 'e'.repeat(64)).line : l)),
    want: broken(2, {
      seq: 2,
      reason:
        "record 3's prev is not the hash of record 2: record 2 was replaced (rewritten and re-hashed) or the link was altered",
      where: 'seg:2, whose successor is at seg:3',
    }),
  },
  {
    name: 'a stray line after the last record',
    lines: LINES,
    stray: 'an empty line',
    want: broken(N, { seq: N + 1, reason: 'an empty line', where: `seg:${N + 1}` }),
  },
  {
    name: 'a stray line after a problem: the first problem is kept',
    lines: edit(2, () => 'x'),
    stray: 'an empty line',
    want: broken(1, { seq: 2, reason: 'not a JSON record', where: 'seg:2' }),
  },
];

const KEY_FOR_ROWS = { key: publicKey };
/** The intact log's report when checkpoint `total` failed after `verified` good ones up to `lastCp`. */
const report0 = (
  total: number,
  firstBad: NonNullable<ChainReport['firstBad']>,
  verified = 0,
  lastCp = 0,
): ChainReport => ({
  ok: false,
  records: N,
  lastSeq: N,
  head: H[N] as string,
  checkpoints: { total, verified, lastSeq: lastCp, uncovered: null, adopted: [] },
  firstBad,
});
const NOT_A_CHECKPOINT = 'a line of the checkpoints file is not a checkpoint (altered)';

const CHECKPOINT_ROWS: Row[] = [
  {
    name: 'checkpoints at 2 and 4, verified with the key: 5..6 uncovered',
    lines: LINES,
    checkpoints: [cp(2), cp(4)],
    ...KEY_FOR_ROWS,
    want: {
      ok: true,
      records: N,
      lastSeq: N,
      head: H[N] as string,
      checkpoints: { total: 2, verified: 2, lastSeq: 4, uncovered: { from: 5, to: N }, adopted: [] },
    },
  },
  {
    name: 'a checkpoint at the last record: nothing uncovered',
    lines: LINES,
    checkpoints: [cp(3), cp(N)],
    ...KEY_FOR_ROWS,
    want: {
      ok: true,
      records: N,
      lastSeq: N,
      head: H[N] as string,
      checkpoints: { total: 2, verified: 2, lastSeq: N, uncovered: null, adopted: [] },
    },
  },
  {
    name: 'the same checkpoint twice is not going backwards',
    lines: LINES,
    checkpoints: [cp(4), cp(4)],
    ...KEY_FOR_ROWS,
    want: {
      ok: true,
      records: N,
      lastSeq: N,
      head: H[N] as string,
      checkpoints: { total: 2, verified: 2, lastSeq: 4, uncovered: { from: 5, to: N }, adopted: [] },
    },
  },
  {
    name: 'checkpoints without a key: heads compared, none verified',
    lines: LINES,
    checkpoints: [cp(2), cp(4, H[4], other.privateKey, OTHER_KID)],
    want: {
      ok: true,
      records: N,
      lastSeq: N,
      head: H[N] as string,
      checkpoints: { total: 2, verified: 0, lastSeq: 4, uncovered: { from: 5, to: N }, adopted: [] },
    },
  },
  {
    name: 'a checkpoint signed by another key',
    lines: LINES,
    checkpoints: [cp(2), cp(4, H[4], other.privateKey, OTHER_KID)],
    ...KEY_FOR_ROWS,
    want: report0(
      2,
      {
        seq: 3,
        reason: `checkpoint for seq 4 is signed by kid ${OTHER_KID}, key given is kid ${KID} (another key, or a forged checkpoint)`,
        where: 'checkpoints.jsonl line 2',
      },
      1,
      2,
    ),
  },
  {
    name: 'a checkpoint whose signature is not the key named (forged with the right kid)',
    lines: LINES,
    checkpoints: [cp(4, H[4], other.privateKey, KID)],
    ...KEY_FOR_ROWS,
    want: report0(1, {
      seq: 1,
      reason: `checkpoint for seq 4 has an invalid signature for kid ${KID} (replaced or forged)`,
      where: 'checkpoints.jsonl line 1',
    }),
  },
  {
    name: 'a forged checkpoint with a long kid: the kid is cut at 64 characters',
    lines: LINES,
    checkpoints: [cp(4, H[4], other.privateKey, 'k'.repeat(100))],
    ...KEY_FOR_ROWS,
    want: report0(1, {
      seq: 1,
      reason: `checkpoint for seq 4 is signed by kid ${'k'.repeat(64)}, key given is kid ${KID} (another key, or a forged checkpoint)`,
      where: 'checkpoints.jsonl line 1',
    }),
  },
  {
    name: 'a forged checkpoint whose kid is not a string',
    lines: LINES,
    checkpoints: [{ ...cp(4), kid: 7 as unknown as string, sig: 'AAAA' }],
    ...KEY_FOR_ROWS,
    want: report0(1, {
      seq: 1,
      reason: `checkpoint for seq 4 is signed by kid ?, key given is kid ${KID} (another key, or a forged checkpoint)`,
      where: 'checkpoints.jsonl line 1',
    }),
  },
  {
    name: 'checkpoints going backwards',
    lines: LINES,
    checkpoints: [cp(4), cp(2)],
    ...KEY_FOR_ROWS,
    want: report0(
      2,
      {
        seq: 2,
        reason: 'checkpoints go backwards (2 after 4)',
        where: 'checkpoints.jsonl line 2',
      },
      1,
      4,
    ),
  },
  {
    name: 'a checkpoint past the end of the log (records cut off)',
    lines: LINES.slice(0, 4),
    checkpoints: [cp(2), cp(5)],
    ...KEY_FOR_ROWS,
    want: {
      ok: false,
      records: 4,
      lastSeq: 4,
      head: H[4] as string,
      checkpoints: { total: 2, verified: 1, lastSeq: 2, uncovered: null, adopted: [] },
      firstBad: {
        seq: 5,
        reason: 'the log ends at seq 4 but a checkpoint vouches for seq 5: records were cut off the end',
        where: 'checkpoints.jsonl line 2',
      },
    },
  },
  {
    name: 'history re-chained from record 3, under a checkpoint at 4',
    lines: RECHAINED.lines,
    checkpoints: [cp(2), cp(4)],
    ...KEY_FOR_ROWS,
    want: {
      ok: false,
      records: N,
      lastSeq: N,
      head: RECHAINED.head,
      checkpoints: { total: 2, verified: 1, lastSeq: 2, uncovered: null, adopted: [] },
      firstBad: {
        seq: 3,
        reason:
          'record 4 does not match the head hash of its checkpoint: history after seq 2 was rewritten (and re-chained)',
        where: 'checkpoints.jsonl line 2',
      },
    },
  },
  {
    name: 'a broken log: checkpoints are not looked at',
    lines: edit(3, () => 'x'),
    checkpoints: [cp(2), { ...cp(4), sig: 'AAAA' }],
    ...KEY_FOR_ROWS,
    want: broken(2, { seq: 3, reason: 'not a JSON record', where: 'seg:3' }, 2),
  },
];

CHECKPOINT_ROWS.push(
  {
    name: 'a checkpoint at seq 1 is a checkpoint',
    lines: LINES,
    checkpoints: [cp(1), cp(N)],
    ...KEY_FOR_ROWS,
    want: {
      ok: true,
      records: N,
      lastSeq: N,
      head: H[N] as string,
      checkpoints: { total: 2, verified: 2, lastSeq: N, uncovered: null, adopted: [] },
    },
  },
  {
    name: 'a malformed checkpoint after one at the head: the first record not vouched for is one past the end',
    lines: LINES,
    checkpoints: [cp(N), { ...cp(N), seq: 0 }],
    ...KEY_FOR_ROWS,
    want: report0(2, { seq: N + 1, reason: NOT_A_CHECKPOINT, where: 'checkpoints.jsonl line 2' }, 1, N),
  },
  {
    name: 'a forged checkpoint after one at the head: the first record not vouched for is one past the end',
    lines: LINES,
    checkpoints: [cp(N), cp(N, H[N], other.privateKey, KID)],
    ...KEY_FOR_ROWS,
    want: report0(
      2,
      {
        seq: N + 1,
        reason: `checkpoint for seq ${N} has an invalid signature for kid ${KID} (replaced or forged)`,
        where: 'checkpoints.jsonl line 2',
      },
      1,
      N,
    ),
  },
);

/** Checkpoint lines that are not checkpoints (each as the second, after a good one at 2; and as the first). */
const MALFORMED: [string, unknown][] = [
  ['null', null],
  ['a number', 5],
  ['seq 0', { ...cp(2), seq: 0 }],
  ['seq -1', { ...cp(2), seq: -1 }],
  ['seq 2.5', { ...cp(2), seq: 2.5 }],
  ['seq as a string', { ...cp(2), seq: '2' }],
  ['seq past 2^53', { ...cp(2), seq: 2 ** 53 }],
  ['no head', { seq: 2, time: TIME, kid: KID, sig: cp(2).sig }],
  ['a head that is a number', { ...cp(2), head: 1 }],
  ['no sig', { seq: 2, head: H[2], time: TIME, kid: KID }],
  ['a sig that is a number', { ...cp(2), sig: 1 }],
];
for (const [what, bad] of MALFORMED) {
  CHECKPOINT_ROWS.push(
    {
      name: `a checkpoint line that is not a checkpoint: ${what}`,
      lines: LINES,
      checkpoints: [cp(3), bad as Checkpoint],
      ...KEY_FOR_ROWS,
      want: report0(2, { seq: 4, reason: NOT_A_CHECKPOINT, where: 'checkpoints.jsonl line 2' }, 1, 3),
    },
    {
      name: `the first checkpoint line not a checkpoint: ${what}`,
      lines: LINES.slice(0, 4),
      checkpoints: [bad as Checkpoint],
      want: {
        ...broken(4, { seq: 1, reason: NOT_A_CHECKPOINT, where: 'checkpoints.jsonl line 1' }, 1),
      },
    },
  );
}

describe('ChainChecker: the report of an edited log, on the text and the byte path', () => {
  for (const row of [...LINE_ROWS, ...CHECKPOINT_ROWS]) {
    test(row.name, () => {
      const seqs = row.checkpoints ?? [];
      for (const mode of ['text', 'bytes'] as const)
        assert.deepEqual(report(mode, row.lines, seqs, row.key, row.stray), row.want, mode);
    });
  }
});

describe('ChainChecker: records and lines', () => {
  test('line() returns each trusted record as parsed, then nothing once a line failed', () => {
    const checker = new ChainChecker();
    for (const [i, l] of LINES.slice(0, 3).entries()) assert.deepEqual(checker.line(l), JSON.parse(l), `line ${i + 1}`);
    assert.equal(checker.failed, false);
    assert.equal(checker.line('x'), undefined);
    assert.equal(checker.failed, true);
    // The next good record is not taken after a failure.
    assert.equal(checker.line(LINES[3] as string), undefined);
    assert.deepEqual(checker.finish([], undefined).firstBad, { seq: 4, reason: 'not a JSON record', where: undefined });
  });

  test('lineBytes() is true for a trusted line and false after a failure (even for a good line)', () => {
    const checker = new ChainChecker();
    const b = (l: string): Buffer => Buffer.from(l);
    assert.equal(checker.lineBytes(b(LINES[0] as string), 0, (LINES[0] as string).length, 'seg', 1), true);
    assert.equal(checker.lineBytes(b('x'), 0, 1, 'seg', 2), false);
    const good = b(LINES[1] as string);
    assert.equal(checker.lineBytes(good, 0, good.length, 'seg', 3), false);
    assert.deepEqual(checker.finish([], undefined).firstBad, { seq: 2, reason: 'not a JSON record', where: 'seg:2' });
  });

  test('a line the byte check cannot show canonical (a lone surrogate escape) is taken by the text path; a later relink names it', () => {
    // Record 2's message holds a lone surrogate: canonicalize refuses it, so no such record is ever written;
    // a key starting with a digit is canonical but left to the full check by both fast paths.
    const lines = [...LINES];
    const hashes = [...H];
    for (let i = 2; i <= N; i++) {
      const e = i === 2 ? { ...entry(2), input: { '1': 'digit-key' } } : entry(i);
      const { record, line } = chainLine(e, i, hashes[i - 1] as string);
      lines[i - 1] = line;
      hashes[i] = record.hash;
    }
    for (const mode of ['text', 'bytes'] as const) {
      const ok = report(mode, lines, [cp(2, hashes[2])], publicKey);
      assert.deepEqual(
        ok.checkpoints,
        { total: 1, verified: 1, lastSeq: 2, uncovered: { from: 3, to: N }, adopted: [] },
        mode,
      );
      // Record 3 replaced: the relink at record 4 names record 3 by where it was read.
      const third = chainLine(entry(3, 'rewritten'), 3, hashes[2] as string).line;
      const bad = report(
        mode,
        lines.map((l, i) => (i === 2 ? third : l)),
        [],
        undefined,
      );
      assert.equal(bad.firstBad?.where, 'seg:3, whose successor is at seg:4', mode);
      // Record 3 (after the slow record 2) replaced: where names record 2's line.
      const second = chainLine({ ...entry(2, 'rewritten'), input: { '1': 'x' } }, 2, H[1] as string).line;
      const bad2 = report(
        mode,
        lines.map((l, i) => (i === 1 ? second : l)),
        [],
        undefined,
      );
      assert.equal(bad2.firstBad?.where, 'seg:2, whose successor is at seg:3', mode);
    }
  });

  test('a relink on the text path without places says "?"', () => {
    const checker = new ChainChecker();
    checker.line(LINES[0] as string);
    checker.line(replaced(2)[1] as string);
    checker.line(LINES[2] as string);
    assert.equal(checker.finish([], undefined).firstBad?.where, '?, whose successor is at ?');
  });

  test('a relink right after a line taken on bytes names that line by file and number', () => {
    const checker = new ChainChecker();
    const one = Buffer.from(LINES[0] as string);
    assert.equal(checker.lineBytes(one, 0, one.length, 'segment-7.jsonl', 41), true);
    assert.equal(checker.line(replaced(2)[2] as string, 'segment-7.jsonl:43'), undefined);
    assert.equal(checker.finish([], undefined).firstBad?.seq, 2);
    const c2 = new ChainChecker();
    c2.lineBytes(one, 0, one.length, 'segment-7.jsonl', 41);
    c2.line(LINES[2] as string, 'segment-7.jsonl:42');
    assert.deepEqual(c2.finish([], undefined).firstBad, {
      seq: 2,
      reason: 'expected seq 2, found 3 (a record is missing, duplicated or out of order)',
      where: 'segment-7.jsonl:42',
    });
  });

  test('a line cut at the hash or without its closing bytes is refused on bytes as on text', () => {
    const l = LINES[0] as string;
    const cuts = [
      l.slice(0, -1),
      l.slice(0, -2) + '}',
      l.slice(0, -3) + '"}',
      `${l.slice(0, -76)}}`,
      `${l.slice(0, -75)};"hash":"${l.slice(-66)}`,
    ];
    for (const cut of cuts) {
      const text = report('text', [cut], [], undefined);
      assert.equal(text.ok, false, cut.slice(-80));
      assert.deepEqual(report('bytes', [cut], [], undefined), text, cut.slice(-80));
    }
  });
});
