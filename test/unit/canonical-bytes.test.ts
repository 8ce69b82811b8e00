/**
 * canonical-bytes.ts (the byte check `audit verify` trusts a line on) row by row: every rule of the
 * canonical form at the edge where it starts refusing, each row with the verdict it must give.
 * A `true` is checked against the oracle too (canonicalJson of the parse is the text itself), so a
 * row can never teach the check to trust another spelling. Classes: numbers (each spelling of the
 * same value, the 15/16-digit integer edge, signs, exponents), string escapes (each short escape,
 * `\u00xx` at both ends of the controls and one past, upper-case hex, escapes JSON.stringify never
 * writes, raw controls), member order (ASCII prefixes, escaped and non-ASCII keys where byte
 * order and UTF-16 order differ, duplicates), literals and their truncations, structure (commas,
 * colons, whitespace, trailing bytes), nesting at the depth limit and one past, a top-level `hash`,
 * the top-level `seq`/`prev` spans, and a span cut out of a larger buffer (bytes before and after
 * it are never read as its own). The property tests of the same module: audit-verify-bytes.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalObjectBytes, type TopFields } from '../../src/audit/canonical-bytes.ts';
import { canonicalJson } from '../../src/audit/canonical.ts';

const fields = (): TopFields => ({ seqStart: 7, seqEnd: 7, prevStart: 7, prevEnd: 7 });
const accepts = (text: string, f = fields()): boolean => {
  const b = Buffer.from(text);
  return canonicalObjectBytes(b, 0, b.length, f);
};
const canonical = (text: string): boolean => {
  try {
    return canonicalJson(JSON.parse(text)) === text;
  } catch {
    return false;
  }
};
const nestedObjects = (n: number): string => `${'{"a":'.repeat(n - 1)}{}${'}'.repeat(n - 1)}`;
const nestedArrays = (n: number): string => `{"a":${'['.repeat(n)}${']'.repeat(n)}}`;

const TABLE: [string, string, boolean][] = [
  // numbers
  ['zero', '{"a":0}', true],
  ['negative zero', '{"a":-0}', false],
  ['a negative integer', '{"a":-5}', true],
  ['a leading zero', '{"a":05}', false],
  ['a negative leading zero', '{"a":-05}', false],
  ['15 digits', '{"a":123456789012345}', true],
  ['-15 digits', '{"a":-123456789012345}', true],
  ['16 digits, its own spelling', '{"a":1234567890123456}', true],
  ['16 digits, not its own spelling', '{"a":9007199254740993}', false],
  ['a lone minus', '{"a":-}', false],
  ['a plus sign', '{"a":+1}', false],
  ['a fraction', '{"a":1.5}', true],
  ['a trailing zero in the fraction', '{"a":1.50}', false],
  ['1.0', '{"a":1.0}', false],
  ['a small exponent', '{"a":1e-7}', true],
  ['an upper-case exponent', '{"a":1E-7}', false],
  ['1e21 without +', '{"a":1e21}', false],
  ['1e+21', '{"a":1e+21}', true],
  ['10 written 1e1', '{"a":1e1}', false],
  ['a number then a letter', '{"a":1x}', false],
  // strings and escapes
  ['an empty string', '{"a":""}', true],
  ['each short escape', '{"a":"\\"\\\\\\b\\f\\n\\r\\t"}', true],
  ['\\u0000', '{"a":"\\u0000"}', true],
  ['\\u0007', '{"a":"\\u0007"}', true],
  ['\\u000b', '{"a":"\\u000b"}', true],
  ['\\u000e', '{"a":"\\u000e"}', true],
  ['\\u0010', '{"a":"\\u0010"}', true],
  ['\\u001f', '{"a":"\\u001f"}', true],
  ['\\u001F (upper-case hex)', '{"a":"\\u001F"}', false],
  ['\\u0020 (a space escaped)', '{"a":"\\u0020"}', false],
  ['\\u0008 (has a short form)', '{"a":"\\u0008"}', false],
  ['\\u0009', '{"a":"\\u0009"}', false],
  ['\\u000a', '{"a":"\\u000a"}', false],
  ['\\u000c', '{"a":"\\u000c"}', false],
  ['\\u000d', '{"a":"\\u000d"}', false],
  ['\\u0100', '{"a":"\\u0100"}', false],
  ['\\u1000', '{"a":"\\u1000"}', false],
  ['\\u00e9', '{"a":"\\u00e9"}', false],
  ['\\u001g', '{"a":"\\u001g"}', false],
  ['\\u00:0 (a byte between the digits and the letters)', '{"a":"\\u00:0"}', false],
  ['an escaped slash', '{"a":"\\/"}', false],
  ['an escaped letter', '{"a":"\\a"}', false],
  ['a raw control character', '{"a":"\u0001"}', false],
  ['a raw tab', '{"a":"\t"}', false],
  ['a raw DEL and U+2028', '{"a":"\u007f\u2028"}', true],
  ['non-ASCII text', '{"a":"é\u{1F600}"}', true],
  ['an escape cut at the end', '{"a":"\\', false],
  ['a \\u escape cut short', '{"a":"\\u00"}', false],
  ['an unterminated string', '{"a":"x', false],
  // member order
  ['an ASCII prefix first', '{"a":1,"ab":2}', true],
  ['an ASCII prefix second', '{"ab":1,"a":2}', false],
  ['a duplicated member', '{"a":1,"a":2}', false],
  ['three members in order', '{"a":1,"b":2,"c":3}', true],
  ['the third out of order', '{"a":1,"c":2,"b":3}', false],
  ['an upper-case key before a lower-case one', '{"B":1,"a":2}', true],
  ['a lower-case key before an upper-case one', '{"a":1,"B":2}', false],
  ['escaped keys in order (\\t before \\n)', '{"a\\t":1,"a\\n":2}', true],
  ['escaped keys out of order', '{"a\\n":1,"a\\t":2}', false],
  ['an ASCII key before a non-ASCII one', '{"z":1,"é":2}', true],
  ['a non-ASCII key before an ASCII one', '{"é":1,"z":2}', false],
  ['U+FF61 after an astral key (UTF-16 order)', '{"\u{1F600}":2,"\uFF61":1}', true],
  ['U+FF61 before an astral key (byte order)', '{"\uFF61":1,"\u{1F600}":2}', false],
  ['an empty key first', '{"":1,"a":2}', true],
  ['an empty key second', '{"a":1,"":2}', false],
  // literals
  ['the three literals', '{"a":true,"b":false,"c":null}', true],
  ['tru', '{"a":tru}', false],
  ['nul', '{"a":nul}', false],
  ['fals', '{"a":fals}', false],
  ['True', '{"a":True}', false],
  ['a literal cut at the end', '{"a":nul', false],
  // structure
  ['an empty object', '{}', true],
  ['an empty object with a space', '{ }', false],
  ['nested empty containers', '{"a":[],"b":{},"c":[[]]}', true],
  ['an array of each kind', '{"a":[1,"x",null,true,false,{},[]]}', true],
  ['a trailing comma in an array', '{"a":[1,]}', false],
  ['a trailing comma in an object', '{"a":1,}', false],
  ['a missing comma in an array', '{"a":[1 2]}', false],
  ['a missing comma between members', '{"a":1"b":2}', false],
  ['a space before the colon', '{"a" :1}', false],
  ['a space after the colon', '{"a": 1}', false],
  ['a key without a value', '{"a"}', false],
  ['a key that is not a string', '{a:1}', false],
  ['an array cut at the end', '{"a":[1', false],
  ['an array cut after a comma', '{"a":[1,', false],
  ['an array closed by a brace', '{"a":[1}', false],
  ['an object closed by a bracket', '{"a":1]', false],
  ['a trailing space', '{"a":1} ', false],
  ['a second object', '{"a":1}{}', false],
  ['a leading space', ' {"a":1}', false],
  ['an array at the top', '[1]', false],
  ['a string at the top', '"x"', false],
  ['nothing', '', false],
  ['an open brace only', '{', false],
  ['a value missing after the colon', '{"a":}', false],
  // a step that fails must not let the scan go on as if it had passed (found by mutation testing)
  ['a bad number in a nested array, the brackets unbalanced', '{"a":[[1.50],"b":1}', false],
  ['a junk byte instead of a comma in an array', '{"a":[1x2]}', false],
  ['a junk byte instead of a comma between members', '{"a":1x"b":2}', false],
  ['a key without its opening quote', '{"a":1,x":2}', false],
  ['the only key without its opening quote', '{a":1}', false],
  ['a junk byte closing an array, then the brace', '{"a":[1x}', false],
  ['a junk byte instead of the colon', '{"a"x1}', false],
  ['a top-level hash, the object unclosed', '{"a":1,"hash":"x"', false],
  ['a junk byte instead of the opening brace', 'x"a":1}', false],
  ['a bracket instead of the opening brace', '["a":1}', false],
  ['a literal with a wrong last byte (true)', '{"a":trux}', false],
  ['a literal with a wrong last byte (null)', '{"a":nulx}', false],
  ['a literal with a wrong last byte (false)', '{"a":falsx}', false],
  ['an escaped key before an ASCII one, where byte order and UTF-16 order differ', '{"a\\"":1,"a#":2}', true],
  ['the same escaped key twice', '{"a\\n":1,"a\\n":2}', false],
  ['a key before its extension by a byte below the quote', '{"a":1,"a!":2}', true],
  ['a key after its extension by a byte below the quote', '{"a!":1,"a":2}', false],
  // nesting
  ['64 nested objects', nestedObjects(64), true],
  ['65 nested objects', nestedObjects(65), false],
  ['63 nested arrays in the top object', nestedArrays(63), true],
  ['64 nested arrays in the top object', nestedArrays(64), false],
  // hash
  ['a top-level hash', '{"a":1,"hash":"x"}', false],
  ['a top-level hash first', '{"hash":"x"}', false],
  ['a nested hash', '{"a":{"hash":"x"}}', true],
  ['a key that starts like hash', '{"hashes":1}', true],
  ['a key hash spelled longer', '{"hash_":1}', true],
];

describe('canonicalObjectBytes: the verdict of each spelling', () => {
  for (const [name, text, want] of TABLE) {
    test(`${name}: ${want ? 'accepted' : 'not shown canonical'}`, () => {
      assert.equal(accepts(text), want, text);
      if (want) assert.equal(canonical(text), true, `the oracle agrees: ${text}`);
    });
  }
});

describe('canonicalObjectBytes: the top-level seq and prev spans', () => {
  test('the spans of the value bytes (prev with its quotes), only at the top level', () => {
    const text = '{"a":{"prev":"n","seq":9},"prev":"abc","q":[1],"seq":12,"seqs":3}';
    const f = fields();
    assert.equal(accepts(text, f), true);
    assert.equal(text.slice(f.seqStart, f.seqEnd), '12');
    assert.equal(text.slice(f.prevStart, f.prevEnd), '"abc"');
  });

  test('none of them: every span -1 (whatever the fields held before)', () => {
    const f = fields();
    assert.equal(accepts('{"a":{"prev":"x","seq":1},"pre":1,"prevs":2,"se":3}', f), true);
    assert.deepEqual(f, { seqStart: -1, seqEnd: -1, prevStart: -1, prevEnd: -1 });
  });

  test('keys of the same length are compared byte by byte ("seq" vs "sep", "prev" vs "prex")', () => {
    const f = fields();
    assert.equal(accepts('{"prex":"a","sep":1}', f), true);
    assert.deepEqual(f, { seqStart: -1, seqEnd: -1, prevStart: -1, prevEnd: -1 });
    assert.equal(accepts('{"hasi":1,"hasz":2}'), true);
  });
});

describe('canonicalObjectBytes: a span of a larger buffer', () => {
  const around = (before: string, text: string, after: string): boolean => {
    const b = Buffer.from(before + text + after);
    const start = Buffer.byteLength(before);
    return canonicalObjectBytes(b, start, start + Buffer.byteLength(text), fields());
  };

  test('the same verdict as alone, whatever is before and after it', () => {
    for (const [, text, want] of TABLE)
      for (const [before, after] of [
        ['{"z":1}\n', '\n{"b":1}'],
        ['x', '}'],
        ['', '"'],
        ['', ']'],
        ['', '1'],
        ['', 'e'],
        ['', 'l'],
        ['', '0'],
      ] as const)
        assert.equal(around(before, text, after), want, JSON.stringify([before, text, after]));
  });

  test('a span that stops before its own closing bytes is refused, even when the next byte would close it', () => {
    const text = '{"a":[1,"b",true]}';
    const b = Buffer.from(text);
    for (let stop = 1; stop < b.length; stop++)
      assert.equal(canonicalObjectBytes(b, 0, stop, fields()), false, text.slice(0, stop));
    assert.equal(canonicalObjectBytes(b, 0, b.length, fields()), true);
  });
});
