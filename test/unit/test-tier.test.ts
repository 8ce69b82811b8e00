import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

/**
 * scripts/test-tier.ts fails a tier that ran too little (issue 15 §6). The class: a tier that
 * passes without testing — a glob that matches nothing, an empty file, a file whose tests are all
 * skipped or whose describe is empty, fewer tests than the tier had — each of which `node --test`
 * alone reports as a pass (`tests 0`). Each case runs the script over files in a temp dir.
 */
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'test-tier-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

const ONE = "import { test } from 'node:test';\ntest('one', () => {});\n";
const CASES: readonly {
  readonly name: string;
  readonly files: Readonly<Record<string, string>>;
  readonly min: number;
  readonly fails: RegExp | undefined;
}[] = [
  { name: 'a file with a test, minimum met', files: { 'a.test.ts': ONE }, min: 1, fails: undefined },
  {
    name: 'an empty file beside a good one',
    files: { 'a.test.ts': ONE, 'empty.test.ts': '' },
    min: 1,
    fails: /empty\.test\.ts ran no test/,
  },
  {
    name: 'a file whose only test is skipped',
    files: {
      'a.test.ts': ONE,
      'skipped.test.ts': "import { test } from 'node:test';\ntest('s', { skip: true }, () => {});\n",
    },
    min: 1,
    fails: /skipped\.test\.ts ran no test/,
  },
  {
    name: 'a file with an empty describe',
    files: {
      'a.test.ts': ONE,
      'suite.test.ts': "import { describe } from 'node:test';\ndescribe('nothing', () => {});\n",
    },
    min: 1,
    fails: /suite\.test\.ts ran no test/,
  },
  {
    name: 'fewer tests than the minimum',
    files: { 'a.test.ts': ONE },
    min: 2,
    fails: /1 tests ran, fewer than the tier's minimum of 2/,
  },
  { name: 'a glob that matches nothing', files: {}, min: 0, fails: /no file matches/ },
];

/** Runs the script outside this test run's context (no NODE_TEST_CONTEXT, no coverage directory). */
function tier(glob: string, min: number): Promise<{ code: number; stderr: string }> {
  const { NODE_TEST_CONTEXT: _c, NODE_V8_COVERAGE: _v, ...env } = process.env;
  return new Promise((done) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'scripts', 'test-tier.ts'), '--glob', glob, '--min', String(min)],
      { env, cwd: dir },
      (error, _stdout, stderr) => done({ code: error === null ? 0 : Number(error.code ?? 1), stderr }),
    );
  });
}

for (const [i, c] of CASES.entries())
  test(`test-tier: ${c.name} ${c.fails === undefined ? 'passes' : 'fails'}`, async () => {
    const sub = join(dir, `case-${i}`);
    await rm(sub, { recursive: true, force: true });
    await mkdir(sub);
    for (const [file, text] of Object.entries(c.files)) await writeFile(join(sub, file), text);
    const { code, stderr } = await tier(join(sub, '*.test.ts'), c.min);
    if (c.fails === undefined) assert.equal(code, 0, stderr);
    else {
      assert.equal(code, 1, stderr);
      assert.match(stderr, c.fails);
    }
  });
