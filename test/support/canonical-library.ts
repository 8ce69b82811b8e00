import assert from 'node:assert/strict';
import canonicalize from 'canonicalize';
import { canonicalJson } from '../../src/audit/canonical.ts';

/**
 * canonicalJson gives `oracle`'s text for `value`, or throws an error with the same message as the
 * oracle's. `name` labels the failing row.
 */
export function sameAsOracle(oracle: (value: unknown) => string | undefined, value: unknown, name?: string): void {
  let expected: string | undefined;
  let expectedError: unknown;
  try {
    expected = oracle(value);
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

/**
 * canonicalJson gives the canonicalize library's text for `value`, or throws the library's error
 * (same message). `name` labels the failing row.
 */
export function sameAsLibrary(value: unknown, name?: string): void {
  sameAsOracle(canonicalize, value, name);
}
