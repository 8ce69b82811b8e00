/**
 * V8's compile cache of a start from a checkout (bin/compile-cache.js, issue #20). Node runs
 * the code it finds in that directory, so the class is: every directory another user could have
 * put code into, or that cannot hold a cache, is refused (`off`, with the reason) and left as it
 * was — never written, never a crash. Variants: the path under a file, under a missing parent; a
 * file; a symlink (to a directory of ours); group- or world-writable; someone else's (as root).
 * And the environment decides whenever it speaks (the image's NODE_COMPILE_CACHE, a
 * NODE_DISABLE_COMPILE_CACHE): no directory of ours is made then. Red team 7, finding 3: a parent
 * (or any ancestor) others could write without the sticky bit, or another user's, lets them swap the
 * checked directory for a symlink after the check: refused too; a sticky world-writable parent (as
 * /tmp) is not. The on-path (a real process,
 * a damaged cache) is in test/http/serve-compile-cache.test.ts.
 */
import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { defaultCompileCacheDir, enableCompileCache, flushCompileCacheSoon } from '../../bin/compile-cache.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-compile-cache-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

test('the default directory is per uid under the temp directory', () => {
  assert.equal(defaultCompileCacheDir(1000, '/tmp'), '/tmp/kubiya-runner-compile-cache-1000');
  assert.equal(defaultCompileCacheDir(0, '/var/tmp'), '/var/tmp/kubiya-runner-compile-cache-0');
});

test('a directory that cannot hold a cache, or that others could write, is refused and left untouched', async () => {
  const uid = process.getuid?.() ?? 0;
  const cases: [string, () => Promise<string>, RegExp][] = [
    [
      'under a regular file',
      async () => {
        await writeFile(join(work, 'a-file'), 'x');
        return join(work, 'a-file', 'cache');
      },
      /cannot create it/,
    ],
    ['under a missing parent', () => Promise.resolve(join(work, 'missing', 'deeper', 'cache')), /cannot create it/],
    [
      'a regular file',
      async () => {
        await writeFile(join(work, 'file-cache'), 'x');
        return join(work, 'file-cache');
      },
      /not a directory/,
    ],
    [
      'a symlink to a directory of ours',
      async () => {
        await mkdir(join(work, 'real'), { mode: 0o700 });
        await symlink(join(work, 'real'), join(work, 'link-cache'));
        return join(work, 'link-cache');
      },
      /not a directory/,
    ],
    [
      'world-writable',
      async () => {
        await mkdir(join(work, 'world'));
        await chmod(join(work, 'world'), 0o777);
        return join(work, 'world');
      },
      /writable by group or others \(mode 777\)/,
    ],
    [
      'group-writable',
      async () => {
        await mkdir(join(work, 'group'));
        await chmod(join(work, 'group'), 0o770);
        return join(work, 'group');
      },
      /writable by group or others \(mode 770\)/,
    ],
  ];
  for (const mode of [0o777, 0o775, 0o757])
    cases.push([
      `under a parent of mode ${mode.toString(8)} without the sticky bit`,
      async () => {
        const parent = join(work, `open-parent-${mode.toString(8)}`);
        await mkdir(parent);
        await chmod(parent, mode);
        return join(parent, 'cache');
      },
      new RegExp(`writable by group or others without the sticky bit \\(mode ${mode.toString(8)}\\)`),
    ]);
  cases.push([
    'under a grandparent of mode 777 without the sticky bit',
    async () => {
      await mkdir(join(work, 'open-grand', 'safe'), { recursive: true, mode: 0o700 });
      await chmod(join(work, 'open-grand'), 0o777);
      return join(work, 'open-grand', 'safe', 'cache');
    },
    /open-grand is writable by group or others without the sticky bit \(mode 777\)/,
  ]);
  if (uid === 0)
    cases.push([
      "under another user's parent",
      async () => {
        await mkdir(join(work, 'their-parent'), { mode: 0o755 });
        await chown(join(work, 'their-parent'), 65534, 65534);
        return join(work, 'their-parent', 'cache');
      },
      /their-parent belongs to uid 65534/,
    ]);
  if (uid === 0)
    cases.push([
      "another user's",
      async () => {
        await mkdir(join(work, 'theirs'), { mode: 0o700 });
        await chown(join(work, 'theirs'), 65534, 65534);
        return join(work, 'theirs');
      },
      /belongs to uid 65534, not 0/,
    ]);
  for (const [name, make, reason] of cases) {
    const dir = await make();
    const before = existsSync(dir) && lstatSync(dir).isDirectory() ? await readdir(dir) : undefined;
    const outcome = enableCompileCache({}, dir);
    assert.equal(outcome.state, 'off', name);
    assert.match(outcome.state === 'off' ? outcome.reason : '', reason, name);
    if (before !== undefined) assert.deepEqual(await readdir(dir), before, `${name}: nothing written into it`);
  }
});

test('a parent others may write but with the sticky bit (as /tmp) is accepted', async () => {
  const parent = join(work, 'sticky');
  await mkdir(parent);
  await chmod(parent, 0o1777);
  const outcome = enableCompileCache({}, join(parent, 'cache'));
  // `env` when Node's cache was already on in this process: then it was not refused either.
  assert.notEqual(outcome.state, 'off', outcome.state === 'off' ? outcome.reason : '');
});

test('the environment decides when it names a cache or disables it: no directory of ours is made', () => {
  for (const env of [{ NODE_COMPILE_CACHE: join(work, 'env-cache') }, { NODE_DISABLE_COMPILE_CACHE: '1' }]) {
    const dir = join(work, 'never-made');
    const outcome = enableCompileCache(env, dir);
    assert.equal(outcome.state, 'env', JSON.stringify(env));
    assert.equal(existsSync(dir), false, JSON.stringify(env));
  }
});

test('flushing is only for a cache of our own, and never throws', () => {
  flushCompileCacheSoon({ state: 'off', directory: '/nope', reason: 'x' }, 0);
  flushCompileCacheSoon({ state: 'env', directory: undefined }, 0);
});
