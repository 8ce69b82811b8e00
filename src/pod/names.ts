import { createHash, hash as digestOf } from 'node:crypto';

const MAX_NAME = 63;
/** Hex characters of the identity hash in step object names: 40 bits. */
const ID_HASH_HEX = 10;

/** Already what `clean` makes of it: lower-case alphanumeric runs joined by single dashes. */
const CLEAN = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const clean = (raw: string): string =>
  // Most names are clean already (issue 20: three replaces per pod and run name); the same text.
  CLEAN.test(raw)
    ? raw
    : raw
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-')
        .replace(/-+/g, '-')
        .replace(/^-+|-+$/g, '');

/**
 * DNS-safe object name: lower-cased, runs of other characters become "-", trimmed; when longer
 * than 63 characters it is truncated and suffixed with a short hash of the full name so that two
 * long names never collide by truncation. NOT injective (`A` and `a`, `a_b` and `a-b` map to one
 * name): names that must never be shared by two different things use {@link identityName}.
 */
export function dnsSafeName(raw: string, max = MAX_NAME): string {
  const cleaned = clean(raw);
  if (cleaned.length > 0 && cleaned.length <= max) return cleaned;
  const base = cleaned.length > 0 ? cleaned : 'x';
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  const head = base.slice(0, max - hash.length - 1).replace(/-+$/, '');
  return `${head}-${hash}`;
}

/**
 * A name that two different identities never share: the readable form made DNS-safe and cut to
 * fit, then ALWAYS "-" and a hash of the identity's parts (an unambiguous encoding of the exact
 * strings, so "-" inside a part, case, characters DNS-safing maps away and truncation all stay in
 * the hash). Two different identities get one name only by a collision of 40 bits of SHA-256 —
 * and even then the object is adopted only if it is ours (src/create/adopt.ts), else the step fails.
 * A DNS label: [a-z0-9-], at most `max` (63) characters, alphanumeric at both ends.
 */
export function identityName(readable: string, parts: readonly string[], max = MAX_NAME): string {
  // One-shot SHA-256 (hex), as createHash().update().digest('hex') gives it, without the Hash object.
  const hash = digestOf('sha256', JSON.stringify(parts), 'hex').slice(0, ID_HASH_HEX);
  const head = clean(readable)
    .slice(0, max - ID_HASH_HEX - 1)
    .replace(/-+$/, '');
  return head.length > 0 ? `${head}-${hash}` : `x-${hash}`;
}

/**
 * The seed's pod name, unambiguous across runs: `workflow-<runId>-step-<step>-<hash of (runId,
 * step)>`, DNS-safe, at most 63 characters (the readable part is cut first, the hash stays). Run
 * `a` step `b-step-c` and run `a-step-b` step `c` share the readable part, never the name.
 */
export function podName(runId: string, stepName: string): string {
  return identityName(`workflow-${runId}-step-${stepName}`, ['step', runId, stepName]);
}

/**
 * The pod of one attempt of a step (issue 19 §5): attempt 1 is {@link podName} (as before retries
 * existed, so running pods are adopted across an upgrade); attempt n > 1 is
 * `workflow-<runId>-step-<step>-a<n>-<hash of (runId, step, n)>`. Deterministic: a pass that
 * repeats after a crash looks for, and adopts, the same pod.
 */
export function attemptPodName(runId: string, stepName: string, attempt: number): string {
  if (attempt <= 1) return podName(runId, stepName);
  return identityName(`workflow-${runId}-step-${stepName}-a${attempt}`, ['step', runId, stepName, String(attempt)]);
}

/**
 * The name of a step's egress policy (NetworkPolicy or CiliumNetworkPolicy): its pod's name and
 * `-egress` (at most 70 characters; a DNS subdomain, as both kinds' names are).
 */
export function egressPolicyName(runId: string, stepName: string): string {
  return `${podName(runId, stepName)}-egress`;
}

/**
 * The PVC of a workflow volume in a run: `<run>-<volume>-<hash of (run, volume)>`, DNS-safe, at
 * most 63 characters. `run` is the WorkflowRun's name (one per assignment).
 */
export function volumeClaimName(run: string, volume: string): string {
  return identityName(`${run}-${volume}`, ['volume', run, volume]);
}

export const LABELS = Object.freeze({
  workflow: 'kubiya.ai/workflow',
  step: 'kubiya.ai/step',
  runner: 'kubiya.ai/runner',
  run: 'kubiya.ai/run',
});

/**
 * The annotation with the decision that let the pod be created ("allow (<revision>)"), so a pass
 * that adopts the pod before the run's status names it reports the same decision.
 */
export const DECISION_ANNOTATION = 'kubiya.ai/decision';

/** The annotation that says which attempt of its step a pod is (issue 19 §5); absent on attempt 1. */
export const ATTEMPT_ANNOTATION = 'kubiya.ai/attempt';

/**
 * The WorkflowRun of an assignment: `wr-<readable jti>-<hash of the exact jti>`, a DNS label of at
 * most 63 characters. Injective in the jti (case, `_` against `-`, truncation all stay in the
 * hash), and the same jti always gives the same name, so a replay collides at the API server.
 * Older versions named it `dnsSafeName('wr-' + jti)` (see `legacyRunName` in src/pipeline/verified.ts).
 */
export function runName(jti: string): string {
  return identityName(`wr-${jti}`, ['run', jti]);
}
