// Reading a built image back: the layout's index, manifest and config, each layer's entries, and
// the root file system the layers unpack to (as a runtime unpacks them: in order, owners kept).
import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { extract, list } from 'tar';
import { OUTPUT } from '../../scripts/image/image.ts';
import { REPO_ROOT } from '../../src/adapters/tools.ts';

const run = promisify(execFile);

/** One entry of a layer as its tar header says. */
export interface LayerEntry {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkpath: string;
}

/** The parts of a built image the tests look at. */
export interface BuiltImage {
  out: string;
  digest: string;
  printed: string;
  layout: string;
  manifest: { layers: { digest: string; mediaType: string }[]; annotations: Record<string, string> };
  config: {
    created: string;
    architecture: string;
    os: string;
    config: {
      User: string;
      Env: string[];
      Entrypoint: string[];
      Cmd: string[];
      WorkingDir: string;
      Labels: Record<string, string>;
    };
    rootfs: { diff_ids: string[] };
  };
  index: { manifests: { digest: string; annotations: Record<string, string> }[] };
}

export const blob = (layout: string, digest: string): string => join(layout, 'blobs', 'sha256', digest.slice(7));

/** Runs `node scripts/image/build.ts --out <out>` (npm run image without npm) and reads what it wrote. */
export async function buildInto(out: string, env: NodeJS.ProcessEnv = process.env): Promise<BuiltImage> {
  const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'scripts', 'image', 'build.ts'), '--out', out], {
    cwd: REPO_ROOT,
    env,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 600_000,
  });
  const layout = join(out, OUTPUT.layout);
  const json = async <T>(file: string): Promise<T> => JSON.parse(await readFile(file, 'utf8')) as T;
  const index = await json<BuiltImage['index']>(join(layout, 'index.json'));
  const digest = (await readFile(join(out, OUTPUT.digest), 'utf8')).trim();
  const manifest = await json<BuiltImage['manifest'] & { config: { digest: string } }>(blob(layout, digest));
  const config = await json<BuiltImage['config']>(blob(layout, manifest.config.digest));
  return { out, digest, printed: stdout.trim(), layout, manifest, config, index };
}

/** The entries of a layer blob, in archive order. */
export async function layerEntries(file: string): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  await list({
    file,
    onReadEntry: (e) => {
      out.push({
        path: e.path,
        type: e.type,
        mode: e.mode ?? -1,
        uid: e.uid ?? -1,
        gid: e.gid ?? -1,
        mtime: e.mtime?.getTime() ?? -1,
        size: e.size ?? 0,
        linkpath: e.linkpath ?? '',
      });
    },
  });
  return out;
}

/** Unpacks the image's layers in order into `dir` (owners kept when run as root) and returns it. */
export async function unpack(image: BuiltImage, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o755);
  for (const layer of image.manifest.layers) {
    await extract({ file: blob(image.layout, layer.digest), cwd: dir, preserveOwner: true });
  }
  return dir;
}

/**
 * Runs `work` while `loops` child processes (this Node, each a busy loop bounded to 10 minutes)
 * compete for the CPU, and stops them, by PID, when it settles. A build whose bytes depend on
 * timing (the order asynchronous reads complete in, when a thread runs) shows it more often on a
 * busy machine, which is how CI first saw the compile cache differ.
 */
export async function whileBusy<T>(loops: number, work: () => Promise<T>): Promise<T> {
  const script = 'const end = Date.now() + 600_000; while (Date.now() < end);';
  const children = Array.from({ length: loops }, () => spawn(process.execPath, ['-e', script], { stdio: 'ignore' }));
  try {
    return await work();
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
}
