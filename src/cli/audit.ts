import { Command, Option } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { auditLines, verifyAuditDir } from '../adapters/audit-files.ts';
import { checkpointPublicKey } from '../audit/keys.ts';
import { matches, QUERY_COLUMNS, row, toCsv, type AuditFilter } from '../audit/query.ts';
import type { AuditRecord } from '../audit/record.ts';
import { renderReport } from '../audit/report.ts';
import { CliError, EXIT, painter, type Io } from './io.ts';
import { examples } from './options.ts';

async function publicKey(file: string | undefined): Promise<KeyObject | undefined> {
  if (file === undefined) return undefined;
  try {
    return checkpointPublicKey(await readFile(file, 'utf8'));
  } catch (e) {
    throw new CliError('AUDIT_READ_FAILED', `cannot use ${file} as the checkpoint public key: ${e instanceof Error ? e.message : String(e)}`);
  }
}

const readFailed = (dir: string) => (e: unknown): never => {
  throw new CliError('AUDIT_READ_FAILED', `cannot read the audit log in ${dir}: ${e instanceof Error ? e.message : String(e)}`);
};

export function auditCommands(io: Io, setCode: (c: number) => void): Command {
  const paint = painter(io);
  const audit = new Command('audit').description('verify, query and report on the audit log');
  audit
    .command('verify <dir>')
    .description('check the hash chain across segments and the signed checkpoints; names the first bad record')
    .option('--public-key <file>', 'PEM public key of the checkpoint signer (without it, signatures are not checked)')
    .addOption(new Option('--output <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', examples('kubiya-runner audit verify /var/lib/kubiya/audit --public-key audit-signing.pub.pem', 'kubiya-runner audit verify .kubiya/demo/audit --output json') + '\nverify: 0 intact, 1 a record or checkpoint is bad (the first one is named).')
    .action(async (dir: string, opts: { output: string; publicKey?: string }) => {
      const key = await publicKey(opts.publicKey);
      const report = await verifyAuditDir(dir, key, io.color ? (n) => io.err(`verified ${n} records ...`) : undefined).catch(readFailed(dir));
      if (report.segments === 0) throw new CliError('AUDIT_READ_FAILED', `no audit segments in ${dir}`);
      if (opts.output === 'json') io.out(JSON.stringify(report));
      else if (report.ok) {
        io.out(`${paint('green', 'ok')}: ${report.records} records in ${report.segments} segment(s), chain intact, head ${report.head.slice(0, 16)}…`);
        io.out(key === undefined ? `checkpoints: ${report.checkpoints.total} present, signatures NOT checked (give --public-key)` : `checkpoints: ${report.checkpoints.verified} of ${report.checkpoints.total} verified, last at seq ${report.checkpoints.lastSeq}`);
      } else io.out(`${paint('red', 'BROKEN')}: first bad record is seq ${report.firstBad?.seq ?? '?'} (${report.firstBad?.where ?? ''}): ${report.firstBad?.reason ?? ''}`);
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
    .addOption(new Option('--output <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .addHelpText('after', examples('kubiya-runner audit query .kubiya/demo/audit --outcome deny', 'kubiya-runner audit query /var/lib/kubiya/audit --since 2026-11-01T00:00:00Z --policy images --output csv > denials.csv'))
    .action(async (dir: string, opts: AuditFilter & { output: string; limit?: number }) => {
      const found: AuditRecord[] = [];
      try {
        for await (const { line } of auditLines(dir)) {
          const r = JSON.parse(line) as AuditRecord;
          if (matches(r, opts)) found.push(r);
          if (opts.limit !== undefined && found.length >= opts.limit) break;
        }
      } catch (e) {
        readFailed(dir)(e);
      }
      if (opts.output === 'json') for (const r of found) io.out(JSON.stringify(r));
      else if (opts.output === 'csv') io.out(toCsv(found.map(row), QUERY_COLUMNS).trimEnd());
      else {
        const cols = ['seq', 'timestamp', 'stage', 'outcome', 'code', 'workflow', 'step', 'message'] as const;
        io.out(cols.join('\t'));
        for (const r of found.map(row)) io.out(cols.map((c) => r[c]).join('\t'));
        io.err(`${found.length} record(s)`);
      }
    });
  audit
    .command('report <dir>')
    .description('write one self-contained HTML page: verification, decisions over time, top deny codes, top images, per-policy counts')
    .requiredOption('--out <file>', 'HTML file to write')
    .option('--public-key <file>', 'PEM public key of the checkpoint signer')
    .option('--title <text>', 'page title', 'kubiya-runner audit report')
    .addHelpText('after', examples('kubiya-runner audit report /var/lib/kubiya/audit --out audit.html --public-key audit-signing.pub.pem'))
    .action(async (dir: string, opts: { out: string; publicKey?: string; title: string }) => {
      const key = await publicKey(opts.publicKey);
      const verification = await verifyAuditDir(dir, key).catch(readFailed(dir));
      const records: AuditRecord[] = [];
      try {
        for await (const { line } of auditLines(dir)) {
          try {
            records.push(JSON.parse(line) as AuditRecord);
          } catch {
            // a broken line is reported by the verification summary
          }
        }
      } catch (e) {
        readFailed(dir)(e);
      }
      await writeFile(opts.out, renderReport(records, verification, opts.title));
      io.out(`wrote ${opts.out} (${records.length} records; verification ${verification.ok ? 'intact' : 'BROKEN'})`);
      setCode(verification.ok ? EXIT.ok : EXIT.failed);
    });
  return audit;
}
