import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail, ok, type Result } from '../errors/result.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type ToolName =
  | 'kube-apiserver'
  | 'kube-scheduler'
  | 'kube-controller-manager'
  | 'etcd'
  | 'kwok'
  | 'opa'
  | 'helm'
  | 'regal'
  /** Not built by `npm run tools`: `npm run test:chart` builds it (tools/build.sh promtool). */
  | 'promtool'
  | RealNodeToolName;

/** The real node's tools, built only by `tools/build.sh --real-node` (see docs/real-node.md). */
export type RealNodeToolName =
  'kubelet' | 'kube-proxy' | 'containerd' | 'containerd-shim-runc-v2' | 'ctr' | 'kube-router' | 'coredns';

/**
 * The tools of the local stack: a cluster (etcd, the control-plane components, kwok, helm for the
 * CRD) and the policy build (opa). The demo, the cluster tests and the start-ready bench need them all.
 */
export const LOCAL_STACK_TOOLS = [
  'etcd',
  'kube-apiserver',
  'kube-scheduler',
  'kube-controller-manager',
  'kwok',
  'opa',
  'helm',
] as const satisfies readonly ToolName[];

/** Where `npm run tools` links the pinned binaries; KUBIYA_TOOLS_BIN overrides (read by the entry point only). */
export function toolsDir(override?: string): string {
  return override ?? join(REPO_ROOT, '.tools', 'bin');
}

/** Resolves pinned tools, or says which are missing and how to build them. */
export function resolveTools<T extends ToolName>(names: readonly T[], dir = toolsDir()): Result<Record<T, string>> {
  const found = {} as Record<T, string>;
  const missing: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      accessSync(path, constants.X_OK);
      found[name] = path;
    } catch {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    return fail(
      'TOOLS_MISSING',
      `missing tools in ${dir}: ${missing.join(', ')}. Build them with "npm run tools" (Go 1.26+, module proxy; takes several minutes once, then seconds).`,
    );
  }
  return ok(found);
}
