/**
 * The identity of a run and the verification of its token, for both paths: admission verifies a
 * token against the JWKS now and trusts its key; the reconcile pass verifies a stored token against
 * the keys trusted at the run's creation (DESIGN §2b). Every outcome is audited through `audit`.
 */
import { decodeJwt, type JWTVerifyGetKey } from 'jose';
import { fail, ok, type Result, type RunnerError } from '../errors/result.ts';
import type { RunObject } from '../ports/runs.ts';
import { dnsSafeName, runName } from '../pod/names.ts';
import type { Workflow } from '../validate/schema.ts';
import { depthIssue } from '../validate/depth.ts';
import { validate } from '../validate/validate.ts';
import { thumbprintOf } from '../verify/trusted-keys.ts';
import { verifyAssignment, verifyTrusted, type AssignmentClaims } from '../verify/verify.ts';
import type { Auditor } from './auditor.ts';
import type { AdmittedRun } from '../run/admitted.ts';
import type { PipelineDeps } from './deps.ts';
import { verifiedRuns } from './verified-cache.ts';

/** The WorkflowRun name of an assignment: derived from its exact jti (injectively), so a replay collides and nothing else does. */
const runNameOf = runName;

/**
 * The name versions before the injective naming gave a run (`CaseJti` and `casejti` shared it).
 * Accepted only for a run that already has a status: one admitted and reconciled by an older
 * version before the upgrade (status is written through the status subresource, by the runner
 * only). docs/operations.md, "Upgrading".
 */
const legacyRunNameOf = (jti: string): string => dnsSafeName(`wr-${jti}`);

/** The jti of a run's stored token as it was admitted (read, not verified: only compared). */
function storedJti(obj: RunObject): string | undefined {
  try {
    const jti = decodeJwt(obj.token).jti;
    return typeof jti === 'string' ? jti : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The run a cancellation names: the WorkflowRun of its jti, or (a run an older version admitted)
 * the legacy name; a run found in the cache must hold exactly that jti. Not in the cache (another
 * replica admitted it a moment ago): the injective name, which the API server resolves.
 */
export function cancelTarget(
  jti: string,
  deps: PipelineDeps,
): { readonly name: string; readonly found?: RunObject } | undefined {
  const name = runNameOf(jti);
  const found = deps.runs.get(name);
  if (found !== undefined) return storedJti(found) === jti ? { name, found } : undefined;
  const legacy = deps.runs.get(legacyRunNameOf(jti));
  if (legacy !== undefined && legacy.status !== undefined && storedJti(legacy) === jti)
    return { name: legacy.name, found: legacy };
  return { name };
}

/** verify (the JWKS now) → validate → trust the verifying key, audited; the run as the token describes it. */
export async function verified(token: string, deps: PipelineDeps, audit: Auditor): Promise<Result<AdmittedRun>> {
  let resolved: unknown;
  const keys: JWTVerifyGetKey = async (header, input) => (resolved = await deps.keys(header, input));
  const verified = await verifyAssignment(token, deps.config.verify, { keys, now: deps.now });
  // Before verification: a refusal within the audit log's refusal budget when the auditor is budgeted.
  if (!verified.ok) return rejected(await audit.refused('verify', verified.error), verified.error);
  const { claims, key } = verified.value;
  // Members in code-unit order (as every object an audit record carries): canonicalisation copies nothing.
  const ref = { id: claims.sub, jti: claims.jti, runId: signedRunId(claims) ?? claims.jti };
  const thumbprint = await thumbprintOf(key);
  // The two records go into one group commit; both are durable before anything depends on them.
  const passed: Promise<unknown>[] = [audit.passed('verify', `token verified (key ${thumbprint})`, { workflow: ref })];
  const run = await validated(claims, audit, ref, passed);
  if (!run.ok) return run;
  // The key that verified the run is trusted durably before the run exists: re-verification
  // later uses it, whatever the JWKS says by then (DESIGN §2b).
  const trusted = await deps.trust.observe([key], deps.now());
  if (!trusted.ok)
    return rejected(await audit.errored('verify', trusted.error, { workflow: run.value.ref }), trusted.error);
  // The reconcile pass may reuse this verification once the run's UID is known (src/admission/admit.ts).
  verifiedRuns(deps.trust).admitted(
    token,
    { verification: verified.value, thumbprint, resolved, options: deps.config.verify, workflow: run.value.workflow },
    deps.now(),
  );
  return run;
}

/**
 * The run id a verified (not yet validated) token names, when it is a plain DNS label: so the
 * verify record names the run as every later record does. Anything else: undefined (the jti
 * stands in, and validation refuses the claim).
 */
function signedRunId(claims: AssignmentClaims): string | undefined {
  const runId =
    typeof claims.workflow === 'object' && claims.workflow !== null
      ? (claims.workflow as { runId?: unknown }).runId
      : undefined;
  return typeof runId === 'string' && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(runId) ? runId : undefined;
}

/**
 * validate the verified workflow claim; `passed` are the records to await with the validate pass
 * (none on re-verification). `known`: validate(claims.workflow) already computed in this process
 * for these very (frozen) claims (src/pipeline/verified-cache.ts), used instead of validating again.
 */
async function validated(
  claims: AssignmentClaims,
  audit: Auditor,
  ref: { id: string; runId: string; jti?: string },
  passed?: Promise<unknown>[],
  known?: Workflow,
): Promise<Result<AdmittedRun>> {
  const workflow = known !== undefined ? ok(known) : (otherClaimsTooDeep(claims) ?? validate(claims.workflow));
  if (!workflow.ok) {
    const denied = audit.denied('validate', workflow.error, { workflow: ref, result: workflow.error.details });
    await Promise.all([...(passed ?? []), denied]);
    return rejected(undefined, workflow.error);
  }
  const run = { id: workflow.value.id, jti: claims.jti, runId: workflow.value.runId };
  if (passed !== undefined) {
    passed.push(
      audit.passed('validate', `workflow ${workflow.value.id} is valid (${workflow.value.steps.length} steps)`, {
        workflow: run,
      }),
    );
    await Promise.all(passed);
  }
  return ok({ name: runNameOf(claims.jti), ref: run, workflow: workflow.value });
}

/**
 * VALIDATE_SCHEMA when a claim other than `workflow` (validate bounds that one) nests more than
 * MAX_CLAIM_DEPTH levels (src/validate/depth.ts): nothing reads them, but the verification cache
 * freezes every claim, recursively (red team 18, finding 6). Undefined when none does.
 */
function otherClaimsTooDeep(claims: AssignmentClaims): Result<never> | undefined {
  for (const name of Object.keys(claims)) {
    if (name === 'workflow') continue;
    const deep = depthIssue(claims[name], name);
    if (deep !== undefined)
      return fail('VALIDATE_SCHEMA', `token claims are invalid: 1 issue(s), first at ${deep.path}: ${deep.message}`, {
        issues: [deep],
      });
  }
  return undefined;
}

/**
 * The stored token again: verified with the keys this runner trusted at the run's creation (not
 * the JWKS as it is now), its time claims judged at the run's creation; the run's name must be
 * its jti's, and its workflow and run labels the token's. Every record names the run (as its
 * labels do: it is not verified yet).
 *
 * A WorkflowRun's `create` is equivalent to intake (SECURITY.md, trust boundary): on a run's FIRST
 * pass (no status yet) the verify and validate passes are recorded, and intake's run-id check is applied
 * — an older WorkflowRun of this runner with the same run id fails this one with
 * ASSIGNMENT_RUN_ID_REUSED, audited, nothing created — so a run made by hand from a genuine,
 * never-admitted token runs only as a delivered one would, fully recorded. A passed run-id check is
 * not recorded again: that pass (audit stage `claim`) is the control plane's `Accepted` event, sent
 * once, by intake.
 * TRUSTED_KEYS_UNAVAILABLE: the store could not be read (the caller retries; nothing is recorded).
 */
export async function reverified(obj: RunObject, deps: PipelineDeps, audit: Auditor): Promise<Result<AdmittedRun>> {
  const labelled = { id: obj.workflowId, runId: obj.runId };
  const against = async (fresh: boolean) => {
    const trusted = await deps.trust.list(fresh);
    if (!trusted.ok) return trusted;
    return verifyTrusted(obj.token, deps.config.verify, {
      trusted: trusted.value,
      at: obj.createdAt,
      skewSeconds: deps.config.verify.clockToleranceSeconds,
    });
  };
  // Intake's verification of this very token for this very run, in this process, when every check
  // but the signature still holds (src/pipeline/verified-cache.ts); else the full verification.
  const cache = verifiedRuns(deps.trust);
  const reused = await cache.recall(obj, deps, deps.config.verify);
  let verified = reused !== undefined ? ok(reused) : await against(false);
  // Another replica may have admitted it with a key this process has not read yet.
  if (!verified.ok && verified.error.code === 'VERIFY_KEY_NOT_TRUSTED') verified = await against(true);
  if (!verified.ok && verified.error.code === 'TRUSTED_KEYS_UNAVAILABLE') return verified;
  if (!verified.ok)
    return rejected(await audit.denied('verify', verified.error, { workflow: labelled }), verified.error);
  const { claims, key } = verified.value;
  const first = obj.status === undefined;
  const ref = { id: labelled.id, jti: claims.jti, runId: labelled.runId }; // in code-unit order, as `ref` above
  // Passes are recorded on the first pass only: later, the evaluate record of each step follows it.
  const passed = first
    ? [
        audit.passed('verify', `token re-verified on the run's first reconcile (key ${await thumbprintOf(key)})`, {
          workflow: ref,
        }),
      ]
    : undefined;
  const run = await validated(claims, audit, ref, passed, reused !== undefined ? cache.workflowOf(reused) : undefined);
  if (!run.ok) return run;
  const named = run.value.name === obj.name || (!first && legacyRunNameOf(claims.jti) === obj.name);
  if (!named || run.value.ref.id !== obj.workflowId || run.value.workflow.runId !== obj.runId) {
    const error = {
      code: 'VERIFY_RUN_MISMATCH',
      message: named
        ? `WorkflowRun ${obj.name} is labelled with another workflow or run id than its token`
        : `WorkflowRun ${obj.name} holds the token of run ${run.value.name}`,
    } as const;
    return rejected(await audit.denied('verify', error, { workflow: labelled }), error);
  }
  if (first) {
    const reused = runIdReused(obj, deps);
    if (reused !== undefined) {
      const error = {
        code: 'ASSIGNMENT_RUN_ID_REUSED',
        message: `run id ${obj.runId} is already used by WorkflowRun ${reused}: a second run with one run id is refused`,
      } as const;
      return rejected(await audit.denied('claim', error, { workflow: run.value.ref }), error);
    }
  }
  return ok({ ...run.value, name: obj.name, uid: obj.uid });
}

/**
 * Intake's run-id check, from the run store (this runner's WorkflowRuns as last observed; no API
 * read): the name of an OLDER WorkflowRun with the same run id (created earlier; in the same
 * second, the smaller name), else undefined. The oldest keeps the run id: a later copy cannot fail
 * the run it copies. Another runner's run with that id in the namespace is not in this store; its
 * step objects share names with this run's, so a step of the later one fails with
 * STEP_OBJECT_CONFLICT (src/create/adopt.ts).
 */
function runIdReused(obj: RunObject, deps: PipelineDeps): string | undefined {
  const at = obj.createdAt.getTime();
  return deps.runs
    .list()
    .find(
      (r) =>
        r.name !== obj.name &&
        r.runId === obj.runId &&
        (r.createdAt.getTime() < at || (r.createdAt.getTime() === at && r.name < obj.name)),
    )?.name;
}

/** A refusal already recorded (the record is awaited by the caller): the error as a failed Result. */
export function rejected(_record: unknown, error: RunnerError): Result<never> {
  return { ok: false, error };
}
