/** A policy bundle's tar.gz, written reproducibly (its reader, readTarGz, is in opa-wasm.ts). */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { create } from 'tar';
import { writeFileWhole } from './atomic-file.ts';
import { mkdirWithin, withTempDir } from './exit-cleanup.ts';

/**
 * Writes files (path → bytes) as a reproducible tar.gz (fixed mtime, portable headers), each
 * under "/" as `opa build` names them (OPA's bundle loader finds the module by that name).
 * The archive is made in memory, then written by writeFileWhole: to a file atomically (a hidden
 * file beside `outFile`, renamed over it), so a reader (a bundle service, `serve` reloading a
 * bundle file) never sees part of one and a process killed midway leaves `outFile` as it was; to a
 * descriptor (`--out /dev/stdout`) with no temporary copy. The files are staged in a private
 * temporary directory.
 * Throws what the file system throws; nothing is left behind but `outFile` (the hidden file and
 * the staging directory are removed on an exit or a stop signal too: exit-cleanup.ts).
 */
export async function writeTarGz(outFile: string, files: Map<string, Uint8Array>): Promise<void> {
  const archive = await withTempDir('kubiya-bundle-', async (dir) => {
    const names = [...files.keys()].filter((n) => n !== '' && !n.endsWith('/')).sort();
    for (const name of names) {
      await mkdirWithin(dir, dirname(join(dir, name)));
      await writeFile(join(dir, name), files.get(name)!);
    }
    return buffer(
      create(
        {
          gzip: true,
          cwd: dir,
          portable: true,
          mtime: new Date(0),
          noDirRecurse: true,
          prefix: '/',
          preservePaths: true,
        },
        names,
      ),
    );
  });
  await writeFileWhole(outFile, archive);
}
