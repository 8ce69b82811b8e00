import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { must } from './run.ts';

/** One locally built image: its full reference and what its root filesystem holds beyond the base. */
export interface ImageSpec {
  /** Full reference with a tag, e.g. docker.io/library/python:3.11-slim. */
  readonly ref: string;
  /** busybox: busybox-static with every applet linked in /bin, /etc/passwd, /tmp; scratch: nothing. */
  readonly base: 'busybox' | 'scratch';
  /** Files to add: path in the image -> content (text, mode 0755 when executable) or a host file to copy. */
  readonly files?: Readonly<Record<string, { text?: string; from?: string; mode?: number }>>;
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly user?: string;
}

/** Users of the step image: root, the runner's default step UID 65532, and nobody. */
const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\nstep:x:65532:65532:step:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nstep:x:65532:\nnogroup:x:65534:\n';

function splitRef(ref: string): { name: string; tag: string } {
  const i = ref.lastIndexOf(':');
  return { name: ref.slice(0, i), tag: ref.slice(i + 1) };
}

async function fillRootfs(rootfs: string, spec: ImageSpec, busybox: string): Promise<void> {
  if (spec.base === 'busybox') {
    await mkdir(join(rootfs, 'bin'), { recursive: true });
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await mkdir(join(rootfs, 'tmp'), { recursive: true });
    await chmod(join(rootfs, 'tmp'), 0o1777);
    // A world-writable directory of the image itself (not a mount): writing there fails only on a read-only root.
    await mkdir(join(rootfs, 'writable'), { recursive: true });
    await chmod(join(rootfs, 'writable'), 0o1777);
    await copyFile(busybox, join(rootfs, 'bin', 'busybox'));
    await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
    const applets = (await must(busybox, ['--list'])).split('\n').filter((a) => a !== '' && a !== 'busybox');
    for (const a of applets) await symlink('busybox', join(rootfs, 'bin', a));
    await writeFile(join(rootfs, 'etc', 'passwd'), PASSWD);
    await writeFile(join(rootfs, 'etc', 'group'), GROUP);
  }
  for (const [path, f] of Object.entries(spec.files ?? {})) {
    const target = join(rootfs, path);
    await mkdir(join(target, '..'), { recursive: true });
    if (f.from !== undefined) await copyFile(f.from, target);
    else await writeFile(target, f.text ?? '');
    await chmod(target, f.mode ?? 0o644);
  }
}

/**
 * Builds one image with umoci (an OCI layout, no registry, no container engine) and returns the
 * path of the layout as a tar archive, ready for `ctr images import`.
 */
export async function buildImage(
  spec: ImageSpec,
  work: string,
  tools: { umoci: string; busybox: string },
): Promise<string> {
  const { tag } = splitRef(spec.ref);
  const safe = spec.ref.replace(/[^A-Za-z0-9.-]/g, '_');
  const layout = join(work, `${safe}.oci`);
  const bundle = join(work, `${safe}.bundle`);
  await rm(layout, { recursive: true, force: true });
  await rm(bundle, { recursive: true, force: true });
  await must(tools.umoci, ['init', '--layout', layout]);
  await must(tools.umoci, ['new', '--image', `${layout}:${tag}`]);
  await must(tools.umoci, ['unpack', '--image', `${layout}:${tag}`, bundle]);
  await fillRootfs(join(bundle, 'rootfs'), spec, tools.busybox);
  await must(tools.umoci, ['repack', '--image', `${layout}:${tag}`, bundle]);
  const config = ['config', '--image', `${layout}:${tag}`, '--clear=config.entrypoint', '--clear=config.cmd'];
  for (const e of spec.entrypoint ?? []) config.push(`--config.entrypoint=${e}`);
  for (const c of spec.cmd ?? []) config.push(`--config.cmd=${c}`);
  if (spec.user !== undefined) config.push(`--config.user=${spec.user}`);
  config.push('--config.env=PATH=/usr/local/bin:/bin');
  await must(tools.umoci, config);
  await must(tools.umoci, ['gc', '--layout', layout]);
  const tar = `${layout}.tar`;
  await must('tar', ['-C', layout, '-cf', tar, '.']);
  await rm(bundle, { recursive: true, force: true });
  await rm(layout, { recursive: true, force: true });
  return tar;
}

/** Imports a layout tar into containerd's k8s.io namespace under `ref` (its base name plus the layout's tag). */
export async function importImage(ctr: string, socket: string, ref: string, tar: string): Promise<void> {
  const { name } = splitRef(ref);
  await must(ctr, ['--address', socket, '-n', 'k8s.io', 'images', 'import', '--base-name', name, tar], {
    timeoutMs: 120_000,
  });
}

/** Where built image archives are kept between runs (beside the tools cache), keyed by what goes into them. */
export function imageCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'kubiya-runner', 'images');
}

async function specKey(spec: ImageSpec, busybox: string): Promise<string> {
  // The key covers how a root filesystem is made too (this module's code), not only the spec.
  const h = createHash('sha256')
    .update(JSON.stringify(spec))
    .update(fillRootfs.toString())
    .update(buildImage.toString());
  if (spec.base === 'busybox') h.update(await readFile(busybox));
  for (const f of Object.values(spec.files ?? {})) if (f.from !== undefined) h.update(await readFile(f.from));
  return h.digest('hex').slice(0, 16);
}

/** buildImage, or its archive from the cache when the same spec (and the same input files) was built before. */
export async function cachedImage(
  spec: ImageSpec,
  work: string,
  tools: { umoci: string; busybox: string },
  cache = imageCacheDir(),
): Promise<string> {
  const file = join(cache, `${spec.ref.replace(/[^A-Za-z0-9.-]/g, '_')}-${await specKey(spec, tools.busybox)}.tar`);
  if (existsSync(file)) return file;
  const tar = await buildImage(spec, work, tools);
  await mkdir(cache, { recursive: true });
  await rename(tar, `${file}.tmp`).catch(async () => copyFile(tar, `${file}.tmp`));
  await rename(`${file}.tmp`, file);
  return file;
}
