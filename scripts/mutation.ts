// `npm run test:mutation [scope…]`: StrykerJS over the pure security stages, one scope at a time
// (scopes and their unit tests: stryker.config.mjs), then one summary line per scope from the JSON
// reports. Exit 1 when a scope scores under 80 %, the target of issue 15. Not run by `npm test`.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SCOPES } from './mutation-scopes.ts';

const TARGET = 80;

interface MutantReport {
  status: string;
}
interface Report {
  files: Record<string, { mutants: MutantReport[] }>;
}

/** Score as Stryker defines it: killed + timed out over all valid mutants (no coverage, no compile errors). */
function score(report: Report): { score: number; killed: number; survived: number; total: number } {
  let killed = 0;
  let survived = 0;
  for (const file of Object.values(report.files)) {
    for (const m of file.mutants) {
      if (m.status === 'Killed' || m.status === 'Timeout') killed++;
      else if (m.status === 'Survived' || m.status === 'NoCoverage') survived++;
    }
  }
  const total = killed + survived;
  return { score: total === 0 ? 0 : (100 * killed) / total, killed, survived, total };
}

const scopes = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(SCOPES);
let failed = false;
for (const scope of scopes) {
  if (!(scope in SCOPES)) throw new Error(`unknown scope ${scope}; one of ${Object.keys(SCOPES).join(', ')}`);
  const run = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs'], {
    stdio: 'inherit',
    env: { ...process.env, MUTATION_SCOPE: scope },
  });
  if (run.status !== 0) {
    failed = true;
    console.error(`${scope}: stryker exited ${String(run.status)}`);
    continue;
  }
  const s = score(JSON.parse(readFileSync(`reports/mutation/${scope}.json`, 'utf8')) as Report);
  console.log(
    `${scope}: ${s.score.toFixed(1)} % (${s.killed} killed or timed out, ${s.survived} survived, ${s.total} mutants)`,
  );
  if (s.score < TARGET) failed = true;
}
process.exit(failed ? 1 : 0);
