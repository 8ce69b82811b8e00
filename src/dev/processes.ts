import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Started {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  readonly log: string;
}

/** A free loopback TCP port (bind to 0, read, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts a tool with stdout/stderr in a log file. Detached children get their own process group so
 * `dev cluster down` can stop them from another process; attached ones die with the test run.
 */
export function startProcess(
  name: string,
  bin: string,
  args: readonly string[],
  log: string,
  detached: boolean,
  env?: NodeJS.ProcessEnv,
): Started {
  const fd = openSync(log, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached, ...(env !== undefined ? { env } : {}) });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  if (detached) child.unref();
  return { name, pid: child.pid, child, log };
}

/** Polls `probe` until it returns true, the process exits, or the timeout passes. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  proc?: Started,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null = null;
  proc?.child.once('exit', (code) => (exited = code ?? -1));
  while (Date.now() < deadline) {
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
 * Whether `pid` runs a process of ours: one of its arguments names one of `marks` (a directory or
 * file only our processes are given, e.g. a cluster's or a node's directory). A PID outlives its
 * process — after kill -9, a crash or a stopped session the kernel may hand it to an unrelated
 * process — and such a PID does not match, so it is never signalled. Empty marks are ignored.
 */
export function runsAs(pid: number, marks: readonly string[]): boolean {
  const names = marks.filter((m) => m !== '');
  const argv = commandLine(pid);
  return argv !== undefined && names.length > 0 && argv.some((a) => names.some((m) => a.includes(m)));
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopPid(pid: number, graceMs = 5000, group = false): Promise<void> {
  const target = group ? -pid : pid;
  try {
    process.kill(target, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(50);
  if (alive(pid)) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      // already gone
    }
    while (alive(pid)) await sleep(20);
  }
}
