/**
 * The bounds of the streaming readers (docs/adr/0007-bounded-audit-readers.md): what a second
 * pass does when the log changed after the first, what `audit report` states when a cap left
 * something out, and its range options (query's names and parsing).
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ChainChanged, readChains, trustedRecords } from '../../src/adapters/audit-chains.ts';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { segmentName } from '../../src/adapters/audit-files.ts';
import { chainLine } from '../../src/audit/chain.ts';
import type { AuditRecord } from '../../src/audit/record.ts';
import { MAX_KEYS, MAX_REFUSALS } from '../../src/audit/report-limits.ts';
import { renderTally, ReportTally } from '../../src/audit/report.ts';
import { main } from '../../src/cli/main.ts';
import { auditEntry, tempDirs } from '../support/audit-entries.ts';

const tempDir = tempDirs('kubiya-reader-bounds-');

async function written(n: number): Promise<string> {
  const dir = await tempDir();
  const log = await FileAuditLog.open(dir);
  for (let i = 1; i <= n; i++)
    await log.append(auditEntry(i, { timestamp: new Date(Date.UTC(2026, 10, 1, 0, i)).toISOString() }));
  await log.close();
  return dir;
}

async function all(it: AsyncIterable<AuditRecord>): Promise<number[]> {
  const seqs: number[] = [];
  for await (const r of it) seqs.push(r.seq);
  return seqs;
}

test('second pass: records appended after the first are not read; a log rewritten in between is ChainChanged', async () => {
  const dir = await written(6);
  const [chain] = await readChains([dir], undefined, () => false);
  assert.ok(chain !== undefined);
  assert.deepEqual(chain.log.records, [], 'the first pass holds no record');
  const log = await FileAuditLog.open(dir);
  await log.append(auditEntry(7));
  await log.close();
  assert.deepEqual(await all(trustedRecords(chain)), [1, 2, 3, 4, 5, 6]);

  // Record 3 rewritten and the chain re-hashed from it: every line checks, the head differs.
  const seg = join(dir, segmentName(1));
  const lines = (await readFile(seg, 'utf8')).split('\n').filter((l) => l !== '');
  let prev = (JSON.parse(lines[1] ?? '') as AuditRecord).hash;
  for (let j = 2; j < lines.length; j++) {
    const { seq, prev: _p, hash: _h, ...entry } = JSON.parse(lines[j] ?? '') as AuditRecord;
    const next = chainLine(j === 2 ? { ...entry, outcome: 'deny' } : entry, seq, prev);
    lines[j] = next.line;
    prev = next.record.hash;
  }
  await writeFile(seg, `${lines.join('\n')}\n`);
  await assert.rejects(all(trustedRecords(chain)), (e: unknown) => {
    assert.ok(e instanceof ChainChanged);
    assert.match(e.message, /the log changed while it was read: the first reading verified records 1\.\.6/);
    return true;
  });
  // A line that no longer checks where the first pass read a record: ChainChanged too.
  await writeFile(seg, `${lines.slice(0, 2).join('\n')}\nnot a record\n`);
  await assert.rejects(all(trustedRecords(chain)), ChainChanged);
});

const rec = (i: number, over: Partial<AuditRecord>): AuditRecord => ({
  ...auditEntry(i),
  seq: i,
  prev: '0'.repeat(64),
  hash: 'f'.repeat(64),
  ...over,
});

test('audit report: a cap that left values or rows out is stated on the page', () => {
  const tally = new ReportTally(false);
  for (let i = 1; i <= MAX_REFUSALS + 5; i++)
    tally.add(
      rec(i, {
        stage: 'evaluate',
        outcome: 'deny',
        code: 'POLICY_DENIED',
        input: { step: { image: `registry.example/img-${i}:1` } },
      }),
      'audit',
    );
  const page = renderTally({ title: 't', chains: [], findings: [], generatedAt: 'now' }, tally, tally.buckets());
  assert.match(page, new RegExp(`The first ${MAX_REFUSALS} of ${MAX_REFUSALS + 5} denials and errors are listed`));
  assert.match(page, /<div class="banner" id="capped">/);
  assert.match(
    page,
    new RegExp(
      `images: only the first ${MAX_KEYS} distinct values are named and counted; ${MAX_REFUSALS + 5 - MAX_KEYS} more count`,
    ),
  );
  assert.equal(tally.images.map.size, MAX_KEYS);
  assert.equal(tally.refusals.rows.length, MAX_REFUSALS);

  const small = new ReportTally(false);
  small.add(rec(1, {}), 'audit');
  assert.doesNotMatch(
    renderTally({ title: 't', chains: [], findings: [], generatedAt: 'now' }, small, small.buckets()),
    /id="capped"/,
    'nothing capped, nothing said',
  );
});

async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { code, out, err };
}

test('audit report --since/--until: only records in the range are counted, and the page says which range', async () => {
  const dir = await written(6);
  const out = join(dir, 'r.html');
  const r = await cli([
    'audit',
    'report',
    dir,
    '--out',
    out,
    '--since',
    '2026-11-01T00:02:00Z',
    '--until',
    '2026-11-01T00:04:00Z',
  ]);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.match(r.out[0] ?? '', /: Hash chain intact, NOT vouched for: no signed checkpoint\. 3 records in 1 chain/);
  const html = await readFile(out, 'utf8');
  assert.match(
    html,
    /<th>Range<\/th><td id="range">since 2026-11-01T00:02:00Z, until 2026-11-01T00:04:00Z \(records outside it are verified, not counted\)/,
  );
  assert.match(html, /<th>Period<\/th><td>2026-11-01T00:02:00\.000Z — 2026-11-01T00:04:00\.000Z<\/td>/);
  assert.match(html, /<th>Records<\/th><td>3<\/td>/);

  const bad = await cli(['audit', 'report', dir, '--out', out, '--since', '2026-11-01T00:02:00']);
  assert.equal(bad.code, 2);
  assert.match(
    bad.err.join('\n'),
    /AUDIT_QUERY_INVALID: --since "2026-11-01T00:02:00" is not an ISO 8601 time with a zone/,
  );
});
