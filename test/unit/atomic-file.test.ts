// The class: an output file a command writes (a policy bundle at --out, an audit report, a JUnit
// file) seen or left half-written — by a reader while it is written, after a write error, after a
// stop signal. src/adapters/atomic-file.ts writes a hidden file beside it and renames it over.
// And its sibling (red team 18, finding 1): a rename over whatever the path names — a symlink, a
// FIFO, /dev/stdout, a pipe of >(…) replaced or refused, an existing file's mode and owner lost.
// The second describe block is a table of what a path can name, each written as `>` would.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { replaceWhole, writeFileWhole } from '../../src/adapters/atomic-file.ts';

let work = '';
let n = 0;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-atomic-'));
});
after(async () => rm(work, { recursive: true, force: true }));

async function dir(): Promise<string> {
  const d = join(work, `d${++n}`);
  await mkdir(d);
  return d;
}

describe('writeFileWhole / replaceWhole', () => {
  test('a new file, then a replaced one: the content, and nothing else in the directory', async () => {
    const d = await dir();
    const f = join(d, 'out.html');
    await writeFileWhole(f, 'one');
    await writeFileWhole(f, 'two');
    assert.equal(await readFile(f, 'utf8'), 'two');
    assert.deepEqual(await readdir(d), ['out.html']);
  });

  test('mode applies to the file written', async () => {
    const d = await dir();
    await writeFileWhole(join(d, 'k'), 'x', 0o600);
    assert.equal((await stat(join(d, 'k'))).mode & 0o777, 0o600);
  });

  test('a reader during the write sees the old file whole, never part of the new one', async () => {
    const d = await dir();
    const f = join(d, 'bundle.tar.gz');
    await writeFile(f, 'old');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const writing = replaceWhole(f, async (partial) => {
      await writeFile(partial, 'new, first half');
      await gate;
      await writeFile(partial, 'new, whole', { flag: 'w' });
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(await readFile(f, 'utf8'), 'old');
    release();
    await writing;
    assert.equal(await readFile(f, 'utf8'), 'new, whole');
  });

  const failures: [name: string, write: (partial: string) => Promise<void>][] = [
    [
      'the write throws after half',
      async (p) => {
        await writeFile(p, 'half');
        throw new Error('ENOSPC, say');
      },
    ],
    ['the write throws before creating anything', () => Promise.reject(new Error('early'))],
    ['the write creates nothing (rename fails: ENOENT)', () => Promise.resolve()],
  ];
  for (const [name, write] of failures)
    test(`${name}: throws, the old file is untouched, no hidden file is left`, async () => {
      const d = await dir();
      const f = join(d, 'report.html');
      await writeFile(f, 'old');
      await assert.rejects(replaceWhole(f, write));
      assert.equal(await readFile(f, 'utf8'), 'old');
      assert.deepEqual(await readdir(d), ['report.html']);
    });

  test('a directory that does not exist: throws, nothing made', async () => {
    const d = await dir();
    await assert.rejects(writeFileWhole(join(d, 'nope', 'f'), 'x'), {
      code: 'OUTPUT_WRITE_FAILED',
      message: /ENOENT/,
    });
    assert.deepEqual(await readdir(d), []);
  });

  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
    test(`a process stopped by ${signal} mid-write: the old file stays, the hidden file is removed`, async () => {
      const d = await dir();
      const f = join(d, 'out.tgz');
      await writeFile(f, 'old');
      const mod = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'adapters', 'atomic-file.ts')).href;
      const script = `
        const { replaceWhole } = await import(${JSON.stringify(mod)});
        const { writeFile } = await import('node:fs/promises');
        await replaceWhole(${JSON.stringify(f)}, async (p) => {
          await writeFile(p, 'half');
          process.stdout.write('writing\\n');
          await new Promise(() => setInterval(() => {}, 1000));
        });`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      assert.equal((await readdir(d)).length, 2, 'the hidden file exists while writing');
      child.kill(signal);
      const [, ended] = await new Promise<[number | null, NodeJS.Signals | null]>((r) =>
        child.once('close', (code, sig) => r([code, sig])),
      );
      assert.equal(ended, signal, 'the process still ends by the signal');
      assert.equal(await readFile(f, 'utf8'), 'old');
      assert.deepEqual(await readdir(d), ['out.tgz']);
    });
});

const isRoot = process.getuid?.() === 0;

/** Runs writeFileWhole(path, text) in a child whose fd 1 (or 3) is a pipe; what came through the pipe. */
function throughChild(path: string, text: string, opts: { fd3?: boolean; uid?: number } = {}): string {
  const mod = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'adapters', 'atomic-file.ts')).href;
  const script = `
    ${opts.uid !== undefined ? `process.setgid(${opts.uid}); process.setuid(${opts.uid});` : ''}
    const { writeFileWhole } = await import(${JSON.stringify(mod)});
    await writeFileWhole(${JSON.stringify(path)}, ${JSON.stringify(text)});`;
  // Through bash, so the child's fd is a pipe (Node's own stdio "pipes" are sockets, which
  // /dev/fd/N cannot open: ENXIO, for a shell's `>` too); fd 3 as bash's >(…) gives one.
  const redirect = opts.fd3 === true ? '3>&1 1>/dev/null' : '';
  return execFileSync('bash', ['-c', `"$0" --input-type=module -e "$1" ${redirect} | cat`, process.execPath, script], {
    encoding: 'utf8',
  });
}

describe('what the path names: written as `>` would, atomically where that can hold (red team 18, finding 1)', () => {
  test('a symlink to a file: the file is replaced, the link stays a link', async () => {
    const d = await dir();
    await mkdir(join(d, 'real'));
    await writeFile(join(d, 'real', 'target.tgz'), 'old', { mode: 0o640 });
    await chmod(join(d, 'real', 'target.tgz'), 0o640);
    await symlink(join('real', 'target.tgz'), join(d, 'link.tgz'));
    await writeFileWhole(join(d, 'link.tgz'), 'new');
    assert.ok((await lstat(join(d, 'link.tgz'))).isSymbolicLink());
    assert.equal(await readlink(join(d, 'link.tgz')), join('real', 'target.tgz'));
    assert.equal(await readFile(join(d, 'real', 'target.tgz'), 'utf8'), 'new');
    assert.equal((await stat(join(d, 'real', 'target.tgz'))).mode & 0o777, 0o640, 'the mode is kept');
    assert.deepEqual((await readdir(join(d, 'real'))).sort(), ['target.tgz'], 'no hidden file left');
  });

  test('a chain of symlinks: the last file is replaced, every link stays', async () => {
    const d = await dir();
    await writeFile(join(d, 'f'), 'old');
    await symlink('f', join(d, 'l1'));
    await symlink('l1', join(d, 'l2'));
    await writeFileWhole(join(d, 'l2'), 'new');
    assert.ok((await lstat(join(d, 'l1'))).isSymbolicLink() && (await lstat(join(d, 'l2'))).isSymbolicLink());
    assert.equal(await readFile(join(d, 'f'), 'utf8'), 'new');
  });

  test('a dangling symlink: written through (the file it names is made), the link stays', async () => {
    const d = await dir();
    await symlink('made-by-write', join(d, 'dangling'));
    await writeFileWhole(join(d, 'dangling'), 'new');
    assert.ok((await lstat(join(d, 'dangling'))).isSymbolicLink());
    assert.equal(await readFile(join(d, 'made-by-write'), 'utf8'), 'new');
  });

  test('a FIFO with a reader: the reader gets the bytes, the FIFO stays a FIFO', async () => {
    const d = await dir();
    const fifo = join(d, 'f.tgz');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
    const got: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => got.push(c));
    const done = new Promise((r) => reader.once('close', r));
    await writeFileWhole(fifo, 'through the fifo');
    await done;
    assert.equal(Buffer.concat(got).toString(), 'through the fifo');
    assert.ok((await lstat(fifo)).isFIFO());
  });

  test('/dev/fd/1 (stdout a pipe): the bytes go down the pipe', () => {
    assert.equal(throughChild('/dev/fd/1', 'to stdout'), 'to stdout');
  });

  test('/dev/fd/3, as a process substitution >(…) gives it: the bytes go down the pipe', () => {
    assert.equal(throughChild('/dev/fd/3', 'to fd 3', { fd3: true }), 'to fd 3');
  });

  test('a directory: OUTPUT_WRITE_FAILED naming it, nothing made in it', async () => {
    const d = await dir();
    await assert.rejects(writeFileWhole(d, 'x'), { code: 'OUTPUT_WRITE_FAILED', message: /is a directory/ });
    assert.deepEqual(await readdir(d), []);
  });

  test('a 250-character name (the hidden file keeps within NAME_MAX)', async () => {
    const d = await dir();
    const name = `${'x'.repeat(243)}.tar.gz`;
    await writeFileWhole(join(d, name), 'long');
    assert.equal(await readFile(join(d, name), 'utf8'), 'long');
  });

  for (const mode of [0o600, 0o640, 0o444, 0o755])
    test(`an existing file of mode ${mode.toString(8)} keeps its mode`, async () => {
      const d = await dir();
      const f = join(d, 'out');
      await writeFile(f, 'old');
      await chmod(f, mode);
      await writeFileWhole(f, 'new');
      assert.equal(await readFile(f, 'utf8'), 'new');
      assert.equal((await stat(f)).mode & 0o7777, mode);
    });

  test(
    'as root: an existing file owned by another user keeps its owner',
    { skip: !isRoot && 'needs root' },
    async () => {
      const d = await dir();
      const f = join(d, 'priv.tgz');
      await writeFile(f, 'old', { mode: 0o600 });
      await chown(f, 1234, 1234);
      await writeFileWhole(f, 'new');
      const st = await stat(f);
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [1234, 1234, 0o600]);
      assert.equal(await readFile(f, 'utf8'), 'new');
    },
  );

  test(
    'not root: a writable file of another user in a directory it may not write: written in place, owner kept',
    { skip: !isRoot && 'needs root to set the scene' },
    async () => {
      const d = await dir();
      await chmod(work, 0o755); // mkdtemp's 0700 would keep the other user out of the path
      await chmod(d, 0o755);
      const f = join(d, 'shared.html');
      await writeFile(f, 'old', { mode: 0o666 });
      await chmod(f, 0o666);
      await chown(f, 1234, 1234);
      assert.equal(throughChild(f, 'by nobody', { uid: 65534 }), '');
      const st = await stat(f);
      assert.equal(await readFile(f, 'utf8'), 'by nobody');
      assert.deepEqual([st.uid, st.mode & 0o777], [1234, 0o666]);
      assert.deepEqual(await readdir(d), ['shared.html']);
    },
  );
});

/**
 * Runs `body` (ES module code with the module imported as `m`) in a child under bash, as
 * `shell(node)` puts it (redirections, a group, a pipe: pipefail); bash's status, stdout and stderr.
 */
function inChild(
  body: string,
  shell: (node: string) => string,
  env: NodeJS.ProcessEnv = process.env,
): { status: number; stdout: string; stderr: string } {
  const mod = pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'adapters', 'atomic-file.ts')).href;
  const script = `const m = await import(${JSON.stringify(mod)});\n${body}`;
  const r = spawnSync(
    'bash',
    ['-o', 'pipefail', '-c', shell('"$0" --input-type=module -e "$1"'), process.execPath, script],
    {
      encoding: 'utf8',
      env,
      timeout: 30_000,
    },
  );
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs writeFileWhole(path, text) in a child under bash with `redirect` (e.g. `>> log`); bash's exit code. */
const inShell = (path: string, text: string, redirect: string): number =>
  inChild(`await m.writeFileWhole(${JSON.stringify(path)}, ${JSON.stringify(text)});`, (node) => `${node} ${redirect}`)
    .status;

describe("this process's descriptors are written, never replaced (red team 19, finding 2)", () => {
  const CASES: [name: string, path: (d: string) => string, redirect: (log: string) => string][] = [
    ['/dev/stdout, stdout appended to a file (>> log)', () => '/dev/stdout', (log) => `>> "${log}"`],
    ['/proc/self/fd/1, stdout a file opened for append', () => '/proc/self/fd/1', (log) => `>> "${log}"`],
    ['/dev/fd/1, stdout a file opened for append', () => '/dev/fd/1', (log) => `>> "${log}"`],
    ['/dev/stderr, stderr appended to a file', () => '/dev/stderr', (log) => `2>> "${log}"`],
    ['/dev/fd/3, fd 3 appended to a file', () => '/dev/fd/3', (log) => `3>> "${log}"`],
    ['a symlink of ours to /dev/stdout', (d) => join(d, 'to-stdout'), (log) => `>> "${log}"`],
  ];
  for (const [name, pathOf, redirect] of CASES)
    test(`${name}: the file keeps what it held and its inode, the output is appended`, async () => {
      const d = await dir();
      await symlink('/dev/stdout', join(d, 'to-stdout'));
      const log = join(d, 'build.log');
      await writeFile(log, 'earlier output\n');
      const inode = (await stat(log)).ino;
      assert.equal(inShell(pathOf(d), 'the report\n', redirect(log)), 0);
      assert.equal(await readFile(log, 'utf8'), 'earlier output\nthe report\n');
      assert.equal((await stat(log)).ino, inode, 'the same file, not a new one');
      assert.deepEqual((await readdir(d)).sort(), ['build.log', 'to-stdout']);
    });
});

test(
  'as root: the set-id bits of an existing file are kept (chown clears them; chmod comes after)',
  { skip: !isRoot && 'needs root' },
  async () => {
    const d = await dir();
    const f = join(d, 'tool');
    await writeFile(f, 'old');
    await chown(f, 1234, 1234);
    await chmod(f, 0o6755);
    await writeFileWhole(f, 'new');
    const st = await stat(f);
    assert.deepEqual([st.uid, st.mode & 0o7777], [1234, 0o6755]);
  },
);

// Red team 20, findings 5 and 6: a descriptor output needed TMPDIR (INTERNAL without one), and
// `/dev/fd/N` naming one of the runtime's own descriptors crashed or hung the process; a failed
// write closed the descriptor. Each child's stdin, stdout and stderr are files or pipes here.
describe('descriptor outputs: from memory, only to a descriptor given as an output, never closed (red team 20)', () => {
  test("/dev/fd/N of the runtime's own (epoll, io_uring, eventfd, libuv's pipes, /dev/null): refused at once, each left open", async () => {
    const d = await dir();
    await writeFile(join(d, 'in'), '');
    // The child lists its own descriptors above 2 that its parent did not give (fd 3 is the pipe back).
    const r = inChild(
      `import { readdirSync, readlinkSync, fstatSync, writeSync } from 'node:fs';
      const own = readdirSync('/proc/self/fd').map(Number).filter((n) => n > 3);
      const rows = [];
      for (const n of own) {
        let what; try { what = readlinkSync('/proc/self/fd/' + n); } catch { continue; }
        const t0 = performance.now();
        const outcome = await m.writeFileWhole('/dev/fd/' + n, 'not for the runtime').then(() => 'written', (e) => e.code + ': ' + e.message);
        let open = true; try { fstatSync(n); } catch { open = false; }
        rows.push({ n, what, outcome, open, ms: Math.round(performance.now() - t0) });
      }
      writeSync(3, JSON.stringify(rows));`,
      // Descriptors this test process inherited and passes on (a CI runner's) are closed first:
      // above 3, the child holds only what its runtime opened.
      (node) =>
        `for f in /proc/$$/fd/*; do n=\${f##*/}; [ "$n" -gt 2 ] && eval "exec $n>&-"; done; ` +
        `timeout -k 2 20 ${node} 3>&1 <"${d}/in" >>"${d}/out" 2>>"${d}/err" | cat`,
    );
    assert.equal(r.status, 0, `the child ended by itself: ${r.stderr}`);
    const rows = JSON.parse(r.stdout) as { n: number; what: string; outcome: string; open: boolean; ms: number }[];
    assert.ok(rows.some((x) => x.what.startsWith('anon_inode:')) && rows.some((x) => x.what.startsWith('pipe:')));
    for (const x of rows) {
      assert.match(x.outcome, /^OUTPUT_WRITE_FAILED: cannot write \/dev\/fd\/\d+: /, JSON.stringify(x));
      assert.ok(x.open, `descriptor ${x.n} (${x.what}) left open`);
      assert.ok(x.ms < 5000, `bounded: ${JSON.stringify(x)}`);
    }
  });

  test('a descriptor the process opened itself: refused, and still open afterwards', async () => {
    const d = await dir();
    await writeFile(join(d, 'ro.txt'), 'read only');
    const { openSync, fstatSync, closeSync } = await import('node:fs');
    const fd = openSync(join(d, 'ro.txt'), 'r');
    try {
      await assert.rejects(writeFileWhole(`/dev/fd/${fd}`, 'x'), {
        code: 'OUTPUT_WRITE_FAILED',
        message: /was not open when the command started/,
      });
      assert.ok(fstatSync(fd).isFile(), 'not closed');
    } finally {
      closeSync(fd);
    }
    assert.equal(await readFile(join(d, 'ro.txt'), 'utf8'), 'read only');
  });

  test('a descriptor given read-only (3< file): refused as not open for writing, still open', async () => {
    const d = await dir();
    await writeFile(join(d, 'ro.txt'), 'read only');
    const r = inChild(
      `import { fstatSync } from 'node:fs';
      await m.writeFileWhole('/dev/fd/3', 'x').catch((e) => console.error(e.code + ': ' + e.message));
      fstatSync(3); console.log('fd 3 still open');`,
      (node) => `${node} 3<"${d}/ro.txt"`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^OUTPUT_WRITE_FAILED: cannot write \/dev\/fd\/3: descriptor 3 is not open for writing/m);
    assert.equal(r.stdout, 'fd 3 still open\n');
  });

  test('fd 3 given by `3>log`: written at its offset, between what the shell wrote before and after', async () => {
    const d = await dir();
    const r = inChild(
      `await m.writeFileWhole('/dev/fd/3', 'the report\\n');`,
      (node) => `{ echo before >&3; ${node}; echo after >&3; } 3>"${d}/log"`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(await readFile(join(d, 'log'), 'utf8'), 'before\nthe report\nafter\n');
  });

  test('1 MiB to /dev/fd/3, a pipe (as >(…) gives it): all of it, in order', () => {
    const big = 'x'.repeat(1023) + '\n';
    const r = inChild(
      `await m.writeFileWhole('/dev/fd/3', ${JSON.stringify(big)}.repeat(1024));`,
      (node) => `${node} 3>&1 1>/dev/null | wc -c`,
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), String(1024 * 1024));
  });

  for (const [name, path, redirect] of [
    ['/dev/stdout, stdout a pipe', '/dev/stdout', '| cat'],
    ['/dev/stdout, stdout appended to a file', '/dev/stdout', '>> "{d}/log"'],
    ['/dev/fd/3, fd 3 a pipe', '/dev/fd/3', '3>&1 1>/dev/null | cat'],
  ] as const)
    test(`TMPDIR missing, ${name}: written from memory (writeFileWhole); replaceWhole says OUTPUT_WRITE_FAILED, not INTERNAL`, async () => {
      const d = await dir();
      const env = { ...process.env, TMPDIR: join(d, 'no-such-tmp') };
      const shell = (node: string): string => `${node} ${redirect.replace('{d}', d)}`;
      const w = inChild(`await m.writeFileWhole(${JSON.stringify(path)}, 'the report\\n');`, shell, env);
      assert.equal(w.status, 0, w.stderr);
      const got = redirect.includes('log') ? await readFile(join(d, 'log'), 'utf8') : w.stdout;
      assert.equal(got, 'the report\n');
      const r = inChild(
        `await m.replaceWhole(${JSON.stringify(path)}, (at) => import('node:fs/promises').then((f) => f.writeFile(at, 'x')))
          .catch((e) => { console.error(e.code + ': ' + e.message); process.exitCode = 2; });`,
        shell,
        env,
      );
      assert.equal(r.status, 2);
      assert.match(r.stderr, /^OUTPUT_WRITE_FAILED: cannot write .*: staging it in a temporary file: ENOENT/m);
    });
});
