/**
 * Red team 18, finding 1, through the CLI: `audit report --out` (written by atomic-file.ts as
 * `policy build --out` and `policy test --junit` are) goes where the path leads, as a shell's `>`
 * would. The reported examples: `--out /dev/stdout` replaced the system's /dev/stdout link with
 * the report (as root) or failed with INTERNAL: EACCES (not root); `--out` on a symlink replaced
 * the link; `--out >(…)` failed with ENOENT. Here /dev/stdout is only ever reached through
 * /dev/fd/1 of a pipe (a regression then fails on /proc, never touches /dev).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FileAuditLog } from '../../src/adapters/audit-file.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { auditEntry } from '../support/audit-entries.ts';

const CLI = join(REPO_ROOT, 'bin', 'kubiya-runner.js');
let work = '';
let log = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-out-paths-'));
  log = join(work, 'audit');
  const appender = await FileAuditLog.open(log);
  for (let i = 1; i <= 5; i++) await appender.append(auditEntry(i));
  await appender.close();
});
after(() => rm(work, { recursive: true, force: true }));

/** `audit report <log> --out <out>` through bash (so `redirect` can make fd 1 or 3 a pipe). */
function report(out: string, redirect = ''): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(
    'bash',
    ['-c', `"$0" "$1" audit report "$2" --out "$3" ${redirect}`, process.execPath, CLI, log, out],
    { encoding: 'utf8', timeout: 60_000 },
  );
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test('--out a symlink: the file it points to gets the report, the link stays', async () => {
  await mkdir(join(work, 'real'));
  await writeFile(join(work, 'real', 'r.html'), 'old');
  await symlink(join('real', 'r.html'), join(work, 'link.html'));
  const r = report(join(work, 'link.html'));
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await lstat(join(work, 'link.html'))).isSymbolicLink());
  assert.equal(await readlink(join(work, 'link.html')), join('real', 'r.html'));
  assert.match(await readFile(join(work, 'real', 'r.html'), 'utf8'), /<html/i);
  assert.deepEqual(await readdir(join(work, 'real')), ['r.html']);
});

test('--out /dev/fd/1 with stdout a pipe (as `--out /dev/stdout | …`): the report comes down the pipe', () => {
  const r = report('/dev/fd/1', '| cat');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /<html/i);
  assert.ok(execFileSync('stat', ['-c', '%F', '/dev/stdout'], { encoding: 'utf8' }).includes('symbolic link'));
});

test('--out /dev/fd/3 as >(…) gives it: the report comes down the pipe', () => {
  const r = report('/dev/fd/3', '3>&1 1>/dev/null | cat');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /<html/i);
});

test('--out a directory: OUTPUT_WRITE_FAILED naming it, exit 2, nothing written in it', async () => {
  const d = join(work, 'a-dir');
  await mkdir(d);
  const r = report(d);
  assert.equal(r.code, 2);
  assert.match(r.stderr, new RegExp(`^OUTPUT_WRITE_FAILED: ${d} is a directory`, 'm'));
  assert.deepEqual(await readdir(d), []);
});

test('--out in a directory that does not exist: OUTPUT_WRITE_FAILED (not INTERNAL), exit 2', () => {
  const r = report(join(work, 'missing', 'r.html'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^OUTPUT_WRITE_FAILED: cannot write .*missing\/r\.html: ENOENT/m);
  assert.doesNotMatch(r.stderr, /INTERNAL/);
});

test('--out /dev/stdout with stdout appended to a log (red team 19, finding 2): the log keeps what it held', async () => {
  const logFile = join(work, 'ci.log');
  await writeFile(logFile, 'earlier CI output\n');
  const r = report('/dev/stdout', `>> "${logFile}"`);
  assert.equal(r.code, 0, r.stderr);
  const text = await readFile(logFile, 'utf8');
  assert.ok(text.startsWith('earlier CI output\n'), text.slice(0, 80));
  assert.match(text, /<html/i);
  assert.match(text, /^wrote \/dev\/stdout: /m);
});
