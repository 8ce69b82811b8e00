import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hasDuplicateKeys } from '../../src/verify/duplicate-keys.ts';

test('duplicate keys are found at any depth, and only keys count', () => {
  assert.equal(hasDuplicateKeys('{"a":1,"a":2}'), true);
  assert.equal(hasDuplicateKeys('{"x":{"b":[{"c":1,"c":1}]}}'), true);
  assert.equal(hasDuplicateKeys('{"a":"a","b":["a","a"],"c":{"a":1}}'), false);
  assert.equal(hasDuplicateKeys('{"a\\"b":1,"a\\u0022b":2}'), true, 'escapes are decoded');
  assert.equal(
    hasDuplicateKeys('{"ab":1,"a\\u0062":2}'),
    true,
    'a plain key and its escaped spelling are the same key',
  );
  assert.equal(hasDuplicateKeys('{"a\\\\":1,"a\\u005c":2}'), true, 'an escaped backslash ends no string early');
  assert.equal(hasDuplicateKeys('{"k":"{\\"k\\":1,\\"k\\":2}"}'), false, 'JSON inside a string is a string');
});

test('JSON.stringify output never has duplicates (property)', () => {
  fc.assert(
    fc.property(fc.jsonValue(), (v) => !hasDuplicateKeys(JSON.stringify(v))),
    { numRuns: 500 },
  );
});
