import { dirname } from 'node:path';
import { rootCertificates } from 'node:tls';
import { KubeConfig, type Cluster, type DispatcherOptions, type RequestContext } from '@kubernetes/client-node';
import { timerDelay } from '../units/units.ts';
import { assertRegularFileSync, OPERATOR_FILE_MAX_BYTES, readOperatorFileSync } from './operator-file.ts';

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;
type Dispatch = Dispatcher['dispatch'];
type DispatchHandler = Parameters<Dispatch>[1];
type AgentOptions = Parameters<KubeConfig['createDispatcherOptions']>[1];

/** Which bound a request hit: headers wait, a silence in the body, or the total deadline. */
export type ApiTimeoutPhase = 'headers' | 'body' | 'total';

/** Why a watch was ended and started again (a bounded label set). */
export type WatchRestartReason = 'idle' | 'error' | 'relist';

/** Where the runner's API connection handling reports what it did (metrics and logs). */
export interface ApiObserver {
  /**
   * A request got no response headers (`headers`) or a silent body (`body`) within the request
   * timeout, or did not end within its total deadline (`total`: a response trickling in).
   */
  requestTimedOut(phase: ApiTimeoutPhase): void;
  /** A watch of `kind` ended for `reason` and starts again on a new connection. */
  watchRestarted(kind: string, reason: WatchRestartReason, detail: string): void;
}

/** How the runner talks to the API server: request timeouts and watch bounds (config `kubernetes.api`). */
export interface ApiOptions {
  /** Bound (ms) on the wait for a response's headers and on each silence within its body. */
  readonly requestTimeoutMs: number;
  /**
   * Bound (ms) on the whole of a non-watch request, from dispatch to the body's last byte, however
   * steadily it trickles (the other two bounds are idle timeouts). Default: REQUEST_DEADLINE_FACTOR
   * request timeouts.
   */
  readonly requestDeadlineMs?: number | undefined;
  /** `timeoutSeconds` asked of the API server for each watch: it ends the watch (after a bookmark) then. */
  readonly watchTimeoutSeconds: number;
  /** A watch that delivers nothing (no event, no bookmark) for this long (ms) is ended as stalled. */
  readonly watchIdleMs: number;
  /** A full list is made again at least this often (ms), whatever the watch says. */
  readonly relistMs: number;
  readonly observer: ApiObserver;
}

/** A non-watch request's total deadline is this many request timeouts (unless given). */
export const REQUEST_DEADLINE_FACTOR = 4;

/**
 * The total deadline (ms) of a non-watch request under `api`, at most MAX_TIMER_MS: a multiple of
 * a configured duration can pass what a Node timer keeps, which fires such a delay at once (red
 * team 18, finding 3: `requestTimeout` over 536,870 s aborted every request in 1 ms).
 */
export const requestDeadlineOf = (api: ApiOptions): number =>
  timerDelay(api.requestDeadlineMs ?? REQUEST_DEADLINE_FACTOR * api.requestTimeoutMs);

/** The error a request is aborted with when its total deadline passes. */
export class ApiRequestDeadline extends Error {
  override readonly name = 'ApiRequestDeadline';
  readonly code = 'KUBE_API_TIMEOUT' as const;
  constructor(ms: number) {
    super(`Kubernetes API request did not complete within its total deadline of ${ms} ms`);
  }
}

/** The config schema's defaults, in ms, with an observer that reports nothing. */
export const DEFAULT_API_OPTIONS: ApiOptions = Object.freeze({
  requestTimeoutMs: 15_000,
  watchTimeoutSeconds: 30,
  watchIdleMs: 45_000,
  relistMs: 300_000,
  observer: Object.freeze({ requestTimedOut: () => undefined, watchRestarted: () => undefined }),
});

/** The API options of a KubeConfig: its own when it is a PooledKubeConfig, else the defaults. */
export function apiOptionsOf(kc: KubeConfig): ApiOptions {
  return kc instanceof PooledKubeConfig ? kc.api : DEFAULT_API_OPTIONS;
}

/** A request that streams until the server or the client ends it: never pooled, no body timeout. */
export function isWatchUrl(url: string): boolean {
  return /[?&]watch=(?:true|1)(?:&|$)/.test(url);
}

/**
 * A KubeConfig whose API calls share one connection pool per cluster and user, with a timeout on
 * every request, and whose watches each get a connection of their own.
 *
 * - Pooling: @kubernetes/client-node 2.0.1 builds a new undici Agent for every request
 *   (applySecurityAuthentication → createDispatcher), so every API call opened a new TCP connection
 *   and did a full TLS handshake: in a CPU profile of the 1,000-step soak, TLS setup was the largest
 *   item after idle. The first Agent made for a cluster/user pair is kept and reused (keep-alive, and
 *   HTTP/2 when the server offers it: then every request shares ONE connection); credentials that
 *   travel as headers are still applied per request.
 * - Timeouts: undici waits 300 s for headers and for each body chunk by default, so a connection that
 *   went silent without closing (a middlebox that stops forwarding) held every request for minutes.
 *   Every request here is bounded by `requestTimeoutMs` for its headers and for each silence in its
 *   body (on HTTP/1.1 undici then destroys the socket; on HTTP/2 it pings the session and drops it if
 *   the ping is not answered). A timeout also retires the pool it happened on: later requests open a
 *   new connection, requests in flight on the old one finish or time out. Both are idle bounds: a
 *   response trickling one byte at a time would never hit them, so every non-watch request also has
 *   a total deadline (`requestDeadlineMs`, by default 4 request timeouts): it is aborted then,
 *   reported as phase `total`, and its pool retired likewise.
 * - Watches: a watch (`?watch=true`) gets a dispatcher, hence a connection, of its own that is
 *   destroyed when the watch ends — so a watch restarted after a stall never lands on the stalled
 *   socket. Its body is not bounded here: the watch's idle detection (watchdog.ts) bounds it.
 */
export class PooledKubeConfig extends KubeConfig {
  readonly api: ApiOptions;
  private readonly pools = new Map<string, { readonly dispatcher: Dispatcher; readonly since: number }>();

  constructor(api: ApiOptions = DEFAULT_API_OPTIONS) {
    super();
    this.api = api;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const made = context.getDispatcher();
    if (made === undefined) return;
    // A watch keeps the fresh dispatcher just made: its own connection.
    if (isWatchUrl(context.getUrl())) {
      context.setDispatcher(this.bounded(made));
      return;
    }
    const key = JSON.stringify([
      this.getCurrentCluster()?.name ?? '',
      this.getCurrentCluster()?.server ?? '',
      this.getCurrentUser()?.name ?? '',
    ]);
    const pooled = this.pools.get(key) ?? { dispatcher: this.bounded(made), since: performance.now() };
    this.pools.set(key, pooled);
    context.setDispatcher(pooled.dispatcher);
  }

  /**
   * With no TLS setting at all, client-node would use undici's global dispatcher (no timeouts,
   * shared with everything else in the process); the runner makes its own, with Node's bundled root
   * certificates (what the global one trusts too, NODE_EXTRA_CA_CERTS aside).
   */
  override createDispatcherOptions(cluster: Cluster | null, agentOptions: AgentOptions): DispatcherOptions {
    const options = super.createDispatcherOptions(cluster, agentOptions);
    if (options.type !== 'none') return options;
    return { type: 'agent', connect: { ca: [...rootCertificates], keepAlive: true, keepAliveInitialDelay: 30_000 } };
  }

  /** A dispatcher with the request timeouts on; a watch's own is destroyed when its watch ends. */
  private bounded(made: Dispatcher): Dispatcher {
    const timed: Dispatcher = made.compose(
      bounded(this.api.requestTimeoutMs, requestDeadlineOf(this.api), {
        timedOut: (phase) => this.timedOut(timed, phase),
        watchEnded: () => setImmediate(() => void made.destroy().catch(() => undefined)),
      }),
    );
    return timed;
  }

  /**
   * Retires every pooled connection made before `before` (performance.now() ms; all by default):
   * new requests open a new connection; requests in flight on the old one finish or time out.
   * Returns how many pools were retired.
   */
  renewConnections(before = Number.POSITIVE_INFINITY): number {
    let retired = 0;
    for (const [key, pool] of this.pools) {
      if (pool.since >= before) continue;
      this.pools.delete(key);
      retire(pool.dispatcher, this.api.requestTimeoutMs);
      retired++;
    }
    return retired;
  }

  private timedOut(dispatcher: Dispatcher, phase: ApiTimeoutPhase): void {
    this.api.observer.requestTimedOut(phase);
    for (const [key, pool] of this.pools) {
      if (pool.dispatcher !== dispatcher) continue;
      this.pools.delete(key);
      retire(dispatcher, this.api.requestTimeoutMs);
    }
  }
}

/** Closes a dispatcher gracefully, and destroys it if that takes longer than two request timeouts. */
function retire(dispatcher: Dispatcher, timeoutMs: number): void {
  const force = setTimeout(() => void dispatcher.destroy().catch(() => undefined), timerDelay(2 * timeoutMs)).unref();
  dispatcher.close().then(
    () => clearTimeout(force),
    () => undefined,
  );
}

/**
 * An undici interceptor: per-request headers and body timeouts (a watch's body unbounded) and, for
 * every non-watch request, a total deadline counted from dispatch (the request is aborted through
 * its controller with ApiRequestDeadline); reports each timeout, and tells when a watch request
 * ends (its dispatcher is then destroyed).
 */
function bounded(
  timeoutMs: number,
  deadlineMs: number,
  on: { timedOut: (phase: ApiTimeoutPhase) => void; watchEnded: () => void },
) {
  return (dispatch: Dispatch): Dispatch =>
    (opts, handler) => {
      const watch = isWatchUrl(opts.path);
      let controller: { abort(reason: Error): void } | undefined;
      let expired = false;
      let deadline: NodeJS.Timeout | undefined;
      const settle = (): void => {
        if (deadline !== undefined) clearTimeout(deadline);
        deadline = undefined;
      };
      if (!watch) {
        deadline = setTimeout(() => {
          deadline = undefined;
          expired = true;
          on.timedOut('total');
          controller?.abort(new ApiRequestDeadline(deadlineMs));
        }, deadlineMs);
        deadline.unref();
      }
      const observed = new Proxy(handler, {
        get(target, key): unknown {
          if (key === 'onRequestStart' && typeof target.onRequestStart === 'function') {
            return (...args: Parameters<NonNullable<DispatchHandler['onRequestStart']>>) => {
              controller = args[0];
              const r = target.onRequestStart?.(...args);
              if (expired) args[0].abort(new ApiRequestDeadline(deadlineMs)); // the deadline passed before it started
              return r;
            };
          }
          if (key === 'onResponseError') {
            return (...args: Parameters<NonNullable<DispatchHandler['onResponseError']>>) => {
              settle();
              const code = (args[1] as { code?: unknown } | undefined)?.code;
              if (code === 'UND_ERR_HEADERS_TIMEOUT') on.timedOut('headers');
              if (code === 'UND_ERR_BODY_TIMEOUT') on.timedOut('body');
              if (watch) on.watchEnded();
              return target.onResponseError?.(...args);
            };
          }
          if (key === 'onResponseEnd') {
            return (...args: Parameters<NonNullable<DispatchHandler['onResponseEnd']>>) => {
              settle();
              if (watch) on.watchEnded();
              return target.onResponseEnd?.(...args);
            };
          }
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      try {
        return dispatch({ ...opts, headersTimeout: timeoutMs, bodyTimeout: watch ? 0 : timeoutMs }, observed);
      } catch (e) {
        settle();
        throw e;
      }
    };
}

/** A pooled KubeConfig from a file, or from the pod's service account when no file is given. */
export function loadKubeConfig(file?: string, api: ApiOptions = DEFAULT_API_OPTIONS): PooledKubeConfig {
  const kc = new PooledKubeConfig(api);
  if (file !== undefined) {
    // client-node's loadFromFile, with the file opened as every file an operator names (operator-file.ts)
    kc.loadFromString(readOperatorFileSync(file, OPERATOR_FILE_MAX_BYTES.config).toString('utf8'));
    kc.makePathsAbsolute(dirname(file));
    // the files it names are read later by client-node, blocking: each must be a bounded regular file
    for (const named of [...kc.clusters.map((c) => c.caFile), ...kc.users.flatMap((u) => [u.certFile, u.keyFile])])
      if (named !== undefined) assertRegularFileSync(named, OPERATOR_FILE_MAX_BYTES.secret);
  } else kc.loadFromCluster();
  return kc;
}
