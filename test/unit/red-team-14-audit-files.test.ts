// Red team 14, finding 2. Class: an audit reader (`audit verify`, `query`, `report`,
// `policy replay`) given a directory it did not write, whose segment or checkpoints file is not a
// regular file. A FIFO named segment-00000001.jsonl made `audit verify` and `audit query` wait
// for ever in open(2) (SIGTERM did not end them: 541 s until SIGKILL), and a symlink to
// /dev/zero made them read without end (636 MB and growing after 40 s). Now every reader opens
// segments and the checkpoints file without blocking and refuses anything but a regular file
// (a symlink to one is fine): AUDIT_READ_FAILED at once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { checkAuditDir, readCheckpoints, readTrusted, segmentName } from '../../src/adapters/audit-files.ts';
import { readChains } from '../../src/adapters/audit-chains.ts';
import { auditEntry } from '../support/audit-entries.ts';
import { childEnd } from '../support/child-end.ts';
import { settlesWithin } from '../support/settles.ts';

let root = '';
let good = '';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-rt14-audit-'));
  good = join(root, 'good');
  const log = await FileAuditLog.open(good);
  for (let i = 0; i < 3; i++) await log.append(auditEntry(i));
  await log.close();
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

type Kind = 'fifo' | 'zero' | 'directory';

/** A directory whose segment 1 (or its checkpoints file) is `kind` instead of a regular file. */
async function hostile(kind: Kind, which: 'segment' | 'checkpoints'): Promise<{ dir: string; path: string }> {
  const dir = await mkdtemp(join(root, `${kind}-${which}-`));
  const name = which === 'segment' ? segmentName(1) : 'checkpoints.jsonl';
  if (which === 'checkpoints') await copyFile(join(good, segmentName(1)), join(dir, segmentName(1)));
  const path = join(dir, name);
  if (kind === 'fifo') execFileSync('mkfifo', [path]);
  else if (kind === 'zero') await symlink('/dev/zero', path);
  else await mkdir(path);
  return { dir, path };
}

/** Unblocks a reader stuck in open(2) of a FIFO (so a failing run ends instead of hanging). */
function release(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: no reader waits on it.
  }
}

const READERS: Record<string, (dir: string) => Promise<unknown>> = {
  checkAuditDir: (dir) => checkAuditDir(dir, undefined, undefined, { parallel: false }),
  readTrusted: (dir) => readTrusted(dir, undefined),
  readChains: (dir) => readChains([dir], undefined),
  readCheckpoints: (dir) => readCheckpoints(dir),
};

for (const which of ['segment', 'checkpoints'] as const)
  for (const kind of ['fifo', 'zero', 'directory'] as const)
    for (const [reader, read] of Object.entries(READERS)) {
      if (reader === 'readCheckpoints' && which === 'segment') continue;
      test(`${reader}: a ${which} that is a ${kind} is refused at once, not read`, async () => {
        const { dir, path } = await hostile(kind, which);
        const result = await settlesWithin(read(dir), 5000, `the reader on ${path}`, () => release(path));
        assert.equal(result.status, 'rejected', `${reader} read a ${kind} ${which}`);
        assert.match(String(result.reason), /not a regular file/);
      });
    }

test('a segment or checkpoints file that is a symlink to a regular file is read as before', async () => {
  const dir = await mkdtemp(join(root, 'linked-'));
  await symlink(join(good, segmentName(1)), join(dir, segmentName(1)));
  await symlink(join(good, 'segment-00000001.jsonl'), join(dir, 'elsewhere.jsonl'));
  const report = await checkAuditDir(dir, undefined, undefined, { parallel: false });
  assert.equal(report.ok, true);
  assert.equal(report.records, 3);
  assert.equal((await readTrusted(dir, undefined)).records.length, 3);
});

test('regression: `audit verify` and `audit query` of a directory whose segment is a FIFO answer AUDIT_READ_FAILED, exit 2', async () => {
  const { dir, path } = await hostile('fifo', 'segment');
  for (const command of ['verify', 'query']) {
    const child = spawn(process.execPath, ['bin/kubiya-runner.js', 'audit', command, dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const { code } = await childEnd(child, { killAfterMs: 20_000, onKill: () => release(path) });
    assert.equal(code, 2, `audit ${command}: exit ${code}, ${stderr}`);
    assert.match(stderr, /^AUDIT_READ_FAILED: .*not a regular file/m);
  }
});
