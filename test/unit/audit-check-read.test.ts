/**
 * The byte reader of `audit verify` (src/adapters/audit-check-read.ts), one thread and two.
 *
 * The class: a reader that splits a log into chunks, and a chunk's lines between two threads, must
 * give exactly the report of reading the lines one by one on the text path (readTrusted), wherever
 * the chunk and split boundaries fall and whatever the tampering; and its memory must not grow with
 * the log. The two-thread reader adds tampering classes of its own: the worker takes up the chain
 * where its first line claims, so a run that is whole in itself but does not start where the chain
 * stands (a line removed, duplicated or swapped at the split, a tail re-chained after another
 * record) must be refused by the adoption and checked again here.
 *
 * - every chunk size from 1 byte to past the log's length (every line split at every offset), one
 *   thread and two, intact and with the line at the split removed;
 * - generated (fast-check): random logs, random tampering (a flipped byte anywhere, a removed,
 *   duplicated or swapped line, an empty line, a CR, a cut at any byte, a re-chained tail), random
 *   chunk sizes, one or two threads: the report is the text path's;
 * - bounded memory: a log several times the chunk is read with the process's RSS growing by far
 *   less than the log's size.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { checkSegmentBytes, RunWorker } from '../../src/adapters/audit-check-read.ts';
import { checkAuditDir, readTrusted, segmentName } from '../../src/adapters/audit-files.ts';
import { ChainChecker } from '../../src/audit/chain-check.ts';
import { chainLine, GENESIS } from '../../src/audit/chain.ts';
import type { AuditEntry } from '../../src/audit/record.ts';

const entry = (i: number, pad = 0): AuditEntry => ({
  decision_id: `d-${i}`,
  timestamp: '2026-06-01T12:00:00.000Z',
  stage: 'evaluate',
  outcome: 'allow',
  message: i % 4 === 0 ? `étape ${i} "q" \u{1F600}\n` : `m${i}${'x'.repeat(pad)}`,
  runner: 'r',
  labels: { runner: 'r' },
  input: { n: i, list: [i, 'a', true, null] },
});

/** The lines (without newlines) of a chain of `n` records from seq `from` after `prev`. */
function chain(n: number, from = 1, prev = GENESIS, tag = ''): string[] {
  const lines: string[] = [];
  for (let i = from; i < from + n; i++) {
    const { record, line } = chainLine({ ...entry(i), step: tag }, i, prev);
    prev = record.hash;
    lines.push(line);
  }
  return lines;
}

let dir: string;
before(async () => void (dir = await mkdtemp(join(tmpdir(), 'kubiya-check-read-'))));
after(async () => rm(dir, { recursive: true, force: true }));
const seg = (): string => join(dir, segmentName(1));

/** The report of checkSegmentBytes over the segment as read with `chunk` and `worker`, as finish() gives it. */
async function readWith(chunk: number, worker: RunWorker | undefined): Promise<unknown> {
  const checker = new ChainChecker();
  await checkSegmentBytes(checker, seg(), () => undefined, { chunk, worker });
  return checker.finish([], undefined);
}

describe('the chunked reader: every chunk size, one thread and two', () => {
  let worker: RunWorker;
  before(() => void (worker = new RunWorker([])));
  after(async () => worker.close());

  for (const [name, lines] of [
    ['an intact log', chain(6)],
    ['a log with its third line removed', chain(6).filter((_, i) => i !== 2)],
    ['a log with a line duplicated', [...chain(4), ...chain(6).slice(3)]],
    [
      'a log whose tail is re-chained after another record (each part whole in itself)',
      [...chain(3), ...chain(3, 4, chainLine({ ...entry(3), step: 'forged' }, 3, GENESIS).record.hash, 'forged')],
    ],
  ] as const)
    test(`${name}: the text path's report at every chunk size`, async () => {
      const text = `${lines.join('\n')}\n`;
      await writeFile(seg(), text);
      const want = (await readTrusted(dir, undefined)).report;
      const { segments: _, ...expected } = want;
      const before = worker.adopted;
      for (let chunk = 1; chunk <= Buffer.byteLength(text) + 2; chunk++) {
        assert.deepEqual(await readWith(chunk, undefined), expected, `one thread, chunk ${chunk}`);
        assert.deepEqual(await readWith(chunk, worker), expected, `two threads, chunk ${chunk}`);
      }
      if (name === 'an intact log') assert.ok(worker.adopted > before, 'the worker took lines');
    });
});

type Tamper = (ls: string[], raw: Buffer) => Buffer | string[];
const TAMPERS: fc.Arbitrary<[string, Tamper]>[] = [
  fc.constant(['none', (ls) => ls]),
  fc.nat().map((k): [string, Tamper] => [
    `flip the byte at ${k}`,
    (_, raw) => {
      const b = Buffer.from(raw);
      b[k % b.length] = (b[k % b.length] as number) ^ 1;
      return b;
    },
  ]),
  fc.nat().map((k): [string, Tamper] => [`remove line ${k}`, (ls) => ls.filter((_, i) => i !== k % ls.length)]),
  fc
    .nat()
    .map((k): [string, Tamper] => [
      `duplicate line ${k}`,
      (ls) => ls.flatMap((l, i) => (i === k % ls.length ? [l, l] : [l])),
    ]),
  fc.nat().map((k): [string, Tamper] => [
    `swap lines ${k} and the next`,
    (ls) => {
      const i = k % (ls.length - 1);
      const c = [...ls];
      [c[i], c[i + 1]] = [c[i + 1] as string, c[i] as string];
      return c;
    },
  ]),
  fc.nat().map((k): [string, Tamper] => [`an empty line before ${k}`, (ls) => ls.toSpliced(k % ls.length, 0, '')]),
  fc
    .nat()
    .map((k): [string, Tamper] => [
      `a CR ending line ${k}`,
      (ls) => ls.map((l, i) => (i === k % ls.length ? `${l}\r` : l)),
    ]),
  fc.nat().map((k): [string, Tamper] => [`cut at byte ${k}`, (_, raw) => raw.subarray(0, k % raw.length)]),
  fc.nat().map((k): [string, Tamper] => [
    `the tail from line ${k} re-chained after another record`,
    (ls) => {
      const i = 1 + (k % (ls.length - 1));
      const other = chainLine({ ...entry(i), step: 'forged' }, i, GENESIS).record.hash;
      return [...ls.slice(0, i), ...chain(ls.length - i, i + 1, other, 'forged')];
    },
  ]),
];

describe('generated: random logs, tampering and chunk sizes give the text path report', () => {
  test('one thread and two, every report the same as readTrusted', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 24 }),
        fc.oneof(...TAMPERS),
        fc.integer({ min: 1, max: 4096 }),
        fc.boolean(),
        async (n, [, tamper], chunk, parallel) => {
          const lines = chain(n);
          const raw = Buffer.from(`${lines.join('\n')}\n`);
          const out = tamper(lines, raw);
          await writeFile(seg(), Array.isArray(out) ? `${out.join('\n')}\n` : out);
          const want = (await readTrusted(dir, undefined)).report;
          assert.deepEqual(await checkAuditDir(dir, undefined, undefined, { chunk, parallel }), want);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('bounded memory', () => {
  test('a log many chunks long is read with RSS growing far less than its size, on two threads', async () => {
    const pad = 4000;
    const records = 12_000; // ~48 MiB
    const parts: string[] = [];
    let prev = GENESIS;
    for (let i = 1; i <= records; i++) {
      const { record, line } = chainLine(entry(i, pad), i, prev);
      prev = record.hash;
      parts.push(line);
    }
    const text = `${parts.join('\n')}\n`;
    parts.length = 0;
    await writeFile(seg(), text);
    const size = Buffer.byteLength(text);
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 1);
    try {
      const report = await checkAuditDir(dir, undefined, undefined, { chunk: 1024 * 1024, parallel: true });
      assert.equal(report.ok, true);
      assert.equal(report.records, records);
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    // The log is ~48 MiB; the reader holds one 1 MiB chunk (and the worker its own heap, ~10–20 MiB).
    assert.ok(
      peak - base < size / 2,
      `RSS grew by ${((peak - base) / 2 ** 20).toFixed(1)} MiB for a ${(size / 2 ** 20).toFixed(1)} MiB log`,
    );
  });
});
