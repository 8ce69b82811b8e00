import { randomBytes } from 'node:crypto';
import { link, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, describe, me, parseHolder, render, sameNamespace, type LockHolder } from './audit-lock-holder.ts';
import { readAuditText } from './audit-open.ts';

/**
 * One writer per audit chain: an exclusive lock on an audit directory.
 *
 * Why not a library or flock(2): Node has no flock/fcntl binding, and no lock library is among
 * our dependencies (proper-lockfile would be the one to take; it judges staleness by mtime
 * alone). This lock is a file created atomically with link(2) (EEXIST when held), holding who
 * holds it: PID, the process's start time (so a reused PID is not mistaken for the holder), the
 * kernel boot id and PID namespace (so a PID is only ever checked where it means something), the
 * host name and a random token. A lock is taken over only when its holder is provably gone:
 *  - holder in this PID namespace on this boot: taken over only if that PID is dead, or is now
 *    another process (start time differs). A live holder is refused at once.
 *  - holder elsewhere (another container or host sharing the volume; a container restarted in a
 *    new PID namespace): its PID cannot be checked, so its heartbeat is: every `refreshMs` the
 *    holder rewrites the file in place with a beat counter and its time (`beat`, fixed width, so
 *    the file's content changes while its inode stays). Such a lock is stale only when its
 *    content has not changed for a window measured on the contender's own monotonic clock:
 *    `staleMs` (or two heartbeats when the mtime is also older than `staleMs`), so neither clock
 *    skew between hosts (an mtime in the future or the past) nor a paused holder is mistaken for
 *    liveness or death by mtime alone. A lock without `beat` (an older writer) is judged by mtime.
 *    A live one is waited for up to `waitMs` and then refused.
 * A takeover renames the stale file aside and checks it was the one judged stale (else puts it
 * back), so two contenders cannot both win.
 * The holder keeps a descriptor open on its lock file. Before every write to the chain (each
 * group commit, each checkpoint) the appender calls check(): stat of the path must name the file
 * of that descriptor (its dev/ino, from one fstat when the lock was taken: an open descriptor's
 * file never changes, so fstat-ing it again at every check, as before issue 20, told nothing new)
 * and the file must still hold the holder's token (one pread). A lock removed by hand, taken over
 * by a contender, or overwritten fails the check: the loss is reported and the appender refuses
 * that batch and every further append, writing nothing (fail closed). The heartbeat runs the same check. What remains is the gap between the check and
 * the write (microseconds, unless the process is paused exactly there): a lock file is advisory
 * and never to be removed by hand (docs/operations.md).
 */
export const LOCK_FILE = 'audit.lock';

export interface LockOptions {
  /** Heartbeat period (ms): the holder checks it still holds the lock and rewrites its beat. */
  readonly refreshMs?: number;
  /** A lock held from another PID namespace is stale when its content stays unchanged this long (ms). */
  readonly staleMs?: number;
  /** How long to wait for such a lock to go stale before refusing (ms). */
  readonly waitMs?: number;
  /** Called once if the lock is lost (removed or taken over) while held. */
  readonly onLost?: (() => void) | undefined;
}

/** The audit directory is locked by another live writer. */
export class AuditLocked extends Error {
  override readonly name = 'AuditLocked';
  readonly code = 'AUDIT_LOCKED' as const;
  readonly holder: LockHolder | undefined;
  constructor(message: string, holder?: LockHolder) {
    super(message);
    this.holder = holder;
  }
}

/** An exclusive lock on an audit directory, held until release() (or the process ends). */
export class AuditDirLock {
  private readonly path: string;
  private readonly holder: LockHolder;
  private readonly fh: FileHandle;
  private readonly onLost: (() => void) | undefined;
  private readonly size: number;
  /** dev and ino of the descriptor's file (fstat once, when the lock was taken). */
  private readonly id: { readonly dev: number; readonly ino: number };
  private timer: NodeJS.Timeout | undefined;
  private lostIt = false;
  private beats = 0;

  private constructor(
    path: string,
    holder: LockHolder,
    fh: FileHandle,
    size: number,
    id: { readonly dev: number; readonly ino: number },
    refreshMs: number,
    onLost: (() => void) | undefined,
  ) {
    this.path = path;
    this.holder = holder;
    this.fh = fh;
    this.size = size;
    this.id = id;
    this.onLost = onLost;
    this.timer = setInterval(() => void this.heartbeat(), refreshMs);
    this.timer.unref();
  }

  /** True once the lock was found removed, taken by another writer, or overwritten. */
  get lost(): boolean {
    return this.lostIt;
  }

  /** Takes the lock of `dir` (which must exist), or throws AuditLocked. */
  static async acquire(dir: string, options: LockOptions = {}): Promise<AuditDirLock> {
    const refreshMs = options.refreshMs ?? 2000;
    const staleMs = options.staleMs ?? 15_000;
    const waitMs = options.waitMs ?? staleMs + 2 * refreshMs;
    const path = join(dir, LOCK_FILE);
    const token = randomBytes(12).toString('hex');
    const holder = await me(token);
    const text = render(holder, 0);
    const deadline = performance.now() + waitMs; // monotonic: a clock step changes no deadline
    // A foreign holder's content as last seen, and since when (this process's monotonic clock).
    let seen: { content: string; since: number } | undefined;
    // Bounded: each turn either takes the lock, refuses, waits a heartbeat, or removes a stale file.
    for (let attempt = 0; attempt < 1000; attempt++) {
      const linked = await linkNew(path, `${path}.${token}`, text);
      if (linked !== undefined)
        return new AuditDirLock(path, holder, linked.fh, text.byteLength, linked.id, refreshMs, options.onLost);
      let current: string;
      let mtime: number;
      try {
        // Not a regular file (a FIFO would block here for ever, a device never ends): thrown, not read.
        current = await readAuditText(path);
        mtime = (await stat(path)).mtimeMs;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw e;
      }
      const other = parseHolder(current);
      let stale: boolean;
      if (other !== undefined && sameNamespace(other, holder)) {
        stale = !(await alive(other));
        if (!stale)
          throw new AuditLocked(
            `the audit directory ${dir} is locked by a live writer (${describe(other)}): one writer per audit chain`,
            other,
          );
      } else {
        if (seen?.content !== current) seen = { content: current, since: performance.now() };
        const unchangedMs = performance.now() - seen.since;
        // The file's mtime is a wall-clock time: compared with the wall clock (the heartbeat's content
        // change above, on the monotonic clock, is what a beating holder is judged by).
        const mtimeStale = Date.now() - mtime > staleMs;
        // A holder that beats changes the content every refreshMs, whatever its clock says.
        stale = other?.beat === undefined ? mtimeStale : unchangedMs >= (mtimeStale ? 2 * refreshMs : staleMs);
        if (!stale) {
          if (performance.now() >= deadline)
            throw new AuditLocked(
              `the audit directory ${dir} is locked by ${describe(other)}, which is not in this PID namespace and kept its lock alive for ${Math.round(waitMs / 1000)} s: one writer per audit chain`,
              other,
            );
          await sleep(Math.min(refreshMs, Math.max(1, deadline - performance.now())));
          continue;
        }
      }
      await takeOver(path, `${path}.stale.${token}`, current);
    }
    throw new AuditLocked(`could not take the lock of ${dir}`);
  }

  /** Is the file at the path still the one this holder created, holding its token? (stat + pread) */
  private async stillOurs(): Promise<boolean> {
    try {
      const buf = Buffer.alloc(this.size + 1);
      const [there, read] = await Promise.all([stat(this.path), this.fh.read(buf, 0, buf.byteLength, 0)]);
      if (there.ino !== this.id.ino || there.dev !== this.id.dev) return false;
      return parseHolder(buf.subarray(0, read.bytesRead).toString('utf8'))?.token === this.holder.token;
    } catch {
      return false; // removed (ENOENT), or the file cannot be read: not provably ours
    }
  }

  private markLost(): void {
    if (this.lostIt) return;
    this.lostIt = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.onLost?.();
  }

  private async heartbeat(): Promise<void> {
    if (this.lostIt) return;
    if (!(await this.stillOurs())) {
      this.markLost();
      return;
    }
    this.beats++;
    const text = render(this.holder, this.beats);
    // A beat that cannot be written (a full or failing volume) is not a loss by itself: a contender
    // elsewhere may then judge the lock stale and take it, and the next check() sees that.
    if (text.byteLength === this.size) await this.fh.write(text, 0, text.byteLength, 0).catch(() => undefined);
  }

  /**
   * Checks now that the lock is still ours (the same file at the path, with our token): called
   * before every write to the chain. False (and the loss reported, for good) when it is not.
   */
  async check(): Promise<boolean> {
    if (this.lostIt) return false;
    if (!(await this.stillOurs())) this.markLost();
    return !this.lostIt;
  }

  /** Removes the lock file if it is still ours, and closes its descriptor. */
  async release(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (!this.lostIt && (await this.stillOurs())) await unlink(this.path).catch(() => undefined);
    this.lostIt = true;
    await this.fh.close().catch(() => undefined);
  }
}

/**
 * Writes `text` to a private temporary file and links it to `path`: a descriptor open on the
 * linked file (read and write, for the holder's checks and heartbeats) with its file's dev and ino
 * (the link's too), or undefined if `path` exists.
 */
async function linkNew(
  path: string,
  tmp: string,
  text: Buffer,
): Promise<{ fh: FileHandle; id: { dev: number; ino: number } } | undefined> {
  const fh = await open(tmp, 'wx+', 0o600);
  try {
    await fh.writeFile(text);
    await fh.datasync();
    const { dev, ino } = await fh.stat();
    await link(tmp, path);
    return { fh, id: { dev, ino } };
  } catch (e) {
    await fh.close();
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw e;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/**
 * Moves a stale lock file aside, if it is still the one judged stale (`judged` is its content):
 * a contender that took the lock in between keeps it (its file is put back).
 */
export async function takeOver(path: string, aside: string, judged: string): Promise<void> {
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else moved it first
    throw e;
  }
  const moved = await readAuditText(aside).catch(() => judged);
  if (moved !== judged) await link(aside, path).catch(() => undefined); // not the stale one: put it back
  await unlink(aside).catch(() => undefined);
}
