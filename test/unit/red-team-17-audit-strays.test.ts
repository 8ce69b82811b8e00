// Red team 17, finding 16. The class: a reader that skips input without saying so. `audit verify`
// listed segments by the 8-digit name the appender writes and said `ok` over a directory that also
// held `segment-2.jsonl` (100 records, not read, not mentioned). Now every entry named like a
// segment (`segment-<digits>.jsonl`, any case) that is not that name fails verify, query and
// report with AUDIT_STRAY_SEGMENT naming it; another `segment-*` name (a `.bak` copy) is stated.
// The red team's layouts A, F and G are rows.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { segmentName } from '../../src/adapters/audit-files.ts';
import { main } from '../../src/cli/main.ts';
import { auditEntry } from '../support/audit-entries.ts';

let root = '';
let source = '';
let n = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-rt17-strays-'));
  source = join(root, 'source');
  const log = await FileAuditLog.open(source);
  for (let i = 0; i < 5; i++) await log.append(auditEntry(i));
  await log.close();
});
after(async () => rm(root, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; text: string }> {
  const lines: string[] = [];
  const io = { out: (l: string) => lines.push(l), err: (l: string) => lines.push(l), color: false };
  const code = await main(args, io, {});
  return { code, text: lines.join('\n') };
}

// [layout, extra names (copies of the real segment), exit, named as failing, named as a note]
const rows: [string, string[], number, string[], string[]][] = [
  ['A (reported): segment-2.jsonl', ['segment-2.jsonl'], 1, ['segment-2.jsonl'], []],
  ['F: a 9-digit number', ['segment-000000002.jsonl'], 1, ['segment-000000002.jsonl'], []],
  [
    'G: 99999999 and 100000000',
    ['segment-99999999.jsonl', 'segment-100000000.jsonl'],
    1,
    ['segment-100000000.jsonl'],
    [],
  ],
  ['upper case', ['SEGMENT-00000002.JSONL'], 1, ['SEGMENT-00000002.JSONL'], []],
  [
    'a .bak and a ~ copy',
    ['segment-00000001.jsonl.bak', 'segment-00000001.jsonl~'],
    0,
    [],
    ['segment-00000001.jsonl.bak', 'segment-00000001.jsonl~'],
  ],
  ['only canonical segments', [], 0, [], []],
];

for (const [name, extra, exit, failing, noted] of rows)
  test(`${name}: verify exits ${exit}`, async () => {
    const dir = join(root, `d${++n}`);
    await mkdir(dir);
    await copyFile(join(source, segmentName(1)), join(dir, segmentName(1)));
    for (const e of extra)
      if (e === 'segment-99999999.jsonl')
        await writeFile(join(dir, e), ''); // an empty canonical segment: read
      else await copyFile(join(source, segmentName(1)), join(dir, e));
    for (const command of ['verify', 'query']) {
      const { code, text } = await run(['audit', command, dir]);
      assert.equal(code, exit, `${command}: ${text}`);
      for (const f of failing)
        assert.match(text, new RegExp(`AUDIT_STRAY_SEGMENT: .*${f.replace(/[.~]/g, '\\$&')}.*NOT read`));
      for (const f of noted)
        assert.match(text, new RegExp(`note: AUDIT_STRAY_SEGMENT: .*${f.replace(/[.~]/g, '\\$&')}`));
      if (failing.length === 0 && noted.length === 0) assert.doesNotMatch(text, /AUDIT_STRAY_SEGMENT/);
      if (command === 'verify') assert.equal(/^ok: /m.test(text), exit === 0, text);
    }
  });
