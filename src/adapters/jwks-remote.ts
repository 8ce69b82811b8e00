import { createLocalJWKSet, errors, type JSONWebKeySet, type JWK, type JWTVerifyGetKey } from 'jose';
import { discardBody, jsonAtMost } from './bounded-body.ts';
import { OPERATOR_FILE_MAX_BYTES } from './operator-file.ts';

export interface RemoteJwksOptions {
  readonly url: string;
  /** Refetch this often while all is well. */
  readonly refreshMs: number;
  /** After the last successful fetch, keep using the keys this long while the URL fails. */
  readonly staleIfErrorMs: number;
  /** A token with an unknown kid triggers a refetch at most this often (rotation without hammering). */
  readonly minRefetchMs: number;
  readonly timeoutMs: number;
  /** The clock of the cache's ages, in ms: monotonic (`performance.now()`) unless a test gives one. */
  readonly now?: () => number;
  /** Told why a fetch failed (an answer over JWKS_ANSWER_MAX_BYTES: the message starts NETWORK_ANSWER_TOO_LARGE). */
  readonly onError?: (message: string) => void;
  /** Told the keys of every successful fetch (the runner records them as trusted: DESIGN §2b). */
  readonly onKeys?: (keys: readonly JWK[]) => void;
}

/** The largest JWKS answer read, decoded: 1 MiB, as for a JWKS file (OPERATOR_FILE_MAX_BYTES.secret). */
export const JWKS_ANSWER_MAX_BYTES = OPERATOR_FILE_MAX_BYTES.secret;

/**
 * The control plane's JWKS from its URL: cached, refreshed, refetched when a token names a kid
 * the cache lacks (key rotation), and — when the URL is down — used for a bounded time after the
 * last good fetch (stale-if-error). Past that bound there are no keys: every token fails to verify
 * (fail closed) and /ready says so.
 */
export class RemoteJwks {
  private readonly o: RemoteJwksOptions;
  private keys: { set: JWTVerifyGetKey; kids: Set<string>; fetchedAt: number } | undefined;
  private lastAttempt = -Infinity;
  private inflight: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: RemoteJwksOptions) {
    this.o = options;
  }

  private now(): number {
    return this.o.now?.() ?? performance.now();
  }

  /** Fetches now (once at a time); keeps the old keys when it fails. */
  refresh(): Promise<void> {
    this.inflight ??= (async () => {
      this.lastAttempt = this.now();
      try {
        const res = await fetch(this.o.url, {
          signal: AbortSignal.timeout(this.o.timeoutMs),
          headers: { accept: 'application/json' },
        });
        if (!res.ok) {
          await discardBody(res);
          throw new Error(`JWKS URL answered ${res.status}`);
        }
        const jwks = (await jsonAtMost(res, JWKS_ANSWER_MAX_BYTES, 'the JWKS answer')) as JSONWebKeySet;
        if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) throw new Error('JWKS has no keys');
        this.keys = {
          set: createLocalJWKSet(jwks),
          kids: new Set(jwks.keys.map((k) => k.kid ?? '')),
          fetchedAt: this.now(),
        };
        this.o.onKeys?.(jwks.keys);
      } catch (e) {
        this.o.onError?.(e instanceof Error ? e.message : String(e));
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  start(): Promise<void> {
    this.timer = setInterval(() => void this.refresh(), this.o.refreshMs);
    this.timer.unref();
    return this.refresh();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Keys usable now: fetched, and not older than staleIfError past a failing refresh. */
  loaded(): boolean {
    return this.keys !== undefined && this.now() - this.keys.fetchedAt <= this.o.refreshMs + this.o.staleIfErrorMs;
  }

  /** The key resolver for jose's jwtVerify. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (
      header.kid !== undefined &&
      this.keys !== undefined &&
      !this.keys.kids.has(header.kid) &&
      this.now() - this.lastAttempt >= this.o.minRefetchMs
    ) {
      await this.refresh();
    }
    if (this.keys === undefined || !this.loaded()) {
      throw new errors.JWKSNoMatchingKey(
        'no usable keys: the JWKS URL has failed for longer than the stale-if-error bound',
      );
    }
    return this.keys.set(header, token);
  };
}
