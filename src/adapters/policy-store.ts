import type { KeyObject } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { DECISION_ENTRYPOINT, type PolicyEngine } from '../evaluate/policy-engine.ts';
import { verifyBundleFiles } from '../policy/bundle-signature.ts';
import { bundleFixtures, candidateProblems } from '../policy/candidate.ts';
import { effectiveData, overlayRevision, settingsOf, unsignedOverlayProblem } from '../policy/overlay.ts';
import type { ErrorCode } from '../errors/codes.ts';
import { checkPolicyData, fragmentsOf } from '../policy/settings-schema.ts';
import { bundleDirFiles, bundleOf, loadEngine, readBundleFiles } from './opa-wasm.ts';

export interface PolicyStoreOptions {
  /**
   * Public keys a bundle must be signed with (OPA's .signatures.json). Non-empty: an unsigned or
   * wrongly signed bundle is refused (POLICY_BUNDLE_UNSIGNED, POLICY_BUNDLE_SIGNATURE_INVALID in
   * the reason), at start and on reload.
   */
  readonly verificationKeys?: readonly KeyObject[];
}

/**
 * A refused candidate with its catalogue code; its message starts with the code, as the reason a
 * reload rejection logs. At start, `serve` exits with the code (src/app/server.ts StartupError).
 */
export class PolicyCandidateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

export interface PolicyStoreHooks {
  loaded(revision: string): void;
  rejected(reason: string): void;
}

/** A canary the candidate must answer with a well-formed decision before it may replace the current one. */
const CANARY = {
  runner: 'canary',
  workflow: { id: 'canary', name: 'canary', runId: 'canary', volumes: [] },
  step: { name: 'canary', image: 'canary.invalid/canary:1' },
  pod: { spec: { containers: [{ name: 'step', image: 'canary.invalid/canary:1' }] } },
};

function settingsOrThrow(data: unknown, fragments: Readonly<Record<string, unknown>>, source: string): void {
  const checked = checkPolicyData(data, fragments);
  if (!checked.ok) throw new Error(`${checked.error.code}: ${source}: ${checked.error.message}`);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function wellFormed(result: unknown): boolean {
  const first: unknown = Array.isArray(result) ? result[0] : undefined;
  const doc = typeof first === 'object' && first !== null && 'result' in first ? first.result : undefined;
  return (
    typeof doc === 'object' &&
    doc !== null &&
    'allow' in doc &&
    typeof doc.allow === 'boolean' &&
    'violations' in doc &&
    Array.isArray(doc.violations)
  );
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
    this.hooks.loaded(engine.revision);
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
      let next: { engine: PolicyEngine; settings: unknown };
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
  private async checked(path: string): Promise<{ engine: PolicyEngine; settings: unknown } | undefined> {
    try {
      return await this.candidate(path);
    } catch (e) {
      this.hooks.rejected(e instanceof Error ? e.message : String(e));
      return undefined;
    }
  }

  private swapIn(next: { engine: PolicyEngine; settings: unknown }): 'swapped' | 'unchanged' {
    if (next.engine.revision === this.engine?.revision) return 'unchanged';
    this.engine = next.engine;
    this.settings = next.settings;
    this.hooks.loaded(next.engine.revision);
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

  close(): void {
    this.watcher?.close();
    this.dataWatcher?.close();
    if (this.poller !== undefined) clearInterval(this.poller);
    if (this.debounce !== undefined) clearTimeout(this.debounce);
  }

  /**
   * Loads and checks a candidate: the settings it would decide with (the bundle's data, with the
   * data file's settings laid over them) must pass the settings schema — the core schema plus the
   * fragments the bundle carries — or the candidate is refused (POLICY_SETTINGS_INVALID in the
   * message: STARTUP_FAILED at start, POLICY_RELOAD_REJECTED on reload).
   */
  private async candidate(path = this.path): Promise<{ engine: PolicyEngine; settings: unknown }> {
    const files = await readBundleFiles(path);
    // The signature first: nothing of an unverified bundle is parsed or run.
    if (this.verificationKeys.length > 0) {
      const verified = await verifyBundleFiles(files, this.verificationKeys);
      if (!verified.ok) throw new Error(`${verified.error.code}: ${verified.error.message}`);
    }
    const bundle = bundleOf(files, path);
    const fragments = fragmentsOf(bundle.settingsSchema);
    const overlay = this.dataPath === undefined ? undefined : await this.overlay(this.dataPath);
    let engine: PolicyEngine;
    let settings: unknown = settingsOf(bundle.data);
    if (overlay === undefined) {
      settingsOrThrow(bundle.data, fragments, `bundle ${bundle.revision}`);
      engine = await loadEngine(bundle);
    } else {
      const data = effectiveData(bundle.data, overlay.doc);
      settingsOrThrow(data, fragments, `${this.dataPath} over bundle ${bundle.revision}`);
      settings = settingsOf(data);
      // The revision names both: the same bundle with other settings decides differently.
      const revision = overlayRevision(bundle.revision, overlay.text);
      engine = await loadEngine({ ...bundle, data, revision });
    }
    if (!engine.entrypoints.includes(DECISION_ENTRYPOINT))
      throw new Error(`bundle ${engine.revision} has no entrypoint ${DECISION_ENTRYPOINT}`);
    // The canary and every fixture input policy build evaluated, again, with the settings this
    // runner decides with; and the Rego the bundle carries, scanned for what the WASM host lacks.
    const fixtures = [{ name: 'canary', input: CANARY as never }, ...bundleFixtures(bundle.fixtures)];
    const problems = candidateProblems(engine, fixtures, bundle.sources ?? []);
    if (problems.length > 0)
      throw new Error(`bundle ${engine.revision}: the compiled WASM cannot decide:\n  ${problems.join('\n  ')}`);
    if (!wellFormed(engine.evaluate(CANARY, DECISION_ENTRYPOINT)))
      throw new Error(`bundle ${engine.revision} does not return a well-formed decision`);
    return { engine, settings: deepFreeze(structuredClone(settings)) };
  }

  /**
   * The settings file's document, or undefined when nothing is to be laid over the bundle. With
   * verification keys only the empty overlay is accepted, and it changes nothing (the bundle's
   * own revision): POLICY_SETTINGS_UNSIGNED otherwise (src/policy/overlay.ts unsignedOverlayProblem).
   */
  private async overlay(dataPath: string): Promise<{ doc: unknown; text: string } | undefined> {
    const text = await readFile(dataPath, 'utf8');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new PolicyCandidateError('POLICY_SETTINGS_INVALID', `${dataPath} is not JSON`);
    }
    if (this.verificationKeys.length > 0) {
      const problem = unsignedOverlayProblem(doc, dataPath);
      if (problem !== undefined) throw new PolicyCandidateError(problem.code, problem.message);
      return undefined;
    }
    const settings = settingsOf(doc);
    if (typeof settings !== 'object' || settings === null || Array.isArray(settings))
      throw new PolicyCandidateError('POLICY_SETTINGS_INVALID', `${dataPath} has no kubiya.settings object`);
    return { doc, text };
  }

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
