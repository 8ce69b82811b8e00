import { Command } from 'commander';
import { writeFileWhole } from '../adapters/atomic-file.ts';
import { ChainChanged, timelineOf, type ChainRead } from '../adapters/audit-chains.ts';
import { printable, queryPredicate } from '../audit/query.ts';
import type { AuditRecord } from '../audit/record.ts';
import { renderTally, ReportTally } from '../audit/report.ts';
import { reportVerdict } from '../audit/report-sections.ts';
import { findingLines, loadChains, publicKey, readerFindings } from './audit-read.ts';
import { queryCommand } from './audit-query.ts';
import { verifyCommand } from './audit-verify.ts';
import { CliError, EXIT, painter, type Io } from './io.ts';
import { examples } from './options.ts';
import { statusLines } from './status-lines.ts';

export { breakNotice, publicKey } from './audit-read.ts';

interface ReportOptions {
  out: string;
  publicKey?: string;
  title: string;
  since?: string;
  until?: string;
}

/**
 * The report's counts over the trusted records in range: a pass that counts (ReportTally), then
 * one for the chart's time columns, whose span only the first knows. Each pass streams the
 * records (one held per chain) and checks the chain again (trustedRecords).
 */
async function tallyOf(
  chains: readonly ChainRead[],
  keep: (r: AuditRecord) => boolean,
): Promise<{ tally: ReportTally; buckets: ReturnType<ReportTally['buckets']> }> {
  try {
    const tally = new ReportTally(chains.length > 1);
    for await (const e of timelineOf(chains, keep)) tally.add(e.record, e.chain);
    const buckets = tally.buckets();
    if (buckets !== undefined) for await (const e of timelineOf(chains, keep)) buckets.add(e.record);
    return { tally, buckets };
  } catch (e) {
    if (e instanceof ChainChanged) throw new CliError('AUDIT_TAMPERED', printable(e.message), EXIT.failed);
    throw e;
  }
}

/** `audit report <dirs...>`: one self-contained HTML page over every chain given. */
function reportCommand(io: Io, setCode: (c: number) => void): Command {
  const paint = painter(io);
  return new Command('report')
    .argument('<dirs...>', 'audit directories, one per replica (one timeline)')
    .description(
      'write one self-contained HTML page: verification and coverage, policy revisions, every denial and error, reasons per policy, each run step by step',
    )
    .requiredOption('--out <file>', 'HTML file to write')
    .option('--public-key <file>', 'PEM public key of the checkpoint signer')
    .option('--title <text>', 'page title', 'kubiya-runner audit report')
    .option('--since <time>', 'count only records from this ISO 8601 time or date (inclusive; as audit query)')
    .option('--until <time>', 'count only records up to this ISO 8601 time or date (inclusive; as audit query)')
    .addHelpText(
      'after',
      examples(
        'kubiya-runner audit report /var/lib/kubiya/audit --out audit.html --public-key audit-signing.pub.pem',
        'kubiya-runner audit report audit-0 audit-1 --out audit.html --public-key audit-signing.pub.pem',
        'kubiya-runner audit report /var/lib/kubiya/audit --since 2026-11-01 --until 2026-11-30 --out november.html',
      ),
    )
    .action(async (dirs: string[], opts: ReportOptions) => {
      const range = queryPredicate({ since: opts.since, until: opts.until });
      if (!range.ok) throw new CliError('AUDIT_QUERY_INVALID', range.reason);
      const say = await statusLines(io, [opts.out]);
      const key = await publicKey(opts.publicKey);
      // First pass: every chain verified, no record held; then the trusted records streamed and counted.
      const chains = await loadChains(dirs, key, () => false);
      const findings = readerFindings(chains, key);
      const { tally, buckets } = await tallyOf(chains, range.match);
      const meta = {
        title: opts.title,
        chains,
        findings,
        generatedAt: new Date().toISOString(),
        range: { since: opts.since, until: opts.until },
      };
      await writeFileWhole(opts.out, renderTally(meta, tally, buckets));
      // The page's headline, word for word: the summary line says no more than the page does.
      say.out(printable(`wrote ${opts.out}: ${reportVerdict({ chains, findings }, tally.used).text}`));
      for (const l of findingLines(chains, findings)) io.err(paint('red', l));
      setCode(findings.some((f) => f.fails) ? EXIT.failed : EXIT.ok);
    });
}

export function auditCommands(io: Io, setCode: (c: number) => void): Command {
  const audit = new Command('audit').description('verify, query and report on the audit log (one or several chains)');
  audit.addCommand(verifyCommand(io, setCode));
  audit.addCommand(queryCommand(io, setCode));
  audit.addCommand(reportCommand(io, setCode));
  return audit;
}
