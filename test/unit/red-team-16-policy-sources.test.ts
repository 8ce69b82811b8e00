/**
 * Red team 16 (3 December), findings 1, 4 and 7. Each case fails on the code at 434acc4.
 * 1: a policy directory's revision (the content hash the runner compares to decide whether a
 *    bundle is new, policy-store.ts) leaves out what `opa build` puts in the bundle: a .rego file
 *    that is a symlink, and data files other than data.json (extra.json, *.yaml).
 * 4: a fixture suite that is a symlink is silently skipped (0 cases, exit 0).
 * 7: absolute-form and origin-form route differently with a fragment; an empty authority routes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { routeOf } from '../../src/adapters/http-route.ts';
import { readFixtureDocs } from '../../src/adapters/policy-fixtures.ts';
import { policyRevision } from '../../src/adapters/policy-sources.ts';

let work = '';
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kubiya-rt16-'));
});
after(async () => rm(work, { recursive: true, force: true }));

test('finding 1: a symlinked .rego whose target changes changes the revision', async () => {
  const dir = join(work, 'p1');
  await mkdir(join(dir, 'kubiya'), { recursive: true });
  await writeFile(join(dir, 'kubiya', 'a.rego'), 'package kubiya.a\n\nx := 1\n');
  const target = join(work, 'shared.rego');
  await writeFile(target, 'package kubiya.b\n\ny := 1\n');
  await symlink(target, join(dir, 'kubiya', 'b.rego'));
  const before = await policyRevision(dir);
  await writeFile(target, 'package kubiya.b\n\ny := 2\n');
  assert.notEqual(await policyRevision(dir), before, 'opa build compiles b.rego; the revision must cover it');
});

test('finding 1: a data file opa build loads (extra.json, extra.yaml) changes the revision', async () => {
  const dir = join(work, 'p2');
  await mkdir(join(dir, 'kubiya'), { recursive: true });
  await writeFile(join(dir, 'kubiya', 'a.rego'), 'package kubiya.a\n\nx := 1\n');
  await writeFile(join(dir, 'kubiya', 'extra.json'), '{"m": 1}');
  const before = await policyRevision(dir);
  await writeFile(join(dir, 'kubiya', 'extra.json'), '{"m": 2}');
  assert.notEqual(
    await policyRevision(dir),
    before,
    'opa build puts kubiya.m in data.json; the revision must cover it',
  );
});

test('finding 4: a fixture suite that is a symlink is read, not skipped', async () => {
  const dir = join(work, 'fx');
  await mkdir(dir);
  const target = join(work, 'suite.yaml');
  await writeFile(target, 'id: s\nsteps: []\nexpect: {}\n');
  await symlink(target, join(dir, 'suite.yaml'));
  const docs = await readFixtureDocs(dir);
  assert.deepEqual(
    docs.map((d) => d.file),
    ['suite.yaml'],
  );
});

test('finding 7: absolute-form routes as origin-form does with a fragment, and an empty authority is not routed', () => {
  assert.equal(routeOf('http://runner/healthz#f'), routeOf('/healthz#f'));
  assert.equal(routeOf('http:///metrics'), 'unknown');
});
