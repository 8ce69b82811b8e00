// What the image's two layers hold. The base layer changes with the Node binary and the Debian
// packages only: node, the libraries it links, CA certificates, the users, the writable
// directories, and os-release with dpkg status stanzas so image scanners see the Debian packages. The app layer changes with every commit: the sources, the production node_modules
// and the default policy bundle. No shell, no package manager, nothing writable outside the volumes.
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix, relative } from 'node:path';
import type { HostFile } from './debian.ts';
import type { Content, TarEntry } from './tar-stream.ts';

/** The fixed non-root user and group the runner runs as (the chart's runAsUser/runAsGroup). */
export const RUNNER_UID = 65532;
export const NODE_PATH = '/usr/local/bin/node';
export const APP_DIR = '/app';
export const BUNDLE_PATH = '/opt/kubiya/policy/bundle.tar.gz';
export const CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
/** Written by the runner; in a pod both are volumes (the audit PVC and an emptyDir). */
export const AUDIT_DIR = '/var/lib/kubiya/audit';

const rel = (abs: string): string => abs.replace(/^\/+/, '');

function file(path: string, content: Content, mode = 0o644): TarEntry {
  return { type: 'file', path: rel(path), mode, uid: 0, gid: 0, content };
}

function text(path: string, body: string): TarEntry {
  return file(path, { bytes: Buffer.from(body) });
}

/** Adds the parent directories (root, 0755) that `entries` do not list themselves. */
export function withParents(entries: readonly TarEntry[]): TarEntry[] {
  const have = new Set(entries.map((e) => e.path));
  const out = [...entries];
  for (const entry of entries) {
    for (let dir = posix.dirname(entry.path); dir !== '.' && !have.has(dir); dir = posix.dirname(dir)) {
      have.add(dir);
      out.push({ type: 'dir', path: dir, mode: 0o755, uid: 0, gid: 0 });
    }
  }
  return out;
}

const PASSWD = `root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:${RUNNER_UID}:${RUNNER_UID}:nonroot:/home/nonroot:/sbin/nologin\n`;
const GROUP = `root:x:0:\nnonroot:x:${RUNNER_UID}:\n`;
// No /etc/nsswitch.conf lookups beyond files and DNS (glibc builds both in since 2.34).
const NSSWITCH = 'passwd: files\ngroup: files\nhosts: files dns\n';

/** Inputs of the base layer: host files with their sizes already known. */
export interface BaseInputs {
  node: { file: string; size: number };
  libraries: readonly (HostFile & { size: number })[];
  caPem: Buffer;
  licenses: readonly { path: string; file: string; size: number }[];
  osRelease: HostFile & { size: number };
  dpkgStatus: readonly { name: string; stanza: Buffer }[];
}

/** The base layer's entries. Libraries keep the path the loader resolved them at (ldd). */
export function baseEntries(inputs: BaseInputs): TarEntry[] {
  const owned = (path: string, mode: number): TarEntry => ({
    type: 'dir',
    path: rel(path),
    mode,
    uid: RUNNER_UID,
    gid: RUNNER_UID,
  });
  return withParents([
    file(NODE_PATH, inputs.node, 0o755),
    ...inputs.libraries.map((l) => file(l.path, { file: l.real, size: l.size }, 0o755)),
    file(CA_FILE, { bytes: inputs.caPem }),
    ...inputs.licenses.map((l) => file(l.path, { file: l.file, size: l.size })),
    file(inputs.osRelease.path, { file: inputs.osRelease.real, size: inputs.osRelease.size }),
    ...inputs.dpkgStatus.map((d) => file(`/var/lib/dpkg/status.d/${d.name}`, { bytes: d.stanza })),
    text('/etc/passwd', PASSWD),
    text('/etc/group', GROUP),
    text('/etc/nsswitch.conf', NSSWITCH),
    { type: 'dir', path: 'tmp', mode: 0o1777, uid: 0, gid: 0 },
    owned('/home/nonroot', 0o700),
    owned(AUDIT_DIR, 0o700),
  ]);
}

/** The files of a staged directory tree as layer entries under `prefix`; `skip` filters relative paths. */
export async function treeEntries(root: string, prefix: string, skip: (path: string) => boolean): Promise<TarEntry[]> {
  const out: TarEntry[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    const abs = join(entry.parentPath, entry.name);
    const path = relative(root, abs).split('\\').join('/');
    if (skip(path)) continue;
    const at = posix.join(rel(prefix), path);
    const st = await lstat(abs);
    if (st.isSymbolicLink()) out.push({ type: 'symlink', path: at, target: await readlink(abs) });
    else if (st.isDirectory()) out.push({ type: 'dir', path: at, mode: 0o755, uid: 0, gid: 0 });
    else if (st.isFile()) out.push(file(at, { file: abs, size: st.size }, st.mode & 0o111 ? 0o755 : 0o644));
    else throw new Error(`${abs}: neither file, directory nor symlink`);
  }
  return out;
}

/** The app layer: the staged app (without node_modules/.bin: no shell runs those) and the bundle. */
export async function appEntries(app: string, bundle: string): Promise<TarEntry[]> {
  const skip = (p: string): boolean => p === 'node_modules/.bin' || p.startsWith('node_modules/.bin/');
  const tree = await treeEntries(app, APP_DIR, skip);
  const st = await lstat(bundle);
  return withParents([
    { type: 'dir', path: rel(APP_DIR), mode: 0o755, uid: 0, gid: 0 },
    ...tree,
    file(BUNDLE_PATH, { file: bundle, size: st.size }),
  ]);
}
