import type { KubernetesObject } from '@kubernetes/client-node';
import { LABELS } from '../pod/names.ts';
import type { RunObject } from '../ports/runs.ts';
import type { RunStatus } from '../run/status.ts';

/** A WorkflowRun as the API server sends it (the fields the runner reads). */
export interface WorkflowRunResource extends KubernetesObject {
  spec?: { token?: string; workflowId?: string; runner?: string; cancel?: boolean };
  status?: RunStatus;
}

/**
 * What KubeRunStore answers from: the informer's cache (`cached`), and what this process wrote (a
 * create, a status) until the informer catches up, so a pass never decides from a status older than
 * its own. Every run's current view is kept from the informer's events and this process's writes,
 * so that `list()` costs no scan of the cache (issue 20 §2: intake's capacity check and a first
 * pass's run-id check list the runs; at 5,000 runs, a scan each was the runner's largest per-run
 * cost that grew with the number of runs). Every method is O(1) but `list()` after a change (one
 * copy of the kept views).
 */
export class RunViews {
  private readonly cached: (name: string) => WorkflowRunResource | undefined;
  private readonly written = new Map<string, WorkflowRunResource>();
  private readonly views = new Map<string, { readonly source: WorkflowRunResource; readonly view: RunObject }>();
  private readonly current = new Map<string, RunObject>();
  /** `current`'s values as an array, until the next change (undefined: changed since). */
  private listed: readonly RunObject[] | undefined;

  /** `cached(name)`: the informer's copy of the run, undefined when it has none. */
  constructor(cached: (name: string) => WorkflowRunResource | undefined) {
    this.cached = cached;
  }

  /** Every run, each as `get` answers: O(1) while nothing changed; one copy of the kept views after a change. */
  list(): readonly RunObject[] {
    this.listed ??= Object.freeze([...this.current.values()]);
    return this.listed;
  }

  /** The run as the informer has it, or as this process last wrote it when that is newer. */
  get(name: string): RunObject | undefined {
    const known = this.cached(name) ?? this.written.get(name);
    return known === undefined ? undefined : this.view(known);
  }

  /**
   * An informer event for `run` (already in the informer's cache, or just deleted from it); the
   * informer's objects come slimmed (slimRun, the informer's slim: no managedFields, a cleaned run's token a stub).
   */
  seen(run: WorkflowRunResource, deleted = false): void {
    const name = run.metadata?.name;
    if (name === undefined) return;
    const mine = this.written.get(name);
    if (deleted || (mine !== undefined && !newer(mine, run))) this.written.delete(name);
    if (deleted) this.views.delete(name);
    this.refresh(name);
  }

  /**
   * What this process wrote (`obj`, the API server's answer): kept when the informer has no newer
   * copy (`onlyUnknown`: only when it has none at all, for a create).
   */
  wrote(name: string, obj: WorkflowRunResource, onlyUnknown = false): void {
    const cached = this.cached(name);
    if (onlyUnknown ? cached !== undefined : cached !== undefined && !newer(obj, cached)) return;
    this.written.set(name, slimRun(obj));
    this.refresh(name);
  }

  /** The run's entry in `current` made again from the informer's cache and this process's writes. */
  private refresh(name: string): void {
    const view = this.get(name);
    if (view === undefined) {
      this.current.delete(name);
      this.views.delete(name);
    } else this.current.set(name, view);
    this.listed = undefined;
  }

  /** The cached object, or what this process wrote if the informer has not caught up yet. */
  private view(cached: WorkflowRunResource): RunObject | undefined {
    const name = cached.metadata?.name;
    if (name === undefined) return undefined;
    const mine = this.written.get(name);
    const r = mine !== undefined && mine.metadata?.uid === cached.metadata?.uid && newer(mine, cached) ? mine : cached;
    // Views are made once per object version: list() over thousands of runs allocates nothing new.
    const memo = this.views.get(name);
    if (memo?.source === r) return memo.view;
    const view = toView(name, r);
    this.views.set(name, { source: r, view });
    return view;
  }
}

function toView(name: string, r: WorkflowRunResource): RunObject {
  return {
    name,
    uid: r.metadata?.uid ?? '',
    createdAt: new Date(r.metadata?.creationTimestamp ?? 0),
    workflowId: r.metadata?.labels?.[LABELS.workflow] ?? '',
    runId: r.metadata?.labels?.[LABELS.run] ?? '',
    token: r.spec?.token ?? '',
    cancelRequested: r.spec?.cancel === true,
    status: r.status,
  };
}

/**
 * The run as the runner keeps it (the informer's cache, its own writes): a shallow copy without
 * `metadata.managedFields`, bytes nothing here reads. A copy, not a `delete`: a stripped object
 * would turn into a slower, larger dictionary in V8 (issue 20 §2, peak RSS at 5,000 runs).
 */
export function withoutManagedFields(run: WorkflowRunResource): WorkflowRunResource {
  const meta = run.metadata;
  if (meta === undefined || !('managedFields' in meta)) return run;
  const { managedFields: _dropped, ...kept } = meta;
  return { ...run, metadata: kept };
}

/** The protected header of a stub token: no algorithm a verifier accepts (controlPlane.algorithms pins EdDSA/ES256). */
const STUB_HEADER = Buffer.from(JSON.stringify({ alg: 'none', typ: 'kubiya-cleaned-run' })).toString('base64url');

/**
 * A stand-in for a cleaned run's stored token: `<header>.<payload {jti, iat, exp}>.` with no
 * signature, so `decodeJwt` still gives the jti a cancellation is matched with (cancelTarget) and
 * the time claims the run's deletion waits for (src/reconcile/expire.ts replayBoundMs), and any
 * verification fails closed (VERIFY_*). A claim that cannot be read (not a string jti, not a
 * finite number iat/exp) is left out: a token whose payload cannot be read keeps none.
 */
export function tokenStub(token: string): string {
  let claims: { jti?: unknown; iat?: unknown; exp?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null) claims = parsed;
  } catch {
    claims = {};
  }
  const { jti, iat, exp } = claims;
  const kept = {
    ...(typeof jti === 'string' ? { jti } : {}),
    ...(typeof iat === 'number' && Number.isFinite(iat) ? { iat } : {}),
    ...(typeof exp === 'number' && Number.isFinite(exp) ? { exp } : {}),
  };
  const payload = Buffer.from(JSON.stringify(kept)).toString('base64url');
  return `${STUB_HEADER}.${payload}.`;
}

/**
 * The run as the runner keeps it in its cache and its own writes: without managedFields
 * (withoutManagedFields), and, once the run is finished and its objects are cleaned up
 * (`status.cleanedAt`), with `spec.token` replaced by tokenStub. A token is up to
 * `controlPlane.maxTokenBytes` (64 KiB by default), and a finished WorkflowRun stays until
 * `workflow.retainFinished` (7 days by default) is over: kept whole, every finished run held its
 * token in the runner's heap until then (red team 17, finding 3: fewer than 4,000 runs with 54 KB
 * tokens exhausted the chart's 192 MiB heap). Nothing reads a cleaned run's token again but a
 * cancellation's jti check and the deletion's wait for its iat/exp (src/reconcile/expire.ts). The
 * WorkflowRun in the API server keeps its token until it is deleted.
 */
export function slimRun(run: WorkflowRunResource): WorkflowRunResource {
  const slim = withoutManagedFields(run);
  const token = slim.spec?.token;
  if (slim.status?.cleanedAt === undefined || token === undefined || token.startsWith(`${STUB_HEADER}.`)) return slim;
  return { ...slim, spec: { ...slim.spec, token: tokenStub(token) } };
}

/** resourceVersions are opaque, but etcd's are increasing integers; compare them as such. */
export function newer(a: KubernetesObject, b: KubernetesObject): boolean {
  const x = Number(a.metadata?.resourceVersion ?? 0);
  const y = Number(b.metadata?.resourceVersion ?? 0);
  return Number.isFinite(x) && Number.isFinite(y) && x > y;
}
