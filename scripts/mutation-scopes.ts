// Mutation-testing scopes, shared by stryker.config.mjs and scripts/mutation.ts.

/** Scope → the source it mutates and the unit tests that must kill its mutants. */
export const SCOPES: Readonly<Record<string, { mutate: string[]; tests: string[] }>> = {
  verify: {
    mutate: ['src/verify/**/*.ts'],
    tests: [
      'test/unit/verify*.test.ts',
      'test/unit/token-*.test.ts',
      'test/unit/trusted-keys.test.ts',
      'test/unit/duplicate-keys.test.ts',
    ],
  },
  validate: {
    mutate: ['src/validate/**/*.ts'],
    tests: [
      'test/unit/validate*.test.ts',
      'test/unit/bounds.test.ts',
      'test/unit/workload*.test.ts',
      // Conditions (condition.ts, condition-check.ts), their hidden text, the run text (unicode.ts)
      // and the output references (output-refs.ts, output-text.ts). when.test.ts no longer times a
      // parse (its property asserts only that a parse never throws).
      'test/unit/when*.test.ts',
      'test/unit/exec-text.test.ts',
      'test/unit/output-value.test.ts',
    ],
  },
  mutate: {
    mutate: ['src/mutate/**/*.ts'],
    tests: ['test/unit/mutate*.test.ts', 'test/unit/pod.test.ts', 'test/unit/workload.test.ts'],
  },
  'kube-errors': {
    // What a refused or failed API request says (apiCause, refused, notAnswered): the secret-free
    // wording of every CREATE_* and intake error (red team 9, findings 1, 5, 6).
    mutate: ['src/adapters/kube-errors.ts'],
    tests: [
      'test/unit/api-cause.test.ts',
      'test/unit/api-cause-table.test.ts',
      'test/unit/red-team-9-refused.test.ts',
      'test/unit/red-team-9-watch-error.test.ts',
    ],
  },
  evaluate: {
    mutate: ['src/evaluate/**/*.ts'],
    tests: ['test/unit/evaluate*.test.ts'],
  },
  audit: {
    // The pure files of src/audit/ except the report-*.ts HTML renderers (not measured yet).
    mutate: [
      'src/audit/{canonical,record-canonical,canonical-bytes,line-canonical,line-bytes,chain,chain-check,chain-report,checkpoint,keys,assess}.ts',
      'src/audit/{mask,mask-text,mask-command,credential-patterns}.ts',
      'src/audit/{fields,query,image-filter}.ts',
    ],
    // The narrow, fast unit tests (about 2 s of CPU in one process; the file-backed audit*.test.ts
    // and the property tests of canonical-oracle/mask-oracle took 141 s a run and are left out).
    tests: [
      'test/unit/chain-check.test.ts',
      'test/unit/chain-parts.test.ts',
      'test/unit/audit-fast-paths.test.ts',
      'test/unit/canonical.test.ts',
      'test/unit/canonical-cases.test.ts',
      'test/unit/canonical-bytes.test.ts',
      'test/unit/record-canonical.test.ts',
      'test/unit/assess.test.ts',
      'test/unit/mask.test.ts',
      'test/unit/mask-walk.test.ts',
      'test/unit/mask-lines.test.ts',
      'test/unit/credentials.test.ts',
      'test/unit/mask-url-userinfo.test.ts',
      'test/unit/mask-keywords.test.ts',
      'test/unit/mask-case.test.ts',
      'test/unit/mask-bundle-list.test.ts',
      'test/unit/query.test.ts',
      'test/unit/audit-fields.test.ts',
    ],
  },
};
