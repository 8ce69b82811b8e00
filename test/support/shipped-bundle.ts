import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { readBundle, type BundleFiles } from '../../src/adapters/opa-wasm.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';

let built: Promise<BundleFiles> | undefined;

/**
 * The shipped policies (`policies/`) built by `policy build` with the pinned opa, as the runner
 * reads them: once per test process (later calls share the first build), the tar.gz read into
 * memory and its temporary directory removed at once. Throws when opa is not built ("npm run
 * tools") or the build fails (PolicyBuildError). Load an engine from it with loadEngine(), with
 * other data if the test needs it: `loadEngine({ ...bundle, data })`.
 */
export function shippedBundle(): Promise<BundleFiles> {
  built ??= (async () => {
    const tools = resolveTools(['opa']);
    if (!tools.ok) throw new Error(tools.error.message);
    const work = await mkdtemp(join(tmpdir(), 'kubiya-shipped-bundle-'));
    try {
      return await readBundle(
        (await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(work, 'b.tar.gz'))).file,
      );
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  })();
  return built;
}
