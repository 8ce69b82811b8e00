import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, normalize } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Started {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly log: string;
  /** Its start ticks (startTicksOf), read right after the spawn; '' when it was already gone. */
  readonly startTicks: string;
}

/**
 * util-linux `setpriv`, to give an attached child a parent-death signal (prctl PR_SET_PDEATHSIG):
 * it then dies with this process even when this process dies of SIGKILL, which no handler sees.
 * Debian's util-linux (essential; .ci/run installs it when missing) ships it as /usr/bin/setpriv.
 */
const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((f) => existsSync(f));

/**
 * Starts a tool with stdout/stderr in a log file. Detached children get their own process group so
 * `dev cluster down` can stop them from another process. Attached ones are stopped by their callers
 * (exit and signal handlers: src/adapters/exit-cleanup.ts); with `diesWithParent` they are also started through
 * `setpriv --pdeathsig KILL` (which then execs the tool under the same PID, so its command line is
 * the tool's) and get SIGKILL when this process ends in any way, SIGKILL included. Without setpriv
 * on the machine only the handlers remain.
 */
export function startProcess(
  name: string,
  bin: string,
  args: readonly string[],
  log: string,
  detached: boolean,
  env?: NodeJS.ProcessEnv,
  diesWithParent = false,
): Started {
  const fd = openSync(log, 'a');
  const [file, argv] = detached || !diesWithParent ? [bin, args] : dyingWithParent(bin, args);
  const child = spawn(file, argv, { stdio: ['ignore', fd, fd], detached, ...(env !== undefined ? { env } : {}) });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  if (detached) child.unref();
  return { name, pid: child.pid, child, log, startTicks: startTicksOf(child.pid) ?? '' };
}

/**
 * The command line that runs `bin args` with a parent-death signal: `[setpriv, ['--pdeathsig',
 * 'KILL', '--', bin, ...args]]` (setpriv then execs `bin` under the same PID), so the child gets
 * SIGKILL when the process that spawned it ends in any way, SIGKILL included. `[bin, args]` when
 * the machine has no setpriv. Spawn it from the main thread: the signal follows the spawning thread.
 */
export function dyingWithParent(bin: string, args: readonly string[]): [string, readonly string[]] {
  return SETPRIV === undefined ? [bin, args] : [SETPRIV, ['--pdeathsig', 'KILL', '--', bin, ...args]];
}

/** Polls `probe` until it returns true, the process exits, or the timeout passes. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  proc?: Started,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let exited: number | null = null;
  proc?.child.once('exit', (code) => (exited = code ?? -1));
  while (performance.now() < deadline) {
    if (exited !== null)
      throw new Error(
        `${what}: process exited with code ${String(exited)}; last lines of its log:\n${tail(proc?.log)}`,
      );
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms; last lines of its log:\n${tail(proc?.log)}`);
}

function tail(log: string | undefined, lines = 15): string {
  if (log === undefined) return '(no log)';
  try {
    return readFileSync(log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(log unreadable)';
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The command line (argv) of a running process, from /proc/<pid>/cmdline (proc(5)); undefined when
 * no such process runs (or it is a zombie, whose command line is empty).
 */
function commandLine(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8');
    return raw === '' ? undefined : raw.split('\0').filter((a) => a !== '');
  } catch {
    return undefined;
  }
}

/**
 * The fields of /proc/<pid>/stat after the command name (proc(5)): index 0 is field 3 (state),
 * index 2 field 5 (process group), index 19 field 22 (start time). The command name is in
 * parentheses and may itself hold ") ", so the split is after the LAST ")". Undefined when no such
 * process runs.
 */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * When `pid` started, in clock ticks since boot (/proc/<pid>/stat field 22, proc(5)), or undefined
 * when it does not run: gone, or dead and not yet reaped by its parent (a zombie, state Z or X: a
 * killed owner's PID stays in /proc until then, and counts as gone). With the PID it names one
 * process for the whole uptime: a recycled PID has other start ticks.
 */
export function startTicksOf(pid: number): string | undefined {
  const fields = statFields(pid);
  return fields === undefined || fields[0] === 'Z' || fields[0] === 'X' ? undefined : fields[19];
}

/** The process group of `pid` (/proc/<pid>/stat field 5), or undefined when it does not run. */
export function processGroupOf(pid: number): number | undefined {
  const group = statFields(pid)?.[2];
  return group === undefined ? undefined : Number(group);
}

/**
 * A mark as compared: absolute and normalised, without a trailing slash; undefined (never matches)
 * for an empty, relative or root mark — a relative one names another path from every other working
 * directory, and "/" is a prefix of every path.
 */
function markPath(mark: string): string | undefined {
  if (mark === '' || !isAbsolute(mark)) return undefined;
  const m = normalize(mark).replace(/\/+$/, '');
  return m === '' ? undefined : m;
}

/**
 * Whether one argument names `mark` (an absolute, normalised path) on a path boundary: the argument
 * is the mark or a path under it (`mark/…`), or its part after the first `=` is (`--flag=mark/…`,
 * `name=mark`). A mere prefix (`/tmp/c` in `/tmp/c2`) or substring does not name it.
 */
export function argNames(arg: string, mark: string): boolean {
  const eq = arg.indexOf('=');
  const values = eq < 0 ? [arg] : [arg, arg.slice(eq + 1)];
  return values.some((v) => v === mark || v.startsWith(`${mark}/`));
}

/**
 * Whether `pid` runs a process of ours: one of its arguments names one of `marks` on a path
 * boundary (argNames; absolute paths only our processes are given, e.g. a cluster's or a node's
 * directory or kubeconfig; empty, relative and root marks are ignored), and, when `startTicks` is
 * given (recorded at start, startTicksOf), the process still has those start ticks. A PID outlives
 * its process — after kill -9, a crash or a stopped session the kernel may hand it to an unrelated
 * process — and such a PID does not match, so it is never signalled.
 */
export function runsAs(pid: number, marks: readonly string[], startTicks?: string): boolean {
  const names = marks.map(markPath).filter((m) => m !== undefined);
  if (names.length === 0) return false;
  if (startTicks !== undefined && startTicksOf(pid) !== startTicks) return false;
  const argv = commandLine(pid);
  return argv !== undefined && argv.some((a) => names.some((m) => argNames(a, m)));
}

/**
 * Whether `pid` may be signalled at all: an integer above 1 that is neither this process nor its
 * parent. kill(2) with 0, -1 or a negated PID means a process group or every process; PID 1 is init.
 */
export function signallable(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 1 && pid !== process.pid && pid !== process.ppid;
}

/**
 * SIGTERM, then SIGKILL after graceMs; resolves true when the process is gone, false when it still
 * runs killWaitMs after SIGKILL (a process in D state, a zombie nobody reaps). With `group`, the
 * signals go to its process group, but only when `pid` leads one (its group id is its PID); otherwise
 * to `pid` alone. Throws (signals nothing) for a PID that is not signallable.
 */
export async function stopPid(pid: number, graceMs = 5000, group = false, killWaitMs = 5000): Promise<boolean> {
  if (!signallable(pid)) throw new RangeError(`refusing to signal PID ${String(pid)}`);
  const target = group && processGroupOf(pid) === pid ? -pid : pid;
  try {
    process.kill(target, 'SIGTERM');
  } catch {
    return !alive(pid);
  }
  if (await gone(pid, graceMs)) return true;
  try {
    process.kill(target, 'SIGKILL');
  } catch {
    // already gone
  }
  return gone(pid, killWaitMs);
}

/** Waits up to `ms` for `pid` to be gone; true when it is. */
async function gone(pid: number, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (alive(pid) && performance.now() < deadline) await sleep(20);
  return !alive(pid);
}

/**
 * The command lines (argv) of every running process this one may read, from a scan of /proc
 * (zombies and unreadable ones skipped).
 */
export function runningCommandLines(): string[][] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((e) => /^\d+$/.test(e))
    .map((e) => commandLine(Number(e)))
    .filter((argv) => argv !== undefined);
}
