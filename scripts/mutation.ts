// `npm run test:mutation [scope…]`: StrykerJS over the pure security stages, one scope at a time
// (scopes and their unit tests: stryker.config.mjs), then one summary line per scope from the JSON
// reports. Exit 1 when a scope scores under 80 %, the target of issue 15. Not run by `npm test`.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SCOPES } from './mutation-scopes.ts';

const TARGET = 80;

interface MutantReport {
  status: string;
  mutatorName: string;
  replacement?: string;
  location: { start: { line: number } };
}
interface Report {
  files: Record<string, { mutants: MutantReport[] }>;
}

/** One line per surviving mutant: file:line, mutator, replacement (for docs/mutation.md). */
function survivors(report: Report): string[] {
  return Object.entries(report.files).flatMap(([file, { mutants }]) =>
    mutants
      .filter((m) => m.status === 'Survived' || m.status === 'NoCoverage')
      .map((m) => `${file}:${m.location.start.line} ${m.mutatorName} → ${JSON.stringify(m.replacement ?? '')}`),
  );
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

// `node scripts/mutation.ts --report <file.json>…`: the summary and survivors of finished runs (a
// scope measured in parts, see MUTATION_TESTS / MUTATION_LABEL in stryker.config.mjs).
if (process.argv[2] === '--report') {
  for (const file of process.argv.slice(3)) {
    const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
    const s = score(report);
    console.log(
      `${file}: ${s.score.toFixed(1)} % (${s.killed} killed or timed out, ${s.survived} survived, ${s.total} mutants)`,
    );
    for (const line of survivors(report)) console.log(`  ${line}`);
  }
  process.exit(0);
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
