import { execFile, type ExecFileOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { promisify } from 'node:util';

// What this process must undo however it ends: the attached processes it started (a test file's or
// the demo's control plane) and the temp directories they write. Node runs no 'exit' handler when the
// process dies of a signal it does not handle (SIGTERM from a cancelled test run or CI job, SIGINT,
// SIGHUP from a closed terminal), so those signals are handled here too; SIGKILL is covered by the
// children's parent-death signal (processes.ts startProcess), and what it leaves on disk by
// left-dirs.ts.

/** Signals whose default action ends the process and which a handler can see. */
const ENDING_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

const cleanups = new Set<() => void>();

function runAll(): void {
  const all = [...cleanups];
  cleanups.clear();
  uninstall();
  for (const c of all) {
    try {
      c();
    } catch {
      // best effort: the others still run
    }
  }
}

/**
 * A signal nobody else handles: run the cleanups, then end the process by the same signal (its
 * default action, so the exit status says which signal it was). When another listener handles the
 * signal, that listener owns the shutdown (and its exit then runs the cleanups).
 */
function onSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return;
  runAll();
  process.kill(process.pid, signal);
}

function install(): void {
  process.once('exit', runAll);
  for (const s of ENDING_SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  process.removeListener('exit', runAll);
  for (const s of ENDING_SIGNALS) process.removeListener(s, onSignal);
}

/**
 * Runs `cleanup` (synchronous: kill children, remove directories) when this process ends without
 * having unregistered it: on exit, or on SIGTERM, SIGINT or SIGHUP when no other listener handles
 * that signal (the signal is then re-raised, so the process still ends by it). Returns the
 * unregister function, for a normal stop.
 */
export function whenThisProcessEnds(cleanup: () => void): () => void {
  if (cleanups.size === 0) install();
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0) uninstall();
  };
}

/**
 * `execFile` as a promise (util.promisify's: resolves `{ stdout, stderr }` as UTF-8; rejects with
 * the error carrying `code`, `stdout` and `stderr`), whose child is killed (SIGKILL) if this
 * process ends before the child does: a command stopped by SIGTERM or Ctrl-C while `opa` or `helm`
 * runs leaves neither behind (the bin's handlers turn those signals into an exit, which runs this).
 */
export async function execFileOwned(
  file: string,
  args: readonly string[],
  options: ExecFileOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const running = promisify(execFile)(file, args, { ...options, encoding: 'utf8' });
  const forget = whenThisProcessEnds(() => void running.child.kill('SIGKILL'));
  try {
    return await running;
  } finally {
    forget();
  }
}

/**
 * A temporary directory made by mkdtemp(`<tmpdir>/<prefix>XXXXXX`, mode 0700), given to `use`, and
 * removed after it whatever `use` does — also when this process ends first (an exit, SIGTERM,
 * SIGINT, SIGHUP: a private copy of policy sources or values is not left in /tmp). Throws what
 * `use` throws, and what mkdtemp throws.
 *
 * The directory is made synchronously and its removal registered in the same turn, so no signal
 * falls between the two (red team 18, finding 4: an asynchronous mkdtemp left a window in which a
 * stopped command left a values copy holding the runner token). Directories inside it must be made
 * with mkdirWithin, never a recursive mkdir: a recursive mkdir still queued when the process ends
 * would make the removed directory again. The removal at exit retries (up to 10 times, 20 ms more
 * each time) while writes already handed to the thread pool land in the tree being removed (no
 * new one can start: the main thread is in the removal); seen leaving a half-removed policy copy.
 */
export async function withTempDir<T>(prefix: string, use: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const forget = whenThisProcessEnds(() =>
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 }),
  );
  try {
    return await use(dir);
  } finally {
    // Removed, then unregistered: a stop signal during the removal still removes it (the other
    // order left a window in which a stopped command left a values copy behind).
    await rm(dir, { recursive: true, force: true });
    forget();
  }
}

/**
 * `text` (a tool's output about private copies) with each copy's path replaced by the path it was
 * copied from, so messages name the user's files: `copies` as `{ copy, source }` pairs, replaced in
 * order, every occurrence. Used for the policy-directory copy (policy-snapshot.ts) and the values
 * copies (chart-settings.ts).
 */
export function namingSources(
  text: string,
  copies: readonly { readonly copy: string; readonly source: string }[],
): string {
  return copies.reduce((t, c) => t.split(c.copy).join(c.source), text);
}

/**
 * Makes `dir` and the directories between `root` and it, one level at a time, each with `mode`
 * (an existing one is kept): like `mkdir -p` below `root`, but never `root` itself or anything
 * above it, so a call still in flight when `root` is removed (withTempDir's cleanup at a stop
 * signal) fails with ENOENT instead of making the removed directory again. Throws for a `dir` not
 * below `root`, and what mkdir throws but EEXIST.
 */
export async function mkdirWithin(root: string, dir: string, mode = 0o700): Promise<void> {
  const rel = relative(root, dir);
  if (rel === '') return;
  if (rel.startsWith('..') || rel.startsWith(sep)) throw new Error(`${dir} is not below ${root}`);
  let at = root;
  for (const part of rel.split(sep)) {
    at = join(at, part);
    await mkdir(at, { mode }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}
