// The "~3× memory for a pathological long audit line" left alone last round, closed as a class with
// its writer side. Class: an audit line of unbounded length — a reader had to hold all of it (the
// verifier's buffer doubled until the line fit, `audit query|report|policy replay` joined its
// chunks, then decoded it), so a tampered segment with a line of gigabytes ended `audit verify`
// with an allocation error or an out-of-memory kill instead of a verdict; and nothing stopped the
// appender from writing such a line (the shipper could never send it). Now one bound for all,
// MAX_RECORD_BYTES (8 MiB, src/audit/limits.ts): the appender refuses a longer record
// (AUDIT_RECORD_INVALID, that stage fails closed, the rest of its group commit is written), and
// every reader reports a longer line as one the appender never writes (TOO_LONG, the chain broken
// there) holding at most the bound plus one read. Variants: a property over chunkings and line
// lengths around a small bound (LineSplitter), records at and one byte over the bound, and long
// lines placed first, after records, last without a newline, and a 1 GiB sparse run of zeros.
import assert from 'node:assert/strict';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir, listSegments, readAuditLog, readTrusted } from '../../src/adapters/audit-files.ts';
import { chainLine } from '../../src/audit/chain.ts';
import { MAX_RECORD_BYTES, TOO_LONG } from '../../src/audit/limits.ts';
import { LineSplitter, OVERLONG } from '../../src/audit/line-split.ts';
import { auditEntry } from '../support/audit-entries.ts';

let root = '';
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-record-limit-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('property: LineSplitter yields every line up to the bound as its bytes, longer ones as OVERLONG, holding at most the bound plus one chunk', () => {
  const max = 16;
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 12 }),
      fc.boolean(),
      fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 8 }),
      (lengths, endsWithNewline, cuts) => {
        const lines = lengths.map((n, i) => String.fromCharCode(97 + (i % 26)).repeat(n));
        const text = lines.join('\n') + (endsWithNewline && lines.length > 0 ? '\n' : '');
        const bytes = Buffer.from(text);
        const split = new LineSplitter(max);
        const got: string[] = [];
        let largest = 0;
        for (let at = 0, k = 0; at < bytes.length; k++) {
          const size = cuts[k % cuts.length] as number;
          for (const l of split.push(bytes.subarray(at, at + size))) got.push(l === OVERLONG ? '<long>' : l.toString());
          largest = Math.max(largest, split.held);
          assert.ok(split.held <= max + size, `held ${split.held} > ${max} + ${size}`);
          at += size;
        }
        const rest = split.rest();
        if (rest !== undefined) got.push(rest === OVERLONG ? '<long>' : rest.toString());
        // A last line with no bytes and no newline is no line.
        const expected = text.split('\n');
        if (expected.at(-1) === '') expected.pop();
        assert.deepEqual(
          got,
          expected.map((l) => (l.length > max ? '<long>' : l)),
        );
      },
    ),
    { numRuns: 500 },
  );
});

/** The entry whose line, as record 1 after GENESIS, is exactly `bytes` long (without its newline). */
function entryOfLine(bytes: number) {
  const probe = auditEntry(1, { message: '' });
  const overhead = Buffer.byteLength(chainLine(probe, 1, '0'.repeat(64)).line); // without its newline
  return auditEntry(1, { message: 'm'.repeat(bytes - overhead) });
}

test('the appender refuses a record longer than the bound (AUDIT_RECORD_INVALID) and writes the rest of its group commit; one at the bound is written', async () => {
  const dir = join(root, 'appender');
  const log = await FileAuditLog.open(dir);
  const first = log.append(entryOfLine(MAX_RECORD_BYTES));
  const over = log.append(auditEntry(2, { message: 'o'.repeat(MAX_RECORD_BYTES + 1) }));
  const third = log.append(auditEntry(3, { message: 'after' }));
  const [a, b, c] = await Promise.allSettled([first, over, third]);
  assert.equal(a.status, 'fulfilled');
  assert.equal(b.status, 'rejected');
  if (b.status === 'rejected') {
    assert.equal((b.reason as { code?: string }).code, 'AUDIT_RECORD_INVALID');
    assert.match(String(b.reason), /a record is at most 8388608 bytes/);
    assert.ok(!String(b.reason).includes('oooo'), 'the message quotes the record');
  }
  assert.equal(c.status, 'fulfilled');
  await log.close();
  const records = await readAuditLog(dir);
  assert.deepEqual(
    records.map((r) => [r.seq, r.message.length > 100 ? 'long' : r.message]),
    [
      [1, 'long'],
      [2, 'after'],
    ],
  );
  const report = await checkAuditDir(dir, undefined);
  assert.equal(report.ok, true, JSON.stringify(report.firstBad));
  // One byte over the bound, the appender refuses it as the first record too.
  assert.throws(() => chainLine(entryOfLine(MAX_RECORD_BYTES + 1), 1, '0'.repeat(64)), /at most 8388608 bytes/);
});

/** A log of two good records, then `tail` appended to its segment as raw bytes (or a sparse run). */
async function tampered(name: string, tail: Buffer | { sparse: number }): Promise<string> {
  const dir = join(root, name);
  const log = await FileAuditLog.open(dir);
  await log.append(auditEntry(1, { message: 'one' }));
  await log.append(auditEntry(2, { message: 'two' }));
  await log.close();
  const [segment] = await listSegments(dir);
  const fh = await open(segment as string, 'r+');
  try {
    const { size } = await fh.stat();
    if (Buffer.isBuffer(tail)) await fh.write(tail, 0, tail.length, size);
    else await fh.truncate(size + tail.sparse);
  } finally {
    await fh.close();
  }
  return dir;
}

test('a line longer than the bound is reported by audit verify and the trusted reader, at its place, in bounded memory', async () => {
  const long = (n: number, c = 'x') => Buffer.from(c.repeat(n));
  const table: [string, Buffer | { sparse: number }, string][] = [
    ['one byte over, with its newline', Buffer.concat([long(MAX_RECORD_BYTES + 1), Buffer.from('\n')]), ':3'],
    ['over, then a record-like line', Buffer.concat([long(MAX_RECORD_BYTES + 5), Buffer.from('\n{"seq":3}\n')]), ':3'],
    ['over, the last line, no newline', long(MAX_RECORD_BYTES + 2), ':3'],
    ['a 1 GiB sparse run of zeros, no newline', { sparse: 1024 * 1024 * 1024 }, ':3'],
  ];
  for (const [i, [name, tail, where]] of table.entries()) {
    const dir = await tampered(`long-${i}`, tail);
    const before = process.memoryUsage().arrayBuffers;
    const report = await checkAuditDir(dir, undefined, undefined, { parallel: false });
    const grew = process.memoryUsage().arrayBuffers - before;
    assert.equal(report.ok, false, name);
    assert.equal(report.records, 2, name);
    assert.equal(report.firstBad?.reason, TOO_LONG, `${name}: ${report.firstBad?.reason}`);
    assert.ok(report.firstBad?.where?.endsWith(where), `${name}: ${report.firstBad?.where}`);
    assert.ok(grew < 64 * 1024 * 1024, `${name}: array buffers grew by ${grew} bytes`);
    const trusted = await readTrusted(dir, undefined);
    assert.equal(trusted.report.firstBad?.reason, TOO_LONG, name);
    assert.deepEqual(
      trusted.records.map((r) => r.message),
      ['one', 'two'],
      name,
    );
    await assert.rejects(readAuditLog(dir), /longer than 8388608 bytes/, name);
  }
});

test('the verifier with a second thread reports the same', async () => {
  const dir = await tampered(
    'parallel',
    Buffer.concat([Buffer.from('x'.repeat(MAX_RECORD_BYTES + 1)), Buffer.from('\n')]),
  );
  const report = await checkAuditDir(dir, undefined, undefined, { parallel: true, chunk: 64 * 1024 });
  assert.equal(report.firstBad?.reason, TOO_LONG);
  assert.equal(report.records, 2);
});
