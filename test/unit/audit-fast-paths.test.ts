/**
 * The audit log's fast paths, each tested at its own interface (docs/mutation.md, "audit, second
 * round"). Each fast path answers "taken" (the result the exact check would give, computed cheaply)
 * or "given up" (the caller falls back to the exact check: the canonicalize library, the full
 * parse-and-recanonicalise of a line, Number/String, decoding keys). The fallback keeps the verdict
 * right either way, so the class of fault these rows catch is a fast path that
 *  - gives up on the ordinary inputs it exists for (a performance regression invisible to every
 *    verdict-level test: each audit append and each `audit verify` line would take the slow path), or
 *  - takes an input it must give up on (a wrong text, or a line trusted that the exact check refuses).
 * So every row states which: the ordinary shapes (records the appender writes, nested objects and
 * arrays, every JSON type, the edges of each bound) must be TAKEN with the exact result, and each
 * reason to give up (one row per guard, at the edge where it starts) must be GIVEN UP.
 *
 * - canonical.ts `plainCanonical` / `sorted`: plain data taken with the library's text, no copy of
 *   what is already canonical (and the copy only from the first member that differs); non-finite
 *   numbers, lone surrogates, non-plain objects, digit-led and `__proto__` keys, functions, symbols,
 *   BigInts, undefined in arrays, nesting past 100 and a polluted Object.prototype.toJSON given up.
 * - line-canonical.ts `fastCanonical`: an appender line taken; another order at any depth, the hash
 *   not last or absent, a `\ud` escape, another spelling, nesting past 100 given up.
 * - chain-check.ts `ChainChecker.fastLine`: each appender line taken (and the buffer left as it
 *   was); each byte of the `,"hash":"…"}` frame, the seq, the prev and the hash wrong, a body that is
 *   not canonical, a line too short: given up, the checker unchanged (then line() decides).
 * - canonical-bytes.ts `plainInteger` / `narrowKeyEnd`: the integers of up to 15 digits taken, every
 *   other number spelling given up; a key of printable ASCII without escapes taken (its end), a key
 *   with an escape, a non-ASCII byte or a control, or without its closing quote in the span, given up
 *   (then it is read as a string and ordered on its decoded text).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import canonicalize from 'canonicalize';
import { EXOTIC, plainCanonical, sorted } from '../../src/audit/canonical.ts';
import { narrowKeyEnd, plainInteger } from '../../src/audit/canonical-bytes.ts';
import { ChainChecker } from '../../src/audit/chain-check.ts';
import { chainLine, GENESIS, lineOf, sha256Hex } from '../../src/audit/chain.ts';
import { fastCanonical, trustedCanonical } from '../../src/audit/line-canonical.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

/** `depth` arrays around `inner`: nest(0, x) is x. */
const nest = (depth: number, inner: unknown): unknown => {
  let v = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};
/** `depth` objects around `inner`, each with the one member "a". */
const nestObj = (depth: number, inner: unknown): unknown => {
  let v = inner;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
};

describe('canonical.ts plainCanonical: plain data taken with the library text', () => {
  const TAKEN: [string, unknown][] = [
    ['a string', 'a'],
    ['an empty string', ''],
    ['a number', 1.5],
    ['zero', 0],
    ['true', true],
    ['false', false],
    ['null', null],
    ['an empty object', {}],
    ['an empty array', []],
    ['sorted members', { a: 1, b: 'x', c: null }],
    ['members out of order', { c: 1, b: 2, a: 3 }],
    ['33 members in reverse order', Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${99 - i}`, i]))],
    ['an undefined member left out', { a: 1, b: undefined, c: 2 }],
    ['the first member undefined', { a: undefined, b: 1 }],
    ['an own toJSON that is not a function', { toJSON: 1 }],
    ['keys next to the digits: "/" and ":"', { '/': 1, ':': 2 }],
    ['keys of other first characters', { A: 1, _: 2, é: 3, '': 4 }],
    ['strings in arrays', ['a', 'b', '']],
    ['mixed arrays', [1, 'a', true, null, { b: 1, a: 2 }, [2, 'c']]],
    ['an unsorted object inside an array inside an object', { x: [{ b: 1, a: 2 }], a: 0 }],
    ['a record as the appender writes it', { decision_id: 'd', labels: { runner: 'r' }, input: { n: 1, list: [1] } }],
    ['astral and escaped characters', { m: 'é "q" \\ \n \u0001 \u{1F600}' }],
    ['99 arrays deep', nest(99, 1)],
    ['101 arrays deep (the innermost at depth 100)', nest(101, 1)],
    ['101 objects deep', nestObj(101, 1)],
    ['100 arrays deep around an object', nest(100, { a: 1 })],
  ];
  for (const [name, value] of TAKEN)
    test(`taken: ${name}`, () => {
      const text = plainCanonical(value);
      assert.notEqual(text, undefined, name);
      assert.equal(text, canonicalize(value), name);
    });

  const GIVEN_UP: [string, unknown][] = [
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity in an object', { a: -Infinity }],
    ['a lone surrogate', '\ud800'],
    ['a lone surrogate as a member', { a: 'x\udc00' }],
    ['a lone surrogate in an array of numbers', [1, '\ud800']],
    ['a backslash before "ud" (the text shows \\\\ud)', { a: '\\ud800' }],
    ['a BigInt', 1n],
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['undefined', undefined],
    ['undefined in an array', [undefined]],
    ['a function in an array', [1, () => 1]],
    ['a function member', { a: 1, f: () => 1 }],
    ['a symbol member', { s: Symbol('s') }],
    ['a BigInt member', { b: 1n }],
    ['a Date', new Date(0)],
    ['a Date member', { d: new Date(0) }],
    ['a Map', new Map()],
    ['a null-prototype object', Object.create(null)],
    ['a class instance', new (class {})()],
    ['the key "0"', { '0': 1 }],
    ['the key "9"', { '9': 1 }],
    ['a key starting with a digit, after others', { a: 1, b: 2, '5x': 3 }],
    ['an own __proto__', JSON.parse('{"__proto__":1}')],
    ['an own __proto__ after other keys', JSON.parse('{"a":1,"__proto__":1}')],
    ['102 arrays deep (the innermost at depth 101)', nest(102, 1)],
    ['102 objects deep', nestObj(102, 1)],
    ['101 arrays deep around an object', nest(101, { a: 1 })],
    ['a NaN deep inside', { a: [{ b: [NaN] }] }],
  ];
  for (const [name, value] of GIVEN_UP) test(`given up: ${name}`, () => assert.equal(plainCanonical(value), undefined));

  test('given up while Object.prototype.toJSON exists (the library decides what it means)', () => {
    const proto = Object.prototype as { toJSON?: () => unknown };
    proto.toJSON = () => 'x';
    try {
      assert.equal(plainCanonical({ a: 1 }), undefined);
      assert.equal(plainCanonical('s'), undefined);
    } finally {
      delete proto.toJSON;
    }
    assert.equal(plainCanonical({ a: 1 }), '{"a":1}');
  });
});

describe('canonical.ts sorted: a copy only where one is needed', () => {
  test('canonical data is returned as it is, at every depth', () => {
    const inner = { a: 1, b: [1, 'x', { c: true }] };
    const list = ['a', inner, [inner], 2, null];
    const value = { a: inner, b: list, c: 'x' };
    assert.equal(sorted(value, 0), value);
    assert.equal(sorted(list, 0), list);
    assert.equal(sorted(inner, 0), inner);
    assert.equal(sorted('s', 0), 's');
    assert.equal(sorted(3, 0), 3);
    assert.equal(sorted(null, 0), null);
  });

  test('an unsorted object is copied in order; the caller keeps its own', () => {
    const value = { b: 1, a: 2 };
    const out = sorted(value, 0) as Record<string, unknown>;
    assert.notEqual(out, value);
    assert.deepEqual(Object.keys(out), ['a', 'b']);
    assert.deepEqual(Object.keys(value), ['b', 'a']);
  });

  test('a sorted object with a changed member: a copy from that member on, the members before kept', () => {
    const kept = { x: 1 };
    const value = { a: kept, b: 'y', c: { z: 1, y: 2 }, d: kept };
    const out = sorted(value, 0) as Record<string, unknown>;
    assert.notEqual(out, value);
    assert.deepEqual(Object.keys(out), ['a', 'b', 'c', 'd']);
    assert.equal(out.a, kept);
    assert.equal(out.d, kept);
    assert.deepEqual(Object.keys(out.c as object), ['y', 'z']);
    assert.deepEqual(Object.keys(value.c), ['z', 'y']);
  });

  test('an undefined member: a copy without it (not even as a key)', () => {
    for (const [value, keys] of [
      [{ a: 1, b: undefined }, ['a']],
      [{ a: undefined, b: 1 }, ['b']],
      [{ a: 1, b: undefined, c: 2 }, ['a', 'c']],
      [{ b: undefined, a: 1 }, ['a']],
    ] as const) {
      const out = sorted(value, 0) as Record<string, unknown>;
      assert.notEqual(out, value);
      assert.deepEqual(Object.keys(out), keys);
    }
  });

  test('an array with a changed element: a copy, the other elements kept, the caller keeps its own', () => {
    const kept = { a: 1 };
    const value = [kept, 'x', { b: 1, a: 2 }, kept];
    const out = sorted(value, 0) as unknown[];
    assert.notEqual(out, value);
    assert.equal(out.length, 4);
    assert.equal(out[0], kept);
    assert.equal(out[1], 'x');
    assert.equal(out[3], kept);
    assert.deepEqual(Object.keys(out[2] as object), ['a', 'b']);
    assert.deepEqual(Object.keys(value[2] as object), ['b', 'a']);
  });

  test('the depth bound counts from the given depth: more than 100 levels are EXOTIC', () => {
    assert.notEqual(sorted([1], 100), EXOTIC);
    assert.equal(sorted([[1]], 100), EXOTIC);
    assert.equal(sorted({ a: 1 }, 101), EXOTIC);
    assert.equal(sorted([], 101), EXOTIC);
    assert.equal(sorted('s', 500), 's');
  });
});

const TIME = '2026-06-01T12:00:00.000Z';
const entry = (i: number, extra: Record<string, unknown> = {}): AuditEntry => ({
  decision_id: `d-${i}`,
  timestamp: TIME,
  stage: 'evaluate',
  outcome: 'allow',
  message: `m${i} é "q" \u{1F600}`,
  runner: 'r',
  labels: { runner: 'r', b: '2', a: '1' },
  input: { n: i, list: [1, 'a', { b: true, a: [] }, [[{}]]], empty: {} },
  ...extra,
});

/** A line with `hash` last, written from `canonical` (any text) with the right hash for it. */
const hashed = (canonical: string): string => lineOf(canonical, sha256Hex(canonical));

describe('line-canonical.ts fastCanonical: the appender lines taken, every other spelling given up', () => {
  const take = (line: string): string | undefined => fastCanonical(line, JSON.parse(line) as Record<string, unknown>);

  test('taken: appender lines, with the canonical text without the hash', () => {
    let prev = GENESIS;
    for (let i = 1; i <= 5; i++) {
      const { record, line } = chainLine(entry(i), i, prev);
      const { hash: _h, ...rest } = record;
      assert.equal(take(line), canonicalize(rest));
      prev = record.hash;
    }
  });

  test('taken: nesting of 99 below the top member, arrays and objects', () => {
    for (const deep of [nest(99, 1), nestObj(99, 1)]) {
      const { line } = chainLine(entry(1, { deep }), 1, GENESIS);
      assert.notEqual(take(line), undefined);
    }
  });

  const GIVEN_UP: [string, string][] = [
    ['members out of order at the top', hashed('{"b":1,"a":2}')],
    ['members out of order one level down', hashed('{"a":{"d":1,"c":2},"b":1}')],
    ['a duplicated member at the top', hashed('{"a":1,"a":1}')],
    ['members out of order inside an array', hashed('{"a":[1,{"d":1,"c":2}]}')],
    ['members out of order three levels down', hashed('{"a":[[{"y":{"c":1,"b":2}}]]}')],
    ['a duplicated member one level down', hashed('{"a":{"c":1,"c":1}}')],
    ['an escaped lone surrogate', hashed('{"a":"\\ud800"}')],
    ['an escaped pair', hashed('{"a":"\\ud83d\\ude00"}')],
    ['a backslash before "ud"', hashed('{"a":"\\\\ud"}')],
    ['another spelling of a number', hashed('{"a":1.0}')],
    ['an escaped slash', hashed('{"a":"\\/"}')],
    ['whitespace', hashed('{"a": 1}')],
    ['nesting of 101 below the top member', hashed(`{"a":${'['.repeat(101)}${']'.repeat(101)}}`)],
    ['no hash', '{"a":1,"seq":1}'],
    ['the hash first', `{"hash":"${'a'.repeat(64)}","a":1}`],
    ['the hash not last', `{"a":1,"hash":"${'a'.repeat(64)}","z":1}`],
  ];
  for (const [name, line] of GIVEN_UP) test(`given up: ${name}`, () => assert.equal(take(line), undefined));

  test('taken: an object or array at depth 100 (the bound), arrays of more than 10 elements', () => {
    const deep = `{"a":${'['.repeat(100)}${']'.repeat(100)}}`;
    assert.equal(take(hashed(deep)), deep);
    const long = '{"a":[0,1,2,3,4,5,6,7,8,9,10,11]}';
    assert.equal(take(hashed(long)), long);
  });

  test('given up: objects nested past depth 100', () => {
    const text = `${'{"a":'.repeat(102)}1${'}'.repeat(102)}`;
    assert.equal(take(hashed(text)), undefined);
  });

  test('trustedCanonical: what the appender writes and fastCanonical gives up on is shown by the full canonicaliser', () => {
    // fastCanonical gives up on a text showing \ud, integer-like keys and deep nesting; the line is
    // still the appender's, and trustedCanonical must say so with its canonical text.
    const rows: AuditEntry[] = [
      entry(1, { message: 'C:\\udir' }),
      entry(1, { input: { '10': 'a', '9': 'b' } }),
      entry(1, { input: { deep: nestObj(101, 1) } }),
    ];
    for (const e of rows) {
      const { record, line } = chainLine(e, 1, GENESIS);
      const parsed = JSON.parse(line) as Record<string, unknown>;
      assert.equal(take(line), undefined);
      const { hash: _h, ...rest } = record;
      assert.equal(trustedCanonical(line, parsed, record.hash), canonicalize(rest));
    }
  });

  test('trustedCanonical: a hash that is not a string of 64 lower-case hex is refused, whatever the line', () => {
    const hex = 'a'.repeat(64);
    for (const hash of [[hex], hex.toUpperCase(), `${hex}0`, hex.slice(1), 1]) {
      const text = `{"a":1,"hash":${JSON.stringify(hash)}}`;
      assert.equal(trustedCanonical(text, JSON.parse(text) as Record<string, unknown>, hash), undefined);
    }
  });

  test('taken: nesting of 100 below the top member; the top-level order is strict', () => {
    assert.equal(take(hashed(`{"a":${'['.repeat(99)}${']'.repeat(99)}}`)), `{"a":${'['.repeat(99)}${']'.repeat(99)}}`);
    assert.equal(take(hashed('{"a":1,"b":{"a":1,"b":2}}')), '{"a":1,"b":{"a":1,"b":2}}');
  });
});

describe('chain-check.ts fastLine: each appender line taken, any other line left to line()', () => {
  /** N appender lines, each at an offset in one buffer (a space before each, a newline after). */
  function buffer(n: number): { buf: Buffer; spans: [number, number][]; hashes: string[] } {
    const parts: Buffer[] = [];
    const spans: [number, number][] = [];
    const hashes = [GENESIS];
    let at = 0;
    for (let i = 1; i <= n; i++) {
      const { record, line } = chainLine(entry(i), i, hashes[i - 1] as string);
      const bytes = Buffer.from(` ${line}\n`);
      spans.push([at + 1, at + bytes.length - 1]);
      parts.push(bytes);
      at += bytes.length;
      hashes.push(record.hash);
    }
    return { buf: Buffer.concat(parts), spans, hashes };
  }

  test('taken: every line of an intact log, the buffer unchanged, the report as line() gives it', () => {
    const { buf, spans, hashes } = buffer(4);
    const copy = Buffer.from(buf);
    const fast = new ChainChecker([2, 4]);
    for (const [s, e] of spans) assert.equal(fast.fastLine(buf, s, e), true);
    assert.deepEqual(buf, copy);
    const slow = new ChainChecker([2, 4]);
    for (const [s, e] of spans) assert.notEqual(slow.line(buf.toString('utf8', s, e)), undefined);
    const cps = [
      { seq: 2, head: hashes[2] as string, time: TIME, kid: 'k', sig: '' },
      { seq: 4, head: hashes[4] as string, time: TIME, kid: 'k', sig: '' },
    ];
    assert.deepEqual(fast.finish(cps, undefined), slow.finish(cps, undefined));
    assert.equal(fast.finish(cps, undefined).checkpoints.lastSeq, 4);
    assert.equal(fast.finish([], undefined).head, hashes[4]);
  });

  /** A copy of line 1 with bytes replaced (offset from its end when negative). */
  const edited = (line: string, at: number, by: string): Buffer => {
    const b = Buffer.from(line);
    b.write(by, at < 0 ? b.length + at : at, 'latin1');
    return b;
  };
  const { line: L1 } = chainLine(entry(1), 1, GENESIS);
  const { line: L1seq2 } = chainLine(entry(1), 2, GENESIS);
  const { line: L1prev } = chainLine(entry(1), 1, 'f'.repeat(64));
  const short = hashed('{}');
  const CASES: [string, Buffer][] = [
    ['the closing brace replaced', edited(L1, -1, ']')],
    ['the quote before it replaced', edited(L1, -2, 'x')],
    ['a space after the closing brace', Buffer.from(`${L1} `)],
    ['the comma before "hash" replaced', edited(L1, -75, ' ')],
    ['"hash" misspelt', edited(L1, -72, 'H')],
    ['the colon after "hash" replaced', edited(L1, -67, ';')],
    ['the quote opening the hash replaced', edited(L1, -66, ' ')],
    ['the hash one hex digit off', edited(L1, -3, L1.at(-3) === '0' ? '1' : '0')],
    ['the body not canonical (a space)', Buffer.from(hashed('{"prev":"' + GENESIS + '", "seq":1}'))],
    ['the body without seq', Buffer.from(hashed(`{"prev":"${GENESIS}"}`))],
    ['the body without prev', Buffer.from(hashed('{"seq":1}'))],
    ['a prev one character short', Buffer.from(hashed(`{"prev":"${GENESIS.slice(1)}","seq":1}`))],
    ['a prev that is not a string', Buffer.from(hashed(`{"prev":[${'1,'.repeat(31)}1],"seq":1}`))],
    ['another seq', Buffer.from(L1seq2)],
    ['a seq spelt 1.0', Buffer.from(hashed(`{"prev":"${GENESIS}","seq":1.0}`))],
    // The seq is compared on its digits (no string made): every other token with the value 1, or
    // with the digit 1 in it, is given up (line() then names the seq it found).
    ...['"1"', '-1', '10', '0', '1e0', '1.5', 'true', '[1]', '1000000000000001', '000000000000001'].map(
      (seq): [string, Buffer] => [`a seq of ${seq}`, Buffer.from(hashed(`{"prev":"${GENESIS}","seq":${seq}}`))],
    ),
    ['a prev with an upper-case letter', Buffer.from(hashed(`{"prev":"${GENESIS.slice(1)}O","seq":1}`))],
    [
      'a prev of 64 characters, the last one escaped (67 bytes)',
      Buffer.from(hashed(`{"prev":"${GENESIS.slice(0, 63)}\\","seq":1}`)),
    ],
    ['another prev', Buffer.from(L1prev)],
    ['a line shorter than the hash member', Buffer.from('{"a":1}')],
    ['a hash member alone', Buffer.from(short.slice(short.length - 76))],
    ['only the hash member', Buffer.from(`{,"hash":"${'a'.repeat(64)}"}`)],
  ];
  for (const [name, bytes] of CASES)
    test(`given up, the checker and the buffer unchanged: ${name}`, () => {
      const copy = Buffer.from(bytes);
      const checker = new ChainChecker();
      assert.equal(checker.fastLine(bytes, 0, bytes.length), false);
      assert.deepEqual(bytes, copy);
      // Unchanged: the intact first line is still the expected one, at seq 1 after GENESIS.
      assert.equal(checker.fastLine(Buffer.from(L1), 0, Buffer.byteLength(L1)), true);
      assert.deepEqual(checker.finish([], undefined).records, 1);
    });

  test('the appender line of a minimal record is taken (the body may be just seq and prev)', () => {
    const line = hashed(`{"prev":"${GENESIS}","seq":1}`);
    const checker = new ChainChecker();
    assert.equal(checker.fastLine(Buffer.from(line), 0, line.length), true);
    assert.equal(checker.finish([], undefined).head, line.slice(-66, -2));
  });
});

describe('canonical-bytes.ts plainInteger and narrowKeyEnd', () => {
  const int = (text: string): boolean => {
    // Inside other bytes, so that the span's own edges are what is read.
    const b = Buffer.from(`9${text}9`, 'latin1');
    return plainInteger(b, 1, 1 + text.length);
  };
  const TAKEN = ['0', '1', '9', '-1', '-9', '10', '90', '123456789012345', '-123456789012345', '100000000000000'];
  const GIVEN_UP = [
    '',
    '-',
    '-0',
    '00',
    '01',
    '-01',
    '1234567890123456',
    '-1234567890123456',
    '1.5',
    '1e3',
    '1E3',
    '+1',
    '1-',
    '1/',
    '1:',
    '/',
    ':',
  ];
  for (const t of TAKEN) test(`plainInteger takes ${JSON.stringify(t)}`, () => assert.equal(int(t), true));
  test('plainInteger reads its span only (the byte after it is no digit)', () => {
    assert.equal(plainInteger(Buffer.from('12x'), 0, 2), true);
    assert.equal(plainInteger(Buffer.from('x-7,'), 1, 3), true);
  });
  for (const t of GIVEN_UP) test(`plainInteger gives up on ${JSON.stringify(t)}`, () => assert.equal(int(t), false));

  /** The end narrowKeyEnd gives for the key `"inner"` followed by `after`, or -1. */
  const narrow = (inner: string, after = ':1'): number => {
    const b = Buffer.from(`"${inner}"${after}`);
    return narrowKeyEnd(b, 0, b.length);
  };
  test('narrowKeyEnd: printable ASCII without escapes is taken, with the index past its closing quote', () => {
    assert.equal(narrow('abc'), 5);
    assert.equal(narrow(''), 2);
    assert.equal(narrow('\u007f~ !'), 6, 'DEL, the tilde, a space and "!" (the byte below the quote) are narrow');
    assert.equal(narrow('a#'), 4, 'the byte above the quote');
  });
  test('narrowKeyEnd: an escape, a non-ASCII byte or a control anywhere gives up', () => {
    for (const inner of ['\\"', 'a\\n', 'é', 'aé', '\u0080', 'a\u{1F600}b', 'a\tb', '\u0000', 'a\u001f'])
      assert.equal(narrow(inner), -1, JSON.stringify(inner));
    // Every byte from 0x80 up gives up, 0x80 itself included (a continuation byte alone); 0x7f does not.
    assert.equal(narrowKeyEnd(Buffer.from([0x22, 0x80, 0x22]), 0, 3), -1);
    assert.equal(narrowKeyEnd(Buffer.from([0x22, 0x7f, 0x22]), 0, 3), 3);
  });
  test('narrowKeyEnd: the closing quote must be inside the span', () => {
    const b = Buffer.from('"abc":1');
    assert.equal(narrowKeyEnd(b, 0, 5), 5);
    assert.equal(narrowKeyEnd(b, 0, 4), -1, 'the quote at the span end is not read as its own');
    assert.equal(narrowKeyEnd(Buffer.from('"abc'), 0, 4), -1, 'no closing quote at all');
  });
});
