// The class (red team 20, finding 2; red team 19, finding 2; red team 18, finding 1): an output path
// that leads to an open descriptor through procfs renamed over the file that descriptor is. Any
// path whose walk passes through a link in a process's `fd` directory must be this command's
// descriptor (written to it) or refused, never `replace`. The spellings are generated: each base
// (/dev/stdout, /proc/thread-self/fd/1, /proc/<pid>/task/<tid>/fd/1, a symlink of ours...) with
// doubled slashes, `/./`, and `c/../c` at each directory, absolute and relative.
//
// The classifier runs in one child whose stdout is appended to a file here (never the real
// /dev/stdout): it only looks (lstat, readlink, statfs), and the answers come back on a pipe.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';

let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-target-'));
});
after(() => rm(work, { recursive: true, force: true }));

/** Every spelling of `base` the walk must treat alike ({pid}, {d} filled in by the child). */
function spellings(base: string): string[] {
  const parts = base.split('/');
  const out = new Set([base, base.replaceAll('/', '//'), parts.join('/./')]);
  // c/../c at each directory on the way (not the first, empty, part of an absolute path)
  for (let i = 1; i < parts.length - 1; i++)
    if (parts[i] !== '' && !parts[i]!.startsWith('{'))
      out.add([...parts.slice(0, i + 1), '..', ...parts.slice(i)].join('/'));
  return [...out];
}

/** 'fd:1 where the kernel agrees': fd 1 for a spelling stat resolves to stdout's file, refused for one it cannot resolve. */
type Want = 'fd:1' | 'fd:2' | 'fd:0' | 'through' | `replace:${string}` | RegExp | 'fd:1 where the kernel agrees';

const OWN_STDOUT = [
  '/dev/stdout',
  '/dev/fd/1',
  '/proc/self/fd/1',
  '/proc/thread-self/fd/1',
  '/proc/{pid}/fd/1',
  '/proc/{pid}/task/{pid}/fd/1',
  '/proc/self/task/{pid}/fd/1',
  '{d}/to-stdout',
  '{d}/to-thread-self-fd/1',
  '{d}/chain',
  '{d}/to-proc/thread-self/fd/1',
];

const ROWS: [path: string, want: Want][] = [
  ...OWN_STDOUT.flatMap((b) => spellings(b).map((p): [string, Want] => [p, 'fd:1 where the kernel agrees'])),
  ['to-stdout', 'fd:1'],
  ['./chain', 'fd:1'],
  ['{rel}/proc/thread-self/fd/1', 'fd:1'],
  ['/dev/stderr', 'fd:2'],
  ['/proc/thread-self/fd/2', 'fd:2'],
  ['/dev/stdin', 'fd:0'],
  // another process's descriptor (the test's own, seen from the child): refused, never followed
  ...spellings('/proc/{ppid}/fd/1').map((p): [string, Want] => [p, /descriptor 1 of another process/]),
  ['/proc/{ppid}/task/{ppid}/fd/1', /descriptor 1 of another process/],
  ['{d}/to-parent-fd1', /descriptor 1 of another process/],
  // other magic links, and past a magic link: opened through, never renamed over
  ['/proc/self/cwd/new.txt', 'through'],
  ['/proc/thread-self/fd/1/x', 'through'],
  ['/proc/self/exe', 'through'],
  // files
  ['{d}/new.tgz', 'replace:{d}/new.tgz'],
  ['{d}/existing', 'replace:{d}/existing'],
  ['{d}//sub/../existing', 'replace:{d}/existing'],
  ['{d}/to-existing', 'replace:{d}/existing'],
  ['{d}/to-sub/../existing', 'replace:{d}/existing'],
  ['{d}/dangling', 'through'],
  ['{d}/fifo', 'through'],
  ['{d}', /is a directory/],
  ['{d}/missing/x', /ENOENT/],
  ['{d}/existing/x', /ENOTDIR/],
  ['{d}/loop', /ELOOP/],
];

/**
 * outputTarget of each path, in a child (cwd `d`) whose stdout is appended to a file in `d`, with
 * what the kernel's stat says the path leads to: 'stdout' (that file), 'other', 'none' (an error).
 */
function classify(d: string, paths: readonly string[]): [answer: string, kernel: string][] {
  const mod = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'adapters', 'output-target.ts')).href;
  const script = `
    import { fstatSync, statSync, writeSync } from 'node:fs';
    import { relative } from 'node:path';
    const { outputTarget } = await import(${JSON.stringify(mod)});
    const fill = (p) => p.replaceAll('{pid}', String(process.pid)).replaceAll('{ppid}', process.env.PARENT)
      .replaceAll('{rel}', relative(process.cwd(), '/')).replaceAll('{d}', process.cwd());
    const out = fstatSync(1);
    const kernel = (p) => { try { const s = statSync(p); return s.dev === out.dev && s.ino === out.ino ? 'stdout' : 'other'; } catch { return 'none'; } };
    const answers = [];
    for (const p of JSON.parse(process.env.PATHS)) {
      let answer;
      try {
        const t = await outputTarget(fill(p));
        answer = t.kind === 'descriptor' ? 'fd:' + t.fd : t.kind === 'replace' ? 'replace:' + t.file.replaceAll(process.cwd(), '{d}') : t.kind;
      } catch (e) { answer = 'refused: ' + e.message; }
      answers.push([answer, kernel(fill(p))]);
    }
    writeSync(3, JSON.stringify(answers));`;
  const out = execFileSync(
    'bash',
    ['-c', `"$0" --input-type=module -e "$1" 3>&1 >> stdout.log 2>> stderr.log | cat`, process.execPath, script],
    { cwd: d, encoding: 'utf8', env: { ...process.env, PATHS: JSON.stringify(paths), PARENT: String(process.pid) } },
  );
  return JSON.parse(out) as [string, string][];
}

test(`what an output path leads to, walked: ${ROWS.length} spellings of descriptors, links and files`, async () => {
  const d = join(work, 'd');
  await mkdir(join(d, 'sub'), { recursive: true });
  await writeFile(join(d, 'existing'), 'old');
  await writeFile(join(d, 'stdout.log'), 'earlier\n');
  await symlink('/dev/stdout', join(d, 'to-stdout'));
  await symlink('/proc/thread-self/fd', join(d, 'to-thread-self-fd'));
  await symlink('to-stdout', join(d, 'chain'));
  await symlink('/proc', join(d, 'to-proc'));
  await symlink(`/proc/${process.pid}/fd/1`, join(d, 'to-parent-fd1'));
  await symlink('existing', join(d, 'to-existing'));
  await symlink('sub', join(d, 'to-sub'));
  await symlink('nothing-here', join(d, 'dangling'));
  await symlink('loop', join(d, 'loop'));
  execFileSync('mkfifo', [join(d, 'fifo')]);
  const got = classify(
    d,
    ROWS.map(([p]) => p),
  );
  const wrong = ROWS.flatMap(([path, want], i) => {
    const [answer, kernel] = got[i]!;
    const ok =
      want === 'fd:1 where the kernel agrees'
        ? kernel === 'stdout'
          ? answer === 'fd:1'
          : kernel === 'none' && answer.startsWith('refused: ')
        : want instanceof RegExp
          ? answer.startsWith('refused: ') && want.test(answer)
          : answer === want;
    return ok ? [] : [`${path}: got ${answer} (kernel: ${kernel}), want ${String(want)}`];
  });
  assert.deepEqual(wrong, []);
  const resolved = got.filter(([, k], i) => ROWS[i]![1] === 'fd:1 where the kernel agrees' && k === 'stdout').length;
  assert.ok(resolved >= 4 * OWN_STDOUT.length, `most spellings reach stdout's file (${resolved})`);
  assert.equal(await readFile(join(d, 'stdout.log'), 'utf8'), 'earlier\n', 'looking writes nothing');
});
