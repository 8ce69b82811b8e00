import {
  ListWatch,
  setHeaderOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { StallWatch } from './api-watch.ts';
import { keyOf, ListedBehind } from './relist.ts';
import { apiOptionsOf } from './kubeconfig.ts';
import { SYSTEM_TIMERS } from './watchdog.ts';
import { apiCause } from './kube-errors.ts';

/** What one followed kind is: its name in metrics, its collection path, its list call and selector. */
export interface FollowedKind<T extends KubernetesObject> {
  /** Bounded label for metrics and logs: `pods`, `workflowruns`. */
  readonly kind: string;
  /** The collection's API path, e.g. `/api/v1/namespaces/ns/pods`. */
  readonly path: string;
  /**
   * One page of the list: at most `limit` items, from `continue` (the previous page's token) when
   * given; `options` (METADATA_ONLY) are the client's request options.
   */
  readonly list: (page: ListPage, options?: typeof METADATA_ONLY) => Promise<KubernetesListObject<T>>;
  readonly labelSelector: string;
  /**
   * What the cache keeps of an item, run on each listed item and each watched object as it arrives:
   * a fresh object with only the fields read (undefined: `item` itself, stripped in place). A fresh
   * object keeps V8's fast layout; one stripped with `delete` turns into a dictionary, 2–4 times
   * larger (issue 20 §2: ~1 KB more per cached pod at 5,000 pods).
   */
  readonly slim?: (item: T) => T | void;
  /** Items per page of the list (default LIST_PAGE_ITEMS). */
  readonly pageItems?: number | undefined;
}

/**
 * Request options that ask the API server for a list of metadata only (PartialObjectMetadataList,
 * `metadata.k8s.io`), full objects when it cannot: for lists that read names, uids and owners only
 * (the orphan sweep, the sweep's fresh list of live runs). At 5,000 step pods a full list every
 * resync was ~2 s of the runner's CPU in client-node's typed deserializer and most of the API
 * server's work for it (issue 20 §2); metadata is a few hundred bytes an item.
 */
export const METADATA_ONLY = setHeaderOptions(
  'Accept',
  'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;q=0.9',
);

/** Which page of a list to ask for (the API server's `limit` and `continue`). */
export interface ListPage {
  readonly limit: number;
  readonly continue?: string | undefined;
}

/**
 * Items per page of an informer's list. A relist of thousands of pods in one response held the raw
 * body, its parse and its full objects at once (the runner's peak RSS at 5,000 runs, issue 20 §2);
 * paged, only one page's raw body and parse are transient, and each page is slimmed as it arrives.
 */
export const LIST_PAGE_ITEMS = 250;

/**
 * Every page of a list, concatenated, each page's items slimmed as it arrives (`slim`'s answer is
 * kept; undefined keeps the item as `slim` left it): the result has the first page's metadata (its
 * resourceVersion is the list's snapshot, which every page shares).
 */
export async function listAllPages<T extends KubernetesObject>(
  list: FollowedKind<T>['list'],
  slim: (item: T) => T | void = () => undefined,
  limit = LIST_PAGE_ITEMS,
): Promise<KubernetesListObject<T>> {
  const items: T[] = [];
  const first = await readAllPages(list, (item) => items.push(slim(item) ?? item), limit);
  return { ...first, metadata: { resourceVersion: first.metadata?.resourceVersion }, items };
}

/**
 * Every page of a list, each item handed to `each` as its page arrives and kept by nobody here:
 * only one page is held at a time. Returns the first page (its metadata's resourceVersion is the
 * list's snapshot; its items are the first page's only). Throws what `list` throws.
 */
export async function readAllPages<T extends KubernetesObject>(
  list: FollowedKind<T>['list'],
  each: (item: T) => void,
  limit = LIST_PAGE_ITEMS,
): Promise<KubernetesListObject<T>> {
  const first = await list({ limit });
  // A metadata-only list (METADATA_ONLY) of nothing has `items: null`.
  for (const item of first.items ?? []) each(item);
  let token = continueOf(first);
  while (token !== undefined && token !== '') {
    const page = await list({ limit, continue: token });
    for (const item of page.items ?? []) each(item);
    token = continueOf(page);
  }
  return first;
}

/** A page's continue token: `_continue` in client-node's typed lists, `continue` in a custom resource's raw JSON. */
function continueOf(list: KubernetesListObject<KubernetesObject>): string | undefined {
  const meta: { readonly _continue?: string; readonly continue?: string } | undefined = list.metadata;
  return meta?._continue ?? meta?.continue;
}

/**
 * What a failed list or watch is logged with (KUBE_API_WATCH_FAILED's reason): apiCause's status,
 * reasons and causes — never the answer's body or message, which may be a proxy's page of any size
 * (red team 9, finding 5: a 200 KB body made a 200,579-character log line at every retry) — with
 * control and format characters (bidi, zero-width) replaced and at most 300 characters.
 */
export function watchFailure(thrown: unknown): string {
  return apiCause(thrown)
    .replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, '?')
    .slice(0, 300);
}

const FIRST_PAUSE_MS = 500;
const LAST_PAUSE_MS = 30_000;

/**
 * One informer (list + watch) of one kind, filtered by the runner label, with the start/stop and
 * change listeners every adapter that follows a kind needs. The watch asks for bookmarks and a
 * server-side timeout, is ended when it stalls and on a bounded relist period (StallWatch, config
 * `kubernetes.api`). client-node does not restart an informer after an error; this does, after a
 * pause that doubles from 0.5 s up to 30 s while errors repeat (reset by a list or an event).
 */
export abstract class Followed<T extends KubernetesObject> {
  protected readonly informer: ListWatch<T>;
  protected readonly listeners: ((name: string, ended?: boolean) => void)[] = [];
  private started: Promise<void> | undefined;
  private stopped = false;
  /** Settled once: resolved after the first complete list is in the cache, rejected by stop() before. */
  private readonly firstList: Promise<void>;
  private firstListed: (() => void) | undefined;
  private firstListStopped: ((e: Error) => void) | undefined;
  /**
   * One complete, fresh list of this kind (every page), of metadata only (METADATA_ONLY: the items
   * have `metadata` and nothing else), each item slimmed by `slim` as it arrives.
   */
  protected readonly listMetadata: (slim?: (item: T) => T | void) => Promise<KubernetesListObject<T>>;
  private listedAt = SYSTEM_TIMERS.now();
  private readonly kindName: string;
  private pauseMs = FIRST_PAUSE_MS;
  /** When the kind was last heard of (ms, SYSTEM_TIMERS clock): a complete list, or a watch event or bookmark. */
  private heardAt = SYSTEM_TIMERS.now();
  /** How long without hearing of the kind means it is no longer followed (ms; see health()). */
  private readonly deafAfterMs: number;
  private readonly watch: StallWatch;
  /**
   * One complete, fresh list of full objects read page by page, each item slimmed as the informer's
   * and handed to `each` (nothing keeps the whole list); resolves to the list's snapshot resourceVersion.
   */
  private readonly readFull: (each: (item: T) => void) => Promise<string | undefined>;
  /** Objects the watch deleted while a relist behind it was reading (`namespace/name`); undefined: none reading. */
  private deletedDuring: Set<string> | undefined;
  private readonly behind: NodeJS.Timeout;

  protected constructor(kc: KubeConfig, followed: FollowedKind<T>) {
    const api = apiOptionsOf(kc);
    this.firstList = new Promise<void>((resolve, reject) => {
      this.firstListed = resolve;
      this.firstListStopped = reject;
    });
    // Nobody may be waiting when stop() rejects it: that is no error of its own.
    this.firstList.catch(() => undefined);
    this.kindName = followed.kind;
    this.deafAfterMs = api.watchIdleMs + api.watchTimeoutSeconds * 1000;
    this.listMetadata = (slim) => listAllPages((p) => followed.list(p, METADATA_ONLY), slim, followed.pageItems);
    const list = async (): Promise<KubernetesListObject<T>> => {
      const listed = await listAllPages(followed.list, followed.slim, followed.pageItems);
      this.listedAt = SYSTEM_TIMERS.now();
      this.pauseMs = FIRST_PAUSE_MS;
      this.heardAt = this.listedAt;
      // ListWatch puts the items into its cache synchronously once this returns: a macrotask later
      // they are all there, so start() never resolves on a cache still empty.
      const first = this.firstListed;
      this.firstListed = undefined;
      if (first !== undefined) setImmediate(first);
      return listed;
    };
    const slim = followed.slim;
    this.readFull = async (each) => {
      const first = await readAllPages(followed.list, (item) => each(slim?.(item) ?? item), followed.pageItems);
      return first.metadata?.resourceVersion;
    };
    const watch = new StallWatch(
      kc,
      followed.kind,
      api,
      () => this.listedAt,
      () => {
        this.pauseMs = FIRST_PAUSE_MS;
        this.heardAt = SYSTEM_TIMERS.now();
      },
      SYSTEM_TIMERS,
      slim === undefined ? undefined : (o) => slim(o as T) ?? o,
    );
    this.watch = watch;
    this.informer = new ListWatch<T>(followed.path, watch, list, false, followed.labelSelector);
    this.informer.on('delete', (o) => this.deletedDuring?.add(keyOf(o)));
    // The periodic relist, behind the watch (relist.ts): due at half the period, looked at every eighth.
    this.behind = setInterval(() => void this.relistBehind(api.relistMs / 2), Math.max(250, api.relistMs / 8));
    this.behind.unref();
    this.informer.on('error', (err: unknown) => {
      if (this.stopped) return;
      api.observer.watchRestarted(followed.kind, 'error', watchFailure(err));
      const pause = this.pauseMs;
      this.pauseMs = Math.min(LAST_PAUSE_MS, pause * 2);
      setTimeout(() => {
        if (!this.stopped) void this.informer.start().catch(() => undefined);
      }, pause).unref();
    });
  }

  /**
   * Starts the informer. Resolves once its first COMPLETE list (every page) is in the cache, however
   * many failed tries that takes (they are retried with the pause above); rejects only when stop()
   * comes first. Red team 7, finding 1: client-node's ListWatch.start() resolves even when its list
   * fails, and a runner that went on with an empty run cache took every live run's objects for
   * orphans. Callers that must not wait (serve's /ready stays up meanwhile) need not await it.
   */
  start(): Promise<void> {
    this.started ??= (() => {
      void this.informer.start().catch(() => undefined);
      return this.firstList;
    })();
    return this.started;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch.close();
    clearInterval(this.behind);
    this.firstListStopped?.(new Error(`stopped before the first list of ${this.kindName} was complete`));
    await this.informer.stop();
  }

  /**
   * The periodic relist without stopping the watch: a complete list read while the watch runs, and
   * what the cache missed handed to the informer as watch events (relist.ts). The informer's own
   * relist (the watch ended, everything listed again, no event seen meanwhile) stays for errors,
   * for a watch that stalls, and for relist periods these fail to cover (StallWatch, `relistMs`).
   * A list that fails, or a watch that ends meanwhile, leaves `listedAt` as it was.
   */
  private async relistBehind(dueMs: number): Promise<void> {
    const listing = this.started !== undefined && this.firstListed === undefined && !this.stopped;
    if (!listing || this.deletedDuring !== undefined || SYSTEM_TIMERS.now() - this.listedAt < dueMs) return;
    const deleted = new Set<string>();
    this.deletedDuring = deleted;
    try {
      // Page by page: the listed keys are kept, and only the items the cache may still miss at the
      // end (issue 20 §2: not a second copy of every cached object at the peak).
      const behind = new ListedBehind(this.informer);
      const snapshot = await this.readFull((item) => behind.add(item));
      const at = SYSTEM_TIMERS.now();
      if (this.stopped) return;
      const all = behind.missed(snapshot, deleted).every((m) => this.watch.deliver(m.phase, m.object));
      if (all) this.listedAt = at;
    } catch {
      // Left to the informer's own relist once the period is over.
    } finally {
      this.deletedDuring = undefined;
    }
  }

  /**
   * Whether this kind is being followed, for `/ready`'s `watches` check: its first complete list is
   * in the cache, and it was heard of (a complete list, a watch event or bookmark, a watch the API
   * server ended without an error at its `timeoutSeconds`) within `watchIdle` + `watchTimeout`
   * (config `kubernetes.api`). A healthy watch, however quiet, is heard of at least every
   * `watchTimeout`, and one silent for `watchIdle` is ended as stalled and resumed; so the bound is
   * passed only when lists and watches keep failing (RBAC or credentials revoked, the CRD removed, a
   * proxy answering
   * something else). The detail names the kind and how long (never an error's text: the log has it).
   */
  health(): { readonly ok: boolean; readonly detail?: string } {
    if (this.firstListed !== undefined) return { ok: false, detail: `${this.kindName}: not listed yet` };
    const ms = SYSTEM_TIMERS.now() - this.heardAt;
    return ms <= this.deafAfterMs
      ? { ok: true }
      : { ok: false, detail: `${this.kindName}: no list nor watch event for ${(ms / 1000).toFixed(1)} s` };
  }

  /** Called with a run's name whenever something about it changes (`ended`: see Pods.onChange). */
  onChange(listener: (name: string, ended?: boolean) => void): void {
    this.listeners.push(listener);
  }
}
