import type { KeyObject } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { PolicyEngine } from '../evaluate/policy-engine.ts';
import { bundleDirFiles } from './opa-wasm.ts';
import { loadCandidate, type Candidate } from './policy-candidate.ts';

/** How a PolicyStore checks its candidates. */
export interface PolicyStoreOptions {
  /**
   * Public keys a bundle must be signed with (OPA's .signatures.json). Non-empty: an unsigned or
   * wrongly signed bundle is refused (POLICY_BUNDLE_UNSIGNED, POLICY_BUNDLE_SIGNATURE_INVALID in
   * the reason), at start and on reload.
   */
  readonly verificationKeys?: readonly KeyObject[];
}

/** What the store tells its owner: a revision now decides, or a candidate was refused (its code first). */
export interface PolicyStoreHooks {
  /** A bundle is in force: its revision, and the key id that verified it (PolicyEngine.keyid) when one did. */
  loaded(revision: string, keyid: string | undefined): void;
  rejected(reason: string): void;
}

/** What adopting a candidate did: swapped in, the same revision, or refused (why: its code first). */
export type Adopted =
  { readonly kind: 'swapped' | 'unchanged' } | { readonly kind: 'rejected'; readonly reason: string };

/**
 * The current policy, reloaded when its bundle changes (a tar.gz file, or a directory such as a
 * ConfigMap mount whose files are swapped through a symlink). A candidate is loaded and checked
 * (entrypoint present, canary decision well formed) before one atomic swap; a bad candidate never
 * replaces the running bundle (last-known-good) and is reported through `hooks.rejected`.
 */
export class PolicyStore {
  private engine: PolicyEngine | undefined;
  private settings: unknown;
  private readonly path: string;
  private readonly dataPath: string | undefined;
  private readonly verificationKeys: readonly KeyObject[];
  private readonly hooks: PolicyStoreHooks;
  private fingerprint = '';
  private watcher: FSWatcher | undefined;
  private dataWatcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private reloading: Promise<unknown> = Promise.resolve();

  /**
   * `dataPath`: a data.json whose `kubiya.settings` are laid over the bundle's (settings from Helm
   * values; src/policy/overlay.ts: objects merge, anything else replaces).
   */
  constructor(path: string, hooks: PolicyStoreHooks, dataPath?: string, options: PolicyStoreOptions = {}) {
    this.path = path;
    this.hooks = hooks;
    this.dataPath = dataPath;
    this.verificationKeys = options.verificationKeys ?? [];
  }

  /** The engine deciding now; undefined before load(). */
  current(): PolicyEngine | undefined {
    return this.engine;
  }

  /**
   * The `kubiya.settings` the current engine decides with (schema-checked, frozen), swapped with
   * it. The engine carries the same settings (PolicyEngine.settings, from the data it was loaded
   * with), which audit masking reads its credential patterns from (src/audit/mask.ts
   * maskPatternsOf), so the policy and the masking always use the same list.
   */
  currentSettings(): unknown {
    return this.settings;
  }

  /** Initial load: throws when the bundle is bad (the runner must not start without a policy). */
  async load(): Promise<PolicyEngine> {
    const fingerprint = await this.fingerprintNow();
    const { engine, settings } = await this.candidate();
    this.engine = engine;
    this.settings = settings;
    this.fingerprint = fingerprint;
    this.hooks.loaded(engine.revision, engine.keyid);
    return engine;
  }

  /** Re-reads the bundle if it changed; swaps only a good one. */
  reload(): Promise<'swapped' | 'unchanged' | 'rejected'> {
    return this.serially(async () => {
      const fingerprint = await this.fingerprintNow().catch(() => 'missing');
      if (fingerprint === this.fingerprint) return 'unchanged' as const;
      this.fingerprint = fingerprint;
      const next = await this.checked(this.path);
      return next === undefined ? ('rejected' as const) : this.swapIn(next);
    });
  }

  /**
   * Takes a candidate bundle that is not yet the bundle file (a download at `candidatePath`): it
   * gets every check a reload makes (signature, settings, fixtures, canary); only a good one is
   * committed — `commit()` (the caller's atomic rename onto this store's path) runs, then the engine
   * is swapped. A refused one is reported (hooks.rejected) and the bundle file is never touched, so
   * the file on disk is the last good bundle at every instant, whenever the process is killed.
   * A failing commit throws (nothing swapped).
   */
  adopt(candidatePath: string, commit: () => Promise<void>): Promise<Adopted> {
    return this.serially(async (): Promise<Adopted> => {
      let next: Candidate;
      try {
        next = await this.candidate(candidatePath);
      } catch (e) {
        const reason = e instanceof Error ? e.message : String(e);
        this.hooks.rejected(reason);
        return { kind: 'rejected', reason };
      }
      await commit();
      this.fingerprint = await this.fingerprintNow().catch(() => 'missing');
      return { kind: this.swapIn(next) };
    });
  }

  /** Runs `f` after every reload or adoption already under way (one at a time). */
  private serially<T>(f: () => Promise<T>): Promise<T> {
    const next = this.reloading.then(f);
    this.reloading = next.catch(() => undefined);
    return next;
  }

  /** The candidate at `path`, or undefined when it is refused (reported through hooks.rejected). */
  private async checked(path: string): Promise<Candidate | undefined> {
    try {
      return await this.candidate(path);
    } catch (e) {
      this.hooks.rejected(e instanceof Error ? e.message : String(e));
      return undefined;
    }
  }

  /**
   * Makes `next` current unless it is the revision deciding now, verified by the same key (the
   * same policies re-signed by another trusted key are swapped in, so records and /ready name the
   * key that verified what is in force); tells hooks.loaded.
   */
  private swapIn(next: Candidate): 'swapped' | 'unchanged' {
    if (next.engine.revision === this.engine?.revision && next.engine.keyid === this.engine.keyid) return 'unchanged';
    this.engine = next.engine;
    this.settings = next.settings;
    this.hooks.loaded(next.engine.revision, next.engine.keyid);
    return 'swapped';
  }

  /** Watches the bundle (fs events, plus a poll as a fallback for filesystems without them). */
  watch(pollMs = 2000): void {
    const schedule = (): void => {
      if (this.debounce !== undefined) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload(), 200);
    };
    try {
      this.watcher = watch(dirname(this.path), { persistent: false }, schedule);
      this.watcher.on('error', () => undefined);
      if (this.dataPath !== undefined && dirname(this.dataPath) !== dirname(this.path)) {
        this.dataWatcher = watch(dirname(this.dataPath), { persistent: false }, schedule);
        this.dataWatcher.on('error', () => undefined);
      }
    } catch {
      // polling still works
    }
    // The poll only stats the files; a reload happens when they changed.
    this.poller = setInterval(() => void this.reload(), pollMs);
    this.poller.unref();
  }

  /** Stops watching and polling (a reload under way still finishes). */
  close(): void {
    this.watcher?.close();
    this.dataWatcher?.close();
    if (this.poller !== undefined) clearInterval(this.poller);
    if (this.debounce !== undefined) clearTimeout(this.debounce);
  }

  /** The candidate at `path` (default: the store's bundle) with the store's settings file and keys (policy-candidate.ts). */
  private candidate(path = this.path): Promise<Candidate> {
    return loadCandidate({ path, dataPath: this.dataPath, verificationKeys: this.verificationKeys });
  }

  /** A string that changes whenever the bundle (any file of a directory bundle) or the settings file changes. */
  private async fingerprintNow(): Promise<string> {
    const data =
      this.dataPath === undefined
        ? ''
        : await stat(this.dataPath).then(
            (d) => `|data:${d.mtimeMs}:${d.size}:${d.ino}`,
            () => '|data:-',
          );
    return `${await this.bundleFingerprint()}${data}`;
  }

  /** mtime, size and inode of the bundle file, or of every file of a directory bundle. */
  private async bundleFingerprint(): Promise<string> {
    const info = await stat(this.path);
    if (!info.isDirectory()) return `${info.mtimeMs}:${info.size}:${info.ino}`;
    // Every file, nested ones included: a change anywhere in a directory bundle is a new candidate.
    const parts = await Promise.all(
      [...(await bundleDirFiles(this.path))].map(async ([f, p]) => {
        const s = await stat(p).catch(() => undefined);
        return s === undefined ? `${f}:-` : `${f}:${s.mtimeMs}:${s.size}:${s.ino}`;
      }),
    );
    return `${basename(this.path)}|${parts.join('|')}`;
  }
}
