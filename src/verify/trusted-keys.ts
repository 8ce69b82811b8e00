import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Result } from '../errors/result.ts';

/**
 * The keys this runner has trusted, kept after the control plane's JWKS drops them (DESIGN §2b).
 *
 * Admission verifies a token against the JWKS as it is now and records the key that verified it
 * here *before* the WorkflowRun exists. The reconciler re-verifies a run's stored token only
 * against the keys recorded here whose trusted period covers the run's `creationTimestamp`, so a
 * JWKS outage or a routine rotation never touches admitted runs, and a hand-made WorkflowRun
 * gets nowhere unless its token verifies with a key this runner trusted at the time the run was
 * made.
 */
export interface TrustedKey {
  /** RFC 7638 JWK SHA-256 thumbprint (base64url): the key's identity, whatever its kid. */
  readonly thumbprint: string;
  /** The public key as a JWK (with the kid and alg it was used with, when known). */
  readonly jwk: JWK;
  /** ISO 8601: the first moment this runner saw the key published (or verified a token with it). */
  readonly firstSeen: string;
  /** ISO 8601: the last such moment, recorded with a resolution of TRUST_RESOLUTION_SECONDS. */
  readonly lastSeen: string;
}

/**
 * The durable store of trusted keys (port). The real one is a ConfigMap in the runner's
 * namespace, shared by every replica and surviving restarts; unit tests use an in-memory twin.
 */
export interface TrustedKeyStore {
  /**
   * Records that these public keys are trusted at `at` (new keys get firstSeen = lastSeen = at;
   * known keys get lastSeen moved forward). Resolves ok only once the record is durable.
   * Returns a Result, never throws. Error: TRUSTED_KEYS_UNAVAILABLE.
   */
  observe(keys: readonly JWK[], at: Date): Promise<Result<void>>;
  /**
   * Every trusted key. `fresh`: read the durable copy again rather than this process's cache
   * (another replica may have admitted a run with a key this one has not seen).
   * Returns a Result, never throws. Error: TRUSTED_KEYS_UNAVAILABLE.
   */
  list(fresh?: boolean): Promise<Result<readonly TrustedKey[]>>;
}

/**
 * lastSeen is moved forward only when it is at least this old: a busy runner does not write the
 * store on every admission. The coverage check adds it back (see `covering`).
 */
export const TRUST_RESOLUTION_SECONDS = 60;

/** The members of a public JWK that identify the key (RFC 7638 §3.2), plus kid and alg. */
export function publicJwk(jwk: JWK): JWK {
  const { kty, crv, x, y, n, e, kid, alg } = jwk;
  const out: JWK = { kty };
  for (const [k, v] of Object.entries({ crv, x, y, n, e, kid, alg }))
    if (typeof v === 'string') (out as Record<string, string>)[k] = v;
  return out;
}

/**
 * The members any RFC 7638 thumbprint can read (jose's calculateJwkThumbprint: kty and, per kty,
 * crv/x/y, e/n, k, alg/pub): two JWKs equal on these have the same thumbprint.
 */
const THUMBPRINT_MEMBERS = ['kty', 'crv', 'x', 'y', 'e', 'n', 'k', 'alg', 'pub'] as const;
/** Thumbprints computed in this process, by their members' text; emptied when full. */
const thumbprints = new Map<string, string>();
const MAX_THUMBPRINTS = 256;

/** The memo key of a JWK: its thumbprint members as JSON, or undefined when one is not a string (not memoised). */
function thumbprintKey(jwk: JWK): string | undefined {
  const members: (string | null)[] = [];
  for (const m of THUMBPRINT_MEMBERS) {
    const v: unknown = (jwk as Record<string, unknown>)[m];
    if (v !== undefined && typeof v !== 'string') return undefined;
    members.push(v ?? null);
  }
  return JSON.stringify(members);
}

/**
 * RFC 7638 thumbprint (SHA-256, base64url) of a public JWK. Intake computes it for every
 * admission (the verify record, the trusted-key merge) of the same few keys: a thumbprint already
 * computed for the same members is returned without hashing again (WebCrypto's digest dispatch
 * was 17 % of intake's CPU, issue #20). Failures are not remembered (the same error each time).
 */
export async function thumbprintOf(jwk: JWK): Promise<string> {
  const key = thumbprintKey(jwk);
  const known = key === undefined ? undefined : thumbprints.get(key);
  if (known !== undefined) return known;
  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
  if (key !== undefined) {
    if (thumbprints.size >= MAX_THUMBPRINTS) thumbprints.clear();
    thumbprints.set(key, thumbprint);
  }
  return thumbprint;
}

/**
 * The store after observing `keys` at `at`, or undefined when nothing needs writing (every key
 * known, and its lastSeen younger than the resolution). Pure; shared by the adapter and the twin.
 * Keys with a private part are never stored (only the public members are kept).
 */
export async function merge(
  current: readonly TrustedKey[],
  keys: readonly JWK[],
  at: Date,
): Promise<TrustedKey[] | undefined> {
  const next = new Map(current.map((k) => [k.thumbprint, k]));
  let changed = false;
  const now = at.toISOString();
  for (const raw of keys) {
    const jwk = publicJwk(raw);
    // A JWKS member that is not a usable public key (no thumbprint) is not recorded.
    const thumbprint = await thumbprintOf(jwk).catch(() => undefined);
    if (thumbprint === undefined) continue;
    const known = next.get(thumbprint);
    if (known === undefined) {
      next.set(thumbprint, { thumbprint, jwk, firstSeen: now, lastSeen: now });
      changed = true;
    } else if (at.getTime() - new Date(known.lastSeen).getTime() >= TRUST_RESOLUTION_SECONDS * 1000) {
      next.set(thumbprint, { ...known, lastSeen: now });
      changed = true;
    } else if (at.getTime() < new Date(known.firstSeen).getTime()) {
      next.set(thumbprint, { ...known, firstSeen: now });
      changed = true;
    }
  }
  return changed ? [...next.values()] : undefined;
}

/**
 * The keys trusted at `at`: firstSeen − skew ≤ at ≤ lastSeen + resolution + skew. `skewSeconds`
 * covers the API server's one-second creationTimestamp and clock differences between the runner
 * and the API server (the runner uses controlPlane.clockTolerance); the resolution covers the
 * lastSeen writes skipped by `merge`.
 */
export function covering(keys: readonly TrustedKey[], at: Date, skewSeconds: number): TrustedKey[] {
  const t = at.getTime();
  const skew = skewSeconds * 1000;
  return keys.filter(
    (k) =>
      new Date(k.firstSeen).getTime() - skew <= t &&
      t <= new Date(k.lastSeen).getTime() + TRUST_RESOLUTION_SECONDS * 1000 + skew,
  );
}

/** Parses one stored entry; undefined when it is not a well-formed TrustedKey (ignored, fail closed). */
export function parseTrustedKey(thumbprint: string, text: string): TrustedKey | undefined {
  try {
    const v = JSON.parse(text) as Partial<TrustedKey>;
    if (typeof v.jwk !== 'object' || v.jwk === null || typeof v.jwk.kty !== 'string') return undefined;
    if (
      typeof v.firstSeen !== 'string' ||
      typeof v.lastSeen !== 'string' ||
      Number.isNaN(Date.parse(v.firstSeen)) ||
      Number.isNaN(Date.parse(v.lastSeen))
    )
      return undefined;
    return { thumbprint, jwk: publicJwk(v.jwk), firstSeen: v.firstSeen, lastSeen: v.lastSeen };
  } catch {
    return undefined;
  }
}

/** One entry as stored (the thumbprint is the entry's key). */
export function serialiseTrustedKey(k: TrustedKey): string {
  return JSON.stringify({ jwk: k.jwk, firstSeen: k.firstSeen, lastSeen: k.lastSeen });
}
