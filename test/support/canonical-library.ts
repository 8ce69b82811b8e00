import assert from 'node:assert/strict';
import canonicalize from 'canonicalize';
import { canonicalJson } from '../../src/audit/canonical.ts';

/**
 * canonicalJson gives the canonicalize library's text for `value`, or throws the library's error
 * (same message). `name` labels the failing row.
 */
export function sameAsLibrary(value: unknown, name?: string): void {
  let expected: string | undefined;
  let expectedError: unknown;
  try {
    expected = canonicalize(value);
  } catch (e) {
    expectedError = e;
  }
  if (expectedError !== undefined) {
    assert.throws(
      () => canonicalJson(value),
      (e: unknown) => e instanceof Error && e.message === (expectedError as Error).message,
      name,
    );
    return;
  }
  assert.equal(canonicalJson(value), expected, name);
}
