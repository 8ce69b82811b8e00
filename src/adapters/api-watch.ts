import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { timerDelay } from '../units/units.ts';
import { PooledKubeConfig, type ApiOptions } from './kubeconfig.ts';
import { SYSTEM_TIMERS, Watchdog, type Timers, type WatchVerdict } from './watchdog.ts';

type WatchArgs = Parameters<Watch['watch']>;

/** What a watch that was ended on purpose reports to the informer (client-node's ListWatch). */
function endedAs(verdict: Exclude<WatchVerdict, { kind: 'wait' }>): Error {
  if (verdict.kind === 'idle') {
    // ListWatch takes a TimeoutError as "watch again at once from the last resourceVersion".
    return new DOMException(`no event or bookmark for ${Math.round(verdict.silentMs / 1000)} s`, 'TimeoutError');
  }
  // ...and a 410 as "the resourceVersion is gone: list again, then watch".
  return Object.assign(new Error(`last full list ${Math.round(verdict.sinceListMs / 1000)} s ago`), {
    statusCode: 410,
  });
}

/**
 * client-node's Watch, asking the API server for bookmarks and a server-side timeout, and ending a
 * watch that stalls (nothing for `watchIdleMs`) or whose informer has not listed for `relistMs`.
 * With a PooledKubeConfig each watch runs on a connection of its own, destroyed when it ends, so the
 * next watch never reuses a stalled socket; a stall also retires the shared request pool made
 * before the stalled watch started (a silent path rarely silences only one connection).
 */
export class StallWatch extends Watch {
  private readonly kc: KubeConfig;
  private readonly kind: string;
  private readonly api: ApiOptions;
  private readonly listedAt: () => number;
  private readonly delivered: () => void;
  private readonly timers: Timers;
  /** The informer's callback of the watch running now (undefined between watches). */
  private active: WatchArgs[2] | undefined;
  /** What the informer's cache keeps of a watched object (FollowedKind.slim): applied before the cache sees it. */
  private readonly slim: (object: object) => object;
  /** Set by close(): the informer is stopped, so no watch may run from then on. */
  private closed = false;
  /** The controller of the watch running now (undefined between watches). */
  private controller: AbortController | undefined;

  /**
   * `kind` labels metrics and logs; `listedAt` is when the informer last listed (on `timers`'
   * clock); `delivered` is called on every event or bookmark (not an ERROR event) and when the API server ends a watch without an error (and without an ERROR event in it); `slim` makes what the informer's
   * cache keeps of each added, modified or deleted object (FollowedKind.slim; default: the object).
   */
  constructor(
    kc: KubeConfig,
    kind: string,
    api: ApiOptions,
    listedAt: () => number,
    delivered: () => void = () => undefined,
    timers: Timers = SYSTEM_TIMERS,
    slim: (object: object) => object = (o) => o,
  ) {
    super(kc);
    this.kc = kc;
    this.kind = kind;
    this.api = api;
    this.listedAt = listedAt;
    this.delivered = delivered;
    this.timers = timers;
    this.slim = slim;
    // client-node's own inactivity abort (30 s, private) would end quiet watches before ours: it stays
    // as a backstop only, after our idle bound.
    // (a timer: at most MAX_TIMER_MS, or Node fires it at once — red team 18, finding 3's class)
    Reflect.set(this, 'requestTimeoutMs', timerDelay(api.watchIdleMs + 10_000));
  }

  override async watch(
    path: WatchArgs[0],
    queryParams: WatchArgs[1],
    callback: WatchArgs[2],
    done: WatchArgs[3],
  ): Promise<AbortController> {
    // The informer was stopped while it listed or connected again (client-node's ListWatch checks
    // `stopped` before those awaits, not after): no watch starts, and `done` is not called (a
    // stopped ListWatch would do nothing with it).
    if (this.closed) return new AbortController();
    const bounds = { idleMs: this.api.watchIdleMs, relistMs: this.api.relistMs };
    const startedAt = this.timers.now();
    if (startedAt - this.listedAt() >= bounds.relistMs) {
      // Due for a relist before the watch even starts: report it once this call has returned.
      this.api.observer.watchRestarted(this.kind, 'relist', 'periodic relist');
      setImmediate(() => done(endedAs({ kind: 'relist', sinceListMs: startedAt - this.listedAt() })));
      return new AbortController();
    }
    let verdict: Exclude<WatchVerdict, { kind: 'wait' }> | undefined;
    let controller: AbortController | undefined;
    const dog = new Watchdog(
      bounds,
      this.listedAt,
      (v) => {
        verdict = v;
        this.ended(v, startedAt);
        controller?.abort();
      },
      this.timers,
    );
    let finished = false;
    // An ERROR event (a Status in the stream: a 500, a CRD's conversion failing, a 410) is no sign
    // of being followed, nor the clean end that follows it: client-node watches again from the
    // same resourceVersion, without an 'error' and without a list, so counting either kept /ready's
    // `watches` check green while no watch worked (red team 10, finding 3).
    let failedInStream = false;
    const finish = (err: unknown): void => {
      if (finished) return;
      finished = true;
      if (this.active === callback) {
        this.active = undefined;
        this.controller = undefined;
      }
      dog.stop();
      // Ended by the API server at timeoutSeconds, without an error: the kind was followed all along.
      if (verdict === undefined && !failedInStream && (err === null || err === undefined)) this.delivered();
      done(verdict !== undefined ? endedAs(verdict) : err);
    };
    const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.api.watchTimeoutSeconds };
    try {
      controller = await super.watch(
        path,
        params,
        (phase, object, raw) => {
          dog.seen();
          if (phase === 'ERROR') failedInStream = true;
          else this.delivered();
          const changed = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED';
          callback(
            phase,
            changed && typeof object === 'object' && object !== null ? this.slim(object as object) : object,
            raw,
          );
        },
        finish,
      );
    } catch (e) {
      dog.stop();
      throw e;
    }
    // Stopped while this watch connected: ended as it arrives (the informer is told, and stays stopped).
    if (verdict !== undefined || this.closed) controller.abort();
    else if (!finished) {
      this.active = callback;
      this.controller = controller;
    }
    return controller;
  }

  /**
   * The informer is stopping: the watch running now is ended, and none starts from now on, not
   * even one its ListWatch is already connecting (it is aborted as it arrives).
   */
  close(): void {
    this.closed = true;
    this.controller?.abort();
    this.controller = undefined;
  }

  /**
   * Hands the informer an event as the running watch would (a change a relist behind the watch
   * found missed, relist.ts). False when no watch is running: the informer lists again anyway.
   */
  deliver(phase: 'ADDED' | 'MODIFIED' | 'DELETED', object: object): boolean {
    const active = this.active;
    if (active === undefined) return false;
    active(phase, object, { type: phase, object });
    return true;
  }

  private ended(verdict: Exclude<WatchVerdict, { kind: 'wait' }>, startedAt: number): void {
    if (verdict.kind === 'relist') {
      this.api.observer.watchRestarted(this.kind, 'relist', 'periodic relist');
      return;
    }
    this.api.observer.watchRestarted(
      this.kind,
      'idle',
      `no event or bookmark for ${Math.round(verdict.silentMs / 1000)} s`,
    );
    if (this.kc instanceof PooledKubeConfig) this.kc.renewConnections(startedAt);
  }
}
