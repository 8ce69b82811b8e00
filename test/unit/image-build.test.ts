import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { Parser } from 'tar';
import { caBundle, parseLdd } from '../../scripts/image/debian.ts';
import { withParents } from '../../scripts/image/rootfs.ts';
import { headCommit, parseSourceDateEpoch } from '../../scripts/image/stage.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';
import { debianPurl } from '../../scripts/image/sbom.ts';
import { tarStream, type TarEntry } from '../../scripts/image/tar-stream.ts';

/**
 * The image build's pure parts (scripts/image, docs/image.md). The class for the tar writer: layer
 * bytes that depend on anything but the entries — the order a directory listing returned them
 * in, the clock, the builder's user names — or entries that do not read back as written (long
 * node_modules paths past ustar's 100/155 split, owners, modes, symlinks).
 */
const MTIME = new Date(1_780_000_000_000);
let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kubiya-image-unit-'));
});
after(async () => rm(dir, { recursive: true, force: true }));

async function bytesOf(entries: readonly TarEntry[], mtime = MTIME): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of tarStream(entries, mtime)) parts.push(chunk);
  return Buffer.concat(parts);
}

interface Read {
  path: string;
  type: string;
  mode?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  mtime?: number;
  linkpath?: string;
  body: string;
}

async function readBack(bytes: Buffer): Promise<Read[]> {
  const out: Read[] = [];
  const parser = new Parser({
    onReadEntry: (e) => {
      const chunks: Buffer[] = [];
      e.on('data', (c: Buffer) => chunks.push(c));
      e.on('end', () =>
        out.push({
          path: e.path,
          type: e.type,
          mode: e.mode,
          uid: e.uid,
          gid: e.gid,
          uname: e.uname,
          mtime: e.mtime?.getTime(),
          linkpath: e.linkpath,
          body: Buffer.concat(chunks).toString(),
        }),
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
    parser.end(bytes);
  });
  return out;
}

const segment = fc.stringMatching(/^[a-z@._-]{1,40}$/).filter((s) => s !== '.' && s !== '..');
const entryArb = fc
  .tuple(fc.array(segment, { minLength: 1, maxLength: 9 }), fc.constantFrom('file', 'dir', 'symlink'), fc.nat(0o7777))
  .map(([parts, type, mode]): TarEntry => {
    const path = parts.join('/');
    if (type === 'dir') return { type, path, mode, uid: 0, gid: 65532 };
    if (type === 'symlink') return { type, path, target: `../${parts[0]}` };
    return { type: 'file', path, mode, uid: 65532, gid: 0, content: { bytes: Buffer.from(path) } };
  });
const entriesArb = fc.uniqueArray(entryArb, { selector: (e) => e.path, minLength: 1, maxLength: 25 });

test('the same entries in any order give the same bytes, and read back as written', async () => {
  await fc.assert(
    fc.asyncProperty(entriesArb, fc.nat(), async (entries, seed) => {
      const shuffled = [...entries].sort(
        (a, b) => ((a.path.length * 31 + seed) % 7) - ((b.path.length * 31 + seed) % 7),
      );
      const x = await bytesOf(entries);
      assert.ok(x.equals(await bytesOf(shuffled)));
      const read = await readBack(x);
      const sorted = [...entries].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
      assert.deepEqual(
        read.map((r) => r.path.replace(/\/$/, '')),
        sorted.map((e) => e.path),
      );
      for (const [i, r] of read.entries()) {
        const e = sorted[i]!;
        assert.equal(r.mtime, MTIME.getTime());
        assert.equal(r.uname ?? '', '');
        if (e.type === 'symlink') assert.equal(r.linkpath, e.target);
        else assert.deepEqual([r.mode, r.uid, r.gid], [e.mode, e.uid, e.gid]);
        if (e.type === 'file') assert.equal(r.body, e.path);
      }
    }),
    { numRuns: 60 },
  );
});

test('only the mtime given changes the bytes; the clock does not', async () => {
  const entries: TarEntry[] = [{ type: 'dir', path: 'a', mode: 0o755, uid: 0, gid: 0 }];
  const first = await bytesOf(entries);
  await new Promise((r) => setTimeout(r, 1100));
  assert.ok(first.equals(await bytesOf(entries)));
  assert.ok(!first.equals(await bytesOf(entries, new Date(0))));
});

test('paths past ustar limits (pax) read back whole: 99, 100, 150+99, 160+100, 301 characters, a 121-character link target', async () => {
  const paths = [
    'a'.repeat(99),
    'b'.repeat(100),
    `${'c'.repeat(150)}/${'d'.repeat(99)}`,
    `${'e'.repeat(160)}/${'f'.repeat(100)}`,
    `${'g/'.repeat(150)}h`,
  ];
  const entries = paths.map((path): TarEntry => ({
    type: 'file',
    path,
    mode: 0o644,
    uid: 0,
    gid: 0,
    content: { bytes: Buffer.from('1') },
  }));
  const read = await readBack(await bytesOf(entries));
  assert.deepEqual(
    read.map((r) => r.path),
    [...paths].sort(),
  );
  for (const r of read) assert.equal(r.mtime, MTIME.getTime());
  const target = `${'t/'.repeat(60)}u`;
  const [link] = await readBack(await bytesOf([{ type: 'symlink', path: 'l'.repeat(120), target }]));
  assert.deepEqual([link?.path, link?.linkpath], ['l'.repeat(120), target]);
});

test('two entries for one path, or a host file that changed size, fail the build', async () => {
  const d: TarEntry = { type: 'dir', path: 'x', mode: 0o755, uid: 0, gid: 0 };
  await assert.rejects(bytesOf([d, { ...d }]), /two layer entries for x/);
  const file = join(dir, 'f');
  await writeFile(file, 'four');
  const entry: TarEntry = { type: 'file', path: 'f', mode: 0o644, uid: 0, gid: 0, content: { file, size: 3 } };
  await assert.rejects(bytesOf([entry]), /changed size/);
});

test('withParents adds each missing parent once (root, 0755) and keeps the ones listed', () => {
  const out = withParents([
    { type: 'file', path: 'a/b/c', mode: 0o644, uid: 0, gid: 0, content: { bytes: Buffer.alloc(0) } },
    { type: 'dir', path: 'a/b', mode: 0o700, uid: 1, gid: 1 },
    { type: 'symlink', path: 'a/d/e', target: 'x' },
  ]);
  const dirs = out.filter((e) => e.type === 'dir').map((e) => [e.path, e.type === 'dir' ? e.mode : 0]);
  assert.deepEqual(dirs.sort(), [
    ['a', 0o755],
    ['a/b', 0o700],
    ['a/d', 0o755],
  ]);
});

const LDD = `\tlinux-vdso.so.1 (0x00007ffd1b155000)
\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007eff1b13e000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007eff1ae00000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007eff1b157000)
`;

test('parseLdd: libraries and the interpreter; a missing library or an unreadable line is an error', () => {
  assert.deepEqual(parseLdd(LDD), [
    '/lib/x86_64-linux-gnu/libdl.so.2',
    '/lib/x86_64-linux-gnu/libstdc++.so.6',
    '/lib64/ld-linux-x86-64.so.2',
  ]);
  assert.throws(() => parseLdd(`${LDD}\tlibfoo.so.1 => not found\n`), /not found/);
  assert.throws(() => parseLdd('\tstatically linked\n'), /cannot read/);
});

test('debianPurl percent-encodes the version (epoch colon, plus)', () => {
  assert.equal(
    debianPurl({ name: 'libc6', version: '2.36-9+deb12u14', arch: 'amd64' }, 'debian-12.11'),
    'pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12.11',
  );
  assert.equal(
    debianPurl({ name: 'x', version: '1:2.0-1', arch: 'all' }, 'd'),
    'pkg:deb/debian/x@1%3A2.0-1?arch=all&distro=d',
  );
});

test("the image's CA bundle is the ca-certificates package's Mozilla set, without the host's own CAs", async () => {
  // The class: host-local trust leaking into the image. This build host trusts extra CAs (an egress
  // proxy's, /usr/local/share/ca-certificates) that update-ca-certificates folds into
  // /etc/ssl/certs/ca-certificates.crt; copying that file would ship them to every cluster.
  const mozilla = '/usr/share/ca-certificates/mozilla';
  const names = (await readdir(mozilla)).filter((n) => n.endsWith('.crt')).sort();
  const { pem, pkg } = await caBundle();
  assert.equal(pkg.name, 'ca-certificates');
  assert.equal(pem.toString().match(/-----BEGIN CERTIFICATE-----/g)?.length, names.length);
  const local = '/usr/local/share/ca-certificates';
  const extra = await readdir(local).catch(() => [] as string[]);
  for (const name of extra.filter((n) => n.endsWith('.crt'))) {
    const body = (await readFile(join(local, name), 'utf8')).replace(/-----[A-Z ]+-----|\s/g, '');
    assert.ok(!pem.toString().replace(/\s/g, '').includes(body.slice(0, 200)), `${name} is in the image's CA bundle`);
  }
  const host = await readFile('/etc/ssl/certs/ca-certificates.crt').catch(() => Buffer.alloc(0));
  if (extra.length > 0 && host.length > 0) assert.ok(!pem.equals(host), 'the bundle is not the host file');
});

test('SOURCE_DATE_EPOCH: whole decimal seconds, or unset; anything else fails the build', () => {
  assert.equal(parseSourceDateEpoch(undefined), undefined);
  assert.equal(parseSourceDateEpoch(''), undefined);
  assert.equal(parseSourceDateEpoch('0'), 0);
  assert.equal(parseSourceDateEpoch('1780000000'), 1780000000);
  for (const bad of ['-1', '1e9', '0x10', ' 12', '12 ', '1.5', 'now', '123456789012', '١٢']) {
    assert.throws(() => parseSourceDateEpoch(bad), /SOURCE_DATE_EPOCH/, bad);
  }
});

test('the build time is SOURCE_DATE_EPOCH when set, else the commit time', async () => {
  assert.equal((await headCommit(REPO_ROOT, '1234')).epoch, 1234);
  const commit = await headCommit(REPO_ROOT, undefined);
  assert.match(commit.revision, /^[0-9a-f]{40}$/);
  assert.ok(commit.epoch > 1_600_000_000 && commit.epoch * 1000 <= Date.now() + 86_400_000, `${commit.epoch}`);
});
