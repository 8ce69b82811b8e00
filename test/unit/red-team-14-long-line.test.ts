// Red team 14, finding 4. Class: a reader whose work grows with the square of a line's length.
// auditLines (every `audit verify`, `query`, `report` of a directory it did not write) joined the
// bytes carried since the last newline with each 1 MiB chunk, so one line of n chunks copied about
// n²/2 chunks: a 300 MB line with no newline took ~24 s and ~670 MB (100 MB: 2.8 s). Now the
// chunks of an unfinished line are kept and joined once (src/audit/line-split.ts): every byte is
// copied at most once, which `LineSplitter.copied` lets these tests hold without timing anything.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { auditLines, segmentName } from '../../src/adapters/audit-files.ts';
import { LineSplitter } from '../../src/audit/line-split.ts';

/** The stream's lines as a whole-buffer split gives them: [terminated lines, unterminated rest]. */
function expected(all: Buffer): { lines: string[]; rest: string | undefined } {
  const parts = all.toString('latin1').split('\n');
  const last = parts.pop() as string;
  return { lines: parts, rest: last.length > 0 ? last : undefined };
}

/** Every line the splitter gives for `chunks`, and the bytes it copied. */
function split(chunks: readonly Buffer[]): { lines: string[]; rest: string | undefined; copied: number } {
  const s = new LineSplitter();
  const lines: string[] = [];
  // Each yielded line is read before the next push, as auditLines reads it.
  for (const chunk of chunks) for (const line of s.push(chunk)) lines.push(line.toString('latin1'));
  const rest = s.rest();
  return { lines, rest: rest?.toString('latin1'), copied: s.copied };
}

test('any bytes in any chunking: the lines of a whole-buffer split, each byte copied at most once', () => {
  const bytes = fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a.map((b) => (b % 5 === 0 ? 0x0a : b))));
  fc.assert(
    fc.property(bytes, fc.array(fc.nat(60), { maxLength: 30 }), (all, cuts) => {
      const chunks: Buffer[] = [];
      let at = 0;
      for (const c of cuts) {
        chunks.push(all.subarray(at, Math.min(all.length, at + c)));
        at = Math.min(all.length, at + c);
      }
      chunks.push(all.subarray(at));
      const got = split(chunks);
      assert.deepEqual({ lines: got.lines, rest: got.rest }, expected(all));
      assert.ok(got.copied <= all.length, `${got.copied} bytes copied of ${all.length}`);
    }),
    { numRuns: 2000 },
  );
});

test('one long line in many chunks is joined once, not once per chunk (the regression)', () => {
  for (const [chunks, size, ended] of [
    [64, 1024, true],
    [64, 1024, false],
    [300, 4096, true],
    [2, 1, false],
  ] as const) {
    const body = Array.from({ length: chunks }, (_, i) => Buffer.alloc(size, 0x61 + (i % 26)));
    const stream = ended ? [...body, Buffer.from('\n{"next":1}\n')] : body;
    const got = split(stream);
    const total = chunks * size;
    // Joining the carry with every chunk copied sum(k·size, k = 2..chunks) bytes: ~chunks²/2 chunks.
    assert.ok(got.copied <= total, `${chunks} chunks of ${size}: ${got.copied} bytes copied, the line has ${total}`);
    assert.equal((ended ? got.lines[0] : got.rest)?.length, total);
    if (ended) assert.deepEqual([got.lines.slice(1), got.rest], [['{"next":1}'], undefined]);
  }
});

test('auditLines reads a segment with a line over many read chunks: its lines exact, in order', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kubiya-rt14-long-'));
  try {
    const long = 'x'.repeat(3 * 1024 * 1024 + 17); // over three of auditLines' 1 MiB chunks
    await writeFile(join(dir, segmentName(1)), `a\n${long}\n\nb\n${long}`);
    const got: { line: number; terminated: boolean; where: string }[] = [];
    for await (const l of auditLines(dir)) got.push({ line: l.line.length, terminated: l.terminated, where: l.where });
    assert.deepEqual(got, [
      { line: 1, terminated: true, where: `${segmentName(1)}:1` },
      { line: long.length, terminated: true, where: `${segmentName(1)}:2` },
      { line: 0, terminated: true, where: `${segmentName(1)}:3` },
      { line: 1, terminated: true, where: `${segmentName(1)}:4` },
      { line: long.length, terminated: false, where: `${segmentName(1)}:5` },
    ]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
