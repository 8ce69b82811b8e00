import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { readTarGz } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';

/**
 * The class: a policy bundle whose bytes depend on the build rather than on the policies — where
 * the sources are checked out (opa names modules by the path it is given, in the bundle and inside
 * policy.wasm), when they were written (file times), or where the bundle is written. Such a
 * bundle makes the runner image irreproducible (docs/image.md) and leaks the builder's paths.
 * Regression: building from /work/.../.cache/image/work/policy-src/policies embedded that path.
 * Each variant copies policies/ somewhere else and must give the bytes of the first build.
 */
const tools = resolveTools(['opa']);
if (!tools.ok) throw new Error(tools.error.message);
const opa = tools.value.opa;
let work = '';
let reference: Buffer;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-bundle-repro-'));
  reference = await readFile((await buildBundle(opa, join(REPO_ROOT, 'policies'), join(work, 'ref.tar.gz'))).file);
});
after(async () => rm(work, { recursive: true, force: true }));

const VARIANTS: { name: string; dir: string; touch?: Date; out: string }[] = [
  { name: 'a sibling directory', dir: 'policies', out: 'a.tar.gz' },
  { name: 'a deeper path with another name', dir: 'x/y/z/my policies', out: 'b.tar.gz' },
  { name: 'files with other modification times', dir: 'touched', touch: new Date(1_000_000_000_000), out: 'c.tar.gz' },
  { name: 'another directory, written to another directory', dir: 'elsewhere', out: 'out/d.tar.gz' },
];

for (const v of VARIANTS) {
  test(`the bundle is the same when built from ${v.name}`, async () => {
    const dir = join(work, v.dir);
    await cp(join(REPO_ROOT, 'policies'), dir, { recursive: true });
    // The fixture suites the build evaluates the bundle against sit beside the policies (policy-fixtures/).
    await cp(join(REPO_ROOT, 'policy-fixtures'), join(dirname(dir), 'policy-fixtures'), { recursive: true });
    if (v.touch !== undefined) {
      for (const f of ['kubiya/main/main.rego', 'data.json']) await utimes(join(dir, f), v.touch, v.touch);
    }
    const built = await buildBundle(opa, dir, join(work, v.out));
    const bytes = await readFile(built.file);
    const files = await readTarGz(built.file);
    for (const [name, content] of files) {
      assert.ok(!name.includes(work) && !name.includes(REPO_ROOT), `member ${name} names the build directory`);
      assert.ok(!Buffer.from(content).includes(work), `${name} holds the build directory ${work}`);
    }
    assert.ok(bytes.equals(reference), 'the bundle differs from the one built from the checkout');
  });
}
