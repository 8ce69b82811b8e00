import { Command, Option } from 'commander';
import { ChainChanged, timelineOf, type ChainRead } from '../adapters/audit-chains.ts';
import {
  csvLine,
  decisionLogEvent,
  printable,
  QUERY_COLUMNS,
  queryPredicate,
  row,
  TABLE_COLUMNS,
  tableLine,
  type AuditFilter,
} from '../audit/query.ts';
import type { AuditRecord } from '../audit/record.ts';
import { findingLines, loadChains, publicKey, readerFindings } from './audit-read.ts';
import { CliError, EXIT, painter, type Io } from './io.ts';
import { examples } from './options.ts';

type QueryOptions = AuditFilter & { output: string; limit?: number; publicKey?: string };

/** --limit: a positive whole number, or AUDIT_QUERY_INVALID (-1 or "abc" once silently cut the output). */
function limitOption(v: string): number {
  if (!/^[1-9][0-9]{0,8}$/.test(v))
    throw new CliError('AUDIT_QUERY_INVALID', `--limit ${JSON.stringify(v)} is not a positive whole number`);
  return Number(v);
}

/** `audit query <dirs...>`: filters over one timeline of every chain given, each verified first. */
export function queryCommand(io: Io, setCode: (c: number) => void): Command {
  const paint = painter(io);
  return new Command('query')
    .argument('<dirs...>', 'audit directories, one per replica (one timeline)')
    .description('filter the audit log and print a table, JSON lines, OPA decision-log events (ndjson) or CSV')
    .option('--since <time>', 'ISO 8601 time (inclusive)')
    .option('--until <time>', 'ISO 8601 time (inclusive)')
    .option('--stage <stage>', 'receive, verify, validate, claim, cancel, evaluate, mutate, create, finish')
    .option('--outcome <outcome>', 'allow, deny, error, success, failure')
    .option('--code <code>', 'an error or violation code, e.g. POLICY_DENIED, IMAGE_TAG_NOT_PINNED')
    .option('--workflow <id>', 'workflow id')
    .option('--run <id>', 'run id (workflow.runId)')
    .option('--runner <name>', 'runner name')
    .option('--step <name>', 'step name')
    .option(
      '--image <ref>',
      'image of the step, a sidecar or an init container, normalised (nginx = docker.io/library/nginx); without a tag: every tag',
    )
    .option('--repository <prefix>', 'registry, namespace or repository prefix, e.g. ghcr.io/acme or docker.io/library')
    .option('--policy <name>', 'policy package with a violation, e.g. images')
    .option('--revision <rev>', 'policy bundle revision (or its first 8+ characters)')
    .option('--limit <n>', 'at most this many records (a positive whole number)', limitOption)
    .option(
      '--public-key <file>',
      'PEM public key of the checkpoint signer (the log is verified first; nothing after a break is shown)',
    )
    .addOption(
      new Option('--output <format>', 'output format').choices(['table', 'json', 'ndjson', 'csv']).default('table'),
    )
    .addHelpText(
      'after',
      examples(
        'kubiya-runner audit query .kubiya/demo/audit --outcome deny',
        'kubiya-runner audit query /var/lib/kubiya/audit --since 2026-11-01T00:00:00Z --policy images --output csv > denials.csv',
        'kubiya-runner audit query audit-0 audit-1 --repository docker.io/library --output ndjson',
      ),
    )
    .action(async (dirs: string[], opts: QueryOptions) => {
      const predicate = queryPredicate(opts);
      if (!predicate.ok) throw new CliError('AUDIT_QUERY_INVALID', predicate.reason);
      const key = await publicKey(opts.publicKey);
      // First pass: every chain verified, no record held; second: the trusted records streamed.
      const chains = await loadChains(dirs, key, () => false);
      const found = await streamRecords(io, chains, predicate.match, opts, dirs.length > 1);
      if (opts.output === 'table') io.err(`${found} record(s)`);
      const findings = readerFindings(chains, key);
      for (const l of findingLines(chains, findings)) io.err(paint('red', l));
      setCode(findings.some((f) => f.fails) ? EXIT.failed : EXIT.ok);
    });
}

/**
 * Writes the trusted records that match, in timeline order, as they are read (one record held
 * per chain, whatever the log's size: docs/adr/0007-bounded-audit-readers.md); answers how many.
 * The bytes are those of the earlier in-memory output: CSV rows end in CRLF but the last (its
 * line is written when the next row, or the end, is known).
 */
async function streamRecords(
  io: Io,
  chains: readonly ChainRead[],
  match: (r: AuditRecord) => boolean,
  opts: QueryOptions,
  many: boolean,
): Promise<number> {
  const label = (chain: string): string => (many ? chain : '');
  const cols = many ? ['chain' as const, ...TABLE_COLUMNS] : TABLE_COLUMNS;
  let n = 0;
  let pending: string | undefined;
  if (opts.output === 'csv') pending = csvLine(QUERY_COLUMNS, QUERY_COLUMNS);
  if (opts.output === 'table') io.out(tableLine(undefined, cols));
  try {
    for await (const f of timelineOf(chains, match)) {
      // Past --limit the log is still read to its end: the second reading is bound to the first
      // only there (trustedRecords), and what was written must be what was verified.
      if (opts.limit !== undefined && n >= opts.limit) continue;
      n++;
      if (opts.output === 'json') io.out(JSON.stringify(f.record));
      else if (opts.output === 'ndjson') io.out(JSON.stringify(decisionLogEvent(f.record, label(f.chain))));
      else if (opts.output === 'csv') {
        io.out(`${pending ?? ''}\r`);
        pending = csvLine(row(f.record, label(f.chain)), QUERY_COLUMNS);
      } else io.out(tableLine(row(f.record, label(f.chain)), cols));
    }
  } catch (e) {
    if (e instanceof ChainChanged) throw new CliError('AUDIT_TAMPERED', printable(e.message), EXIT.failed);
    throw e;
  } finally {
    if (pending !== undefined) io.out(pending);
  }
  return n;
}
