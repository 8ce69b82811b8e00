/**
 * assessChains (src/audit/assess.ts): what `audit verify` demands beyond an intact chain, as pure
 * rules over the facts of each chain, row by row. The class: "a fact an auditor must be told about
 * → exactly one finding with its code, the message the operator reads, whether it fails the run,
 * and the chain it is about; a fact that is fine → no finding". Variants at each edge: a key given
 * or not, checkpoints of the key or of others (non-string and long kids), a broken chain with and
 * without a key mismatch, no checkpoint, an uncovered tail at and one past the record and time
 * limits (and an unreadable time), the tail accepted, saved verifications (a chain missing, cut
 * short, rewritten, intact), `--min-seq` with one and with two chains, `--expect-head` found,
 * found at another seq, not found.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  assessChains,
  DEFAULT_MAX_UNCOVERED_RECORDS,
  DEFAULT_MAX_UNCOVERED_SECONDS,
  type ChainFacts,
  type Finding,
  type VerifyRules,
} from '../../src/audit/assess.ts';
import type { ChainReport } from '../../src/audit/chain-report.ts';
import type { Checkpoint } from '../../src/audit/checkpoint.ts';

const T0 = '2026-06-01T12:00:00.000Z';
const at = (seconds: number): string => new Date(Date.parse(T0) + seconds * 1000).toISOString();
const cp = (seq: number, kid = 'K', time = T0): Checkpoint => ({ seq, head: `h${seq}`, time, kid, sig: 's' });

/** The report of an intact chain of `lastSeq` records with its last checkpoint at `covered`. */
const intact = (lastSeq: number, covered: number, total = covered > 0 ? 1 : 0): ChainReport => ({
  ok: true,
  records: lastSeq,
  lastSeq,
  head: `h${lastSeq}`,
  checkpoints: {
    total,
    verified: total,
    lastSeq: covered,
    uncovered: lastSeq > covered ? { from: covered + 1, to: lastSeq } : null,
    adopted: [],
  },
});

function chain(over: Partial<ChainFacts> & { report?: ChainReport } = {}): ChainFacts {
  const report = over.report ?? intact(10, 10);
  return {
    dir: over.dir ?? '/log/a',
    log: { report },
    checkpoints: over.checkpoints ?? (report.checkpoints.total > 0 ? [cp(report.checkpoints.lastSeq)] : []),
    lastTime: over.lastTime ?? T0,
    genesis: over.genesis ?? 'g-a',
    found: over.found ?? new Map([...Array(report.lastSeq).keys()].map((i) => [`h${i + 1}`, i + 1])),
  };
}

const RULES: VerifyRules = {
  keyId: 'K',
  allowUncoveredTail: false,
  maxUncoveredRecords: DEFAULT_MAX_UNCOVERED_RECORDS,
  maxUncoveredSeconds: DEFAULT_MAX_UNCOVERED_SECONDS,
  expectHeads: [],
};
const broken: ChainReport = {
  ...intact(4, 0),
  ok: false,
  checkpoints: { total: 1, verified: 0, lastSeq: 0, uncovered: null, adopted: [] },
  firstBad: { seq: 3, reason: 'hash does not match the record (it was altered)', where: 'seg:3' },
};
const TAIL = (why: string, from: number, to: number, covered: number, fails = true): Finding => ({
  code: 'AUDIT_TAIL_UNCOVERED',
  message: `/log/a: the last checkpoint (seq ${covered}) is ${why} behind the head (seq ${to}): records ${from}..${to} are vouched for by nothing`,
  fails,
  dir: '/log/a',
});
const MISMATCH = (kids: string): Finding => ({
  code: 'AUDIT_KEY_MISMATCH',
  message: `/log/a: checkpoints signed by kid ${kids}, key given is kid K: this key did not sign them (give the public key of the runner's signing Secret)`,
  fails: true,
  dir: '/log/a',
});

const ROWS: [string, ChainFacts[], VerifyRules, Finding[]][] = [
  ['an intact, covered chain with its key', [chain()], RULES, []],
  ['an intact chain without a key given', [chain({ report: intact(10, 0) })], { ...RULES, keyId: undefined }, []],
  ['an empty chain with a key given', [chain({ report: intact(0, 0) })], RULES, []],
  ['the default limits', [chain()], { ...RULES, maxUncoveredRecords: 1000, maxUncoveredSeconds: 60 }, []],
  // keys
  ['checkpoints of another key', [chain({ checkpoints: [cp(10, 'X')] })], RULES, [MISMATCH('X')]],
  [
    'checkpoints of four other keys: three named, each once',
    [chain({ checkpoints: [cp(1, 'A'), cp(2, 'B'), cp(3, 'A'), cp(4, 'C'), cp(10, 'D')] })],
    RULES,
    [MISMATCH('A, B, C')],
  ],
  ['one checkpoint of the key among others', [chain({ checkpoints: [cp(5, 'X'), cp(10, 'K')] })], RULES, []],
  [
    'a kid that is not a string, and a long kid cut at 64',
    [chain({ checkpoints: [{ ...cp(5), kid: 3 as unknown as string }, cp(10, 'k'.repeat(80))] })],
    RULES,
    [MISMATCH(`?, ${'k'.repeat(64)}`)],
  ],
  ['a null checkpoint', [chain({ checkpoints: [null as unknown as Checkpoint] })], RULES, [MISMATCH('?')]],
  [
    'checkpoints of another key, no key given',
    [chain({ checkpoints: [cp(10, 'X')] })],
    { ...RULES, keyId: undefined },
    [],
  ],
  // a broken chain
  [
    'a broken chain',
    [chain({ report: broken, checkpoints: [cp(2)] })],
    RULES,
    [
      {
        code: 'AUDIT_TAMPERED',
        message: '/log/a: BROKEN at seq 3 (seg:3): hash does not match the record (it was altered)',
        fails: true,
        dir: '/log/a',
      },
    ],
  ],
  [
    'a broken chain, no place known',
    [chain({ report: { ...broken, firstBad: { seq: 1, reason: 'r' } }, checkpoints: [] })],
    { ...RULES, keyId: undefined },
    [{ code: 'AUDIT_TAMPERED', message: '/log/a: BROKEN at seq 1 (): r', fails: true, dir: '/log/a' }],
  ],
  [
    'a broken chain whose checkpoints are of another key: the mismatch explains it',
    [chain({ report: broken, checkpoints: [cp(2, 'X')] })],
    RULES,
    [MISMATCH('X')],
  ],
  // coverage
  [
    'no checkpoint at all',
    [chain({ report: intact(7, 0) })],
    RULES,
    [
      {
        code: 'AUDIT_UNCHECKPOINTED',
        message:
          '/log/a: no signed checkpoint: nothing vouches for records 1..7 (a log cut short or rewritten and re-chained verifies; is audit.checkpoint on?)',
        fails: true,
        dir: '/log/a',
      },
    ],
  ],
  [
    'no checkpoint at all, the tail accepted',
    [chain({ report: intact(7, 0) })],
    { ...RULES, allowUncoveredTail: true },
    [
      {
        code: 'AUDIT_UNCHECKPOINTED',
        message:
          '/log/a: no signed checkpoint: nothing vouches for records 1..7 (a log cut short or rewritten and re-chained verifies; is audit.checkpoint on?)',
        fails: false,
        dir: '/log/a',
      },
    ],
  ],
  [
    'an uncovered tail at the record limit',
    [chain({ report: intact(15, 10) })],
    { ...RULES, maxUncoveredRecords: 5 },
    [],
  ],
  [
    'an uncovered tail one record past the limit',
    [chain({ report: intact(16, 10) })],
    { ...RULES, maxUncoveredRecords: 5 },
    [TAIL('6 records (more than 5)', 11, 16, 10)],
  ],
  [
    'an uncovered tail one record past the limit, accepted',
    [chain({ report: intact(16, 10) })],
    { ...RULES, maxUncoveredRecords: 5, allowUncoveredTail: true },
    [TAIL('6 records (more than 5)', 11, 16, 10, false)],
  ],
  ['an uncovered tail at the time limit', [chain({ report: intact(11, 10), lastTime: at(60) })], RULES, []],
  [
    'an uncovered tail one second past the time limit',
    [chain({ report: intact(11, 10), lastTime: at(61) })],
    RULES,
    [TAIL('61 s (more than 60 s)', 11, 11, 10)],
  ],
  [
    'a lag in fractions of a second, rounded',
    [chain({ report: intact(11, 10), lastTime: at(61.6) })],
    RULES,
    [TAIL('62 s (more than 60 s)', 11, 11, 10)],
  ],
  [
    'both limits passed',
    [chain({ report: intact(13, 10), lastTime: at(90) })],
    { ...RULES, maxUncoveredRecords: 2 },
    [TAIL('3 records (more than 2) and 90 s (more than 60 s)', 11, 13, 10)],
  ],
  ['an unreadable last time: only the count counts', [chain({ report: intact(11, 10), lastTime: 'x' })], RULES, []],
  [
    'the last checkpoint is the one that counts for the time',
    [chain({ report: intact(11, 10, 2), checkpoints: [cp(5, 'K', at(-500)), cp(10, 'K', at(30))], lastTime: at(80) })],
    RULES,
    [],
  ],
  ['a covered tail and an old checkpoint', [chain({ report: intact(10, 10), lastTime: at(5000) })], RULES, []],
  [
    'an uncovered tail without a key given',
    [chain({ report: intact(16, 10), lastTime: at(5000) })],
    { ...RULES, keyId: undefined, maxUncoveredRecords: 1 },
    [],
  ],
  ['a broken chain: no coverage finding', [chain({ report: { ...intact(16, 0), ok: false } })], RULES, []],
];

describe('assessChains: one chain, its keys, its break and its coverage', () => {
  for (const [name, chains, rules, want] of ROWS) test(name, () => assert.deepEqual(assessChains(chains, rules), want));
});

describe('assessChains: rolled back, against what an earlier verification saw', () => {
  const a = chain();
  const b = chain({ dir: '/log/b', genesis: 'g-b', report: intact(3, 3) });
  const rolled = (message: string, dir?: string): Finding => ({ code: 'AUDIT_ROLLED_BACK', message, fails: true, dir });
  const ANCHORED: [string, ChainFacts[], Partial<VerifyRules>, Finding[]][] = [
    [
      'a saved chain still holds its head',
      [b, a],
      { anchors: [{ dir: '/old/a', genesis: 'g-a', expectHead: 'h7', minSeq: 7 }] },
      [],
    ],
    [
      'no chain starts with the saved genesis',
      [a],
      { anchors: [{ dir: '/old/c', genesis: 'g-c', expectHead: 'h7', minSeq: 7 }] },
      [
        rolled(
          'no chain given starts with the first record of the saved chain /old/c (genesis g-c): give its directory, or its first records were removed or rewritten',
        ),
      ],
    ],
    [
      'an empty genesis never matches',
      [chain({ genesis: '' })],
      { anchors: [{ dir: '/old/a', genesis: '', expectHead: 'h7', minSeq: 7 }] },
      [
        rolled(
          'no chain given starts with the first record of the saved chain /old/a (genesis ): give its directory, or its first records were removed or rewritten',
        ),
      ],
    ],
    [
      'the chain ends before the saved seq',
      [a],
      { anchors: [{ dir: '/old/a', genesis: 'g-a', expectHead: 'h11', minSeq: 11 }] },
      [
        rolled(
          '/log/a: the log ends at seq 10, but the saved verification of /old/a saw seq 11: records were removed from its end (rolled back or truncated)',
          '/log/a',
        ),
      ],
    ],
    [
      'the chain ends at the saved seq',
      [a],
      { anchors: [{ dir: '/old/a', genesis: 'g-a', expectHead: 'h10', minSeq: 10 }] },
      [],
    ],
    [
      'the saved head is another record now',
      [a],
      { anchors: [{ dir: '/old/a', genesis: 'g-a', expectHead: 'h6', minSeq: 7 }] },
      [
        rolled(
          '/log/a: record 7 is not the head h6 the saved verification of /old/a saw: history was rewritten since',
          '/log/a',
        ),
      ],
    ],
    [
      'the saved head is no record now',
      [a],
      { anchors: [{ dir: '/old/a', genesis: 'g-a', expectHead: 'zz', minSeq: 7 }] },
      [
        rolled(
          '/log/a: record 7 is not the head zz the saved verification of /old/a saw: history was rewritten since',
          '/log/a',
        ),
      ],
    ],
    [
      '--min-seq past the end of the only chain',
      [a],
      { minSeq: 11 },
      [
        rolled(
          '/log/a: the log ends at seq 10, but an earlier verification saw seq 11: records were removed from its end (rolled back or truncated)',
          '/log/a',
        ),
      ],
    ],
    ['--min-seq at the end of the only chain', [a], { minSeq: 10 }, []],
    ['--min-seq with two chains is not checked', [a, b], { minSeq: 11 }, []],
    ['--expect-head found', [a], { expectHeads: ['h10'] }, []],
    ['--expect-head found in the second chain', [a, b], { expectHeads: ['h3', 'h9'] }, []],
    [
      '--expect-head found in the second chain only',
      [a, chain({ dir: '/log/b', genesis: 'g-b', report: intact(3, 3), found: new Map([['only-b', 3]]) })],
      { expectHeads: ['only-b'] },
      [],
    ],
    [
      '--expect-head in no chain',
      [a, b],
      { expectHeads: ['h10', 'nope'] },
      [
        {
          code: 'AUDIT_ROLLED_BACK',
          message:
            'no trusted record has hash nope (the head an earlier verification saw): the log was rolled back, truncated or rewritten since',
          fails: true,
        },
      ],
    ],
    ['--expect-head at --min-seq', [a], { expectHeads: ['h9'], minSeq: 9 }, []],
    [
      '--expect-head at another seq than --min-seq',
      [a],
      { expectHeads: ['h8'], minSeq: 9 },
      [rolled('/log/a: hash h8 is record 8, not record 9 as the earlier verification saw', '/log/a')],
    ],
    [
      '--expect-head and --min-seq with two chains: the seq is not compared',
      [a, b],
      { expectHeads: ['h8'], minSeq: 9 },
      [],
    ],
  ];
  for (const [name, chains, rules, want] of ANCHORED)
    test(name, () => assert.deepEqual(assessChains(chains, { ...RULES, ...rules }), want));

  test('findings of several chains, in order: per chain (key, break, coverage), then rollback', () => {
    const c = chain({ dir: '/log/c', genesis: 'g-c', report: broken, checkpoints: [cp(2)] });
    const got = assessChains([c, chain({ report: intact(7, 0) })], { ...RULES, expectHeads: ['nope'] });
    assert.deepEqual(
      got.map((f) => [f.code, f.dir]),
      [
        ['AUDIT_TAMPERED', '/log/c'],
        ['AUDIT_UNCHECKPOINTED', '/log/a'],
        ['AUDIT_ROLLED_BACK', undefined],
      ],
    );
  });
});
