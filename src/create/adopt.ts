import { isDeepStrictEqual } from 'node:util';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { fail, ok, type Result } from '../errors/result.ts';

/** The prefix of the labels that say which runner, workflow, run and step an object is for. */
const IDENTITY_PREFIX = 'kubiya.ai/';

/**
 * The adoption rule. Creating a step's object (pod, egress policy, volume claim) that already
 * exists (409 AlreadyExists) is never success by itself: the existing object is adopted only when
 * it belongs to THIS run and step, namely when
 *  - it has an ownerReference of kind WorkflowRun whose uid is the uid `wanted` is owned by (the
 *    WorkflowRun this pass works for: names are per run id, uids are per object ever created), and
 *  - every `kubiya.ai/*` label of `wanted` (runner, workflow, run, step) has the same value on it.
 * An object wanted without an owner uid is never adopted. Anything else is STEP_OBJECT_CONFLICT:
 * the step fails, and the caller creates nothing more for it.
 */
export function adoptable(
  kind: string,
  existing: V1ObjectMeta | undefined,
  wanted: V1ObjectMeta | undefined,
): Result<void> {
  const name = wanted?.name ?? '';
  const uid = ownerUid(wanted);
  const theirs = ownerOf(existing);
  if (uid === undefined || theirs?.uid !== uid) {
    return fail(
      'STEP_OBJECT_CONFLICT',
      `${kind} ${name} already exists and is not this run's (owned by ${theirs === undefined ? 'no WorkflowRun' : `WorkflowRun ${theirs.name}`}): nothing was created for the step`,
    );
  }
  const labels = existing?.labels ?? {};
  const differs = Object.entries(wanted?.labels ?? {})
    .filter(([k, v]) => k.startsWith(IDENTITY_PREFIX) && labels[k] !== v)
    .map(([k]) => k);
  if (differs.length > 0) {
    return fail(
      'STEP_OBJECT_CONFLICT',
      `${kind} ${name} already exists, owned by this run but for something else (${differs.sort().join(', ')} differ): nothing was created for the step`,
    );
  }
  return ok(undefined);
}

/**
 * True when an adopted object's spec is the one this pass would create. An egress policy of ours
 * left by an interrupted pass may have been rendered from an earlier decision: it is replaced, so
 * the pod never runs under egress its audit record does not state.
 */
export function sameSpec(existing: unknown, wanted: unknown): boolean {
  return isDeepStrictEqual(normal(existing), normal(wanted));
}

const normal = (v: unknown): unknown => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

function ownerOf(meta: V1ObjectMeta | undefined): { readonly name: string; readonly uid: string } | undefined {
  return meta?.ownerReferences?.find((o) => o.kind === 'WorkflowRun');
}

function ownerUid(meta: V1ObjectMeta | undefined): string | undefined {
  const uid = ownerOf(meta)?.uid;
  return uid === undefined || uid === '' ? undefined : uid;
}
