// The real node's lock, which is also its record: one file in /run (a tmpfs the kernel clears at
// reboot, when the host state the record describes resets too), outside every directory a caller
// removes (`demo`'s work dir, `dev cluster up`'s --dir). Red-team round 5, findings 3, 4, 8, 9.
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { AppliedChanges, HostState } from './host-state.ts';
import { startTicksOf } from '../processes.ts';
import { nodeLeft, type Owner } from './owned.ts';

/** The lock and record (one real node per machine: fixed link, bridge and port names). */
export const LOCK_FILE = '/run/kubiya-real-node.lock';

/**
 * What the lock holds, complete from the moment the lock exists (published with link(2)) and
 * replaced whole (rename(2)) on every change, so a reader never sees half of it.
 */
export interface NodeRecord {
  /** The node's directory, absolute (a relative one would name another directory from another cwd). */
  readonly dir: string;
  readonly kubeconfig: string;
  /** The processes the node started (each names `dir` or `kubeconfig` on its command line). */
  readonly pids: readonly { readonly name: string; readonly pid: number }[];
  /**
   * The live process that holds the node: its starter while it starts (also for a node meant to
   * outlive it), its owner while it runs (a test run), whoever stops or clears it while it does.
   * Absent for a node up and meant to outlive its starter (`dev cluster up --real-node`).
   */
  readonly owner?: Owner;
  /** The host before the node changed anything; absent only while nothing was changed yet. */
  readonly before?: HostState;
  /** What the node itself changed, as of its last recorded step (host-state.ts AppliedChanges). */
  readonly applied?: AppliedChanges;
  /** What still differed after a restore: set, every start refuses until an operator acts. */
  readonly differs?: readonly string[];
  /** Names this holder's copy: released or replaced only by whoever wrote it. */
  readonly token: string;
}

/** What a start does with what the lock holds. */
export type LockVerdict =
  | { readonly kind: 'free' }
  | { readonly kind: 'live'; readonly record: NodeRecord }
  | { readonly kind: 'left'; readonly record: NodeRecord; readonly text: string }
  | { readonly kind: 'refuse'; readonly reason: string };

/** A new holder's token (random, 24 hex characters). */
export function newToken(): string {
  return randomBytes(12).toString('hex');
}

/** This process as an owner (PID and start ticks). */
export function thisOwner(): Owner {
  return { pid: process.pid, startTicks: startTicksOf(process.pid) ?? '' };
}

const howToClear = (path: string): string =>
  `look at the node it names (mounts, links, firewall rules, sysctls, its processes), restore the host by hand ` +
  `or with the code that started it, then remove ${path} (docs/real-node.md, "A node left by a run that ended without down")`;

/** The record in `text`, or why it is not one (truncated, hand-written, relative dir). */
export function parseRecord(text: string): NodeRecord | string {
  let r: unknown;
  try {
    r = JSON.parse(text);
  } catch {
    return 'it is not a node record (unparseable)';
  }
  if (typeof r !== 'object' || r === null) return 'it is not a node record';
  const { dir, kubeconfig, pids, token } = r as Partial<Record<keyof NodeRecord, unknown>>;
  if (typeof dir !== 'string' || typeof kubeconfig !== 'string' || typeof token !== 'string' || !Array.isArray(pids))
    return 'it is not a node record (dir, kubeconfig, pids or token missing)';
  if (!isAbsolute(dir)) return `it names a relative directory (${dir})`;
  return r as NodeRecord;
}

/**
 * The record of a lock written by the code before this module (the node's directory on one line,
 * its record in that directory), or why it cannot be read. A lock whose record is gone is never
 * stale: it is refused (the host changes it stands for may still be there).
 */
export async function legacyRecord(text: string): Promise<NodeRecord | string> {
  const dir = text.trim();
  if (!isAbsolute(dir) || dir.includes('\n')) return 'it is not a node record';
  const before = await readFile(join(dir, 'host-before.json'), 'utf8').catch(() => undefined);
  if (before === undefined) return `its record (${join(dir, 'host-before.json')}) is gone`;
  const state = await readFile(join(dir, 'node-state.json'), 'utf8')
    .then((t) => JSON.parse(t) as Partial<NodeRecord>)
    .catch(() => undefined);
  if (state === undefined) return `its record (${join(dir, 'node-state.json')}) is gone or unreadable`;
  return {
    dir,
    kubeconfig: state.kubeconfig ?? '',
    pids: state.pids ?? [],
    ...(state.owner !== undefined ? { owner: state.owner } : {}),
    before: JSON.parse(before) as HostState,
    token: 'legacy',
  };
}

/**
 * Judges the lock's content: free (no lock), a live node (its recorded owner runs, or, without an
 * owner, one of its processes runs as its own: owned.ts nodeLeft), a node left by a run that ended
 * without `down` (to take over and clear), or refuse — a content that is no record, a relative
 * directory, or a record of a restore that left the host different — until an operator acts.
 */
export async function judgeLock(text: string | undefined, path = LOCK_FILE): Promise<LockVerdict> {
  if (text === undefined) return { kind: 'free' };
  const record = text.trimStart().startsWith('{') ? parseRecord(text) : await legacyRecord(text);
  if (typeof record === 'string')
    return { kind: 'refuse', reason: `${path} (${text.trim().slice(0, 300)}): ${record}; ${howToClear(path)}` };
  if (record.differs !== undefined && record.differs.length > 0)
    return {
      kind: 'refuse',
      reason: `the real node of ${record.dir} was torn down, but the host still differs from its record:\n  ${record.differs.join('\n  ')}\n${howToClear(path)}`,
    };
  return nodeLeft(record) ? { kind: 'left', record, text } : { kind: 'live', record };
}

/** The lock's content, or undefined when there is none. */
export async function readLock(path = LOCK_FILE): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** Writes `record` to a private temporary file beside `path` (flushed): its name. */
async function written(path: string, record: NodeRecord): Promise<string> {
  const tmp = `${path}.${newToken()}`;
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(JSON.stringify(record));
    await fh.datasync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/** Publishes `record` as the lock, complete, with link(2): false when a lock exists. */
export async function publishLock(record: NodeRecord, path = LOCK_FILE): Promise<boolean> {
  const tmp = await written(path, record);
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Replaces the holder's record whole (temporary file, then rename(2)), only while the lock still
 * holds the holder's token (`record.token`); false (nothing written) when it does not.
 */
export async function replaceLock(record: NodeRecord, path = LOCK_FILE): Promise<boolean> {
  if (!(await holds(path, record.token))) return false;
  await rename(await written(path, record), path);
  return true;
}

async function holds(path: string, token: string): Promise<boolean> {
  const text = await readLock(path);
  if (text === undefined) return false;
  const r = text.trimStart().startsWith('{') ? parseRecord(text) : undefined;
  return typeof r === 'object' && r.token === token;
}

/**
 * Takes the lock of a node judged left (`judged` is the content judged) for `record` (the new
 * holder: the left node's record with this process as its owner): the judged file is renamed aside
 * and checked to be the one judged (else put back), then the new record is linked in. False when
 * another contender was first (the caller judges again).
 */
export async function takeOverLock(judged: string, record: NodeRecord, path = LOCK_FILE): Promise<boolean> {
  const aside = `${path}.stale.${newToken()}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const moved = await readFile(aside, 'utf8').catch(() => undefined);
  if (moved !== judged) {
    await link(aside, path).catch(() => undefined); // not the one judged: put it back
    await unlink(aside).catch(() => undefined);
    return false;
  }
  if (await publishLock(record, path)) {
    await unlink(aside).catch(() => undefined);
    return true;
  }
  // A start published its lock in the instant the path was empty: the left node's record stays
  // beside it (never deleted), and this start refuses with where it is.
  throw new Error(
    `a real node left by an ended run (${record.dir}) was being cleared when another start took the lock; its record is kept in ${aside}: ${howToClear(path)}`,
  );
}

/** Removes the lock only while it holds `token` (renamed aside and checked first): false when it is another's. */
export async function releaseLock(token: string, path = LOCK_FILE): Promise<boolean> {
  const aside = `${path}.release.${newToken()}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  const text = await readFile(aside, 'utf8').catch(() => '');
  const r = text.trimStart().startsWith('{') ? parseRecord(text) : undefined;
  const mine = typeof r === 'object' && r.token === token;
  if (!mine) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
  return mine;
}
