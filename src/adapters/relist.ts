import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';

/** One change the informer's cache missed, to deliver as a watch event would. */
export interface Missed<T extends KubernetesObject> {
  readonly phase: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly object: T;
}

/** The informer's cache as the comparison reads it (client-node's ListWatch). */
export interface CacheView<T extends KubernetesObject> {
  get(name: string, namespace?: string): T | undefined;
  list(): readonly T[];
}

/**
 * What a complete list, taken while the watch kept running, says the cache missed (a relist
 * behind the watch: issue 20 §2, an informer that stopped its watch for each periodic relist left
 * every change of its kind unseen for the whole list — ~60 s for 5,000 pods on a loaded machine,
 * the completion-seen p99). resourceVersions are compared as etcd's increasing integers; a pair
 * that does not compare is left to the watch. Decided per object:
 *   - listed, not cached: ADDED — unless the watch deleted it while the list was read
 *     (`deletedSince`: the list is a snapshot, the watch may be ahead of it);
 *   - listed newer than cached: MODIFIED (an older listed copy: the watch is ahead, nothing);
 *   - cached, not listed, no newer than the list's snapshot: DELETED (newer: made after the snapshot).
 * O(listed + cached): once per relist period, never per event.
 */
export function missedChanges<T extends KubernetesObject>(
  cache: CacheView<T>,
  listed: KubernetesListObject<T>,
  deletedSince: ReadonlySet<string>,
): Missed<T>[] {
  const behind = new ListedBehind(cache);
  for (const object of listed.items) behind.add(object);
  return behind.missed(listed.metadata?.resourceVersion, deletedSince);
}

/**
 * missedChanges fed page by page while the list is read (issue 20 §2: a relist behind the watch
 * held a second copy of every cached object at 5,000 pods, at the peak): `add` each listed item as
 * it arrives, then `missed` once the list is complete. It keeps every listed key, and a listed
 * object only while the cache may still miss it: one the cache already has at the same or a newer
 * version is never delivered at the end either — the watch only moves a cached object forward, and
 * an object deleted meanwhile is in `deletedSince` (never re-added) — so its object is dropped at
 * once. What `missed` answers is what missedChanges answers for the whole list against the cache
 * at that moment.
 */
export class ListedBehind<T extends KubernetesObject> {
  private readonly cache: CacheView<T>;
  private readonly seen = new Set<string>();
  /** Listed objects the cache did not have at this version or newer when they arrived, in list order. */
  private readonly candidates: T[] = [];

  constructor(cache: CacheView<T>) {
    this.cache = cache;
  }

  /** One listed item, in list order. */
  add(object: T): void {
    this.seen.add(keyOf(object));
    const cached = this.cache.get(object.metadata?.name ?? '', object.metadata?.namespace);
    // Versions that do not compare (NaN) are never delivered: dropped as well.
    if (cached !== undefined && !(rv(object.metadata?.resourceVersion) > rv(cached.metadata?.resourceVersion))) return;
    this.candidates.push(object);
  }

  /** What the cache missed, decided now (missedChanges' rules) for a list whose snapshot is `resourceVersion`. */
  missed(resourceVersion: string | undefined, deletedSince: ReadonlySet<string>): Missed<T>[] {
    const out: Missed<T>[] = [];
    const snapshot = rv(resourceVersion);
    for (const object of this.candidates) {
      const cached = this.cache.get(object.metadata?.name ?? '', object.metadata?.namespace);
      if (cached === undefined) {
        if (!deletedSince.has(keyOf(object))) out.push({ phase: 'ADDED', object });
      } else if (rv(object.metadata?.resourceVersion) > rv(cached.metadata?.resourceVersion))
        out.push({ phase: 'MODIFIED', object });
    }
    for (const cached of this.cache.list()) {
      if (this.seen.has(keyOf(cached))) continue;
      if (rv(cached.metadata?.resourceVersion) <= snapshot) out.push({ phase: 'DELETED', object: cached });
    }
    return out;
  }
}

/** `namespace/name`: what identifies an object in the informer's cache. */
export function keyOf(o: KubernetesObject): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/** A resourceVersion as an integer; NaN (never compares) when it is not one. */
function rv(v: string | undefined): number {
  return v === undefined || v === '' ? Number.NaN : Number(v);
}
