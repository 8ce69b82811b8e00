// Red team 18, finding 2. The class: an off-site copy steered by a file on the volume it protects
// (red team 17, finding 7, fixed only for a cursor that is malformed). A `ship-cursor.json` moved
// FORWARD while the runner was stopped, to the end of a later whole record, was "a position the
// shipper could have saved": the restarted shipper believed it, the records between never left,
// and nothing said so. Now the runner signs the cursor with its checkpoint key, and at start
// believes it only if that key signed it and the record it names is still, byte for byte, where it
// says (ADR 0010); otherwise AUDIT_SHIP_FAILED (onError) with the reason, and shipping starts again
// from seq 1. The table is what someone with the volume but not the key can do to the cursor, each
// against a runner that shipped 1..5 and then wrote 6..10; its first row is the reported example.
// Beside it: no key, a chain that breaks after a proved cursor, and a link planted at the cursor's
// temporary name. Real files, a real HTTP collector on loopback; every wait is bounded.
import assert from 'node:assert/strict';
import { copyFile, link, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { CHECKPOINTS_FILE, segmentName } from '../../src/adapters/audit-files.ts';
import type { CheckpointSigner } from '../../src/adapters/audit-resume.ts';
import { AuditShipper, SHIP_CURSOR } from '../../src/adapters/audit-ship.ts';
import { auditEntry } from '../support/audit-entries.ts';
import { newSigner } from '../support/audit-signer.ts';
import { startCollector, type Collector } from '../support/ship-collector.ts';
import { waitFor } from '../support/wait.ts';

let root = '';
let collector: Collector;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-rt18-ship-'));
  collector = await startCollector();
});
after(async () => {
  await collector.close();
  await rm(root, { recursive: true, force: true });
});

let n = 0;
const fresh = () => join(root, `d${++n}`);
const got = (dir: string) => collector.seqsOf(dir);
const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** A few records per segment: positions name segments other than the first, and a segment can be swapped. */
const SEGMENT_BYTES = 1200;

/**
 * Appends records `from..to` (message `message`: the same length in every chain, so segments and
 * offsets line up), checkpointed with `signer`.
 */
async function append(dir: string, from: number, to: number, signer?: CheckpointSigner, message = 'm'): Promise<void> {
  const log = await FileAuditLog.open(dir, {
    segmentBytes: SEGMENT_BYTES,
    ...(signer === undefined ? {} : { checkpoint: { ...signer, every: 1000, intervalMs: 60_000 } }),
  });
  for (let i = from; i <= to; i++) await log.append(auditEntry(i, { message }));
  await log.close();
}

/**
 * Runs a shipper over `dir` (its cursor signed with `signer`; none without) until `done` holds for
 * the errors it reported and the seqs it sent, and a little longer (a record shipped past that
 * point would be seen); those errors and seqs.
 */
async function shipUntil(
  dir: string,
  signer: CheckpointSigner | undefined,
  what: string,
  done: (r: { errors: string[]; sent: number[] }) => boolean,
): Promise<{ errors: string[]; sent: number[] }> {
  const before = got(dir).length;
  const errors: string[] = [];
  const now = () => ({ errors, sent: got(dir).slice(before) });
  const s = new AuditShipper(dir, {
    url: collector.urlOf(dir),
    batch: 2,
    pollMs: 20,
    timeoutMs: 2000,
    backoff: { initialMs: 20, maxMs: 50 },
    onError: (m) => errors.push(m),
    signer,
  });
  s.start();
  try {
    await waitFor(`${what} (${dir})`, () => done(now()), 10_000);
    await new Promise((r) => setTimeout(r, 60));
  } finally {
    await s.stop();
  }
  return now();
}

/** shipUntil the collector has had seq `until` since the shipper started. */
const ship = (dir: string, signer: CheckpointSigner | undefined, until: number) =>
  shipUntil(dir, signer, `seq ${until} shipped`, (r) => r.sent.includes(until));

/** Record `seq`: its segment, the byte just after its line there, its hash and its line. */
async function recordOf(
  dir: string,
  seq: number,
): Promise<{ segment: number; end: number; hash: string; line: string }> {
  for (let segment = 1; ; segment++) {
    const text = await readFile(join(dir, segmentName(segment)), 'utf8');
    let end = 0;
    for (const line of text.split('\n').slice(0, -1)) {
      end += Buffer.byteLength(line) + 1;
      const r = JSON.parse(line) as { seq: number; hash: string };
      if (r.seq === seq) return { segment, end, hash: r.hash, line };
    }
  }
}

const cursorOf = (dir: string) => join(dir, SHIP_CURSOR);
const readCursor = async (dir: string) => JSON.parse(await readFile(cursorOf(dir), 'utf8')) as Record<string, unknown>;

/** A runner that shipped 1..3 (the cursor then is `older`), then 4..5, then wrote 6..10 and stopped. */
async function shippedTo5(dir: string, signer: CheckpointSigner): Promise<{ older: string }> {
  await append(dir, 1, 3, signer);
  await ship(dir, signer, 3);
  const older = await readFile(cursorOf(dir), 'utf8');
  await append(dir, 4, 5, signer);
  await ship(dir, signer, 5);
  await append(dir, 6, 10, signer);
  return { older };
}

interface Scene {
  readonly dir: string;
  readonly signer: CheckpointSigner;
  /** This runner's cursor of the same log after seq 3. */
  readonly older: string;
  /** This runner's cursor (seq 9) of the log the directory held before it was wiped. */
  readonly previous: string;
}

/** Another log shipped to seq 9 by a runner with the same key (another replica: the chart's key is shared). */
async function replicaCursor(signer: CheckpointSigner): Promise<string> {
  const other = fresh();
  await append(other, 1, 9, signer, 'o');
  await ship(other, signer, 9);
  return readFile(cursorOf(other), 'utf8');
}

const NOT_ITS_KEY = /signature does not verify with this runner's key/;

describe('what someone with the volume but not the key does to the cursor: never a record skipped', () => {
  const rows: [
    name: string,
    attack: (s: Scene) => Promise<void>,
    problem: RegExp | undefined,
    from: number,
    restart?: 'rotated',
  ][] = [
    [
      'regression: moved forward to the end of record 8 (seq and offset edited, the rest kept)',
      async ({ dir }) => {
        const c = await readCursor(dir);
        const r = await recordOf(dir, 8);
        await writeFile(cursorOf(dir), JSON.stringify({ ...c, seq: 8, segment: r.segment, offset: r.end }));
      },
      NOT_ITS_KEY,
      1,
    ],
    [
      "moved forward with record 8's hash too: every member true but the signature",
      async ({ dir }) => {
        const c = await readCursor(dir);
        const r = await recordOf(dir, 8);
        await writeFile(
          cursorOf(dir),
          JSON.stringify({ ...c, seq: 8, segment: r.segment, offset: r.end, hash: r.hash }),
        );
      },
      NOT_ITS_KEY,
      1,
    ],
    [
      "another replica's cursor (same key, its log shipped to seq 9, offsets that line up)",
      async ({ dir, signer }) => writeFile(cursorOf(dir), await replicaCursor(signer)),
      /is not the seq 9 the cursor was saved for \(its bytes do not hash to the cursor's hash/,
      1,
    ],
    [
      "this runner's cursor (seq 9) of the log the directory held before it was wiped",
      async ({ dir, previous }) => writeFile(cursorOf(dir), previous),
      /is not the seq 9 the cursor was saved for/,
      1,
    ],
    [
      "a checkpoint line of this key, made a cursor (head as hash, its record's segment and offset)",
      async ({ dir }) => {
        const lines = (await readFile(join(dir, CHECKPOINTS_FILE), 'utf8')).trimEnd().split('\n');
        const cp = JSON.parse(lines.at(-1) ?? '{}') as { seq: number; head: string; kid: string; sig: string };
        const { segment, end } = await recordOf(dir, cp.seq);
        await writeFile(
          cursorOf(dir),
          JSON.stringify({ seq: cp.seq, segment, offset: end, hash: cp.head, kid: cp.kid, sig: cp.sig }),
        );
      },
      NOT_ITS_KEY,
      1,
    ],
    [
      "the previous release's unsigned cursor at the true position (upgrade): shipped again from seq 1",
      async ({ dir }) => {
        const { segment, end } = await recordOf(dir, 5);
        await writeFile(cursorOf(dir), JSON.stringify({ seq: 5, segment, offset: end }));
      },
      /is not signed \(a cursor of an earlier release, or one written by hand\)/,
      1,
    ],
    [
      'torn (a crash inside a write that was not atomic): the first half of the file',
      async ({ dir }) => {
        const text = await readFile(cursorOf(dir), 'utf8');
        await writeFile(cursorOf(dir), text.slice(0, text.length >> 1));
      },
      /is not JSON/,
      1,
    ],
    [
      'signed by the key before a rotation: shipped again from seq 1',
      () => Promise.resolve(),
      /is signed by kid [0-9a-f]{16}, not by this runner's checkpoint key \(kid [0-9a-f]{16}\)/,
      1,
      'rotated',
    ],
    [
      'an older cursor of this log, restored (backward): shipped again from seq 4, nothing reported',
      async ({ dir, older }) => writeFile(cursorOf(dir), older),
      undefined,
      4,
    ],
    ['deleted: shipped again from seq 1, nothing reported', async ({ dir }) => rm(cursorOf(dir)), undefined, 1],
    ['untouched: continues after seq 5, nothing reported', () => Promise.resolve(), undefined, 6],
  ];
  for (const [name, attack, problem, from, restart] of rows)
    test(name, async () => {
      const signer = newSigner();
      const dir = fresh();
      // The same directory, before: a log shipped to seq 9, then wiped.
      await append(dir, 1, 9, signer, 'p');
      await ship(dir, signer, 9);
      const previous = await readFile(cursorOf(dir), 'utf8');
      await rm(dir, { recursive: true });
      collector.forget(dir);
      const { older } = await shippedTo5(dir, signer);
      assert.deepEqual(got(dir), range(1, 5), 'set-up: 1..5 shipped');
      await attack({ dir, signer, older, previous });
      const { errors, sent } = await ship(dir, restart === 'rotated' ? newSigner() : signer, 10);
      assert.deepEqual(sent, range(from, 10), 'after the restart');
      assert.ok(from <= 6, 'nothing the collector did not accept is skipped');
      if (problem === undefined) assert.deepEqual(errors, []);
      else {
        assert.equal(errors.length, 1, errors.join('\n'));
        assert.match(errors[0] ?? '', problem);
        assert.match(errors[0] ?? '', /starts again from the first record/);
      }
      // The message names places, seqs and kids: never a signature.
      const sigs = [older, previous].map((t) => (JSON.parse(t) as { sig: string }).sig);
      for (const e of errors) for (const sig of sigs) assert.ok(!e.includes(sig), e);
      const saved = await readCursor(dir);
      assert.equal(saved.seq, 10);
      assert.match(String(saved.sig), /^[A-Za-z0-9_-]{86}$/);
    });
});

test('without a checkpoint key no cursor is kept: every start ships from seq 1, and a signed one is not read', async () => {
  const dir = fresh();
  await append(dir, 1, 5);
  assert.deepEqual((await ship(dir, undefined, 5)).sent, range(1, 5));
  await assert.rejects(stat(cursorOf(dir)), { code: 'ENOENT' }, 'no cursor it could not sign');
  await append(dir, 6, 10);
  const again = await ship(dir, undefined, 10);
  assert.deepEqual(again.sent, range(1, 10));
  assert.deepEqual(again.errors, []);
  // A cursor a keyed start saved steers nothing once the key is gone.
  await ship(dir, newSigner(), 10);
  assert.equal((await readCursor(dir)).seq, 10);
  const third = await ship(dir, undefined, 10);
  assert.deepEqual(third.sent, range(1, 10));
});

test('a record after a proved cursor that does not link to it is reported, and nothing after it is shipped', async () => {
  const signer = newSigner();
  const dir = fresh();
  await shippedTo5(dir, signer);
  // Record 6 replaced by another chain's record 6 (same seq, same length, its prev that chain's).
  const other = fresh();
  await append(other, 1, 6, undefined, 'o');
  const theirs = (await recordOf(other, 6)).line;
  const ours = await recordOf(dir, 6);
  const text = await readFile(join(dir, segmentName(ours.segment)), 'utf8');
  await writeFile(join(dir, segmentName(ours.segment)), text.replace(ours.line, theirs));
  const { errors } = await shipUntil(dir, signer, 'the break reported twice', (r) => r.errors.length >= 2);
  assert.deepEqual(got(dir), range(1, 5), 'nothing after seq 5');
  for (const e of errors) assert.match(e, /is seq 6, but its prev is not the hash of seq 5 shipped last/);
});

test("another replica's segment and its cursor (same key): this log's records before that segment are still shipped", async () => {
  const signer = newSigner();
  const dir = fresh();
  await shippedTo5(dir, signer);
  // The other replica shipped its whole log (the same layout: its segments line up with ours).
  const other = fresh();
  await append(other, 1, 10, signer, 'o');
  await ship(other, signer, 10);
  const at = await recordOf(other, 9);
  const first = JSON.parse((await readFile(join(other, segmentName(at.segment)), 'utf8')).split('\n')[0] ?? '{}') as {
    seq: number;
  };
  assert.ok(first.seq > 6, `set-up: seq 6 is before the swapped segment (it starts at seq ${first.seq})`);
  await copyFile(join(other, segmentName(at.segment)), join(dir, segmentName(at.segment)));
  await copyFile(cursorOf(other), cursorOf(dir));
  const { errors, sent } = await shipUntil(dir, signer, 'the break reported', (r) => r.errors.length >= 2);
  // Believed, the cursor would have skipped 6..8 (still on disk, never shipped) in silence.
  assert.deepEqual(sent, range(1, first.seq - 1));
  assert.match(errors[0] ?? '', /the log before it is not one chain up to seq 10 .*: shipping starts again/);
  for (const e of errors.slice(1))
    assert.match(e, new RegExp(`is seq ${first.seq}, but its prev is not the hash of seq ${first.seq - 1}`));
});

describe('the temporary file of a cursor write: a crash leftover is replaced, a planted link never written through', () => {
  const rows: [name: string, plant: (dir: string, tmp: string) => Promise<string>][] = [
    [
      'a symlink to a file outside the directory',
      async (dir, tmp) => {
        const victim = `${dir}-victim`;
        await writeFile(victim, 'untouched');
        await symlink(victim, tmp);
        return victim;
      },
    ],
    [
      'a hard link to segment 1',
      async (dir, tmp) => {
        await link(join(dir, segmentName(1)), tmp);
        return join(dir, segmentName(1));
      },
    ],
    [
      'a torn leftover of a crash before the rename',
      async (dir, tmp) => {
        await writeFile(tmp, '{"seq":3,"seg');
        return join(dir, segmentName(1));
      },
    ],
  ];
  for (const [name, plant] of rows)
    test(name, async () => {
      const signer = newSigner();
      const dir = fresh();
      await append(dir, 1, 5, signer);
      const target = await plant(dir, join(dir, `${SHIP_CURSOR}.tmp`));
      const bytes = await readFile(target);
      const { sent, errors } = await ship(dir, signer, 5);
      assert.deepEqual(sent, range(1, 5));
      assert.deepEqual(errors, []);
      assert.deepEqual(await readFile(target), bytes, 'what the planted name led to is unchanged');
      assert.equal((await readCursor(dir)).seq, 5);
      await assert.rejects(stat(join(dir, `${SHIP_CURSOR}.tmp`)), { code: 'ENOENT' });
    });
});
