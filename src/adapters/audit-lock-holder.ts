import { readFile, readlink } from 'node:fs/promises';
import { hostname } from 'node:os';

/**
 * Who holds an audit directory's lock (src/adapters/audit-file-lock.ts): the identity written into
 * the lock file, how it is read back, and whether its process is still the one that took the lock.
 */
export interface LockHolder {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot): with the PID, names one process. */
  readonly start: string;
  readonly boot: string;
  readonly pidns: string;
  readonly host: string;
  readonly token: string;
  readonly since: string;
  /**
   * Heartbeat: `<counter, 12 digits>@<ISO time>`, rewritten in place every refreshMs (fixed
   * width). Absent in locks written by older versions.
   */
  readonly beat?: string;
}

const readOr = async (read: () => Promise<string>, fallback: string): Promise<string> =>
  read().then(
    (s) => s.trim(),
    () => fallback,
  );

/** Start time of a process (field 22 of /proc/<pid>/stat), or undefined when there is no such process. */
async function startTimeOf(pid: number): Promise<string | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: count after the last ')'.
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** This process as a lock holder, with a fresh `token`. */
export async function me(token: string): Promise<LockHolder> {
  return {
    pid: process.pid,
    start: (await startTimeOf(process.pid)) ?? '',
    boot: await readOr(() => readFile('/proc/sys/kernel/random/boot_id', 'utf8'), ''),
    pidns: await readOr(() => readlink('/proc/self/ns/pid'), ''),
    host: hostname(),
    token,
    since: new Date().toISOString(),
  };
}

/** True when the holder's PID can be checked from here (same boot, same PID namespace). */
export const sameNamespace = (a: LockHolder, b: LockHolder): boolean =>
  a.boot !== '' && a.boot === b.boot && a.pidns !== '' && a.pidns === b.pidns;

/** Is the holder (in this PID namespace) still the process that took the lock? */
export async function alive(holder: LockHolder): Promise<boolean> {
  const start = await startTimeOf(holder.pid);
  if (start !== undefined) return start === holder.start;
  try {
    process.kill(holder.pid, 0); // no /proc: existence only
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The holder a lock file names, or undefined when it is not one (not JSON, a field missing or mistyped). */
export function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    if (
      typeof h.pid !== 'number' ||
      typeof h.token !== 'string' ||
      typeof h.start !== 'string' ||
      typeof h.boot !== 'string' ||
      typeof h.pidns !== 'string'
    )
      return undefined;
    return h as LockHolder;
  } catch {
    return undefined;
  }
}

/** The lock file's content for beat `n` (fixed width: rewriting it in place never changes its length). */
export const render = (h: LockHolder, n: number): Buffer =>
  Buffer.from(
    JSON.stringify({ ...h, beat: `${String(n % 1e12).padStart(12, '0')}@${new Date().toISOString()}` }) + '\n',
  );

/** The holder as an error message names it. */
export const describe = (h: LockHolder | undefined): string =>
  h === undefined ? 'an unreadable lock file' : `PID ${h.pid} on ${h.host} since ${h.since}`;
