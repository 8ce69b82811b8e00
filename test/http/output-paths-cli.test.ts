/**
 * Red team 18, finding 1, through the CLI: `audit report --out` (written by atomic-file.ts as
 * `policy build --out` and `policy test --junit` are) goes where the path leads, as a shell's `>`
 * would. The reported examples: `--out /dev/stdout` replaced the system's /dev/stdout link with
 * the report (as root) or failed with INTERNAL: EACCES (not root); `--out` on a symlink replaced
 * the link; `--out >(…)` failed with ENOENT. Here /dev/stdout is only ever reached through
 * /dev/fd/1 of a pipe (a regression then fails on /proc, never touches /dev).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
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
  assert.doesNotMatch(text, /^wrote /m, 'the status line is not in the output (red team 20, finding 7)');
  assert.match(r.stderr, /^wrote \/dev\/stdout: /m);
});

/** A bash script line run from the worktree (`$CLI` and `$LOG` set), asynchronously; its status and streams. */
function sh(script: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-o', 'pipefail', '-c', script], {
      cwd: REPO_ROOT,
      env: { ...process.env, CLI: `${process.execPath} ${CLI}`, LOG: log, ...env },
      timeout: 120_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** `items` through `run`, at most `width` at a time (the machine has few cores). */
async function inBatches<T, R>(items: readonly T[], width: number, run: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) out.push(...(await Promise.all(items.slice(i, i + width).map(run))));
  return out;
}

// Red team 20, findings 2 and 7: every spelling of this command's stdout (/proc/thread-self/fd/1
// was renamed over the file) under every way a shell gives stdout (`>`, `>>`, a pipe, `exec >>`
// in a CI script): the file keeps its inode and what it held, holds the report alone (the command's
// `wrote …` line goes to stderr), and a script's later lines come after it.
const SPELLINGS = [
  '/dev/stdout',
  '/proc/self/fd/1',
  '/proc/thread-self/fd/1',
  '//dev//stdout',
  '/proc/thread-self/fd/../fd/1',
  '{work}/to-thread-self-fd1',
];
const REDIRECTIONS: [name: string, line: (out: string, file: string) => string][] = [
  ['> file', (out, f) => `$CLI audit report "$LOG" --out "${out}" > "${f}"`],
  ['>> file', (out, f) => `$CLI audit report "$LOG" --out "${out}" >> "${f}"`],
  ['| cat > file', (out, f) => `$CLI audit report "$LOG" --out "${out}" | cat > "${f}"`],
  [
    'exec >> file in a script',
    (out, f) => `exec >> "${f}"; echo step 1; $CLI audit report "$LOG" --out "${out}"; echo "step 3 rc=$?"`,
  ],
];

test(`--out naming stdout: ${SPELLINGS.length} spellings × ${REDIRECTIONS.length} redirections, the file kept, the report alone in it`, async () => {
  const d = join(work, 'matrix');
  await mkdir(d);
  await symlink('/proc/thread-self/fd/1', join(work, 'to-thread-self-fd1'));
  const rows = SPELLINGS.flatMap((s, i) => REDIRECTIONS.map(([name, line], j) => ({ s, i, j, name, line })));
  const wrong = await inBatches(rows, 3, async ({ s, i, j, name, line }) => {
    const f = join(d, `out-${i}-${j}`);
    await writeFile(f, 'earlier output\n');
    const inode = (await stat(f)).ino;
    const r = await sh(line(s.replace('{work}', work), f));
    const text = await readFile(f, 'utf8');
    const html = /<!doctype html>[\s\S]*<\/html>\n?/i.exec(text)?.[0] ?? '';
    const want =
      name === '> file' || name === '| cat > file'
        ? html
        : name === '>> file'
          ? `earlier output\n${html}`
          : `earlier output\nstep 1\n${html}step 3 rc=0\n`;
    const problems = [
      r.code !== 0 && `exit ${r.code}: ${r.stderr}`,
      name !== '| cat > file' && (await stat(f)).ino !== inode && 'a new inode: renamed over',
      html === '' && 'no report',
      text !== want &&
        `the file is not ${name === '>> file' ? 'the earlier output, then' : ''} the report alone: ${JSON.stringify(text.replace(html, '<report>'))}`,
      name !== 'exec >> file in a script' && !/^wrote /m.test(r.stderr) && `no "wrote" line on stderr: ${r.stderr}`,
    ].filter((p) => p !== false);
    return problems.length === 0 ? [] : [`${s} with ${name}: ${problems.join('; ')}`];
  });
  assert.deepEqual(wrong.flat(), []);
});

test("--out /proc/$$/fd/1, the script's own stdout (exec >> log): OUTPUT_WRITE_FAILED, the log kept and never renamed", async () => {
  const f = join(work, 'ci-shell.log');
  await writeFile(f, 'earlier CI output\n');
  const inode = (await stat(f)).ino;
  const r = await sh(
    `exec >> "${f}" 2>&1; echo step 1; $CLI audit report "$LOG" --out "/proc/$$/fd/1"; echo "step 3 rc=$?"`,
  );
  assert.equal(r.code, 0);
  assert.equal((await stat(f)).ino, inode);
  assert.match(
    await readFile(f, 'utf8'),
    /^earlier CI output\nstep 1\nOUTPUT_WRITE_FAILED: cannot write \/proc\/\d+\/fd\/1: it is descriptor 1 of another process \(\d+\).*\nstep 3 rc=2\n$/,
  );
});

// Red team 20, finding 5: with TMPDIR missing, `--out /dev/stdout` and `>(…)` were INTERNAL (mkdtemp).
for (const [name, line] of [
  ['--out /dev/stdout | cat', `$CLI audit report "$LOG" --out /dev/stdout | cat`],
  ['--out >(cat)', `$CLI audit report "$LOG" --out >(cat) > /dev/null; wait`],
] as const)
  test(`TMPDIR missing, ${name}: the whole report, exit 0`, async () => {
    const r = await sh(line, { TMPDIR: join(work, 'no-such-tmp') });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^<!doctype html>[\s\S]*<\/html>\n?$/i);
    assert.doesNotMatch(r.stderr, /INTERNAL/);
  });

test('--out /dev/fd/3 given read-only (3< file): OUTPUT_WRITE_FAILED at once, exit 2', async () => {
  const ro = join(work, 'ro.txt');
  await writeFile(ro, 'read only\n');
  const r = await sh(`timeout -k 2 30 $CLI audit report "$LOG" --out /dev/fd/3 3< "${ro}" > /dev/null`);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^OUTPUT_WRITE_FAILED: cannot write \/dev\/fd\/3: descriptor 3 is not open for writing/m);
  assert.equal(await readFile(ro, 'utf8'), 'read only\n');
});

// Red team 20, finding 7, for each command with an output option: with the output on stdout, stdout
// holds it alone and the command's own lines go to stderr.
test('policy build --out /dev/stdout > file: a clean gzip bundle, the "built" line on stderr', async () => {
  const b = join(work, 'b-stdout.tar.gz');
  const r = await sh(`$CLI policy build --out /dev/stdout > "${b}"`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /^built \/dev\/stdout \(revision /m);
  gunzipSync(await readFile(b)); // throws on trailing bytes ("built …" at the end)
  const e = await sh(`$CLI policy eval examples/python-analyze.yaml --bundle "${b}"`);
  assert.equal(e.code, 0, e.stderr);
});

test('policy test --junit /dev/stdout > file: the file is the JUnit XML alone, the results on stderr', async () => {
  const x = join(work, 'junit.xml');
  const r = await sh(`$CLI policy test --junit /dev/stdout > "${x}"`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(await readFile(x, 'utf8'), /^<\?xml [^]*<\/testsuites>\n?$/);
  assert.match(r.stderr, /^rego unit tests: \d+\/\d+ passed$/m);
});
