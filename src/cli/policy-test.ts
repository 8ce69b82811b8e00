import { Command } from 'commander';
import { writeFileWhole } from '../adapters/atomic-file.ts';
import { resolve } from 'node:path';
import { execFileOwned } from '../adapters/exit-cleanup.ts';
import { fixturesDirOf, readFixtureDocs } from '../adapters/policy-fixtures.ts';
import { PolicyBuildError } from '../adapters/policy-sources.ts';
import { inSource, withPolicySnapshot } from '../adapters/policy-snapshot.ts';
import { describeOutcome, fixtureCases, FixtureError, runFixtures, type CaseResult } from '../policy/fixtures.ts';
import { junitXml, type JUnitCase } from '../policy/junit.ts';
import { podContextOf } from '../policy/pod-context.ts';
import { maskKeyMaterial } from '../policy/key-material.ts';
import { CliError, EXIT, painter, type Io } from './io.ts';
import { examples } from './options.ts';
import {
  DEFAULT_POLICIES,
  engineFor,
  runnerConfig,
  settingsSource,
  sourceOptions,
  toolPath,
  type SourceOptions,
} from './policy-source.ts';
import type { Env } from './serve.ts';
import { statusLines } from './status-lines.ts';

interface OpaResult {
  location?: { file: string; row: number };
  package: string;
  name: string;
  fail?: boolean;
  error?: { message?: string } | string;
  output?: string;
  duration?: number;
}

/** opa's own output of a failed run (load, parse and compile errors with file:line are on stderr). */
const opaOutput = (e: { stdout?: string; stderr?: string }): string =>
  maskKeyMaterial(`${e.stderr ?? ''}\n${e.stdout ?? ''}`.trim());

/**
 * The Rego unit tests: `opa test` of the directory (fixtures ignored). Returns the cases, or the
 * reason they could not run (opa's message, with file:line, for a file that does not load).
 */
async function regoTests(opa: string, dir: string): Promise<{ cases: JUnitCase[] } | { error: string }> {
  const out = await execFileOwned(opa, ['test', dir, '--format', 'json'], {
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    (r) => r.stdout,
    (e: { stdout?: string; stderr?: string }) => {
      // a failed test also exits non-zero; its report is still on stdout
      try {
        JSON.parse(e.stdout ?? '');
        return e.stdout ?? '';
      } catch {
        return new Error(opaOutput(e) || 'opa test failed without a message');
      }
    },
  );
  if (out instanceof Error) return { error: out.message };
  const results = JSON.parse(out) as OpaResult[];
  return {
    cases: results.map((r) => {
      const error = typeof r.error === 'string' ? r.error : r.error?.message;
      const where = r.location !== undefined ? `${r.location.file}:${r.location.row}` : r.package;
      const failed = r.fail === true || error !== undefined;
      return {
        classname: r.package.replace(/^data\./, ''),
        name: r.name,
        seconds: (r.duration ?? 0) / 1e9,
        ...(failed ? { failure: `${where}: ${error ?? 'test failed'}${r.output ? `\n${r.output}` : ''}` } : {}),
      };
    }),
  };
}

/** Per-file coverage of the non-test Rego, from `opa test --coverage`. */
async function coverage(opa: string, dir: string): Promise<string[]> {
  const out = await execFileOwned(opa, ['test', dir, '--coverage', '--format', 'json'], {
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    (r) => r.stdout,
    (e: { stdout?: string }) => e.stdout ?? '',
  );
  try {
    const report = JSON.parse(out) as { files?: Record<string, { coverage: number }> };
    return Object.entries(report.files ?? {})
      .filter(([file]) => !file.endsWith('_test.rego'))
      .map(([file, { coverage: c }]) => `coverage ${c.toFixed(1).padStart(5)} %  ${file}`);
  } catch {
    return [];
  }
}

/**
 * The Rego unit tests and the coverage of the policy directory `dir`: opa runs on the copy read once
 * (src/adapters/policy-snapshot.ts), and its messages name the files in `dir`. Throws CliError
 * (POLICY_BUILD_FAILED) for a directory opa could not read.
 */
async function unitTests(
  opa: string,
  dir: string,
): Promise<readonly [{ cases: JUnitCase[] } | { error: string }, string[]]> {
  return withPolicySnapshot(dir, async (snapshot) => {
    const tested = await regoTests(opa, snapshot.root);
    const relabel = (text: string): string => inSource(snapshot, text);
    return [
      'error' in tested
        ? { error: relabel(tested.error) }
        : { cases: tested.cases.map((c) => (c.failure === undefined ? c : { ...c, failure: relabel(c.failure) })) },
      (await coverage(opa, snapshot.root)).map(relabel),
    ] as const;
  }).catch((e: unknown) => {
    throw e instanceof PolicyBuildError ? new CliError(e.code, e.message) : e;
  });
}

interface TestOptions extends SourceOptions {
  policies: string;
  fixtures?: string;
  bundle?: string;
  config?: string;
  junit?: string;
}

/** The fixture suites through the compiled WASM (the bundle given, or policies/ built now). */
async function fixtureResults(opts: TestOptions, env: Env): Promise<{ results: CaseResult[]; dir: string }> {
  const source = await settingsSource(opts);
  const ctx = podContextOf(await runnerConfig(opts.config, env, source));
  const dir = opts.fixtures ?? fixturesDirOf(resolve(opts.policies));
  try {
    const cases = (await readFixtureDocs(resolve(dir))).flatMap(({ file, doc }) => fixtureCases(file, doc, ctx));
    const engine = await engineFor(opts.bundle, opts.policies, source, { checkFixtures: false, fixtures: dir }, opts);
    return { results: runFixtures(cases, engine), dir };
  } catch (e) {
    if (e instanceof FixtureError) throw new CliError('POLICY_BUILD_FAILED', `fixture suites in ${dir}: ${e.message}`);
    throw e;
  }
}

/** `policy test`: the Rego unit tests, then the fixture suites through the compiled WASM. */
export function testCommand(io: Io, setCode: (c: number) => void, env: Env): Command {
  const paint = painter(io);
  const cmd = new Command('test')
    .description(
      'run the Rego unit tests (opa test, with coverage) and the fixture suites (expected decision per step) through the compiled WASM',
    )
    .option('--policies <dir>', 'policy directory', DEFAULT_POLICIES)
    .option(
      '--fixtures <dir>',
      'fixture suites: workflow files with an "expect" map (default: policy-fixtures beside the policy directory)',
    )
    .option('--bundle <file>', 'run the fixture suites against this bundle (default: build the policy directory now)')
    .option(
      '--config <file>',
      'runner configuration the fixtures’ pods are built with (default: --values, else the defaults)',
    )
    .option('--junit <file>', 'also write the results as JUnit XML (for CI)');
  for (const o of sourceOptions()) cmd.addOption(o);
  return cmd
    .addHelpText(
      'after',
      examples(
        'kubiya-runner policy test',
        'kubiya-runner policy test --values my-values.yaml --junit policy-tests.xml',
      ) +
        "\ntest: 0 every unit test and fixture passed, 1 one failed or the policies do not load (opa's message shows where).",
    )
    .action(async (opts: TestOptions) => {
      const say = await statusLines(io, [opts.junit]);
      const opa = toolPath('opa');
      const dir = resolve(opts.policies);
      const [unit, covered] = await unitTests(opa, dir);
      if ('error' in unit) {
        io.err(`POLICY_BUILD_FAILED: opa test could not load ${opts.policies}:\n${unit.error}`);
        setCode(EXIT.failed);
        return;
      }
      for (const c of unit.cases.filter((x) => x.failure !== undefined))
        say.out(`${paint('red', 'FAIL')} ${c.classname}.${c.name}\n  ${c.failure!.replace(/\n/g, '\n  ')}`);
      const unitFailed = unit.cases.filter((c) => c.failure !== undefined).length;
      say.out(`rego unit tests: ${unit.cases.length - unitFailed}/${unit.cases.length} passed`);
      for (const line of covered) say.out(line);
      if (covered.length === 0 && unitFailed > 0)
        say.out('coverage: not reported (opa reports it only when every unit test passes)');

      const { results, dir: fixturesDir } = await fixtureResults(opts, env);
      printFixtures(say, results, fixturesDir);
      const fixtureCases = results.map((r) => ({
        classname: r.file,
        name: r.step,
        ...(r.ok ? {} : { failure: `expected ${describeOutcome(r.expected, true)}, got ${describeActual(r)}` }),
      }));
      if (opts.junit !== undefined)
        await writeFileWhole(
          opts.junit,
          junitXml([
            { name: 'rego unit tests', cases: unit.cases },
            { name: 'fixture suites', cases: fixtureCases },
          ]),
        );
      setCode(unitFailed === 0 && results.every((r) => r.ok) ? EXIT.ok : EXIT.failed);
    });

  function printFixtures(out: Io, results: readonly CaseResult[], fixturesDir: string): void {
    out.out(`fixture suites (${fixturesDir}): expected and actual decision per step, through the compiled WASM`);
    const width = Math.max(8, ...results.map((r) => `${r.file}#${r.step}`.length));
    for (const r of results) {
      const name = `${r.file}#${r.step}`.padEnd(width);
      if (r.ok) out.out(`  ${paint('green', 'ok  ')}  ${name}  ${describeOutcome(r.actual)}`);
      else
        out.out(
          `  ${paint('red', 'FAIL')}  ${name}  expected ${describeOutcome(r.expected, true)}\n  ${' '.repeat(6 + width)}  got      ${describeActual(r)}`,
        );
    }
    const failed = results.filter((r) => !r.ok).length;
    out.out(`fixture cases: ${results.length - failed}/${results.length} as expected`);
  }
}

const describeActual = (r: CaseResult): string =>
  r.actual.error !== undefined ? `error ${r.actual.error.code}: ${r.actual.error.message}` : describeOutcome(r.actual);
