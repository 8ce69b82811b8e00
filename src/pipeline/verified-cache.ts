/**
 * One signature verification per admission (issue #20): the reconcile pass may reuse the
 * verification intake made of a run's token, in the same process, instead of verifying the
 * signature again.
 *
 * An entry is bound to the run's UID (the one the API server returned to intake's create) and to
 * the SHA-256 of the exact token bytes: another run, another token, a hand-made WorkflowRun holding
 * a copied token (another UID) or a restarted process (no entries) all take the full
 * re-verification of src/pipeline/verified.ts. A hit gives exactly what the full path would, or
 * is not a hit; every check except the signature is made again on each use:
 * - the time claims, judged at the run's creation as `verifyTrusted` judges them (jose's rules:
 *   nbf, exp, iat and the token's maximum age, with the clock tolerance), and `exp` still ahead of now;
 * - the verifying key is still in the trusted-key store, trusted at the run's creation, and
 *   matches the token's kid and alg, as `verifyTrusted` selects keys (a key removed from the
 *   store is a miss, and the full path refuses the run);
 * - the control plane's JWKS still resolves the token's header to the very key object that
 *   verified it (a key dropped from the JWKS, or any refresh of it, is a miss: the full path
 *   decides, DESIGN §2b);
 * - the verify options are the ones it was verified with.
 * A hit also hands back intake's validation of the same (frozen) claims, as a fresh copy: validate
 * is a pure function of the workflow claim, so the pass need not run the schema again.
 * The cache is bounded: at most MAX_ENTRIES bound and MAX_PENDING unbound entries, least recently
 * used first out, each for at most TTL_MS and never past the token's `exp`.
 */
import { hash } from 'node:crypto';
import { decodeProtectedHeader, type FlattenedJWSInput, type JWTVerifyGetKey } from 'jose';
import type { RunObject } from '../ports/runs.ts';
import { deepFreeze, frozenCopy, plainCopy } from '../validate/plain-copy.ts';
import type { Workflow } from '../validate/schema.ts';
import { covering, thumbprintOf, type TrustedKeyStore } from '../verify/trusted-keys.ts';
import { timeOrderProblem } from '../verify/claims.ts';
import type { AssignmentClaims, VerifiedAssignment, VerifyOptions } from '../verify/verify.ts';

/** Bound entries kept (runs admitted and not yet past their pods' creation, in practice). */
export const MAX_ENTRIES = 1024;
/** Verifications whose WorkflowRun create has not answered yet. */
export const MAX_PENDING = 256;
/** The longest an entry is used, whatever the token's `exp`. */
export const TTL_MS = 5 * 60_000;

interface Entry {
  readonly verification: VerifiedAssignment;
  readonly thumbprint: string;
  /** The key object the JWKS resolved for the token at intake (compared by identity). */
  readonly resolved: unknown;
  readonly options: VerifyOptions;
  /** validate(claims.workflow) as intake got it: a private frozen copy (undefined: validate again). */
  readonly workflow?: Workflow | undefined;
  /** Epoch ms: min(stored + TTL_MS, exp). */
  readonly until: number;
}

/** What intake hands over after its verification of a token. */
export interface IntakeVerification {
  readonly verification: VerifiedAssignment;
  /** RFC 7638 thumbprint of the verifying key. */
  readonly thumbprint: string;
  readonly resolved: unknown;
  readonly options: VerifyOptions;
  /** The workflow intake's validate() returned for these claims (copied: the caller keeps its own). */
  readonly workflow?: Workflow | undefined;
}

/** The SHA-256 of the exact token bytes (base64url). */
export const tokenHash = (token: string): string => hash('sha256', token, 'base64url'); // a string is hashed as UTF-8

/** Maps with a size bound, the least recently used entry evicted first. */
class Lru<V> {
  private readonly map = new Map<string, V>();
  private readonly cap: number;
  constructor(cap: number) {
    this.cap = cap;
  }
  get size(): number {
    return this.map.size;
  }
  take(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) this.map.delete(key);
    return v;
  }
  get(key: string): V | undefined {
    const v = this.take(key);
    if (v !== undefined) this.map.set(key, v);
    return v;
  }
  set(key: string, v: V): void {
    this.map.delete(key);
    this.map.set(key, v);
    while (this.map.size > this.cap) this.map.delete(this.map.keys().next().value as string);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
}

/** The reusable verifications of one process (per trusted-key store: see `verifiedRuns`). */
export class VerifiedRuns {
  private readonly pending = new Lru<Entry>(MAX_PENDING);
  private readonly bound = new Lru<Entry>(MAX_ENTRIES);
  /** Verification (frozen, as cached) → its validated workflow; dropped with the verification. */
  private readonly validated = new WeakMap<VerifiedAssignment, Workflow>();

  /** Sizes, for tests and metrics. */
  get sizes(): { readonly pending: number; readonly bound: number } {
    return { pending: this.pending.size, bound: this.bound.size };
  }

  /** Intake verified `token` at `now`: kept until its WorkflowRun is created (or evicted). */
  admitted(token: string, v: IntakeVerification, now: Date): void {
    const until = Math.min(now.getTime() + TTL_MS, v.verification.claims.exp * 1000);
    if (!(until > now.getTime())) return;
    deepFreeze(v.verification);
    const workflow = v.workflow === undefined ? undefined : frozenCopy(v.workflow);
    this.pending.set(tokenHash(token), { ...v, workflow, until });
    if (workflow !== undefined) this.validated.set(v.verification, workflow);
  }

  /**
   * Intake's validation of a verification `recall` returned: a fresh, mutable copy of
   * validate(claims.workflow) (what the full path would compute again), or undefined.
   */
  workflowOf(verification: VerifiedAssignment): Workflow | undefined {
    const workflow = this.validated.get(verification);
    return workflow === undefined ? undefined : plainCopy(workflow);
  }

  /** Intake created the token's WorkflowRun with this UID: the verification is now the run's. */
  bind(token: string, uid: string): void {
    const hash = tokenHash(token);
    const entry = this.pending.take(hash);
    if (entry !== undefined) this.bound.set(`${uid}\n${hash}`, entry);
  }

  /** The verification of `obj`'s token, when every check but the signature holds again now; else undefined. */
  async recall(
    obj: RunObject,
    deps: { readonly keys: JWTVerifyGetKey; readonly trust: TrustedKeyStore; readonly now: () => Date },
    options: VerifyOptions,
  ): Promise<VerifiedAssignment | undefined> {
    const key = `${obj.uid}\n${tokenHash(obj.token)}`;
    const entry = this.bound.get(key);
    if (entry === undefined) return undefined;
    const now = deps.now().getTime();
    const { claims } = entry.verification;
    if (
      now >= entry.until ||
      claims.exp * 1000 <= now ||
      entry.options !== options ||
      !timesHold(claims, obj.createdAt, options)
    ) {
      this.bound.delete(key);
      return undefined;
    }
    const header = decodeProtectedHeader(obj.token);
    if (
      !(await stillTrusted(entry, header, obj.createdAt, deps.trust, options)) ||
      !(await stillPublished(entry, header, obj.token, deps.keys))
    ) {
      this.bound.delete(key);
      return undefined;
    }
    return entry.verification;
  }
}

/** As `verifyTrusted` selects keys: trusted at the run's creation (± skew), with the token's kid and alg. */
async function stillTrusted(
  entry: Entry,
  header: { readonly kid?: string | undefined; readonly alg?: string | undefined },
  at: Date,
  trust: TrustedKeyStore,
  options: VerifyOptions,
): Promise<boolean> {
  const trusted = await trust.list(false);
  if (!trusted.ok) return false;
  const named = covering(trusted.value, at, options.clockToleranceSeconds).filter(
    (k) =>
      k.thumbprint === entry.thumbprint &&
      (header.kid === undefined || k.jwk.kid === undefined || k.jwk.kid === header.kid) &&
      (k.jwk.alg === undefined || k.jwk.alg === header.alg),
  );
  // The entry's name is only a label: the full path verifies with the stored JWK, so the cache trusts
  // an entry only when the stored JWK itself still has the thumbprint that verified (red team round 6,
  // finding 3: a JWK replaced under the same name was a hit here and a refusal for a fresh process).
  for (const k of named) if ((await thumbprintOf(k.jwk).catch(() => undefined)) === entry.thumbprint) return true;
  return false;
}

/** The JWKS resolves the token's header to the key object that verified it at intake. */
async function stillPublished(
  entry: Entry,
  header: ReturnType<typeof decodeProtectedHeader>,
  token: string,
  keys: JWTVerifyGetKey,
): Promise<boolean> {
  const [protectedHeader, payload, signature] = token.split('.');
  const input: FlattenedJWSInput = { protected: protectedHeader, payload: payload ?? '', signature: signature ?? '' };
  try {
    return (await keys(header as Parameters<JWTVerifyGetKey>[0], input)) === entry.resolved;
  } catch {
    return false;
  }
}

/**
 * The time claims at `at`, exactly as jose's jwtVerify judges them with `currentDate: at` (its
 * validateClaimsSet): times in whole seconds, the clock tolerance on each side, the maximum age
 * from `iat`; and, as verifyToken, `exp` after `iat` and `nbf` (timeOrderProblem). The claims
 * were checked to be numbers when the token was verified.
 */
export function timesHold(claims: AssignmentClaims, at: Date, options: VerifyOptions): boolean {
  if (timeOrderProblem(claims) !== undefined) return false;
  const now = Math.floor(at.getTime() / 1000);
  const tolerance = options.clockToleranceSeconds;
  if (typeof claims.nbf === 'number' && claims.nbf > now + tolerance) return false;
  if (claims.exp <= now - tolerance) return false;
  const age = now - claims.iat;
  return !(age - tolerance > options.maxTokenAgeSeconds) && !(age < -tolerance);
}

const perStore = new WeakMap<TrustedKeyStore, VerifiedRuns>();

/**
 * The process's reusable verifications, one set per trusted-key store (so per runner: `serve`
 * has one store; each test's store starts empty). A restarted process has none.
 */
export function verifiedRuns(trust: TrustedKeyStore): VerifiedRuns {
  let runs = perStore.get(trust);
  if (runs === undefined) perStore.set(trust, (runs = new VerifiedRuns()));
  return runs;
}
