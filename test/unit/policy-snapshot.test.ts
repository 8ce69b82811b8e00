// The class: what the runner checks, hashes and scans in a policy directory is not what `opa build`
// / `opa test` compile. Examples: red team 16 finding 1 (a symlinked .rego, an extra.json outside
// the revision) and finding 2 (a FIFO among the policies held opa). Siblings found since: opa
// follows a symlink to a DIRECTORY (a recursive readdir does not: modules there were compiled but
// neither hashed nor checked), opa opens every file it walks whatever its name (a FIFO named
// notes.txt held `opa build`), and anything checked before opa runs could be swapped before opa
// reads it. Fix: the directory is read once into a private copy and opa reads the copy
// (src/adapters/policy-snapshot.ts). The oracle here is the real opa: `opa build` of the
// directory itself and of our copy give the same bundle, tree by tree.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { readTarGz } from '../../src/adapters/opa-wasm.ts';
import { PolicyBuildError, policyRevision } from '../../src/adapters/policy-sources.ts';
import {
  POLICY_TREE_LIMITS,
  readPolicyTree,
  withPolicySnapshot,
  type PolicySnapshot,
} from '../../src/adapters/policy-snapshot.ts';
import { resolveTools } from '../../src/adapters/tools.ts';
import { settlesWithin } from '../support/settles.ts';

const run = promisify(execFile);
let work = '';
let opa = '';
let n = 0;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-snapshot-test-'));
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  opa = tools.value.opa;
});
after(async () => rm(work, { recursive: true, force: true }));

/** A fresh directory under the test's work dir. */
async function fresh(): Promise<string> {
  const dir = join(work, `t${++n}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

const rego = (pkg: string, value: number): string => `package kubiya.${pkg}\n\nx := ${value}\n`;

/** `opa build` (plain bundle, from inside the directory as the runner runs it) → the bundle's files, .manifest left out. */
async function opaBundle(dir: string): Promise<Map<string, string>> {
  const out = join(work, `bundle-${++n}.tar.gz`);
  await run(opa, ['build', '--ignore', '*_test.rego', '-o', out, '.'], { cwd: dir, timeout: 20_000 });
  const files = await readTarGz(out);
  files.delete('.manifest');
  return new Map([...files].map(([k, v]) => [k, Buffer.from(v).toString('utf8')]));
}

/** Trees built in `root`: each a way a file reaches opa. `outside` is a directory beside the tree. */
const TREES: [name: string, build: (root: string, outside: string) => Promise<void>][] = [
  [
    'plain files, data in JSON and YAML',
    async (r) => {
      await mkdir(join(r, 'a'), { recursive: true });
      await writeFile(join(r, 'a', 'a.rego'), rego('a', 1));
      await writeFile(join(r, 'a', 'data.json'), '{"m": 1}');
      await writeFile(join(r, 'a', 'more.yaml'), 'k: v\n');
      await writeFile(join(r, 'a', 'other.yml'), 'j: 2\n');
    },
  ],
  [
    'a symlinked .rego file',
    async (r, o) => {
      await writeFile(join(o, 'shared.rego'), rego('shared', 2));
      await symlink(join(o, 'shared.rego'), join(r, 'b.rego'));
    },
  ],
  [
    'a symlinked DIRECTORY holding Rego and data',
    async (r, o) => {
      await mkdir(join(o, 'lib'), { recursive: true });
      await writeFile(join(o, 'lib', 'l.rego'), rego('lib', 3));
      await writeFile(join(o, 'lib', 'extra.json'), '{"n": 3}');
      await symlink(join(o, 'lib'), join(r, 'linked'));
    },
  ],
  [
    'a symlinked directory inside a symlinked directory',
    async (r, o) => {
      await mkdir(join(o, 'outer'), { recursive: true });
      await mkdir(join(o, 'inner'), { recursive: true });
      await writeFile(join(o, 'inner', 'i.rego'), rego('inner', 4));
      await symlink(join(o, 'inner'), join(o, 'outer', 'in'));
      await symlink(join(o, 'outer'), join(r, 'out'));
    },
  ],
  [
    'the same directory through two links',
    async (r, o) => {
      await mkdir(join(o, 'twice'), { recursive: true });
      await writeFile(join(o, 'twice', 'data.json'), '{"t": 5}');
      await symlink(join(o, 'twice'), join(r, 'one'));
      await symlink(join(o, 'twice'), join(r, 'two'));
    },
  ],
  [
    'hidden files and directories',
    async (r) => {
      await mkdir(join(r, '.hid'), { recursive: true });
      await writeFile(join(r, '.h.rego'), rego('h', 6));
      await writeFile(join(r, '.hid', 'data.json'), '{"h": 6}');
    },
  ],
  [
    'files opa does not load beside those it does',
    async (r) => {
      await writeFile(join(r, 'README.md'), '# notes\n');
      await writeFile(join(r, 'c.rego'), rego('c', 7));
      await writeFile(join(r, 'c_test.rego'), 'package kubiya.c_test\n\ntest_x if data.kubiya.c.x == 7\n');
    },
  ],
];

describe('the copy is what opa would have read: opa build of the directory and of the copy agree', () => {
  for (const [name, build] of TREES)
    test(name, async () => {
      const root = await fresh();
      const outside = await fresh();
      await build(root, outside);
      const direct = await opaBundle(root);
      const copied = await withPolicySnapshot(root, (s) => opaBundle(s.root));
      assert.deepEqual([...copied.keys()].sort(), [...direct.keys()].sort());
      for (const [k, v] of direct) assert.equal(copied.get(k), v, k);
    });

  test('every tree at once', async () => {
    const root = await fresh();
    const outside = await fresh();
    for (const [i, [, build]] of TREES.entries()) {
      await mkdir(join(root, `t${i}`));
      await mkdir(join(outside, `t${i}`));
      await build(join(root, `t${i}`), join(outside, `t${i}`));
    }
    assert.deepEqual(await withPolicySnapshot(root, (s) => opaBundle(s.root)), await opaBundle(root));
  });
});

describe('the revision covers every file opa compiles, however it is reached', () => {
  const changes: [name: string, file: (root: string, outside: string) => string][] = [
    ['a plain .rego', (r) => join(r, 'a', 'a.rego')],
    ['a YAML data file', (r) => join(r, 'a', 'more.yaml')],
    ['the target of a symlinked .rego', (_, o) => join(o, 'shared.rego')],
    ['a .rego in a symlinked directory', (_, o) => join(o, 'lib', 'l.rego')],
    ['a data file in a symlinked directory', (_, o) => join(o, 'lib', 'extra.json')],
    ['a .rego two symlinked directories down', (_, o) => join(o, 'inner', 'i.rego')],
    ['a hidden .rego', (r) => join(r, '.h.rego')],
  ];
  for (const [name, file] of changes)
    test(name, async () => {
      const root = await fresh();
      const outside = await fresh();
      for (const [, build] of TREES) await build(root, outside);
      const before = await policyRevision(root);
      await writeFile(file(root, outside), `${'# changed\n'}${rego('changed', 9)}`);
      assert.notEqual(await policyRevision(root), before);
    });

  test('a file opa does not load leaves the revision as it was', async () => {
    const root = await fresh();
    await writeFile(join(root, 'a.rego'), rego('a', 1));
    const before = await policyRevision(root);
    await writeFile(join(root, 'NOTES.txt'), 'anything');
    assert.equal(await policyRevision(root), before);
  });
});

describe('what opa could not read is refused before it runs, naming the path (PolicyBuildError)', () => {
  const refusals: [name: string, plant: (root: string) => Promise<string>, reason: RegExp][] = [
    [
      'a FIFO named .rego',
      (r) => {
        execFileSync('mkfifo', [join(r, 'f.rego')]);
        return Promise.resolve(join(r, 'f.rego'));
      },
      /is not a regular file or a directory/,
    ],
    [
      'a FIFO named .json inside a symlinked directory',
      async (r) => {
        const o = await fresh();
        execFileSync('mkfifo', [join(o, 'f.json')]);
        await symlink(o, join(r, 'linked'));
        return join(r, 'linked', 'f.json');
      },
      /is not a regular file or a directory/,
    ],
    [
      'a symlink to /dev/zero named .yaml',
      async (r) => {
        await symlink('/dev/zero', join(r, 'z.yaml'));
        return join(r, 'z.yaml');
      },
      /is not a regular file or a directory/,
    ],
    [
      'a dangling symlink named .rego',
      async (r) => {
        await symlink(join(r, 'nowhere.rego'), join(r, 'd.rego'));
        return join(r, 'd.rego');
      },
      /is a symlink to nothing/,
    ],
    [
      'a symlink loop (a directory linking to its parent)',
      async (r) => {
        await mkdir(join(r, 'sub'));
        await symlink('..', join(r, 'sub', 'up'));
        return join(r, 'sub', 'up');
      },
      /is a symlink loop/,
    ],
    [
      'a sparse .rego larger than the bound',
      async (r) => {
        await writeFile(join(r, 'big.rego'), '');
        await truncate(join(r, 'big.rego'), 100 * 1024 * 1024);
        return join(r, 'big.rego');
      },
      /is larger than \d+ bytes/,
    ],
    [
      `a tree nested deeper than ${POLICY_TREE_LIMITS.depth}`,
      async (r) => {
        const deep = join(r, ...Array.from({ length: POLICY_TREE_LIMITS.depth }, (_, i) => `d${i}`));
        await mkdir(deep, { recursive: true });
        await writeFile(join(deep, 'x.rego'), rego('deep', 1));
        return join(deep, 'x.rego');
      },
      /nested deeper than 32/,
    ],
  ];
  for (const [name, plant, reason] of refusals)
    test(name, async () => {
      const root = await fresh();
      await writeFile(join(root, 'ok.rego'), rego('ok', 1));
      const path = await plant(root);
      const settled = await settlesWithin(readPolicyTree(root), 5_000, 'readPolicyTree');
      assert.equal(settled.status, 'rejected', 'refused');
      const e: unknown = settled.status === 'rejected' ? settled.reason : undefined;
      assert.ok(e instanceof PolicyBuildError, String(e));
      assert.equal(e.code, 'POLICY_BUILD_FAILED');
      assert.match(e.message, reason);
      assert.ok(e.message.includes(path), `${e.message} names ${path}`);
    });

  test(`more than ${POLICY_TREE_LIMITS.entries} entries`, async () => {
    const root = await fresh();
    for (let i = 0; i <= POLICY_TREE_LIMITS.entries; i += 500)
      await Promise.all(Array.from({ length: 500 }, (_, j) => writeFile(join(root, `f${i + j}.txt`), '')));
    await assert.rejects(readPolicyTree(root), /holds more than 20000 entries/);
  });

  test(`more than ${POLICY_TREE_LIMITS.bytes} bytes in all (files each within their bound)`, async () => {
    const root = await fresh();
    const each = 60 * 1024 * 1024;
    for (let i = 0; i * each <= POLICY_TREE_LIMITS.bytes; i++) {
      await writeFile(join(root, `s${i}.json`), '');
      await truncate(join(root, `s${i}.json`), each);
    }
    await assert.rejects(readPolicyTree(root), /holds more than \d+ bytes of policy sources/);
  });

  test('what opa does not load is not opened: a FIFO, a socket path, a dangling link under other names', async () => {
    const root = await fresh();
    await writeFile(join(root, 'ok.rego'), rego('ok', 1));
    execFileSync('mkfifo', [join(root, 'notes.txt')]);
    await symlink('/dev/zero', join(root, 'zero.bin'));
    await symlink(join(root, 'nowhere'), join(root, 'dangling'));
    const settled = await settlesWithin(readPolicyTree(root), 5_000, 'readPolicyTree');
    assert.equal(settled.status, 'fulfilled');
    assert.deepEqual(settled.status === 'fulfilled' ? [...settled.value.keys()] : [], ['ok.rego']);
    // and opa, given the copy, does not meet them (opa on the directory itself waits on the FIFO)
    const bundle = await withPolicySnapshot(root, (s) => opaBundle(s.root));
    assert.ok(bundle.has('ok.rego'));
  });
});

describe('the copy', () => {
  test('is private (0700, files 0600), holds only what was read, and is removed after use, or a throw', async () => {
    const root = await fresh();
    await mkdir(join(root, 'k'));
    await writeFile(join(root, 'k', 'a.rego'), rego('a', 1));
    await writeFile(join(root, 'k', 'README.md'), 'x');
    let seen: PolicySnapshot | undefined;
    await withPolicySnapshot(root, async (s) => {
      seen = s;
      assert.equal((await stat(s.root)).mode & 0o777, 0o700);
      assert.equal((await stat(join(s.root, 'k'))).mode & 0o777, 0o700);
      assert.equal((await stat(join(s.root, 'k', 'a.rego'))).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(join(s.root, 'k')), ['a.rego']);
    });
    await assert.rejects(stat(seen!.root), { code: 'ENOENT' });
    await assert.rejects(
      withPolicySnapshot(root, (s) => {
        seen = s;
        return Promise.reject(new Error('boom'));
      }),
      /boom/,
    );
    await assert.rejects(stat(seen!.root), { code: 'ENOENT' });
  });

  test('a change to the directory after the read does not reach opa (no time-of-check/time-of-use gap)', async () => {
    const root = await fresh();
    await writeFile(join(root, 'a.rego'), rego('a', 1));
    const bundle = await withPolicySnapshot(root, async (s) => {
      await writeFile(join(root, 'a.rego'), rego('a', 666));
      await writeFile(join(root, 'b.rego'), rego('b', 666));
      return opaBundle(s.root);
    });
    assert.equal(bundle.get('a.rego'), rego('a', 1));
    assert.equal(bundle.has('b.rego'), false);
  });
});
