import { posix } from 'node:path';

/**
 * What the runner itself puts into every step pod, which a workflow must not collide with: the
 * name of the step's own container, and the runner's own mounts.
 */

/** The name of the step's own container in its pod; no sidecar or init container may take it. */
export const MAIN_CONTAINER = 'step';

/**
 * The paths the runner mounts into every step pod itself: the `/workspace` emptyDir (pod/build.ts)
 * and, under a read-only root filesystem, the `/tmp` emptyDir (mutate/restricted.ts). A step's own
 * mount at, under or over one of them would shadow it or be shadowed, so validation refuses it
 * whatever the runner's configuration (a workflow is valid or not on every runner alike).
 */
export const RESERVED_MOUNTS: readonly string[] = Object.freeze(['/workspace', '/tmp']);

/**
 * An absolute mount path in the one spelling we compare: `//data`, `/data/`, `/data/.` and `/data`
 * are all `/data`. Paths with a `..` segment are refused by validation before they get here; this
 * function does not resolve them (posix.normalize would, and `/a/../b` is not `/b` to a mount).
 */
export function normaliseMountPath(path: string): string {
  const normal = posix.normalize(path);
  // posix.normalize keeps a leading "//" (POSIX leaves it implementation-defined); mounts do not.
  const single = normal.replace(/^\/+/, '/');
  return single.length > 1 ? single.replace(/\/+$/, '') : single;
}

/** True when two mount paths are the same directory after normalisation. */
export function samePath(a: string, b: string): boolean {
  return normaliseMountPath(a) === normaliseMountPath(b);
}

/** True when two mount paths are the same, or one is inside the other (`/` is over everything). */
export function mountConflicts(a: string, b: string): boolean {
  const [x, y] = [normaliseMountPath(a), normaliseMountPath(b)];
  const under = (inner: string, outer: string) => outer === '/' || inner.startsWith(`${outer}/`);
  return x === y || under(x, y) || under(y, x);
}
