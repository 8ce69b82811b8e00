// Red team 18, finding 2, as a property (the shipper end to end is test/http/red-team-18-ship-cursor.test.ts).
// The runner shipped records 1..K of its log and saved its cursor at K; another replica (the same
// key: the chart's replicas share it) shipped all of its own log. Someone with the audit volume
// but not the key then does anything to the files: edits any member of the cursor (to another
// record's value, of this chain or the other, or to noise), puts in its place the other replica's
// cursor, one signed by the key before a rotation, by their own key under the runner's kid or
// theirs, an unsigned one of the previous release, a checkpoint line, a torn copy; deletes it;
// swaps, cuts, deletes segments or puts the other replica's in their place. Whatever they did, the
// shipper skips nothing the collector did not accept: loadCursor starts from START, or from a
// position after which the files hold, before it, exactly the records 1..N of one chain that a
// cursor of the key vouched for as accepted (this log's with N <= K: backward only re-ships; or the
// other replica's, whose segments then replaced this log's — those records are gone, not skipped),
// and none of this log's records K+1.. is among them. Real files under a temporary directory; the
// runner's own saveCursor writes the genuine cursors.
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { CHECKPOINTS_FILE } from '../../src/adapters/audit-files.ts';
import { loadCursor, saveCursor, SHIP_CURSOR } from '../../src/adapters/audit-ship-cursor.ts';
import { checkpointValid, type Checkpoint } from '../../src/audit/checkpoint.ts';
import {
  cursorSignatureValid,
  lineHasHash,
  parseCursor,
  signCursor,
  START,
  type ShipPosition,
} from '../../src/audit/ship-cursor.ts';
import { auditEntry } from '../support/audit-entries.ts';
import { newSigner } from '../support/audit-signer.ts';

const RECORDS = 24;
/** The last seq the collector accepted: the runner's cursor is at it. */
const K = 12;
const runner = newSigner();
const rotated = newSigner(); // the runner's key before a rotation
const attacker = newSigner();

let root = '';
let n = 0;
const fresh = () => join(root, `d${++n}`);

interface Chain {
  readonly dir: string;
  readonly segments: string[];
  /** Position of record seq (index seq - 1) and its line's bytes (without the newline). */
  readonly at: ShipPosition[];
  readonly lines: Buffer[];
}

/** A log of RECORDS records over several segments (message `message`: every chain's records have the same lengths). */
async function chain(message: string): Promise<Chain> {
  const dir = fresh();
  const log = await FileAuditLog.open(dir, {
    segmentBytes: 1500,
    checkpoint: { ...runner, every: 5, intervalMs: 60_000 },
  });
  for (let i = 1; i <= RECORDS; i++) await log.append(auditEntry(i, { message }));
  await log.close();
  const segments = (await readdir(dir)).filter((f) => f.startsWith('segment-')).sort();
  const at: ShipPosition[] = [];
  const lines: Buffer[] = [];
  for (const name of segments) {
    const bytes = await readFile(join(dir, name));
    let start = 0;
    for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
      const line = bytes.subarray(start, nl);
      const { seq, hash } = JSON.parse(line.toString()) as { seq: number; hash: string };
      at.push({ seq, segment: Number(name.slice(8, 16)), offset: nl + 1, hash });
      lines.push(line);
      start = nl + 1;
    }
  }
  return { dir, segments, at, lines };
}

/** The text saveCursor writes for `p` signed by `signer` (the runner's own write, into a scratch directory). */
async function saved(p: ShipPosition, signer = runner): Promise<string> {
  const dir = fresh();
  await mkdir(dir);
  await saveCursor(dir, p, signer);
  return readFile(join(dir, SHIP_CURSOR), 'utf8');
}

let here: Chain;
let there: Chain;
/** Positions the runner saved for this log while shipping 1..K (what an older cursor can be). */
let savedHere: ShipPosition[] = [];
/** Cursor texts someone with the volume can have, none of which the runner saved for this log. */
let foreign: string[] = [];

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-ship-cursor-'));
  here = await chain('m');
  there = await chain('o');
  savedHere = here.at.slice(0, K);
  const cps = (await readFile(join(here.dir, CHECKPOINTS_FILE), 'utf8')).trimEnd().split('\n');
  foreign = [
    ...(await Promise.all(there.at.map((p) => saved(p)))), // another replica's (same key)
    ...(await Promise.all(here.at.map((p) => saved(p, rotated)))), // before a rotation
    ...here.at.map((p) => JSON.stringify(signCursor(p, attacker))), // their own key
    ...here.at.map((p) => JSON.stringify({ ...signCursor(p, attacker), kid: runner.kid })), // ... under the runner's kid
    ...here.at.map(({ seq, segment, offset }) => JSON.stringify({ seq, segment, offset })), // the previous release's
    ...cps.map((l) => {
      const c = JSON.parse(l) as Checkpoint;
      const p = here.at[c.seq - 1] as ShipPosition;
      return JSON.stringify({ ...p, hash: c.head, kid: c.kid, sig: c.sig }); // a checkpoint's signature
    }),
  ];
});
after(async () => rm(root, { recursive: true, force: true }));

/** What someone with the volume does, one step. */
type Step =
  | {
      readonly kind: 'edit';
      readonly member: 'seq' | 'segment' | 'offset' | 'hash' | 'kid' | 'sig';
      readonly from: 'here' | 'there' | 'noise';
      readonly pick: number;
    }
  | { readonly kind: 'replace'; readonly pick: number }
  | { readonly kind: 'older'; readonly pick: number }
  | { readonly kind: 'delete' }
  | { readonly kind: 'tear'; readonly at: number }
  | { readonly kind: 'swap'; readonly a: number; readonly b: number }
  | { readonly kind: 'cut'; readonly segment: number; readonly at: number }
  | { readonly kind: 'drop'; readonly segment: number }
  | { readonly kind: 'theirs'; readonly segment: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('edit' as const),
    member: fc.constantFrom(
      'seq' as const,
      'segment' as const,
      'offset' as const,
      'hash' as const,
      'kid' as const,
      'sig' as const,
    ),
    from: fc.constantFrom('here' as const, 'there' as const, 'noise' as const),
    pick: fc.nat(),
  }),
  fc.record({ kind: fc.constant('replace' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('older' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('delete' as const) }),
  fc.record({ kind: fc.constant('tear' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('cut' as const), segment: fc.nat(), at: fc.nat() }),
  fc.record({ kind: fc.constant('drop' as const), segment: fc.nat() }),
  fc.record({ kind: fc.constant('theirs' as const), segment: fc.nat() }),
);

const of = <T>(list: readonly T[], i: number): T => list[i % list.length] as T;

async function apply(dir: string, s: Step): Promise<void> {
  const cursor = join(dir, SHIP_CURSOR);
  const seg = (i: number) => join(dir, of(here.segments, i));
  switch (s.kind) {
    case 'edit': {
      const text = await readFile(cursor, 'utf8').catch(() => '');
      let c: Record<string, unknown> = {};
      try {
        c = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // deleted or torn before: the edit starts from nothing
      }
      const source = s.from === 'noise' ? undefined : of((s.from === 'here' ? here : there).at, s.pick);
      const value =
        s.member === 'kid'
          ? of([runner.kid, rotated.kid, attacker.kid], s.pick)
          : s.member === 'sig'
            ? (JSON.parse(of(foreign, s.pick)) as { sig?: string }).sig
            : source !== undefined
              ? source[s.member]
              : s.member === 'hash'
                ? s.pick.toString(16).padStart(64, '0')
                : s.pick;
      await writeFile(cursor, JSON.stringify({ ...c, [s.member]: value }));
      return;
    }
    case 'replace':
      return writeFile(cursor, of(foreign, s.pick));
    case 'older':
      return writeFile(cursor, await saved(of(savedHere, s.pick)));
    case 'delete':
      return rm(cursor, { force: true });
    case 'tear': {
      const text = await readFile(cursor, 'utf8').catch(() => '');
      return writeFile(cursor, text.slice(0, s.at % (text.length + 1)));
    }
    case 'swap': {
      if (seg(s.a) === seg(s.b)) return;
      const tmp = join(dir, 'swap.tmp');
      await rename(seg(s.a), tmp).catch(() => undefined);
      await rename(seg(s.b), seg(s.a)).catch(() => undefined);
      await rename(tmp, seg(s.b)).catch(() => undefined);
      return;
    }
    case 'cut':
      return truncate(seg(s.segment), s.at % 1600).catch(() => undefined);
    case 'drop':
      return rm(seg(s.segment), { force: true });
    case 'theirs':
      return copyFile(join(there.dir, of(there.segments, s.segment)), seg(s.segment));
  }
}

/** A copy of this log with the runner's cursor at K, as the runner left it. */
async function asLeft(): Promise<string> {
  const dir = fresh();
  await mkdir(dir);
  for (const s of here.segments) await copyFile(join(here.dir, s), join(dir, s));
  await saveCursor(dir, here.at[K - 1] as ShipPosition, runner);
  return dir;
}

/** The lines of the segments of `dir` before the position `p` (in its segment, those ending at or before `p.offset`). */
async function linesBefore(dir: string, p: ShipPosition): Promise<Buffer[]> {
  const out: Buffer[] = [];
  const names = (await readdir(dir)).filter((f) => /^segment-\d{8}\.jsonl$/.test(f)).sort();
  for (const name of names.filter((f) => Number(f.slice(8, 16)) <= p.segment)) {
    const all = await readFile(join(dir, name));
    const bytes = Number(name.slice(8, 16)) === p.segment ? all.subarray(0, p.offset) : all;
    let start = 0;
    for (let nl = bytes.indexOf(0x0a); nl >= 0; nl = bytes.indexOf(0x0a, start)) {
      out.push(bytes.subarray(start, nl));
      start = nl + 1;
    }
    if (start < bytes.length) out.push(bytes.subarray(start));
  }
  return out;
}

describe('the cursor the shipper starts from', () => {
  test('the runner’s own cursor, untouched, is believed at K', async () => {
    const r = await loadCursor(await asLeft(), runner);
    assert.deepEqual(r, { cursor: here.at[K - 1] });
  });

  test('generated: whatever is done to the volume without the key, nothing before the start is a record the collector did not accept (fast-check)', async () => {
    const unshipped = new Set(here.lines.slice(K).map((l) => l.toString('latin1')));
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 3 }), async (steps) => {
        const dir = await asLeft();
        for (const s of steps) await apply(dir, s);
        const r = await loadCursor(dir, runner);
        if (r.cursor.seq === 0) assert.deepEqual(r.cursor, START);
        else {
          const same = (p: ShipPosition) => JSON.stringify(p) === JSON.stringify(r.cursor);
          const chain = savedHere.some(same) ? here : there.at.some(same) ? there : undefined;
          assert.ok(
            chain !== undefined,
            `believed ${JSON.stringify(r.cursor)}, which no cursor of the key vouched for`,
          );
          const before = await linesBefore(dir, r.cursor);
          assert.deepEqual(before, chain.lines.slice(0, r.cursor.seq), 'before it: exactly that chain, 1..N');
          assert.ok(!before.some((l) => unshipped.has(l.toString('latin1'))), 'none of this log past K');
          assert.equal(r.problem, undefined);
        }
        await rm(dir, { recursive: true, force: true });
      }),
      { numRuns: 200 },
    );
  });

  test('every cursor the runner did not save for this log, at once: START with the reason', async () => {
    for (const text of foreign) {
      const dir = await asLeft();
      await writeFile(join(dir, SHIP_CURSOR), text);
      const r = await loadCursor(dir, runner);
      assert.deepEqual(r.cursor, START, text);
      assert.match(r.problem ?? '', /: shipping starts again from the first record/);
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a cursor file of 8 GiB (sparse) is refused unread: START with the reason', async () => {
    const dir = await asLeft();
    await truncate(join(dir, SHIP_CURSOR), 8 * 1024 ** 3);
    const r = await loadCursor(dir, runner);
    assert.deepEqual(r.cursor, START);
    assert.match(r.problem ?? '', /is longer than any cursor/);
  });

  test('no file: START, nothing to report', async () => {
    const dir = await asLeft();
    await rm(join(dir, SHIP_CURSOR));
    assert.deepEqual(await loadCursor(dir, runner), { cursor: START });
  });
});

describe('the signed cursor', () => {
  const pub = createPublicKey(runner.key);
  const p: ShipPosition = { seq: 7, segment: 2, offset: 300, hash: 'a'.repeat(64) };

  test('a cursor verifies with the key that signed it, and not once any member changed', () => {
    const c = signCursor(p, runner);
    assert.equal(cursorSignatureValid(c, pub), true);
    for (const change of [{ seq: 8 }, { segment: 3 }, { offset: 301 }, { hash: 'b'.repeat(64) }, { kid: attacker.kid }])
      assert.equal(cursorSignatureValid({ ...c, ...change }, pub), false, JSON.stringify(change));
    assert.equal(cursorSignatureValid(c, createPublicKey(attacker.key)), false);
    assert.equal(cursorSignatureValid({ ...c, sig: 'not base64url!' }, pub), false);
  });

  test('the same key signs checkpoints: neither signature stands for the other', () => {
    const c = signCursor(p, runner);
    const asCheckpoint: Checkpoint = {
      seq: c.seq,
      head: c.hash,
      time: '2026-12-03T00:00:00.000Z',
      kid: c.kid,
      sig: c.sig,
    };
    assert.equal(checkpointValid(asCheckpoint, pub), false);
  });

  const rows: [name: string, value: unknown, problem: RegExp | undefined][] = [
    ['a signed cursor', signCursor(p, runner), undefined],
    ['the previous release’s {seq, segment, offset}', { seq: 7, segment: 2, offset: 300 }, /is not signed/],
    ['a member more', { ...signCursor(p, runner), note: 'x' }, /is not a cursor/],
    ['no sig', { ...signCursor(p, runner), sig: undefined }, /is not a cursor/],
    ['an upper-case hash', { ...signCursor(p, runner), hash: 'A'.repeat(64) }, /is not a cursor/],
    ['a short kid', { ...signCursor(p, runner), kid: 'abc' }, /is not a cursor/],
    ['segment 0', { ...signCursor(p, runner), segment: 0 }, /is not a cursor/],
    ['a negative offset', { ...signCursor(p, runner), offset: -1 }, /is not a cursor/],
    ['a fraction', { ...signCursor(p, runner), seq: 1.5 }, /is not a cursor/],
    ['an array', [7, 2, 300], /is not a cursor/],
    ['null', null, /is not a cursor/],
  ];
  for (const [name, value, problem] of rows)
    test(`parseCursor: ${name}`, () => {
      const r = parseCursor(JSON.parse(JSON.stringify(value)) as unknown);
      if (problem === undefined) assert.deepEqual(r, value);
      else {
        assert.equal(typeof r, 'string');
        assert.match(r as string, problem);
      }
    });

  test('lineHasHash: the record’s own bytes only', () => {
    const line = here.lines[3] as Buffer;
    const hash = (here.at[3] as ShipPosition).hash;
    assert.equal(lineHasHash(line, hash), true);
    assert.equal(lineHasHash(line, (here.at[4] as ShipPosition).hash), false, 'another hash');
    const edited = Buffer.from(line.toString().replace('"message":"m"', '"message":"x"'));
    assert.equal(lineHasHash(edited, hash), false, 'content changed, hash member kept');
    assert.equal(lineHasHash(Buffer.from(`{"hash":"${hash}"}`), hash), false, 'a line that only claims it');
  });
});
