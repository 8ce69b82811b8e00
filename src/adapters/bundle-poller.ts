import { timerDelay } from '../units/units.ts';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readAtMost } from './bounded-body.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText } from './operator-file.ts';

/**
 * What a poll did: a new bundle taken, nothing new (304 / same revision), or why it failed or was
 * refused (a refusal's reason is the store's: its code first, e.g. POLICY_BUNDLE_UNSIGNED).
 */
export type PollResult =
  { readonly kind: 'swapped' | 'unchanged' } | { readonly kind: 'rejected' | 'failed'; readonly reason: string };

export interface BundlePollerOptions {
  /** The bundle's URL on the bundle service. */
  readonly url: string;
  /**
   * The local file the PolicyStore reads. A download is written beside it (`<target>.download`),
   * checked there, and renamed over it only once accepted: the file is the last good bundle at
   * every instant.
   */
  readonly target: string;
  /** Between polls after a success, in ms. */
  readonly intervalMs: number;
  /** The longest wait after failures (exponential backoff from intervalMs, with jitter), in ms. */
  readonly maxBackoffMs: number;
  /** Per request, in ms. */
  readonly timeoutMs?: number;
  /** A download larger than this is refused (default 32 MiB, the bundle reader's limit). */
  readonly maxBytes?: number;
  /** Extra request headers (never logged). */
  readonly headers?: Readonly<Record<string, string>>;
  /**
   * A file holding a bearer token for the service (a mounted Secret), read before every poll so a
   * rotated Secret is picked up, sent as `Authorization: Bearer <token>` (surrounding whitespace
   * trimmed). The token is never logged nor put in a poll's reason: an unreadable, empty or
   * unsendable token fails the poll with a reason naming the file only.
   */
  readonly bearerTokenFile?: string;
}

/**
 * The policy store's adoption of a candidate file (PolicyStore.adopt): every check of a candidate
 * (signature, settings, fixtures, canary) is there, and `commit` (the rename onto the target) runs
 * only for a good one, before it is swapped in.
 */
export interface Reloadable {
  adopt(
    candidatePath: string,
    commit: () => Promise<void>,
  ): Promise<{ readonly kind: 'swapped' | 'unchanged' } | { readonly kind: 'rejected'; readonly reason: string }>;
}

export interface BundlePollerHooks {
  polled(result: PollResult): void;
}

const DEFAULT_MAX_BYTES = 32 * 1024 * 1024;

/**
 * Polls an HTTP bundle service the way OPA's bundle plugin does: GET with `If-None-Match` (the
 * last ETag), 304 is "nothing new"; a 200 body is written beside the file the PolicyStore watches,
 * checked there by the store — exactly the checks a file or ConfigMap bundle gets (signature with
 * verification keys, settings schema, fixtures, canary) — and renamed over that file only once
 * accepted. A bad one never replaces the running one (last-known-good), neither in memory nor on
 * disk: a runner killed at any point (the WASM compile is its memory peak) restarts from the last
 * good file, never from a refused one (red-team round 5, finding 10). After a failure (network,
 * status, size, a refused bundle) the next poll waits twice as long, up to maxBackoffMs, with
 * ±20 % jitter; a success resets it. The ETag of a refused bundle is kept, so it is not fetched
 * again until the service publishes another.
 */
export class BundlePoller {
  private etag: string | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly options: BundlePollerOptions;
  private readonly store: Reloadable;
  private readonly hooks: BundlePollerHooks;

  constructor(options: BundlePollerOptions, store: Reloadable, hooks: BundlePollerHooks) {
    this.options = options;
    this.store = store;
    this.hooks = hooks;
  }

  /** One poll: download if changed, hand it to the store. Never throws. */
  async pollOnce(): Promise<PollResult> {
    const result = await this.fetchAndStore().catch((e: unknown): PollResult => ({
      kind: 'failed',
      reason: e instanceof Error ? e.message : String(e),
    }));
    this.failures = result.kind === 'failed' || result.kind === 'rejected' ? this.failures + 1 : 0;
    this.hooks.polled(result);
    return result;
  }

  /**
   * The wait before the next poll, in ms (interval, or the backoff after failures), with ±20 %
   * jitter, at most MAX_TIMER_MS: the jitter's 1.2 × a configured duration can pass what a timer
   * keeps, which Node fires at once (red team 19, finding 4).
   */
  nextDelay(random: () => number = Math.random): number {
    const base = Math.min(this.options.maxBackoffMs, this.options.intervalMs * 2 ** Math.min(this.failures, 30));
    return timerDelay(Math.round(base * (0.8 + 0.4 * random())));
  }

  /** Polls until stop(), the first poll after `firstDelayMs`. */
  start(firstDelayMs = this.options.intervalMs): void {
    const loop = (delay: number): void => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        void this.pollOnce().then(() => loop(this.nextDelay()));
      }, timerDelay(delay));
      this.timer.unref();
    };
    loop(firstDelayMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  /** The Authorization header from bearerTokenFile, or a reason (naming the file, never the token). */
  private async authorization(): Promise<{ header?: string; reason?: string }> {
    const file = this.options.bearerTokenFile;
    if (file === undefined) return {};
    const token = await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.secret).then(
      (t) => t.trim(),
      () => undefined,
    );
    if (token === undefined) return { reason: `cannot read the bearer token file ${file}` };
    // RFC 6750 b64token (plus the visible ASCII a header carries): anything else is refused unsent.
    if (!/^[\x21-\x7e]{1,8192}$/.test(token))
      return { reason: `the bearer token file ${file} is empty or holds characters a header cannot carry` };
    return { header: `Bearer ${token}` };
  }

  private async fetchAndStore(): Promise<PollResult> {
    const headers: Record<string, string> = { ...this.options.headers };
    const auth = await this.authorization();
    if (auth.reason !== undefined) return { kind: 'failed', reason: auth.reason };
    if (auth.header !== undefined) headers.authorization = auth.header;
    if (this.etag !== undefined) headers['if-none-match'] = this.etag;
    const res = await fetch(this.options.url, {
      headers,
      redirect: 'error',
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    });
    if (res.status === 304) return { kind: 'unchanged' };
    if (res.status !== 200) {
      await res.body?.cancel();
      return { kind: 'failed', reason: `bundle service answered ${res.status}` };
    }
    const max = this.options.maxBytes ?? DEFAULT_MAX_BYTES;
    const read = await readAtMost(res, max, 'the bundle');
    if (!read.ok) return { kind: 'failed', reason: `bundle larger than ${max} bytes` };
    const body = read.bytes;
    const target = this.options.target;
    await mkdir(dirname(target), { recursive: true });
    const download = `${target}.download`;
    await writeFile(download, body);
    this.etag = res.headers.get('etag') ?? undefined;
    const outcome = await this.store.adopt(download, () => rename(download, target));
    if (outcome.kind === 'rejected') await rm(download, { force: true });
    return outcome;
  }
}
