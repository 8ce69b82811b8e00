import { Command, Option } from 'commander';
import { ChainChanged, trustedRecords } from '../adapters/audit-chains.ts';
import { readTrusted } from '../adapters/audit-files.ts';
import {
  FAIL_ON,
  replayStream,
  trippedGates,
  type ActionCounts,
  type FailOn,
  type ReplayReport,
} from '../policy/replay.ts';
import { printable } from '../audit/query.ts';
import { breakNotice, publicKey } from './audit.ts';
import { CliError, EXIT, painter, type Colour, type Io } from './io.ts';
import { examples, outputOption } from './options.ts';
import { DEFAULT_POLICIES, engineFor, settingsSource, sourceOptions, type SourceOptions } from './policy-source.ts';

interface ReplayOptions extends SourceOptions {
  audit: string;
  bundle?: string;
  policies: string;
  output: string;
  failOn?: FailOn[];
  failOnNewDenies?: boolean;
  publicKey?: string;
}

const parseGates = (text: string, previous: FailOn[] = []): FailOn[] => {
  const gates = text.split(',').map((g) => g.trim());
  const bad = gates.filter((g) => !(FAIL_ON as readonly string[]).includes(g));
  if (bad.length > 0)
    throw new CliError('CONFIG_INVALID', `--fail-on: unknown ${bad.join(', ')} (${FAIL_ON.join(', ')})`);
  return [...previous, ...(gates as FailOn[])];
};

const countsLine = (name: string, n: ActionCounts): string =>
  `  ${name.padEnd(36)} ${(['deny', 'warn', 'audit'] as const).map((a) => `${String(n[a].before).padStart(5)} → ${String(n[a].after).padEnd(5)}`).join('  ')}`;

/** The report as text: the changes, then counts per code and per policy (before → after for each action). */
function printReport(io: Io, report: ReplayReport): void {
  const paint = painter(io);
  const count = (n: number, label: string, colour: Colour): string => paint(n > 0 ? colour : 'green', `${n} ${label}`);
  io.out(
    `candidate ${report.candidate}: ${report.replayed} recorded decisions replayed, ${report.unchanged} unchanged`,
  );
  io.out(
    [
      count(report.newlyDenied.length, 'newly denied', 'red'),
      count(report.newlyAllowed.length, 'newly allowed', 'yellow'),
      count(report.newlyWarned.length, 'newly warned', 'yellow'),
      count(report.noLongerWarned.length, 'no longer warned', 'yellow'),
      count(report.errors.length, 'evaluation errors', 'red'),
    ].join(', '),
  );
  for (const c of report.newlyDenied)
    io.out(`  denied    ${c.workflow}/${c.step}  ${c.after.join(', ')}  (decision ${c.decision_id})`);
  for (const c of report.newlyAllowed)
    io.out(`  allowed   ${c.workflow}/${c.step}  was ${c.before.join(', ')}  (decision ${c.decision_id})`);
  for (const c of report.newlyWarned)
    io.out(
      `  warned    ${c.workflow}/${c.step}  ${c.after.filter((x) => !c.before.includes(x)).join(', ')}  (decision ${c.decision_id})`,
    );
  for (const c of report.noLongerWarned)
    io.out(
      `  unwarned  ${c.workflow}/${c.step}  was ${c.before.filter((x) => !c.after.includes(x)).join(', ')}  (decision ${c.decision_id})`,
    );
  for (const c of report.errors)
    io.out(
      `  error     ${c.workflow}/${c.step}  ${c.error?.code ?? ''}: ${c.error?.message ?? ''}  (decision ${c.decision_id})`,
    );
  for (const [title, table] of [
    ['per code', report.byCode],
    ['per policy', report.byPolicy],
  ] as const) {
    const rows = Object.entries(table).sort(([a], [b]) => a.localeCompare(b));
    if (rows.length === 0) continue;
    io.out(`${title.padEnd(38)} deny before → after  warn before → after  audit before → after`);
    for (const [name, n] of rows) io.out(countsLine(name, n));
  }
}

/** `policy replay`: recorded inputs against a candidate, with CI gates. */
export function replayCommand(io: Io, setCode: (c: number) => void): Command {
  const paint = painter(io);
  const cmd = new Command('replay')
    .description(
      're-evaluate the inputs recorded in an audit log against a candidate bundle and show what would change',
    )
    .requiredOption('--audit <dir>', 'audit directory')
    .option('--bundle <file>', 'candidate bundle (default: build policies/ now)')
    .option('--policies <dir>', 'policy directory to build when no --bundle is given', DEFAULT_POLICIES)
    .addOption(outputOption())
    .addOption(
      new Option(
        '--fail-on <gates>',
        `exit 1 when any of these is non-empty (comma-separated: ${FAIL_ON.join(', ')})`,
      ).argParser(parseGates),
    )
    .addOption(new Option('--fail-on-new-denies', 'the same as --fail-on newly-denied'))
    .option(
      '--public-key <file>',
      'PEM public key of the audit checkpoint signer (the log is verified first; nothing after a break is replayed, and the exit code is 1)',
    );
  for (const o of sourceOptions()) cmd.addOption(o);
  return cmd
    .addHelpText(
      'after',
      examples(
        'kubiya-runner policy replay --audit /var/lib/kubiya/audit --bundle /tmp/candidate.tar.gz --values my-values.yaml',
        'kubiya-runner policy replay --audit .kubiya/demo/audit --fail-on newly-denied,newly-warned,errors --output json',
      ),
    )
    .action(async (opts: ReplayOptions) => {
      // Only records before the first break of the chain are replayed (the log is verified first).
      const key = await publicKey(opts.publicKey);
      // First pass: the chain verified, no record held; then its trusted evaluate records streamed.
      const log = await readTrusted(opts.audit, key, () => false).catch((e: unknown) => {
        throw new CliError(
          'AUDIT_READ_FAILED',
          `cannot read the audit log in ${opts.audit}: ${e instanceof Error ? e.message : String(e)}`,
        );
      });
      const notice = breakNotice(log);
      const engine = await engineFor(opts.bundle, opts.policies, await settingsSource(opts), {}, opts);
      const report = await replayStream(
        trustedRecords({ dir: opts.audit, log }, (r) => r.stage === 'evaluate'),
        engine,
        io.color ? (n) => io.err(`replayed ${n} decisions ...`) : undefined,
      ).catch((e: unknown) => {
        if (e instanceof ChainChanged) throw new CliError('AUDIT_TAMPERED', printable(e.message), EXIT.failed);
        throw e;
      });
      const gates: FailOn[] = [
        ...(opts.failOn ?? []),
        ...(opts.failOnNewDenies === true ? ['newly-denied' as const] : []),
      ];
      const tripped = trippedGates(report, gates);
      const audit = {
        intact: log.report.ok,
        records: log.report.records,
        untrusted: log.untrusted,
        ...(log.report.firstBad !== undefined ? { firstBad: log.report.firstBad } : {}),
      };
      if (notice !== undefined) io.err(paint('red', notice));
      if (opts.output === 'json') io.out(JSON.stringify({ ...report, audit, failedGates: tripped }, null, 2));
      else printReport(io, report);
      if (tripped.length > 0) io.err(paint('red', `--fail-on: ${tripped.join(', ')}`));
      setCode(notice !== undefined || tripped.length > 0 ? EXIT.failed : EXIT.ok);
    });
}
