/**
 * The streaming readers (docs/adr/0007-bounded-audit-readers.md) print what the in-memory ones
 * printed, byte for byte: `audit query` in every output format and with filters, and `audit
 * report`'s page, against the earlier code kept as an oracle (test/support/legacy-readers.ts), over
 * logs written by the runner's own appender — one to three chains of runs of every kind (allowed,
 * denied, refused at verify, failed, waiting at create, a retried attempt), and logs that are
 * tampered (a record altered: nothing from it on is shown, exit 1), hold records a runner adopted
 * at restart, or are read with a key that did not sign them (no record used).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { segmentName } from '../../src/adapters/audit-files.ts';
import { keyId } from '../../src/audit/keys.ts';
import { chainLine, GENESIS } from '../../src/audit/chain.ts';
import type { AuditEntry, AuditRecord } from '../../src/audit/record.ts';
import { main } from '../../src/cli/main.ts';
import { bulkEntries } from '../support/audit-bulk.ts';
import { tempDirs } from '../support/audit-entries.ts';
import { legacyQuery, legacyReport } from '../support/legacy-readers.ts';

const tempDir = tempDirs('kubiya-stream-eq-');
const signer = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');

type Mode = 'intact' | 'altered' | 'relinked' | 'rewritten' | 'adopted' | 'wrong-key';

/** A run's records, with a wait at create and a retried attempt for some. */
function runEntries(run: number, runner: string): AuditEntry[] {
  const out = bulkEntries(run, runner, 8);
  const create = out.find((e) => e.stage === 'create');
  if (create !== undefined && run % 3 === 1) {
    const at = (k: number): string => new Date(Date.UTC(2026, 10, 1) + (run * 10 + k) * 10).toISOString();
    out.push(
      {
        ...create,
        decision_id: `${runner}-${run}-w`,
        timestamp: at(7),
        outcome: 'error',
        code: 'POD_SECURITY_UNKNOWN',
        message: 'waits',
      },
      {
        ...create,
        decision_id: `${runner}-${run}-r`,
        timestamp: at(8),
        stage: 'finish',
        outcome: 'failure',
        code: 'STEP_ATTEMPT_FAILED',
        message: 'retried',
      },
    );
  }
  return out;
}

async function append(dir: string, entries: readonly AuditEntry[], key: KeyObject | undefined): Promise<void> {
  const log = await FileAuditLog.open(
    dir,
    key !== undefined ? { checkpoint: { key, kid: keyId(signer.publicKey), every: 1000, intervalMs: 3_600_000 } } : {},
  );
  for (const e of entries) await log.append(e);
  await log.close();
}

/** Writes the chains; chain 0 is altered at record `at`, or written in three goes so that a restart adopts records. */
async function writeChains(root: string, chains: readonly number[][], mode: Mode, at: number): Promise<string[]> {
  const dirs: string[] = [];
  for (const [i, runs] of chains.entries()) {
    const dir = join(root, `audit-${i}`);
    dirs.push(dir);
    const entries = runs.flatMap((r) => runEntries(r, `runner-${i}`));
    if (i === 0 && mode === 'rewritten' && entries.length >= 2) {
      await append(dir, entries.slice(0, Math.floor(entries.length / 2)), signer.privateKey);
      await append(dir, entries.slice(Math.floor(entries.length / 2)), signer.privateKey);
    } else if (i === 0 && mode === 'adopted' && entries.length >= 3) {
      const third = Math.floor(entries.length / 3);
      await append(dir, entries.slice(0, third), signer.privateKey);
      await append(dir, entries.slice(third, 2 * third), undefined);
      await append(dir, entries.slice(2 * third), signer.privateKey);
    } else await append(dir, entries, signer.privateKey);
    if (i === 0 && mode === 'altered') {
      const seg = join(dir, segmentName(1));
      const lines = (await readFile(seg, 'utf8')).split('\n');
      const n = at % (lines.length - 1);
      lines[n] = (lines[n] ?? '').replace('"message":"', '"message":"!');
      await writeFile(seg, lines.join('\n'));
    }
    if (i === 0 && (mode === 'relinked' || mode === 'rewritten')) await rehash(join(dir, segmentName(1)), at, mode);
  }
  return dirs;
}

/**
 * Rewrites record `at` (modulo the count) with another message and a valid hash of its own:
 * `relinked` leaves the records after it as they were (the next one's prev no longer links: the
 * record is named replaced), `rewritten` chains every later record again (only a checkpoint
 * shows it: nothing after the last good checkpoint is trusted).
 */
async function rehash(seg: string, at: number, mode: 'relinked' | 'rewritten'): Promise<void> {
  const records = (await readFile(seg, 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditRecord);
  const k = at % records.length;
  const lines: string[] = [];
  let prev = GENESIS;
  for (const [j, r] of records.entries()) {
    const { seq, prev: _p, hash, ...entry } = r;
    if (j < k || (j > k && mode === 'relinked')) {
      lines.push(chainLine(entry, seq, r.prev).line);
      prev = hash;
      continue;
    }
    const next = chainLine(j === k ? { ...entry, message: `${entry.message}!` } : entry, seq, prev);
    lines.push(next.line);
    prev = next.record.hash;
  }
  await writeFile(seg, `${lines.join('\n')}\n`);
}

async function run(args: readonly string[]): Promise<{ out: string[]; err: string[]; code: number }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main([...args], { out: (l) => out.push(l), err: (l) => err.push(l), color: false }, {});
  return { out, err, code };
}

const runsOfChain = fc
  .uniqueArray(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 7 })
  .map((a) => [...a].sort((x, y) => x - y));
const filters = fc.constantFrom<Record<string, string | number>>(
  {},
  { outcome: 'deny' },
  { stage: 'evaluate' },
  { since: '2026-11-01T00:00:02Z' },
  { until: '2026-11-01T00:00:02.5Z' },
  { limit: 3 },
  { run: 'run-4' },
  { code: 'PRIVILEGED' },
);

test('audit query and audit report print what the in-memory readers printed (fast-check over record mixes, tampered and adopted logs)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(runsOfChain, { minLength: 1, maxLength: 3 }),
      fc.constantFrom<Mode>('intact', 'intact', 'altered', 'relinked', 'rewritten', 'adopted', 'wrong-key'),
      fc.nat(),
      fc.constantFrom('table', 'json', 'ndjson', 'csv'),
      filters,
      async (chains, mode, at, output, filter) => {
        const root = await tempDir();
        const dirs = await writeChains(root, chains, mode, at);
        const pub = join(root, 'key.pub.pem');
        const key = mode === 'wrong-key' ? other.publicKey : signer.publicKey;
        await writeFile(pub, key.export({ type: 'spki', format: 'pem' }));
        const flags = Object.entries(filter).flatMap(([k, v]) => [`--${k}`, String(v)]);

        const got = await run(['audit', 'query', ...dirs, '--output', output, '--public-key', pub, ...flags]);
        const want = await legacyQuery(dirs, key, { output, ...filter });
        // The bytes written: each `out` call is a line (the CLI's writer adds the newline).
        const bytes = (r: { out: string[]; err: string[]; code: number }) => ({
          stdout: r.out.map((l) => `${l}\n`).join(''),
          stderr: r.err.map((l) => `${l}\n`).join(''),
          code: r.code,
        });
        assert.deepEqual(bytes(got), bytes(want), `query --output ${output} ${flags.join(' ')} (${mode})`);

        const out = join(root, 'report.html');
        const page = await run(['audit', 'report', ...dirs, '--out', out, '--public-key', pub, '--title', 't']);
        const html = (await readFile(out, 'utf8')).replace(/report at [^<]*\.</, 'report at NOW.<');
        const old = await legacyReport(dirs, key, 't', 'NOW');
        assert.equal(page.code, old.code, `report exit code (${mode})`);
        assert.deepEqual(page.out, [`wrote ${out}: ${old.verdict}`]);
        assert.equal(html, old.html, `report page (${mode})`);
        const said = got.err.join('\n');
        if (mode === 'altered') assert.match(said, /AUDIT_TAMPERED/);
        if (mode === 'wrong-key') assert.match(said, /AUDIT_KEY_MISMATCH/);
        if (mode === 'adopted' && (chains[0] ?? []).flatMap((r) => runEntries(r, 'x')).length >= 3)
          assert.match(said, /note: AUDIT_RECORDS_ADOPTED/);
        if (mode === 'relinked' && (chains[0] ?? []).flatMap((r) => runEntries(r, 'x')).length >= 2)
          assert.match(said, /AUDIT_TAMPERED/);
        if (mode === 'altered' || mode === 'wrong-key') assert.equal(got.code, 1, 'a broken chain is exit 1');
      },
    ),
    { numRuns: 60 },
  );
});
