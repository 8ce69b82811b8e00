import { readdir, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { parse } from 'yaml';
import { FixtureError } from '../policy/fixtures.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText } from './operator-file.ts';
import { parseProblem } from '../errors/parse-problem.ts';

/**
 * Where a policy directory's fixture suites are by default: `policy-fixtures` beside it
 * (`policies/` → `policy-fixtures/`). Not inside it: `opa build` and `opa test` load every YAML
 * file of the directories they are given as data, and fixtures are not data.
 */
export const FIXTURES_DIR = 'policy-fixtures';

/** The default fixture directory of a policy directory. */
export const fixturesDirOf = (policyDir: string): string => join(dirname(policyDir), FIXTURES_DIR);

/**
 * Every fixture document under `dir` (`*.yaml`, `*.yml`, recursively, in name order; a symlink to
 * such a file too), parsed,
 * with its path relative to `dir`. A missing directory has no fixtures. Throws FixtureError for a
 * file that is not YAML.
 */
export async function readFixtureDocs(dir: string): Promise<{ file: string; doc: unknown }[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch((e: { code?: string }) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  const files: string[] = [];
  for (const e of entries) {
    if (!/\.ya?ml$/.test(e.name)) continue;
    const path = join(e.parentPath, e.name);
    // a suite that is a symlink to a file is a suite (red team 16, finding 4: it was skipped, exit 0)
    if (e.isFile() || (e.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile() === true))
      files.push(path);
  }
  files.sort();
  const out: { file: string; doc: unknown }[] = [];
  for (const path of files) {
    const file = relative(dir, path);
    try {
      out.push({
        file,
        doc: parse(await readOperatorText(path, OPERATOR_FILE_MAX_BYTES.policy), { maxAliasCount: 0 }) as unknown,
      });
    } catch (e) {
      throw new FixtureError(`${file}: ${parseProblem(e)}`);
    }
  }
  return out;
}
