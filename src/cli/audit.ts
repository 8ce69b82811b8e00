import { Command } from 'commander';
import { writeFileWhole } from '../adapters/atomic-file.ts';
import { timeline } from '../adapters/audit-chains.ts';
import { printable } from '../audit/query.ts';
import { renderReport } from '../audit/report.ts';
import { reportVerdict } from '../audit/report-sections.ts';
import { findingLines, loadChains, publicKey, readerFindings } from './audit-read.ts';
import { queryCommand } from './audit-query.ts';
import { verifyCommand } from './audit-verify.ts';
import { EXIT, painter, type Io } from './io.ts';
import { examples } from './options.ts';

export { breakNotice, publicKey } from './audit-read.ts';

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
    .addHelpText(
      'after',
      examples(
        'kubiya-runner audit report /var/lib/kubiya/audit --out audit.html --public-key audit-signing.pub.pem',
        'kubiya-runner audit report audit-0 audit-1 --out audit.html --public-key audit-signing.pub.pem',
      ),
    )
    .action(async (dirs: string[], opts: { out: string; publicKey?: string; title: string }) => {
      const key = await publicKey(opts.publicKey);
      const chains = await loadChains(dirs, key);
      const findings = readerFindings(chains, key);
      await writeFileWhole(
        opts.out,
        renderReport({
          title: opts.title,
          chains,
          records: timeline(chains),
          findings,
          generatedAt: new Date().toISOString(),
        }),
      );
      const used = chains.reduce((n, c) => n + c.log.records.length, 0);
      // The page's headline, word for word: the summary line says no more than the page does.
      io.out(printable(`wrote ${opts.out}: ${reportVerdict({ chains, findings }, used).text}`));
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
