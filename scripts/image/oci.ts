// The OCI documents of the image (image-spec v1.1: config, manifest, index, oci-layout) and the
// oci-archive: the layout directory as one reproducible tar, which skopeo reads as
// `oci-archive:<file>:<tag>` and `ctr images import` imports.
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeJsonBlob, type Descriptor, type Layer } from './blobs.ts';
import { tarStream, type TarEntry } from './tar-stream.ts';

export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
export const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
const REF_NAME = 'org.opencontainers.image.ref.name';

/** The runtime settings of the image (image-spec config.md, `config` field). */
export interface RuntimeConfig {
  User: string;
  Env: string[];
  Entrypoint: string[];
  Cmd: string[];
  WorkingDir: string;
  ExposedPorts: Record<string, Record<string, never>>;
  Labels: Record<string, string>;
}

/** One image: its layers (bottom first), each with the history line that says what it holds. */
export interface ImageParts {
  created: string;
  runtime: RuntimeConfig;
  layers: readonly { layer: Layer; createdBy: string }[];
  annotations: Record<string, string>;
}

/** Writes the config and manifest blobs; returns the manifest's descriptor (its digest is the image digest). */
export async function writeImage(layout: string, parts: ImageParts): Promise<Descriptor> {
  const config = {
    created: parts.created,
    architecture: 'amd64',
    os: 'linux',
    config: parts.runtime,
    rootfs: { type: 'layers', diff_ids: parts.layers.map((l) => l.layer.diffId) },
    history: parts.layers.map((l) => ({ created: parts.created, created_by: l.createdBy })),
  };
  const configDesc = await writeJsonBlob(layout, CONFIG_MEDIA_TYPE, config);
  const manifest = {
    schemaVersion: 2,
    mediaType: MANIFEST_MEDIA_TYPE,
    config: configDesc,
    layers: parts.layers.map((l) => l.layer.descriptor),
    annotations: parts.annotations,
  };
  return writeJsonBlob(layout, MANIFEST_MEDIA_TYPE, manifest);
}

/** Writes index.json (the image under `tag`) and the oci-layout marker. */
export async function writeIndex(layout: string, manifest: Descriptor, tag: string): Promise<void> {
  const index = {
    schemaVersion: 2,
    mediaType: INDEX_MEDIA_TYPE,
    manifests: [{ ...manifest, annotations: { [REF_NAME]: tag } }],
  };
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

/** The layout directory as one tar (the oci-archive format), entries sorted, times fixed. */
export async function writeArchive(layout: string, archive: string, mtime: Date): Promise<void> {
  const entries: TarEntry[] = [];
  const dir = (path: string): TarEntry => ({ type: 'dir', path, mode: 0o755, uid: 0, gid: 0 });
  const add = async (path: string): Promise<void> => {
    const size = (await stat(join(layout, path))).size;
    entries.push({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, content: { file: join(layout, path), size } });
  };
  await add('oci-layout');
  await add('index.json');
  entries.push(dir('blobs'), dir('blobs/sha256'));
  for (const name of await readdir(join(layout, 'blobs', 'sha256'))) await add(`blobs/sha256/${name}`);
  await mkdir(join(archive, '..'), { recursive: true });
  await pipeline(Readable.from(tarStream(entries, mtime)), createWriteStream(archive));
}
