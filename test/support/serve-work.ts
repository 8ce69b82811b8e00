import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBundle } from '../../src/adapters/bundle-build.ts';
import { REPO_ROOT, resolveTools } from '../../src/adapters/tools.ts';
import { apiStandIn, type ApiStandIn } from './api-stand-in.ts';

/** A JWKS of one Ed25519 public key (kid `k`) that signs nothing: a serve that only starts needs one. */
const JWKS = { keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo', kid: 'k' }] };

/**
 * A directory a real `kubiya-runner serve` starts from (startServe): `kubeconfig` of the loopback
 * API stand-in, `jwks.json` (JWKS above) and `bundle.tar.gz` built from policies/ with the pinned opa.
 */
export interface ServeWork {
  readonly dir: string;
  readonly api: ApiStandIn;
  /** The serve config of `dir` (audit log in `dir/audit`, port 0 on 127.0.0.1), `sections` merged over each section. */
  config(sections?: Record<string, Record<string, unknown>>): Record<string, Record<string, unknown>>;
  /** Stops the stand-in and removes `dir`. */
  close(): Promise<void>;
}

/**
 * The files of a ServeWork written into `dir` (existing): `kubeconfig` (the text given), `jwks.json`,
 * and `bundle.tar.gz` copied from `bundleFile` when one is given.
 */
export async function writeServeFiles(dir: string, kubeconfig: string, bundleFile?: string): Promise<void> {
  await writeFile(join(dir, 'kubeconfig'), kubeconfig);
  await writeFile(join(dir, 'jwks.json'), JSON.stringify(JWKS));
  if (bundleFile !== undefined) await copyFile(bundleFile, join(dir, 'bundle.tar.gz'));
}

/** The serve config of a directory holding the ServeWork files, `sections` merged over each section. */
export function serveConfigOf(
  dir: string,
  sections: Record<string, Record<string, unknown>> = {},
): Record<string, Record<string, unknown>> {
  const base: Record<string, Record<string, unknown>> = {
    runner: { name: 'r' },
    controlPlane: { issuer: 'x', jwksFile: join(dir, 'jwks.json') },
    policy: { bundle: join(dir, 'bundle.tar.gz') },
    audit: { dir: join(dir, 'audit') },
    kubernetes: { kubeconfig: join(dir, 'kubeconfig') },
    server: { port: 0, host: '127.0.0.1' },
  };
  for (const [name, over] of Object.entries(sections)) base[name] = { ...base[name], ...over };
  return base;
}

/** A new ServeWork under the system temp directory (`prefix` names it); throws when opa is not built. */
export async function serveWork(prefix: string): Promise<ServeWork> {
  const tools = resolveTools(['opa']);
  if (!tools.ok) throw new Error(tools.error.message);
  const api = await apiStandIn();
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await writeServeFiles(dir, api.kubeconfig);
  await buildBundle(tools.value.opa, join(REPO_ROOT, 'policies'), join(dir, 'bundle.tar.gz'));
  return {
    dir,
    api,
    config: (sections) => serveConfigOf(dir, sections),
    close: async () => {
      api.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
