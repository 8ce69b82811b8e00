// The class: a file an operator names — a CLI flag's path or a path in the runner's configuration —
// that is not a regular file, or is far larger than what it should hold. Reported example (red
// team 16): `audit verify --public-key` on a FIFO waited in open(2) for ever, and SIGTERM did not
// end it. Its siblings: a symlink to /dev/zero (read without end), a directory, a socket, a sparse
// file of gigabytes, a /proc file whose size says 0. Every such path is opened without blocking,
// refused unless it is a regular file, and read to a bound (src/adapters/operator-file.ts); this
// file tests the adapter, test/http/operator-files.test.ts every command and setting that takes one.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
async function settled<T>(p: Promise<T>, ms = 2000): Promise<PromiseSettledResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), ms)));
  const result = p.then(
    (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
    (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
  );
  const first = await Promise.race([result, hung]);
  clearTimeout(timer);
  if (first === 'hung') {
    release();
    assert.fail(`did not settle within ${ms} ms`);
  }
  return first;
}

type Expect = { refused: 'not-regular' | 'too-large'; kind?: string } | { code: string } | { bytes: number };

const KINDS: [name: string, expect: Expect][] = [
  ['fifo', { refused: 'not-regular', kind: 'a FIFO' }],
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
  readOperatorFile: (path) => readOperatorFile(path, BOUND),
  readOperatorFileSync: (path) => Promise.resolve().then(() => readOperatorFileSync(path, BOUND)),
  openRegularFile: async (path) => {
    const fh = await openRegularFile(path);
    const { size } = await fh.stat();
    await fh.close();
    return Buffer.alloc(size);
  },
};

describe('a named file is opened without blocking, kept only if regular, read to its bound', () => {
  for (const [reader, read] of Object.entries(READERS))
    for (const [kind, expect] of KINDS) {
      // openRegularFile has no bound: a regular file of any size is opened.
      const bounded = reader !== 'openRegularFile' || !('refused' in expect) || expect.refused !== 'too-large';
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
