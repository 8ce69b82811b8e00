/**
 * The class: `audit verify` (checkAuditDir) checks each line on its bytes (ChainChecker.lineBytes,
 * canonical-bytes.ts): a hash over the bytes and a byte-level canonical-form check, with no parse
 * and no re-serialisation. This fast path must never trust a line the text path (ChainChecker.line,
 * parse + re-canonicalise, used by readTrusted for query/report/replay) would refuse, and must
 * report the same first bad record and reason for every tampering.
 *
 * Variants, table-driven against one log written by the appender (with signed checkpoints):
 * a flipped byte (in a key, a string value, a number, seq, prev, the hash, a brace), reordered
 * lines, a truncated last line, a duplicated line (duplicate seq), a removed line, forged or
 * altered checkpoints (another key, a changed head, a changed signature), the non-canonical
 * spellings of a record (test/support/non-canonical.ts NON_CANONICAL: whitespace, escapes, number
 * forms, a duplicated or misplaced member, a BOM, a CR…), an upper-case hash, CRLF, an empty line
 * and invalid UTF-8. Each must give the text
 * path's report exactly, and not `ok`. Then, generated: canonical-bytes accepts the canonical
 * text of any object (so the fast path is taken), and any edit of such a text that it accepts is
 * still canonical (canonicalJson of its parse is the same text). Every report is also taken on two
 * threads in small chunks (audit-check-read.ts) and must be the one-thread report.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { CHECKPOINTS_FILE, checkAuditDir, readTrusted, segmentName } from '../../src/adapters/audit-files.ts';
import { canonicalObjectBytes, type TopFields } from '../../src/audit/canonical-bytes.ts';
import { canonicalJson } from '../../src/audit/canonical.ts';
import { AuditRecordInvalid, chainLine, GENESIS, LineBatch } from '../../src/audit/chain.ts';
import { keyId } from '../../src/audit/keys.ts';
import { variedAuditEntry } from '../support/audit-entries.ts';
import { NON_CANONICAL, SPELLING_TOKENS } from '../support/non-canonical.ts';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const N = 30;

const entry = variedAuditEntry;

type Edit = (lines: string[], checkpoints: string[]) => void;
const at =
  (seq: number, f: (l: string) => string): Edit =>
  (ls) =>
    void (ls[seq - 1] = f(ls[seq - 1] as string));
const flip = (seq: number, find: string): Edit =>
  at(seq, (l) => {
    const i = l.indexOf(find);
    assert.ok(i >= 0, `${find} in line ${seq}`);
    return l.slice(0, i) + String.fromCharCode(l.charCodeAt(i) ^ 1) + l.slice(i + 1);
  });

/** name → edit of the lines (without newlines) and checkpoint lines; the text written is lines joined with \n plus \n. */
const TAMPERING: [string, Edit][] = [
  ['a flipped byte in a key', flip(7, '"message"')],
  ['a flipped byte in a string value', flip(7, 'ghcr.io')],
  ['a flipped byte in a number', flip(8, '"cpu":0.5')],
  ['a flipped byte in seq', flip(9, '"seq":9')],
  ['a flipped byte in prev', flip(10, '"prev":"')],
  ['a flipped byte in the hash', flip(11, '"hash":"')],
  ['a flipped closing brace', at(12, (l) => l.slice(0, -1) + '|')],
  ['reordered lines', (ls) => void ([ls[4], ls[5]] = [ls[5] as string, ls[4] as string])],
  ['a truncated last line', (ls) => void (ls[N - 1] = (ls[N - 1] as string).slice(0, 100))],
  ['a duplicated line (duplicate seq)', (ls) => void ls.splice(14, 0, ls[13] as string)],
  ['a removed line', (ls) => void ls.splice(14, 1)],
  ['the last line removed (cut off the end)', (ls) => void ls.pop()],
  ['an upper-case hash', at(6, (l) => l.slice(0, -66) + l.slice(-66).toUpperCase())],
  ['a CR before the newline', at(6, (l) => `${l}\r`)],
  ['an empty line', (ls) => void ls.splice(3, 0, '')],
  ['a forged checkpoint (another key)', (_, cs) => void (cs[0] = forged(cs[0] as string))],
  [
    'a checkpoint with a changed head',
    // Its first hex digit made another (a head starting with "f" stayed unchanged 1 time in 16).
    (_, cs) =>
      void (cs[1] = (cs[1] as string).replace(/"head":"(.)/, (_m, c: string) => `"head":"${c === 'f' ? '0' : 'f'}`)),
  ],
  [
    'a checkpoint with a changed signature',
    // Its first character made another (a signature starting with "A" stayed unchanged 1 time in 64).
    (_, cs) =>
      void (cs[1] = (cs[1] as string).replace(/"sig":"(.)/, (_m, c: string) => `"sig":"${c === 'A' ? 'B' : 'A'}`)),
  ],
  ['a checkpoint that is not JSON', (_, cs) => void (cs[0] = '{')],
  // The other spellings of a record (shared with red-team-7-verify-differential.test.ts), on the
  // first line (prev GENESIS) and on one after a checkpointed stretch.
  ...[1, 6].flatMap((seq) =>
    NON_CANONICAL.map(([name, spell]): [string, Edit] => [`${name} (line ${seq})`, at(seq, spell)]),
  ),
];

/** A checkpoint line re-signed with another key (same fields). */
function forged(line: string): string {
  const c = JSON.parse(line) as { seq: number; head: string; time: string };
  const log = { seq: c.seq, head: c.head, time: c.time, kid: keyId(other.publicKey) };
  return JSON.stringify({ ...log, sig: 'x'.repeat(86) });
}

describe('audit verify on bytes: the same verdict as the text path', () => {
  let dir: string;
  let original: string[];
  let checkpoints: string[];
  const seg = (): string => join(dir, segmentName(1));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubiya-verify-bytes-'));
    const log = await FileAuditLog.open(dir, {
      checkpoint: { key: privateKey, kid: keyId(publicKey), every: 10, intervalMs: 60_000 },
    });
    for (let i = 1; i <= N; i++) await log.append(entry(i));
    await log.close();
    original = (await readFile(seg(), 'utf8')).slice(0, -1).split('\n');
    checkpoints = (await readFile(join(dir, CHECKPOINTS_FILE), 'utf8')).trimEnd().split('\n');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  /**
   * Both reports of the directory as written by `edit` (the raw segment bytes when given). The
   * byte path is also run on two threads in 1 KiB chunks (each chunk's second half checked by the
   * worker, audit-check-read.ts), which must give the one-thread report exactly.
   */
  async function both(edit: Edit, raw?: Buffer): Promise<[unknown, unknown]> {
    const ls = [...original];
    const cs = [...checkpoints];
    edit(ls, cs);
    await writeFile(seg(), raw ?? `${ls.join('\n')}\n`);
    await writeFile(join(dir, CHECKPOINTS_FILE), `${cs.join('\n')}\n`);
    const bytes = await checkAuditDir(dir, publicKey);
    const twoThreads = await checkAuditDir(dir, publicKey, undefined, { parallel: true, chunk: 1024 });
    assert.deepEqual(twoThreads, bytes, 'two threads, 1 KiB chunks');
    return [bytes, (await readTrusted(dir, publicKey)).report];
  }

  test('an intact log: ok on both paths, same report', async () => {
    const [bytes, text] = await both(() => undefined);
    assert.deepEqual(bytes, text);
    assert.equal((bytes as { ok: boolean }).ok, true);
    assert.equal((bytes as { records: number }).records, N);
  });

  for (const [name, edit] of TAMPERING) {
    test(`${name}: refused, with the text path's first bad record and reason`, async () => {
      const [bytes, text] = await both(edit);
      assert.equal((bytes as { ok: boolean }).ok, false, JSON.stringify(bytes));
      assert.deepEqual(bytes, text);
    });
  }

  test('a line cut without its newline, and invalid UTF-8: refused as on the text path', async () => {
    const whole = Buffer.from(`${original.join('\n')}\n`);
    const cases = [
      whole.subarray(0, whole.length - 1),
      Buffer.concat([whole.subarray(0, 40), Buffer.from([0xc3, 0x28]), whole.subarray(42)]),
      Buffer.concat([whole, Buffer.from([0xff])]),
    ];
    for (const raw of cases) {
      const [bytes, text] = await both(() => undefined, raw);
      assert.equal((bytes as { ok: boolean }).ok, false);
      assert.deepEqual(bytes, text);
    }
  });
});

describe('canonical-bytes: the canonical form, checked on bytes', () => {
  const fields = (): TopFields => ({ seqStart: -1, seqEnd: -1, prevStart: -1, prevEnd: -1 });
  const accepts = (text: string): boolean => {
    const b = Buffer.from(text);
    return canonicalObjectBytes(b, 0, b.length, fields());
  };
  /** What the text path holds canonical: canonicalJson of the parse is the text itself. */
  const canonical = (text: string): boolean => {
    try {
      return canonicalJson(JSON.parse(text)) === text;
    } catch {
      return false;
    }
  };
  const objects = fc.object({
    key: fc.string({ unit: 'binary' }),
    values: [fc.string({ unit: 'binary' }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null)],
    maxDepth: 4,
  });

  test('the canonical text of any object is accepted (the fast path is taken)', () => {
    fc.assert(
      fc.property(objects, (o) => {
        let text: string | undefined;
        try {
          text = canonicalJson(o);
        } catch {
          return; // no canonical form (a lone surrogate): never written
        }
        if (text === undefined || 'hash' in o || !canonical(text)) return;
        assert.equal(accepts(text), true, text);
      }),
      { numRuns: 3000 },
    );
  });

  test('an edit it accepts is canonical (never trusts another spelling)', () => {
    const alphabet = SPELLING_TOKENS;
    fc.assert(
      fc.property(
        objects,
        fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.constantFrom(...alphabet)), { minLength: 1, maxLength: 4 }),
        (o, edits) => {
          let text: string;
          try {
            text = canonicalJson(o) ?? '{}';
          } catch {
            return;
          }
          for (const [pos, kind, s] of edits) {
            const i = pos % (text.length + 1);
            text =
              kind === 0
                ? text.slice(0, i) + s + text.slice(i)
                : kind === 1
                  ? text.slice(0, i) + text.slice(i + 1)
                  : text.slice(0, i) + s + text.slice(i + 1);
          }
          // What the bytes say (an edit may split a surrogate pair: the bytes then hold U+FFFD).
          const said = Buffer.from(text).toString('utf8');
          if (accepts(said)) assert.equal(canonical(said), true, said);
        },
      ),
      { numRuns: 5000 },
    );
  });

  test('the exotic spellings, one by one', () => {
    const table: [string, boolean][] = [
      ['{}', true],
      ['{"a":1}', true],
      ['{"a":-0}', false],
      ['{"a":0}', true],
      ['{"a":-1.5e-7}', true],
      ['{"a":1e21}', false],
      ['{"a":1e+21}', true],
      ['{"a":01}', false],
      ['{"a":1.50}', false],
      ['{"a":Infinity}', false],
      ['{"a":NaN}', false],
      ['{"a":123456789012345678}', false],
      ['{"a":123456789012345680}', true],
      ['{"b":1,"a":2}', false],
      ['{"a":1,"a":2}', false],
      ['{"a":"\\u001f"}', true],
      ['{"a":"\\u001F"}', false],
      ['{"a":"\\u0008"}', false],
      ['{"a":"\\b\\t\\n\\f\\r\\"\\\\"}', true],
      ['{"a":"\\ud800"}', false],
      ['{"a":"\u007f\u2028"}', true],
      ['{"a":"\u0000"}', false],
      ['{"\uFF61":1,"\u{1F600}":2}', false],
      ['{"\u{1F600}":2,"\uFF61":1}', true],
      ['{"a":[1,"x",null,true,false,{},[]]}', true],
      ['{"a":[1,]}', false],
      ['{"a":tru}', false],
      ['{"a" :1}', false],
      ['{"a":1} ', false],
      ['{"a":1', false],
    ];
    for (const [text, expected] of table) {
      assert.equal(accepts(text), expected, text);
      if (expected) assert.equal(canonical(text), true, text);
    }
  });

  test('a top-level hash member is never in the hashed text', () => {
    assert.equal(accepts('{"a":1,"hash":"x"}'), false);
    assert.equal(accepts('{"a":{"hash":"x"}}'), true);
  });
});

describe("LineBatch: the appender's bytes are chainLine's lines", () => {
  test('same records, same bytes (non-ASCII, escapes, a buffer that grows), and a refused record adds nothing', () => {
    const batch = new LineBatch();
    for (const round of [1, 2]) {
      batch.reset();
      let prev = GENESIS;
      const lines: string[] = [];
      for (let i = 1; i <= 400; i++) {
        const e = { ...entry(i), message: `${entry(i).message} ${'é\u{1F600}"\\'.repeat(i % 7)}`.repeat(round * 20) };
        if (i % 50 === 0)
          assert.throws(() => batch.add({ ...e, input: { bad: '\uD800' } }, i, prev), AuditRecordInvalid);
        const record = batch.add(e, i, prev);
        const expected = chainLine(e, i, prev);
        assert.deepEqual(record, expected.record);
        lines.push(expected.line);
        prev = record.hash;
      }
      assert.equal(batch.bytes().toString('utf8'), `${lines.join('\n')}\n`);
    }
  });
});
