import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBundleServer, type BundleServer } from '../../src/dev/bundle-server.ts';

/**
 * Red-team 2026-11-30 round 3 ("also seen"): `dev bundle-server <dir>` followed a symlink out of
 * the served directory (`ln -s /etc/passwd srv/pw` → `GET /pw` 200). The class: **a request reads
 * a file outside the served directory**. Only regular files whose real path is inside the real
 * directory are served; everything else is 404. Variants: a symlink to a file outside (the reported
 * example), a chain of symlinks ending outside, a symlink to a directory outside and a file
 * through it, a symlinked subdirectory inside, a dangling link, `..` segments raw and
 * percent-encoded (`%2e%2e`, `..%2f`, `%2e%2e%5c`), `.//`, a FIFO-free directory name; and
 * positives: a plain file and a symlink to a file inside the directory.
 */
let root: string;
let srv: string;
let server: BundleServer;
const SECRET = 'outside-secret-contents';

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kubiya-bundle-links-'));
  srv = join(root, 'srv');
  await mkdir(join(root, 'outside'), { recursive: true });
  await mkdir(join(srv, 'inner'), { recursive: true });
  await writeFile(join(root, 'outside', 'secret.txt'), SECRET);
  await writeFile(join(root, 'secret.txt'), SECRET);
  await writeFile(join(srv, 'bundle.tar.gz'), 'bundle');
  await writeFile(join(srv, 'inner', 'b.tar.gz'), 'inner');
  await symlink(join(root, 'outside', 'secret.txt'), join(srv, 'pw')); // the reported example
  await symlink('../secret.txt', join(srv, 'rel'));
  await symlink(join(srv, 'pw'), join(srv, 'chain'));
  await symlink(join(root, 'outside'), join(srv, 'outdir'));
  await symlink(join(srv, 'inner'), join(srv, 'indir'));
  await symlink(join(root, 'missing'), join(srv, 'dangling'));
  await symlink(join(srv, 'bundle.tar.gz'), join(srv, 'alias.tar.gz'));
  server = await startBundleServer(srv);
});
after(async () => {
  await server.close();
  await rm(root, { recursive: true, force: true });
});

test('dev bundle-server serves only regular files inside its directory', async () => {
  for (const path of [
    '/pw',
    '/rel',
    '/chain',
    '/outdir',
    '/outdir/secret.txt',
    '/outdir%2fsecret.txt',
    '/indir',
    '/indir%2fb.tar.gz',
    '/inner',
    '/dangling',
    '/../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/..%2fsecret.txt',
    '/%2e%2e%5csecret.txt',
    '/.//bundle.tar.gz',
    '/inner/../../secret.txt',
  ]) {
    const r = await fetch(`${server.url}${path}`);
    const body = await r.text();
    assert.equal(r.status, 404, path);
    assert.ok(!body.includes(SECRET), path);
  }
  for (const [path, body] of [
    ['/bundle.tar.gz', 'bundle'],
    ['/alias.tar.gz', 'bundle'],
  ]) {
    const r = await fetch(`${server.url}${path}`);
    assert.equal(r.status, 200, path);
    assert.equal(await r.text(), body);
  }
});
