import { Command, Option } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { readTrusted, checkAuditDir, type TrustedLog } from '../adapters/audit-files.ts';
import { checkpointPublicKey } from '../audit/keys.ts';
import { matches, QUERY_COLUMNS, row, toCsv, type AuditFilter } from '../audit/query.ts';
import { renderReport } from '../audit/report.ts';
import { CliError, EXIT, painter, type Io } from './io.ts';
import { examples } from './options.ts';

/** The checkpoint signer's public key from a PEM file (undefined without one); a bad key is AUDIT_READ_FAILED. */
export async function publicKey(file: string | undefined): Promise<KeyObject | undefined> {
  if (file === undefined) return undefined;
  try {
    return checkpointPublicKey(await readFile(file, 'utf8'));
  } catch (e) {
    throw new CliError(
      'AUDIT_READ_FAILED',
      `cannot use ${file} as the checkpoint public key: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

const readFailed =
  (dir: string) =>
  (e: unknown): never => {
    throw new CliError(
      'AUDIT_READ_FAILED',
      `cannot read the audit log in ${dir}: ${e instanceof Error ? e.message : String(e)}`,
    );
  };

/**
 * The sentence every reader prints when the log is broken: where, why, and that nothing from
 * there on was used (exported so `policy replay` says it the same way).
 */
export function breakNotice(log: TrustedLog): string | undefined {
  const bad = log.report.firstBad;
  if (bad === undefined) return undefined;
  return `AUDIT_TAMPERED: the audit log is BROKEN at seq ${bad.seq} (${bad.where ?? ''}): ${bad.reason}. Only the ${Math.max(0, bad.seq - 1)} record(s) before it are used; ${log.untrusted} line(s) from there on are not trusted and not used.`;
}

export function auditCommands(io: Io, setCode: (c: number) => void): Command {
  const paint = painter(io);
  const audit = new Command('audit').description('verify, query and report on the audit log');
  audit
    .command('verify <dir>')
    .description('check the hash chain across segments and the signed checkpoints; names the first bad record')
    .option('--public-key <file>', 'PEM public key of the checkpoint signer (without it, signatures are not checked)')
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      examples(
        'kubiya-runner audit verify /var/lib/kubiya/audit --public-key audit-signing.pub.pem',
        'kubiya-runner audit verify .kubiya/demo/audit --output json',
      ) + '\nverify: 0 intact, 1 a record or checkpoint is bad (the first one is named).',
    )
    .action(async (dir: string, opts: { output: string; publicKey?: string }) => {
      const key = await publicKey(opts.publicKey);
      const report = await checkAuditDir(
        dir,
        key,
        io.color ? (n) => io.err(`verified ${n} records ...`) : undefined,
      ).catch(readFailed(dir));
      if (report.segments === 0) throw new CliError('AUDIT_READ_FAILED', `no audit segments in ${dir}`);
      if (opts.output === 'json') io.out(JSON.stringify(report));
      else if (report.ok) {
        io.out(
          `${paint('green', 'ok')}: ${report.records} records in ${report.segments} segment(s), chain intact, head ${report.head.slice(0, 16)}…`,
        );
        io.out(
          key === undefined
            ? `checkpoints: ${report.checkpoints.total} present, signatures NOT checked (give --public-key)`
            : `checkpoints: ${report.checkpoints.verified} of ${report.checkpoints.total} verified, last at seq ${report.checkpoints.lastSeq}`,
        );
        const u = report.checkpoints.uncovered;
        if (u !== null)
          io.out(
            `records ${u.from}..${u.to} are not covered by a ${key === undefined ? 'checkpoint (and no signature was checked)' : 'signed checkpoint'}: records appended there with a correct seq, prev and hash would verify`,
          );
      } else
        io.out(
          `${paint('red', 'BROKEN')}: first bad record is seq ${report.firstBad?.seq ?? '?'} (${report.firstBad?.where ?? ''}): ${report.firstBad?.reason ?? ''}`,
        );
      setCode(report.ok ? EXIT.ok : EXIT.failed);
    });
  audit
    .command('query <dir>')
    .description('filter the audit log and print a table, JSON lines or CSV')
    .option('--since <time>', 'ISO 8601 time (inclusive)')
    .option('--until <time>', 'ISO 8601 time (inclusive)')
    .option('--stage <stage>', 'receive, verify, validate, evaluate, mutate, create, finish')
    .option('--outcome <outcome>', 'allow, deny, error, success, failure')
    .option('--code <code>', 'an error or violation code, e.g. POLICY_DENIED, IMAGE_TAG_NOT_PINNED')
    .option('--workflow <id>', 'workflow id')
    .option('--step <name>', 'step name')
    .option('--image <image>', 'image of the step, a sidecar or an init container')
    .option('--policy <name>', 'policy package with a violation, e.g. images')
    .option('--limit <n>', 'at most this many records', (v) => Number(v))
    .option(
      '--public-key <file>',
      'PEM public key of the checkpoint signer (the log is verified first; nothing after a break is shown)',
    )
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .addHelpText(
      'after',
      examples(
        'kubiya-runner audit query .kubiya/demo/audit --outcome deny',
        'kubiya-runner audit query /var/lib/kubiya/audit --since 2026-11-01T00:00:00Z --policy images --output csv > denials.csv',
      ),
    )
    .action(async (dir: string, opts: AuditFilter & { output: string; limit?: number; publicKey?: string }) => {
      const key = await publicKey(opts.publicKey);
      const log = await readTrusted(dir, key, (r) => matches(r, opts)).catch(readFailed(dir));
      if (log.report.segments === 0) throw new CliError('AUDIT_READ_FAILED', `no audit segments in ${dir}`);
      const found = opts.limit !== undefined ? log.records.slice(0, opts.limit) : log.records;
      if (opts.output === 'json') for (const r of found) io.out(JSON.stringify(r));
      else if (opts.output === 'csv') io.out(toCsv(found.map(row), QUERY_COLUMNS).trimEnd());
      else {
        const cols = ['seq', 'timestamp', 'stage', 'outcome', 'code', 'workflow', 'step', 'message'] as const;
        io.out(cols.join('\t'));
        for (const r of found.map(row)) io.out(cols.map((c) => r[c]).join('\t'));
        io.err(`${found.length} record(s)`);
      }
      const notice = breakNotice(log);
      if (notice !== undefined) io.err(paint('red', notice));
      setCode(notice === undefined ? EXIT.ok : EXIT.failed);
    });
  audit
    .command('report <dir>')
    .description(
      'write one self-contained HTML page: verification, decisions over time, top deny codes, top images, per-policy counts',
    )
    .requiredOption('--out <file>', 'HTML file to write')
    .option('--public-key <file>', 'PEM public key of the checkpoint signer')
    .option('--title <text>', 'page title', 'kubiya-runner audit report')
    .addHelpText(
      'after',
      examples('kubiya-runner audit report /var/lib/kubiya/audit --out audit.html --public-key audit-signing.pub.pem'),
    )
    .action(async (dir: string, opts: { out: string; publicKey?: string; title: string }) => {
      const key = await publicKey(opts.publicKey);
      const log = await readTrusted(dir, key).catch(readFailed(dir));
      if (log.report.segments === 0) throw new CliError('AUDIT_READ_FAILED', `no audit segments in ${dir}`);
      await writeFile(opts.out, renderReport(log.records, log.report, opts.title, log.untrusted));
      io.out(`wrote ${opts.out} (${log.records.length} records; verification ${log.report.ok ? 'intact' : 'BROKEN'})`);
      const notice = breakNotice(log);
      if (notice !== undefined) io.err(paint('red', notice));
      setCode(log.report.ok ? EXIT.ok : EXIT.failed);
    });
  return audit;
}
