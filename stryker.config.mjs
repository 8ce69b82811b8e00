// Mutation testing of the pure security stages (issue 15, item 6): `npm run test:mutation [scope…]`.
// Not part of `npm test` or CI: a full pass takes tens of minutes on two cores. The command runner
// runs only the unit tests that exercise the scope, so one mutant costs a few seconds.
// Scores and surviving mutants are written down in docs/mutation.md.

import { SCOPES } from './scripts/mutation-scopes.ts';

const scope = process.env.MUTATION_SCOPE ?? 'verify';
const chosen = SCOPES[scope];
if (!chosen) throw new Error(`MUTATION_SCOPE must be one of ${Object.keys(SCOPES).join(', ')}`);
// A part of a scope on a busy machine: MUTATION_TESTS (space-separated) runs a subset of the scope's
// tests, which can only kill fewer mutants (the score is then a lower bound), and MUTATION_LABEL
// names the run's report and sandbox so that parts can run side by side.
const tests = process.env.MUTATION_TESTS?.split(' ') ?? chosen.tests;
const label = process.env.MUTATION_LABEL ? `-${process.env.MUTATION_LABEL}` : '';

export default {
  testRunner: 'command',
  // One process for all of the scope's test files (--test-isolation=none): the files share one module
  // load, which halves a mutant's cost (verify: 2 s instead of 8.7 s for the same 174 tests).
  commandRunner: { command: `node --test --test-isolation=none --test-reporter=dot ${tests.join(' ')}` },
  mutate: chosen.mutate,
  coverageAnalysis: 'off',
  concurrency: Number(process.env.MUTATION_CONCURRENCY ?? 1),
  // A mutant that loops is cut off at this much over the initial run's time (×1.5); every cut-off
  // mutant costs it in full, so a run with many loops may set a lower one (MUTATION_TIMEOUT_MS).
  timeoutMS: Number(process.env.MUTATION_TIMEOUT_MS ?? 60_000),
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: `reports/mutation/${scope}${label}.json` },
  // One sandbox folder per scope, so that two scopes can run side by side.
  tempDirName: `.stryker-tmp/${scope}${label}`,
  cleanTempDir: 'always',
  ignorePatterns: ['.tools', '.cache', '.kubiya', '.kube', 'reports', 'bench/results*', '.stryker-tmp'],
  thresholds: { high: 90, low: 80, break: null },
};
