/**
 * The walk of audit masking (src/audit/mask.ts, mask-command.ts) with exact outputs and exact JSON
 * pointers, row by row (mask.test.ts checks that credentials are gone; these check what stays and
 * what is listed). Classes: keys that mask to the same text (suffixes -2, -3), RFC 6901 escaping
 * of `~` and `/` in a pointer, both env forms (map and list; a value already `***`, a valueFrom, a
 * non-string value, entries that are not objects), the word after a secret-named flag (an option,
 * a shell reference, `***`, a non-string before it, the flag last), the bundle's env-name patterns
 * as flag names (`-` and `.` read as `_`, a flag name at the 256-character bound and one past it),
 * our own fields of an entry never masked even when they look like credentials.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { maskEntry, maskInput, maskPatternsOf, maskValue, type MaskPatterns } from '../../src/audit/mask.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

const GHP = `ghp_${'a1B2c3D4e5'.repeat(3)}a1B2c3`;
const walk = (v: unknown, extra?: MaskPatterns): [unknown, string[]] => {
  const masked: string[] = [];
  return [maskValue(v, '', masked, extra), masked];
};
const bundle = maskPatternsOf({
  secrets: { credentials: { envNames: [{ id: 'mine', pattern: '^my_thing$' }], values: [] } },
});

const ROWS: [string, unknown, unknown, string[], MaskPatterns?][] = [
  [
    'keys that mask to the same text get -2, -3',
    { [GHP]: 1, [`${GHP}x`]: 2, [`${GHP}y`]: 3 },
    { '***': 1, '***-2': 2, '***-3': 3 },
    ['/***', '/***-2', '/***-3'],
  ],
  [
    '~ and / in a key are escaped in the pointer (RFC 6901)',
    { 'a/b': GHP, 'a~b': GHP, '~/': GHP, plain: GHP, ok: 'x' },
    { 'a/b': '***', 'a~b': '***', '~/': '***', plain: '***', ok: 'x' },
    ['/a~1b', '/a~0b', '/~0~1', '/plain'],
  ],
  [
    'env as a map: every string value whole, *** not listed again, other values kept',
    { env: { A: 'x', B: '***', C: 5 } },
    { env: { A: '***', B: '***', C: 5 } },
    ['/env/A'],
  ],
  [
    'env as a list: value whole; valueFrom, non-string values and non-objects walked',
    {
      env: [
        { name: 'A', value: 'x' },
        { name: 'B', valueFrom: { k: 1 } },
        { name: 'C', value: 5 },
        { name: 'D', value: '***' },
        { name: GHP },
        'str',
        null,
        ['arr', GHP],
      ],
    },
    {
      env: [
        { name: 'A', value: '***' },
        { name: 'B', valueFrom: { k: 1 } },
        { name: 'C', value: 5 },
        { name: 'D', value: '***' },
        { name: '***' },
        'str',
        null,
        ['arr', '***'],
      ],
    },
    ['/env/0/value', '/env/4/name', '/env/7/1'],
  ],
  [
    'the word after a secret-named flag, unless an option, a shell reference or already ***',
    ['--password', 'x', '--password', '-x', '--password', '$X', '--password', '***', 1, 'x', '--token', 'a'],
    ['--password', '***', '--password', '-x', '--password', '$X', '--password', '***', 1, 'x', '--token', '***'],
    ['/1', '/11'],
  ],
  ['a secret-named flag as the last word', ['--password'], ['--password'], []],
  ['a flag name the floor does not know, no bundle', ['--my-thing', 'v'], ['--my-thing', 'v'], []],
  [
    "the bundle's env-name patterns as flag names (- and . read as _)",
    ['--my-thing', 'v', '--my.thing', 'w', '-my_thing', 'u', '--other', 'z', '--my-thing-2', 'y'],
    ['--my-thing', '***', '--my.thing', '***', '-my_thing', '***', '--other', 'z', '--my-thing-2', 'y'],
    ['/1', '/3', '/5'],
    bundle,
  ],
  [
    'a flag name of 256 characters is matched, one of 257 counts as secret-named (with a bundle)',
    [`--${'q'.repeat(256)}`, 'edge', `--${'q'.repeat(257)}`, 'past'],
    [`--${'q'.repeat(256)}`, 'edge', `--${'q'.repeat(257)}`, '***'],
    ['/3'],
    bundle,
  ],
  [
    'a flag name of 257 characters without a bundle is not secret-named',
    [`--${'q'.repeat(257)}`, 'past'],
    [`--${'q'.repeat(257)}`, 'past'],
    [],
  ],
];

describe('maskValue: exact output and pointers', () => {
  for (const [name, input, want, pointers, extra] of ROWS)
    test(name, () => {
      const [out, masked] = walk(input, extra);
      assert.deepEqual(out, want);
      assert.deepEqual(masked, pointers);
    });

  test('maskInput lists each pointer once, from /input', () => {
    const input = { step: { env: { A: 'x' }, args: ['--password', 'p'] } };
    assert.deepEqual(maskInput(input as never), {
      input: { step: { env: { A: '***' }, args: ['--password', '***'] } },
      masked: ['/input/step/env/A', '/input/step/args/1'],
    });
  });
});

describe('maskEntry: our own fields are never masked', () => {
  const OWN = [
    'decision_id',
    'timestamp',
    'stage',
    'outcome',
    'code',
    'runner',
    'labels',
    'metrics',
    'bundles',
    'erased',
  ];
  const base: AuditEntry = {
    decision_id: 'd',
    timestamp: 't',
    stage: 'evaluate',
    outcome: 'allow',
    message: 'm',
    runner: 'r',
    labels: {},
  };
  for (const field of OWN)
    test(`${field} holding a credential-looking text stays as it is`, () => {
      const value = field === 'labels' || field === 'metrics' || field === 'bundles' ? { [GHP]: GHP } : GHP;
      const entry = { ...base, [field]: field === 'erased' ? [GHP] : value };
      const out = maskEntry(entry);
      assert.deepEqual(out, entry);
      assert.equal(out.masked, undefined);
    });

  test('masked pointers already listed are kept as they are, even one that looks like a credential', () => {
    const entry: AuditEntry = { ...base, masked: [`/input/${GHP}`], message: GHP };
    assert.deepEqual(maskEntry(entry).masked, [`/input/${GHP}`, '/message']);
  });

  test('a field of user text with ~ or / in its name is escaped in the pointer', () => {
    const entry = { ...base, 'x/y~': GHP } as unknown as AuditEntry;
    assert.deepEqual(maskEntry(entry).masked, ['/x~1y~0']);
  });
});
