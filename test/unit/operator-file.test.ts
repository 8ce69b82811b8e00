// The class: a file an operator names — a CLI flag's path or a path in the runner's configuration —
// that is not a regular file, or is far larger than what it should hold. Reported example (red
// team 14, finding 5): `audit verify --public-key` on a FIFO with no writer waited in open(2) for
// ever, and SIGTERM did not end it. Its siblings: a FIFO whose writer never closes it, a symlink to
// /dev/zero (read without end), a directory, a socket, a sparse file of gigabytes, a /proc file
// whose size says 0. And what must keep working: a pipe with a writer (`<(cat key.pem)`,
// `/dev/stdin` fed by a pipe, a FIFO written to late). Every such path is opened without blocking,
// read to a bound, a pipe to a deadline (src/adapters/operator-file.ts); this file tests the
// adapter, test/http/operator-files.test.ts every command and setting that takes one.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  OperatorFileRefused,
  openRegularFile,
  readOperatorFile,
  readOperatorFileSync,
  whyUnreadable,
} from '../../src/adapters/operator-file.ts';
import { settlesWithin } from '../support/settles.ts';
import { childEnd } from '../support/child-end.ts';

const BOUND = 4096;
let root = '';
let socketServer: Server;
const paths: Record<string, string> = {};

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-operator-file-'));
  paths.fifo = join(root, 'fifo');
  execFileSync('mkfifo', [paths.fifo]);
  paths.zero = join(root, 'zero');
  await symlink('/dev/zero', paths.zero);
  paths.directory = join(root, 'dir');
  await mkdir(paths.directory);
  paths.socket = join(root, 'socket');
  socketServer = createServer();
  await new Promise<void>((resolve) => socketServer.listen(paths.socket, resolve));
  paths.sparse = join(root, 'sparse');
  await writeFile(paths.sparse, '');
  await truncate(paths.sparse, 8 * 1024 * 1024 * 1024);
  paths.overBound = join(root, 'over');
  await writeFile(paths.overBound, Buffer.alloc(BOUND + 1, 0x61));
  paths.atBound = join(root, 'at');
  await writeFile(paths.atBound, Buffer.alloc(BOUND, 0x62));
  paths.empty = join(root, 'empty');
  await writeFile(paths.empty, '');
  paths.link = join(root, 'link');
  await symlink(paths.atBound, paths.link);
});

after(async () => {
  socketServer.close();
  await rm(root, { recursive: true, force: true });
});

/** Unblocks a reader stuck in open(2) of the FIFO, so that a failing run ends instead of hanging. */
function release(): void {
  try {
    closeSync(openSync(paths.fifo!, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: no reader waits on it.
  }
}

/** `p` settled within `ms`, else the test fails (after releasing the FIFO). */
const settled = <T>(p: Promise<T>, ms = 2000): Promise<PromiseSettledResult<T>> =>
  settlesWithin(p, ms, 'the read', release);

type Expect =
  { refused: 'not-regular' | 'too-large' | 'pipe-timeout'; kind?: string } | { code: string } | { bytes: number };

const DEADLINE = 300;

const KINDS: [name: string, expect: Expect][] = [
  ['fifo', { refused: 'pipe-timeout' }],
  ['zero', { refused: 'not-regular', kind: 'a device' }],
  ['directory', { refused: 'not-regular', kind: 'a directory' }],
  ['socket', { code: 'ENXIO' }],
  ['sparse', { refused: 'too-large' }],
  ['overBound', { refused: 'too-large' }],
  ['atBound', { bytes: BOUND }],
  ['empty', { bytes: 0 }],
  ['link', { bytes: BOUND }],
  ['missing', { code: 'ENOENT' }],
];

const READERS: Record<string, (path: string) => Promise<unknown>> = {
  readOperatorFile: (path) => readOperatorFile(path, BOUND, DEADLINE),
  readOperatorFileSync: (path) => Promise.resolve().then(() => readOperatorFileSync(path, BOUND, DEADLINE)),
  openRegularFile: async (path) => {
    const fh = await openRegularFile(path);
    const { size } = await fh.stat();
    await fh.close();
    return Buffer.alloc(size);
  },
};

describe('a named file is opened without blocking, kept only if regular, read to its bound', () => {
  for (const [reader, read] of Object.entries(READERS))
    for (const [kind, given] of KINDS) {
      // openRegularFile has no bound (a regular file of any size is opened) and takes no pipe.
      const strict = reader === 'openRegularFile';
      const expect: Expect = strict && kind === 'fifo' ? { refused: 'not-regular', kind: 'a FIFO' } : given;
      const bounded = !strict || !('refused' in expect) || expect.refused !== 'too-large';
      test(`${reader}: ${kind}`, async () => {
        const path = paths[kind] ?? join(root, 'no-such-file');
        const r = await settled(read(path));
        if (!bounded) return assert.equal(r.status, 'fulfilled');
        if ('bytes' in expect) {
          assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
          return assert.equal((r.value as Buffer).length, expect.bytes);
        }
        assert.equal(r.status, 'rejected');
        const e = r.reason as Error;
        if ('code' in expect) return assert.equal((e as NodeJS.ErrnoException).code, expect.code);
        assert.ok(e instanceof OperatorFileRefused, String(e));
        assert.equal(e.reason, expect.refused);
        assert.equal(e.path, path);
        if (expect.kind !== undefined) assert.match(e.message, new RegExp(`\\(${expect.kind}\\)`));
      });
    }

  test('a /proc file whose size says 0 is read to the bound and refused past it', async () => {
    const r = await settled(readOperatorFile('/proc/self/status', 16));
    assert.equal(r.status, 'rejected');
    assert.equal((r.reason as OperatorFileRefused).reason, 'too-large');
    assert.ok((await readOperatorFile('/proc/self/status', 1024 * 1024)).length > 16);
  });

  test('the bytes are the file, in a buffer of their own (not the shared pool)', async () => {
    const bytes = await readOperatorFile(paths.atBound!, BOUND);
    assert.ok(bytes.equals(Buffer.alloc(BOUND, 0x62)));
    assert.equal(bytes.buffer.byteLength, BOUND);
    const small = join(root, 'small');
    await writeFile(small, 'abc');
    assert.equal((await readOperatorFile(small, BOUND)).buffer.byteLength, 3);
    assert.equal(readOperatorFileSync(small, BOUND).buffer.byteLength, 3);
  });

  test('the reason given names the path and the kind or the bound, never the content', async () => {
    await writeFile(paths.overBound!, `SECRET-${'x'.repeat(BOUND)}`);
    const e = await readOperatorFile(paths.overBound!, BOUND).catch((x: unknown) => x);
    const why = whyUnreadable(paths.overBound!, e);
    assert.match(why, new RegExp(`larger than ${BOUND} bytes`));
    assert.doesNotMatch(why, /SECRET/);
    assert.equal(whyUnreadable('/x', Object.assign(new Error('boom'), { code: 'EACCES' })), 'cannot read /x (EACCES)');
  });
});

/** A process that opens the FIFO for writing (its open waits for a reader), then runs `script` on it as fd 1. */
function writer(fifo: string, script: string): ChildProcess {
  return spawn('sh', ['-c', `exec > "$1"; ${script}`, 'sh', fifo], { stdio: ['ignore', 'ignore', 'ignore'] });
}

describe('a pipe with a writer is read to its end, within its bound and deadline', () => {
  const readers: Record<string, (path: string, max: number, ms: number) => Promise<Buffer>> = {
    readOperatorFile: (path, max, ms) => readOperatorFile(path, max, ms),
    readOperatorFileSync: (path, max, ms) => Promise.resolve().then(() => readOperatorFileSync(path, max, ms)),
  };
  let n = 0;
  const fresh = (): string => {
    const path = join(root, `pipe-${++n}`);
    execFileSync('mkfifo', [path]);
    return path;
  };
  const writers: ChildProcess[] = [];
  after(() => {
    for (const w of writers) w.kill('SIGKILL');
  });

  for (const [name, read] of Object.entries(readers)) {
    test(`${name}: a writer that writes and closes (a FIFO, as <(cat key.pem) is a pipe)`, async () => {
      const path = fresh();
      writers.push(writer(path, "printf 'key material'"));
      const r = await settled(read(path, BOUND, 5000), 6000);
      assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      assert.equal(r.value.toString(), 'key material');
    });

    test(`${name}: a writer that comes late and writes in pieces`, async () => {
      const path = fresh();
      writers.push(
        spawn('sh', ['-c', `sleep 0.2; exec > "$1"; printf 'a'; sleep 0.2; printf 'b'`, 'sh', path], {
          stdio: 'ignore',
        }),
      );
      const r = await settled(read(path, BOUND, 5000), 6000);
      assert.equal(r.status, 'fulfilled', r.status === 'rejected' ? String(r.reason) : '');
      assert.equal(r.value.toString(), 'ab');
    });

    test(`${name}: a writer that holds the FIFO open and never closes it → pipe-timeout`, async () => {
      const path = fresh();
      writers.push(writer(path, "printf 'x'; sleep 30"));
      const r = await settled(read(path, BOUND, DEADLINE), 3000);
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as OperatorFileRefused).reason, 'pipe-timeout');
      assert.match((r.reason as Error).message, new RegExp(`no end within ${DEADLINE} ms`));
    });

    test(`${name}: a writer that sends more than the bound → too-large, without reading it all`, async () => {
      const path = fresh();
      writers.push(writer(path, 'head -c 100000000 /dev/zero'));
      const r = await settled(read(path, BOUND, 5000), 6000);
      assert.equal(r.status, 'rejected');
      assert.equal((r.reason as OperatorFileRefused).reason, 'too-large');
    });
  }

  test('/dev/stdin fed by a pipe is read (the anonymous pipe of `cmd < <(...)` or `cat key | cmd`)', async () => {
    const script = `import(${JSON.stringify(join(import.meta.dirname, '../../src/adapters/operator-file.ts'))})
      .then((m) => m.readOperatorFile('/dev/stdin', 4096)).then((b) => process.stdout.write(b))`;
    // a shell pipeline: a real pipe (Node's own stdio 'pipe' is a socket pair, which open(2) refuses)
    const child = spawn('sh', ['-c', '(sleep 0.1; printf "from a pipe") | "$0" -e "$1"', process.execPath, script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const { code } = await childEnd(child);
    assert.equal(code, 0);
    assert.equal(out, 'from a pipe');
  });
});
