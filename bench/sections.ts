/**
 * The full bench's sections (bench/run.ts), each run so that one that fails is reported, not fatal
 * to the others (issue 20: `npm run bench` exits non-zero when a row or section fails, and says
 * which): a section that throws is logged with its cause, left out of the tables and goals, and the
 * run goes on; at the end every failure is listed and the exit code is 1.
 *
 * `--only a,b` runs the named sections alone (e.g. `--only scale` for the 5,000-pod run).
 * KUBIYA_BENCH_FAULT=<section>[:uncaught] makes that section fail on purpose, before it does any work:
 * by throwing (a failed section), or with `:uncaught` by an exception nobody catches (the fatal
 * guard's path, bench/fatal.ts). For the tests of this file (test/unit/bench-sections.test.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { onFatalCleanup } from './fatal.ts';

/** Every section of the full bench, in the order it runs them. */
export const SECTION_NAMES = ['decision', 'start', 'policy', 'audit', 'e2e', 'scale', 'peers'] as const;
export type SectionName = (typeof SECTION_NAMES)[number];

/** A section (or a peers row) that failed, and why. */
export interface SectionFailure {
  readonly section: string;
  readonly cause: string;
}

/** The sections `--only` names (comma-separated), or every section when it is absent; an unknown name throws. */
export function parseOnly(value: string | undefined): ReadonlySet<SectionName> {
  if (value === undefined) return new Set(SECTION_NAMES);
  const names = value.split(',').map((s) => s.trim());
  for (const n of names)
    if (!(SECTION_NAMES as readonly string[]).includes(n))
      throw new Error(`--only: unknown section "${n}" (sections: ${SECTION_NAMES.join(', ')})`);
  return new Set(names as SectionName[]);
}

/** Runs the selected sections, each guarded; collects what failed. */
export class Sections {
  readonly failures: SectionFailure[] = [];
  private readonly log: (s: string) => void;
  private readonly selected: ReadonlySet<SectionName>;
  private readonly fault: string | undefined;

  constructor(log: (s: string) => void, selected: ReadonlySet<SectionName>, fault = process.env.KUBIYA_BENCH_FAULT) {
    this.log = log;
    this.selected = selected;
    this.fault = fault;
  }

  /** True when `name` is to run (`--only`). */
  has(name: SectionName): boolean {
    return this.selected.has(name);
  }

  /**
   * Runs section `name` (when selected): its result, or undefined when it was not selected or
   * threw (the cause is logged and kept in `failures`).
   */
  async run<T>(name: SectionName, fn: () => Promise<T>): Promise<T | undefined> {
    if (!this.selected.has(name)) return undefined;
    try {
      await this.injected(name);
      return await fn();
    } catch (e) {
      this.fail(name, e instanceof Error ? e.message : String(e));
      if (e instanceof Error && e.stack !== undefined) this.log(e.stack);
      return undefined;
    }
  }

  /** Records a failure found inside a section (a peers row, a scale run that did not finish). */
  fail(section: string, cause: string): void {
    this.failures.push({ section, cause });
    this.log(`${section} FAILED: ${cause}`);
  }

  /** Logs every failure; the process exit code for them (0: none). */
  report(): number {
    if (this.failures.length === 0) return 0;
    this.log(`bench: ${this.failures.length} section(s) or row(s) FAILED:`);
    for (const f of this.failures) this.log(`  ${f.section}: ${f.cause}`);
    return 1;
  }

  private async injected(name: SectionName): Promise<void> {
    if (this.fault === name) throw new Error(`injected fault in ${name} (KUBIYA_BENCH_FAULT)`);
    if (this.fault !== `${name}:uncaught`) return;
    const undo = onFatalCleanup(async () => {
      await sleep(20);
      this.log(`cleanup of ${name} ran`);
    });
    setTimeout(() => {
      throw new Error(`injected uncaught exception in ${name} (KUBIYA_BENCH_FAULT)`);
    }, 10);
    // The guard exits the process; were it missing, the section would end here as a plain failure.
    await sleep(10_000);
    undo();
    throw new Error(`the fatal guard did not stop the bench after an uncaught exception in ${name}`);
  }
}
