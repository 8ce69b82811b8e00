// Imports the package `yaml` by its bare name and says which module answered (test/unit/resolve-cache.test.ts):
// `yaml`, `commander` (the test's positive control maps `yaml` to it) or `other`.
import * as answered from 'yaml';

export const which =
  typeof answered.parseDocument === 'function'
    ? 'yaml'
    : typeof (/** @type {{ Command?: unknown }} */ (answered).Command) === 'function'
      ? 'commander'
      : 'other';
