/**
 * The audit readers as they were before they streamed (docs/adr/0007-bounded-audit-readers.md),
 * kept as the oracle of the streaming ones: every record held, one sorted timeline, then the
 * output. test/unit/audit-stream-equality.test.ts compares the two byte for byte.
 */
import type { KeyObject } from 'node:crypto';
import type { ChainRead } from '../../src/adapters/audit-chains.ts';
import {
  decisionLogEvent,
  QUERY_COLUMNS,
  queryPredicate,
  row,
  TABLE_COLUMNS,
  toCsv,
  toTable,
  type AuditFilter,
} from '../../src/audit/query.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { findingLines, loadChains, readerFindings } from '../../src/cli/audit-read.ts';
import { renderReport } from './legacy-report/report.ts';
import { reportVerdict } from './legacy-report/report-sections.ts';

/** Records of several chains as one timeline: by timestamp, then chain order, then seq (the old sort). */
export function legacyTimeline(chains: readonly ChainRead[]): { record: AuditRecord; chain: string }[] {
  const all = chains.flatMap((c, i) => c.log.records.map((record) => ({ record, chain: c.dir, i })));
  all.sort(
    (a, b) =>
      (a.record.timestamp < b.record.timestamp ? -1 : a.record.timestamp > b.record.timestamp ? 1 : 0) ||
      a.i - b.i ||
      a.record.seq - b.record.seq,
  );
  return all.map(({ record, chain }) => ({ record, chain }));
}

/** What `audit query` printed: stdout lines, stderr lines, exit code. */
export async function legacyQuery(
  dirs: readonly string[],
  key: KeyObject | undefined,
  opts: AuditFilter & { output: string; limit?: number },
): Promise<{ out: string[]; err: string[]; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const predicate = queryPredicate(opts);
  if (!predicate.ok) throw new Error(predicate.reason);
  const chains = await loadChains(dirs, key, predicate.match);
  const all = legacyTimeline(chains);
  const found = opts.limit !== undefined ? all.slice(0, opts.limit) : all;
  const label = (chain: string): string => (dirs.length > 1 ? chain : '');
  if (opts.output === 'json') for (const f of found) out.push(JSON.stringify(f.record));
  else if (opts.output === 'ndjson')
    for (const f of found) out.push(JSON.stringify(decisionLogEvent(f.record, label(f.chain))));
  else if (opts.output === 'csv')
    out.push(
      toCsv(
        found.map((f) => row(f.record, label(f.chain))),
        QUERY_COLUMNS,
      ).trimEnd(),
    );
  else {
    const cols = dirs.length > 1 ? ['chain' as const, ...TABLE_COLUMNS] : TABLE_COLUMNS;
    out.push(
      ...toTable(
        found.map((f) => row(f.record, label(f.chain))),
        cols,
      ),
    );
    err.push(`${found.length} record(s)`);
  }
  const findings = readerFindings(chains, key);
  err.push(...findingLines(chains, findings));
  return { out, err, code: findings.some((f) => f.fails) ? 1 : 0 };
}

/** What `audit report` wrote: the page (with `generatedAt`), its stdout line and exit code. */
export async function legacyReport(
  dirs: readonly string[],
  key: KeyObject | undefined,
  title: string,
  generatedAt: string,
): Promise<{ html: string; verdict: string; code: number }> {
  const chains = await loadChains(dirs, key);
  const findings = readerFindings(chains, key);
  const html = renderReport({ title, chains, records: legacyTimeline(chains), findings, generatedAt });
  const used = chains.reduce((n, c) => n + c.log.records.length, 0);
  return { html, verdict: reportVerdict({ chains, findings }, used).text, code: findings.some((f) => f.fails) ? 1 : 0 };
}
