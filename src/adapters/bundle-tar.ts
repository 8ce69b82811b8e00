/** A policy bundle's tar.gz, written reproducibly (its reader, readTarGz, is in opa-wasm.ts). */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { create } from 'tar';

/**
 * Writes files (path → bytes) as a reproducible tar.gz (fixed mtime, portable headers), each
 * under "/" as `opa build` names them (OPA's bundle loader finds the module by that name).
 */
export async function writeTarGz(outFile: string, files: Map<string, Uint8Array>): Promise<void> {
  const dir = await mkdtemp(join(dirname(outFile), '.bundle-'));
  try {
    const names = [...files.keys()].filter((n) => n !== '' && !n.endsWith('/')).sort();
    for (const name of names) {
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await writeFile(join(dir, name), files.get(name)!);
    }
    await create(
      {
        gzip: true,
        file: outFile,
        cwd: dir,
        portable: true,
        mtime: new Date(0),
        noDirRecurse: true,
        prefix: '/',
        preservePaths: true,
      },
      names,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
