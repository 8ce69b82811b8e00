/**
 * Which create-stage refusals make a step wait instead of ending it (red team 12, finding 3).
 *
 * The class: a refusal that describes the cluster's state now (retryable), at the create stage,
 * taken as a terminal verdict on the step. A step waits only when the refusal is retryable
 * without ambiguity: it came before any API call for the pod, so no pod of the step exists
 * (an egress policy made for it is deleted again by createStepObjects, and adopted by the next
 * attempt when that delete failed). Every other create-stage code still ends the step: a verdict
 * on the step or its objects (CREATE_REJECTED, STEP_OBJECT_CONFLICT, STEP_POD_ALTERED), or an
 * answer after which the pod may exist (CREATE_FAILED, e.g. a timeout: not retried here). The
 * table of each code and why is docs/operations.md, "Create-stage refusals".
 */
import type { ErrorCode } from './codes.ts';

/**
 * The PodSecurity gate's refusal codes (src/app/pod-security.ts `refusalCode`, whose return type is
 * this list's: the gate cannot refuse with a code not listed here). The one list of them: the gate's
 * log filter (`quietGateProblems`) and the wait below both read it (red team 13, finding 1).
 */
export const POD_SECURITY_REFUSALS = [
  'POD_SECURITY_NOT_ENFORCED',
  'POD_SECURITY_UNKNOWN',
] as const satisfies readonly ErrorCode[];

/** A code the PodSecurity gate refuses step pods with. */
export type PodSecurityRefusal = (typeof POD_SECURITY_REFUSALS)[number];

/**
 * The codes that make a step wait at create: the PodSecurity gate's (src/app/pod-security-gate.ts
 * `gatedDeps` refuses `pods.create` before calling the API server while the workflows namespace
 * is not known to enforce restricted).
 */
export const WAIT_AT_CREATE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(POD_SECURITY_REFUSALS);

/** True when a create-stage refusal with `code` leaves the step Pending, to be started by a later pass. */
export const waitsAtCreate = (code: string | undefined): boolean =>
  code !== undefined && (WAIT_AT_CREATE as ReadonlySet<string>).has(code);

/**
 * True for an audit record that says a step waits (its `create` refused with a wait code): an
 * `error` record that does not end the step or the run. Every reader of the log that turns records
 * into a step's or a run's end (the control plane's events, src/adapters/control-plane-event.ts
 * `eventOf`; the HTML report's run verdict, src/audit/report-runs.ts) skips it (red team 13, finding 2).
 */
export const isWaitRecord = (record: { readonly stage: string; readonly code?: string | undefined }): boolean =>
  record.stage === 'create' && waitsAtCreate(record.code);
