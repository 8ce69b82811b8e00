/**
 * A `node --test` reporter that writes one JSON document for scripts/test-tier.ts: the tests run
 * per file (suites and skipped/todo tests not counted), the failures, and the coverage summary per
 * file when coverage was on. The human-readable output comes from the spec reporter beside it.
 */
import { resolve } from 'node:path';
import type { TestEvent } from 'node:test/reporters';

interface FileCoverage {
  readonly path: string;
  readonly totalLineCount: number;
  readonly coveredLineCount: number;
  readonly totalBranchCount: number;
  readonly coveredBranchCount: number;
}

/** What the reporter writes: tests run and failed per file, and line/branch counts per covered file. */
export interface TierCounts {
  readonly perFile: Record<string, number>;
  readonly failed: number;
  readonly coverage: readonly FileCoverage[] | undefined;
}

export default async function* countReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const perFile: Record<string, number> = {};
  let failed = 0;
  let coverage: FileCoverage[] | undefined;
  for await (const event of source) {
    if (event.type === 'test:pass' || event.type === 'test:fail') {
      const { data } = event;
      if (data.details.type === 'suite' || data.skip !== undefined || data.todo !== undefined) continue;
      const file = data.file ?? '(unknown file)';
      // A file that ran no test is reported as one test named by the file itself: that is none.
      if (data.nesting === 0 && resolve(data.name) === file && event.type === 'test:pass') continue;
      perFile[file] = (perFile[file] ?? 0) + 1;
      if (event.type === 'test:fail') failed++;
    } else if (event.type === 'test:coverage') {
      coverage = event.data.summary.files.map((f) => ({
        path: f.path,
        totalLineCount: f.totalLineCount,
        coveredLineCount: f.coveredLineCount,
        totalBranchCount: f.totalBranchCount,
        coveredBranchCount: f.coveredBranchCount,
      }));
    }
  }
  const counts: TierCounts = { perFile, failed, coverage };
  yield JSON.stringify(counts);
}
