// @ts-check
/**
 * V8's compile cache for a start from a checkout (issue #20, start → ready): the entry point turns
 * it on before it imports the CLI, so a second start reads the compiled code and the stripped
 * TypeScript of ~1,700 modules instead of making them again (about a third of start-up's CPU).
 *
 * - When the environment decides (`NODE_COMPILE_CACHE`: the image's baked cache, or the chart's
 *   `compileCache: true` emptyDir; `NODE_DISABLE_COMPILE_CACHE`), Node has already acted on it
 *   and nothing here changes it.
 * - Otherwise the cache lives in `<os.tmpdir()>/kubiya-runner-compile-cache-<uid>`, created 0700.
 *   Node runs the code it finds there, so the directory is used only when it is a real directory
 *   (not a symlink), owned by this uid and writable by no one else, and when no directory above it
 *   lets another user rename it away (each owned by root or this uid; group/other-writable only
 *   with the sticky bit): on a shared machine another user could otherwise plant compiled code in
 *   it, or swap it for a symlink to theirs between our check and Node's use.
 * - Any failure (not creatable, someone else's, a failed enable) leaves the cache off: the start
 *   goes on, compiling as without a cache, and `serve` logs COMPILE_CACHE_OFF with the reason.
 *   A damaged entry is Node's to refuse (each entry carries checksums of its source and of
 *   itself): that module is compiled again.
 *
 * Plain JavaScript, importing only Node's own modules: it runs before anything else is loaded, so
 * that no TypeScript module is stripped before the cache is on (the first one loads Node's type
 * stripper, ~50 ms of CPU, which a cached module never needs: h-start-3).
 */
import { lstatSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import module from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * What the entry point did about the compile cache; `serve` logs `off` as COMPILE_CACHE_OFF.
 * @typedef {{ readonly state: 'env'; readonly directory: string | undefined }
 *   | { readonly state: 'on'; readonly directory: string }
 *   | { readonly state: 'off'; readonly directory: string; readonly reason: string }} CompileCacheOutcome
 */

/**
 * The cache directory of a start from a checkout: `<tmpdir>/kubiya-runner-compile-cache-<uid>`.
 * @param {number} uid
 * @param {string} [tmp]
 * @returns {string}
 */
export function defaultCompileCacheDir(uid, tmp = tmpdir()) {
  return join(tmp, `kubiya-runner-compile-cache-${uid}`);
}

/**
 * Why another user could swap `dir` for a directory of their own after our check (red team 7,
 * finding 3), or undefined when no one can: every directory from `dir`'s parent up to `/` (the
 * parent's real path) must be owned by root or `uid` and, when group or others may write it, carry
 * the sticky bit (then they cannot rename or remove our entry; POSIX `S_ISVTX`, as `/tmp` has it).
 * A parent that cannot be resolved is left to `mkdir` to report.
 * @param {string} dir
 * @param {number} uid
 * @returns {string | undefined}
 */
function unsafeAncestor(dir, uid) {
  let at;
  try {
    at = realpathSync(dirname(dir));
  } catch {
    return undefined;
  }
  for (;;) {
    const st = statSync(at);
    if (st.uid !== 0 && st.uid !== uid) return `its parent ${at} belongs to uid ${st.uid}`;
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0)
      return `its parent ${at} is writable by group or others without the sticky bit (mode ${(st.mode & 0o777).toString(8)})`;
    const up = dirname(at);
    if (up === at) return undefined;
    at = up;
  }
}

/**
 * Why `dir` must not hold code this process runs, or undefined when it may.
 * @param {string} dir
 * @param {number} uid
 * @returns {string | undefined}
 */
function unsafeBecause(dir, uid) {
  const ancestor = unsafeAncestor(dir, uid);
  if (ancestor !== undefined) return ancestor;
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if (/** @type {NodeJS.ErrnoException} */ (e).code !== 'EEXIST')
      return `cannot create it: ${/** @type {Error} */ (e).message}`;
  }
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    return `cannot stat it: ${/** @type {Error} */ (e).message}`;
  }
  if (!st.isDirectory()) return 'it is not a directory (a symlink or a file)';
  if (st.uid !== uid) return `it belongs to uid ${st.uid}, not ${uid}`;
  if ((st.mode & 0o022) !== 0) return `it is writable by group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return undefined;
}

/**
 * Turns V8's compile cache on for this process (see the module's header), unless the environment
 * already decided. Never throws: a cache that cannot be used is `off`, with the reason.
 * @param {Readonly<Record<string, string | undefined>>} env
 * @param {string} [dir]
 * @returns {CompileCacheOutcome}
 */
export function enableCompileCache(env, dir = defaultCompileCacheDir(process.getuid?.() ?? 0)) {
  if (env.NODE_COMPILE_CACHE !== undefined || env.NODE_DISABLE_COMPILE_CACHE !== undefined)
    return { state: 'env', directory: module.getCompileCacheDir() };
  const unsafe = unsafeBecause(dir, process.getuid?.() ?? 0);
  if (unsafe !== undefined) return { state: 'off', directory: dir, reason: unsafe };
  try {
    const r = module.enableCompileCache(dir);
    const { ENABLED, ALREADY_ENABLED } = module.constants.compileCacheStatus;
    if (r.status === ENABLED) return { state: 'on', directory: r.directory ?? dir };
    if (r.status === ALREADY_ENABLED) return { state: 'env', directory: r.directory };
    return { state: 'off', directory: dir, reason: r.message ?? `Node refused it (status ${r.status})` };
  } catch (e) {
    return { state: 'off', directory: dir, reason: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Writes what this process compiled into the cache `afterMs` from now (unref'd: it never keeps the
 * process alive), so a runner that is later killed (SIGKILL, OOM) still leaves a warm cache; an
 * orderly exit writes it anyway. Only for a cache of our own (`on`): the image's is read-only.
 * `also` runs at the same moment (the entry point's resolution cache). Called once `serve` has
 * started, off the path to the first /ready.
 * @param {CompileCacheOutcome} outcome
 * @param {number} [afterMs]
 * @param {() => void} [also]
 * @returns {void}
 */
export function flushCompileCacheSoon(outcome, afterMs = 2000, also = () => undefined) {
  if (outcome.state !== 'on') return;
  setTimeout(() => {
    try {
      module.flushCompileCache();
    } catch {
      // a cache that cannot be written only means the next start compiles again
    }
    also();
  }, afterMs).unref();
}
