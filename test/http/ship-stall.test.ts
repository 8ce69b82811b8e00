// Red team 14's "seen and left", closed as a class. Class: the decision-log shipper stops advancing
// without saying so — it waited, for ever and silently, on a record it can never read whole. Seen:
// a segment line longer than the shipper's 8 MiB read (it took the line for one the writer was
// still writing). Sibling: a segment that is not the last ending inside a record (the writer never
// returns to a segment it left, so that line is never finished either). Now both are reported
// through onError (AUDIT_SHIP_FAILED in `serve`'s log) on every retry, and nothing after them is
// shipped (at least once, in order); a partial line at the end of the LAST segment is still
// waited for without a report (the writer may be mid-write). Variants: a table over the record's
// length around the limit, its place (first, after shipped records), and which segment it is in.
// Real files, a real HTTP sink on loopback.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { segmentName } from '../../src/adapters/audit-files.ts';
import { AuditShipper } from '../../src/adapters/audit-ship.ts';
import { MAX_RECORD_BYTES } from '../../src/audit/limits.ts';

let root = '';
let server: Server;
let url = '';
const received: number[] = [];
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-ship-stall-'));
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const events = JSON.parse(gunzipSync(Buffer.concat(chunks)).toString()) as { seq: number }[];
      received.push(...events.map((e) => e.seq));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/logs`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  await rm(root, { recursive: true, force: true });
});

/** A stand-in for record `seq`'s hash (64 hex digits; GENESIS for 0): the shipper checks links, not hashes. */
const h = (seq: number): string => seq.toString(16).padStart(64, '0');

/** One record line (with its newline) of exactly `bytes` bytes before the newline, linked to the one before. */
function line(seq: number, bytes = 0): string {
  const bare = JSON.stringify({ seq, prev: h(seq - 1), pad: '', hash: h(seq) });
  return `${JSON.stringify({ seq, prev: h(seq - 1), pad: 'x'.repeat(Math.max(0, bytes - bare.length)), hash: h(seq) })}\n`;
}

/**
 * Writes the segments into a fresh audit directory, runs a shipper until it has shipped
 * `expectSeqs` and (when `expectError`) reported an error matching it, or 3 s passed; the seqs
 * shipped and the errors reported.
 */
async function ship(
  name: string,
  segments: readonly string[],
  until: { readonly seqs: number; readonly error?: RegExp },
): Promise<{ seqs: number[]; errors: string[] }> {
  const dir = join(root, name);
  await mkdir(dir);
  for (const [i, text] of segments.entries()) await writeFile(join(dir, segmentName(i + 1)), text);
  received.length = 0;
  const errors: string[] = [];
  const shipper = new AuditShipper(dir, {
    url,
    batch: 100,
    pollMs: 10,
    timeoutMs: 2000,
    backoff: { initialMs: 10, maxMs: 20 },
    onError: (m) => errors.push(m),
  });
  shipper.start();
  const deadline = Date.now() + 3000;
  const done = () =>
    received.length >= until.seqs && (until.error === undefined || errors.some((e) => until.error?.test(e)));
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  // A little longer, so a record shipped past the stop point would be seen.
  await new Promise((r) => setTimeout(r, 100));
  await shipper.stop();
  return { seqs: [...received], errors };
}

const TOO_LONG = /longer than 8388608 bytes: it is not shipped, nor any record after it/;
const TORN = /ends inside a record .* although a later segment exists/;

test('a record longer than the shipper reads is reported, and nothing after it is shipped', async () => {
  const table: [string, string[], number[]][] = [
    ['regression: the first record over the limit', [line(1, MAX_RECORD_BYTES + 1) + line(2)], []],
    ['over the limit after two shipped records', [line(1) + line(2) + line(3, MAX_RECORD_BYTES + 1) + line(4)], [1, 2]],
    ['far over the limit, no newline at all', [line(1) + 'y'.repeat(MAX_RECORD_BYTES + 10)], [1]],
    ['in the second segment, after the first', [line(1) + line(2), line(3, MAX_RECORD_BYTES + 100) + line(4)], [1, 2]],
  ];
  for (const [i, [name, segments, shipped]] of table.entries()) {
    const r = await ship(`long-${i}`, segments, { seqs: shipped.length, error: TOO_LONG });
    assert.deepEqual(r.seqs, shipped, name);
    assert.ok(
      r.errors.some((e) => TOO_LONG.test(e)),
      `${name}: no report (${r.errors.join('; ') || 'none'})`,
    );
    // The message names the place, never the record's contents.
    assert.ok(
      r.errors.every((e) => !e.includes('xxxx') && !e.includes('yyyy')),
      name,
    );
  }
});

test('records at the limit are shipped whole, with no report', async () => {
  for (const [i, bytes] of [MAX_RECORD_BYTES, MAX_RECORD_BYTES - 1].entries()) {
    const r = await ship(`edge-${i}`, [line(1, bytes) + line(2)], { seqs: 2 });
    assert.deepEqual(r.seqs, [1, 2], `a ${bytes}-byte record`);
    assert.deepEqual(r.errors, [], `a ${bytes}-byte record`);
  }
});

test('a segment that is not the last ending inside a record is reported; the last one is waited for', async () => {
  const torn = await ship('torn', [line(1) + '{"seq":2,"pa', line(3)], { seqs: 1, error: TORN });
  assert.deepEqual(torn.seqs, [1]);
  assert.ok(
    torn.errors.some((e) => TORN.test(e)),
    torn.errors.join('; ') || 'no report',
  );
  // Negative control: the same partial line in the last segment is the writer's, mid-write.
  const writing = await ship('writing', [line(1), line(2) + '{"seq":3,"pa'], { seqs: 2 });
  assert.deepEqual(writing.seqs, [1, 2]);
  assert.deepEqual(writing.errors, []);
});
