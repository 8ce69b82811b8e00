// The host's Debian files the image copies: the shared libraries the Node binary links (ldd), and
// the Mozilla CA certificates of the ca-certificates package. Each file is traced to its package
// and version (dpkg), which go into the SBOM: the image is as reproducible as these versions are.
import { execFile } from 'node:child_process';
import { readdir, readFile, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A Debian binary package as dpkg knows it (name, version, architecture). */
export interface DebianPackage {
  name: string;
  version: string;
  arch: string;
}

/** A host file to copy: where the loader finds it (`path`), the file behind symlinks, its package. */
export interface HostFile {
  path: string;
  real: string;
  pkg: DebianPackage;
}

/**
 * The libraries ldd resolves for an ELF binary, as absolute paths in loader order: "name => path"
 * lines and the interpreter line ("/lib64/ld-linux-x86-64.so.2 (0x…)"); the vDSO has no file.
 * A "not found" line is an Error: the image would not start.
 */
export function parseLdd(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line === '' || line.startsWith('linux-vdso')) continue;
    if (line.includes('not found')) throw new Error(`ldd: ${line}`);
    const m = /^(?:\S+ => )?(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (m === null) throw new Error(`ldd: cannot read the line "${line}"`);
    out.push(m[1]!);
  }
  return out;
}

/** The package owning a file, asking dpkg for the path as given and behind its symlinks ("merged /usr"). */
async function owner(path: string, real: string): Promise<string> {
  const candidates = [path, real, real.replace(/^\/usr\//, '/')];
  for (const candidate of candidates) {
    try {
      const { stdout } = await run('dpkg-query', ['-S', candidate]);
      const name = stdout.split(':')[0];
      if (name !== undefined && name !== '') return name;
    } catch {
      // not this spelling; try the next one
    }
  }
  throw new Error(`no Debian package owns ${path} (${real}): the image takes only packaged files`);
}

/** Name, version and architecture of an installed package. */
export async function packageInfo(name: string): Promise<DebianPackage> {
  const { stdout } = await run('dpkg-query', ['-W', '-f', '${Package}\t${Version}\t${Architecture}', name]);
  const [pkg, version, arch] = stdout.trim().split('\t');
  if (pkg === undefined || version === undefined || arch === undefined) throw new Error(`dpkg-query: ${name}?`);
  return { name: pkg, version, arch };
}

/** The shared libraries of `binary` with their packages (host files, from ldd and dpkg). */
export async function sharedLibraries(binary: string): Promise<HostFile[]> {
  const { stdout } = await run('ldd', [binary]);
  const out: HostFile[] = [];
  for (const path of parseLdd(stdout)) {
    const real = await realpath(path);
    out.push({ path, real, pkg: await packageInfo(await owner(path, real)) });
  }
  return out;
}

/** Where Debian's ca-certificates package keeps the Mozilla certificates. */
const MOZILLA_CERTS = '/usr/share/ca-certificates/mozilla';

/**
 * A CA bundle (PEM) of the Mozilla certificates as the ca-certificates package ships them, in file
 * name order, so it depends on the package version only (not on /etc/ca-certificates.conf or on
 * local additions, which update-ca-certificates would fold in).
 */
export async function caBundle(): Promise<{ pem: Buffer; pkg: DebianPackage }> {
  const names = (await readdir(MOZILLA_CERTS)).filter((n) => n.endsWith('.crt')).sort();
  if (names.length === 0) throw new Error(`no certificates in ${MOZILLA_CERTS} (apt-get install ca-certificates)`);
  const parts: Buffer[] = [];
  for (const name of names) {
    const pem = await readFile(join(MOZILLA_CERTS, name));
    parts.push(pem, pem.at(-1) === 0x0a ? Buffer.alloc(0) : Buffer.from('\n'));
  }
  return { pem: Buffer.concat(parts), pkg: await packageInfo('ca-certificates') };
}

/**
 * A package's dpkg status stanza (Package, Status, Source, Version, Architecture), as distroless
 * images keep them in /var/lib/dpkg/status.d/<name>: image scanners read the Debian packages an
 * image holds from there (with /etc/os-release), though no dpkg is in the image.
 */
export async function statusStanza(name: string): Promise<Buffer> {
  const format =
    'Package: ${Package}\nStatus: ${Status}\nSource: ${source:Package}\nVersion: ${Version}\nArchitecture: ${Architecture}\n';
  const { stdout } = await run('dpkg-query', ['-W', '-f', format, name]);
  return Buffer.from(stdout);
}

/** The host's os-release (Debian's base-files), which names the distribution to image scanners. */
export async function osRelease(): Promise<HostFile> {
  const real = await realpath('/etc/os-release');
  return { path: '/etc/os-release', real, pkg: await packageInfo(await owner('/etc/os-release', real)) };
}
