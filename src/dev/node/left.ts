// Clearing a real node left by a run that ended without `down`, holding its lock (lock.ts).
import { isAbsolute, relative, resolve } from 'node:path';
import type { RealNodeToolName } from '../../adapters/tools.ts';
import {
  LOCK_FILE,
  judgeLock,
  newToken,
  parseRecord,
  readLock,
  takeOverLock,
  thisOwner,
  type NodeRecord,
} from './lock.ts';
import { stopRealNodeState } from './node-down.ts';

/**
 * The real node's lock must stay as it is until an operator acts: what it holds is no record (a
 * truncated or hand-written file, a relative directory, an old lock whose record is gone), or a
 * restore left the host different from its record, or a live node holds it. The message says
 * which node, what differs and how to clear it (docs/real-node.md).
 */
export class RealNodeLocked extends Error {
  override readonly name = 'RealNodeLocked';
  readonly code = 'REAL_NODE_LOCKED' as const;
}

/**
 * Clears what a run that ended without `down` left behind (kill -9, a crash, a stopped session),
 * before a new node starts or a caller removes a work directory the node lived in. A node is left
 * when its recorded owner no longer runs, or, without an owner, none of its recorded processes runs
 * as its own (owned.ts nodeLeft). It is cleared while this process holds its lock: taken over with
 * rename-aside (lock.ts takeOverLock, compare-and-swap on the content judged, so two starts never
 * both clear it), then torn down from the record in the lock — its surviving processes of its own
 * stopped, mounts, links, firewall entries, cgroups restored — with today's tools; sysctls and the
 * directories outside its own only where the record says the node changed them and they still
 * hold what it left (an old record must not undo what others changed since).
 * Returns undefined when no node holds the lock any more, or the record of the live node that does
 * (the caller refuses). Throws RealNodeLocked when the lock must stay: not a record, or a restore
 * that leaves the host different (the lock then keeps the record and that list: every later start
 * refuses too, until an operator acts; a new node must not record a half-restored host as its
 * "before").
 */
export async function clearLeftRealNode(
  tools: Readonly<Record<RealNodeToolName, string>>,
  say: (line: string) => void,
  path = LOCK_FILE,
): Promise<NodeRecord | undefined> {
  // Bounded: each turn finds the lock free, live or refused, clears it, or lost a race to judge again.
  for (let attempt = 0; attempt < 8; attempt++) {
    const verdict = await judgeLock(await readLock(path), path);
    if (verdict.kind === 'free') return undefined;
    if (verdict.kind === 'live') return verdict.record;
    if (verdict.kind === 'refuse') throw new RealNodeLocked(verdict.reason);
    const mine: NodeRecord = { ...verdict.record, owner: thisOwner(), token: newToken() };
    if (!(await takeOverLock(verdict.text, mine, path))) continue;
    say(`a real node left by a run that ended without down (${mine.dir}): restoring the host first ...`);
    const differs = await stopRealNodeState(
      { dir: mine.dir, kubeconfig: mine.kubeconfig, tools, pids: mine.pids, timings: {} },
      path,
      true,
    );
    if (differs.length > 0)
      throw new RealNodeLocked(
        `a real node left by an ended run (${mine.dir}) could not be cleared; the host still differs:\n  ${differs.join('\n  ')}\n${path} keeps its record: every start refuses until the host is restored by hand and the file removed`,
      );
  }
  throw new RealNodeLocked(`${path} kept changing while this start judged it; try again`);
}

/** Whether `dir` is `root` or lies under it (both resolved; path boundaries, not a prefix). */
function inside(root: string, dir: string): boolean {
  const r = relative(resolve(root), resolve(dir));
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * Before a work directory is removed (the demo's, `dev cluster up`'s) (red-team round 5, finding 3: the demo's `rm` ran
 * before the node start could clear a node left in it, and descended into its mounts). With
 * `tools` (--real-node): a left node is cleared first, wherever it lives, and a live one refused —
 * the node start would refuse it anyway, after the work dir was gone. Without: a node whose lock
 * names a directory in the work dir is refused (this demo cannot clear it, and must not delete it).
 */
export async function clearNodeBeforeRemoving(
  workDir: string,
  tools: Readonly<Record<RealNodeToolName, string>> | undefined,
  say: (l: string) => void,
  path = LOCK_FILE,
): Promise<void> {
  if (tools !== undefined) {
    const live = await clearLeftRealNode(tools, say, path);
    if (live !== undefined)
      throw new RealNodeLocked(`a real node is already up on this machine (${live.dir}); stop it first`);
    return;
  }
  const text = await readLock(path);
  if (text === undefined) return;
  const record = parseRecord(text);
  const dir = typeof record === 'object' ? record.dir : text.trim();
  if (inside(workDir, dir))
    throw new RealNodeLocked(
      `a real node recorded in ${path} lives in the demo's directory (${dir}): rerun with --real-node (as root) to clear it first, or stop it`,
    );
}
