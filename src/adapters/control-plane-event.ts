/**
 * The step events the runner posts to the control plane (docs/control-plane.md, `POST
 * /v1/runners/{name}/events`), and the mapping from an audit record to the event it implies.
 */
import { isWaitRecord } from '../errors/waits.ts';

/** One event of the protocol: a run's or a step's phase, or a chunk of a step's log. `time` is ISO 8601. */
export interface ControlPlaneEvent {
  readonly id: string;
  readonly runner: string;
  readonly workflow: string;
  readonly runId: string;
  readonly step?: string | undefined;
  readonly phase:
    | 'Accepted'
    | 'Rejected'
    | 'Denied'
    | 'Running'
    | 'Succeeded'
    | 'Failed'
    | 'Cancelled'
    | 'Error'
    | 'Log'
    // issue 19 §5: an attempt of a step with retries failed; the step runs again.
    | 'Retrying'
    // issue 19 §6: the step's `when` condition was false.
    | 'Skipped';
  readonly code?: string | undefined;
  readonly exitCode?: number | undefined;
  readonly reason?: string | undefined;
  /** Log events: a chunk of the step container's log, its place, and whether the log was cut. */
  readonly log?: string | undefined;
  readonly chunk?: number | undefined;
  readonly truncated?: boolean | undefined;
  readonly time: string;
}

/** Maps an audit record to the control-plane event it implies (undefined: nothing to tell). */
export function eventOf(
  record: {
    decision_id: string;
    stage: string;
    outcome: string;
    code?: string | undefined;
    workflow?: { id: string; runId: string } | undefined;
    step?: string | undefined;
    pod?: { exitCode?: number; reason?: string } | undefined;
    timestamp: string;
  },
  runner: string,
): ControlPlaneEvent | undefined {
  if (record.workflow === undefined) return undefined;
  const base = {
    id: record.decision_id,
    runner,
    workflow: record.workflow.id,
    runId: record.workflow.runId,
    step: record.step,
    time: record.timestamp,
    code: record.code,
  };
  if (record.stage === 'claim') return { ...base, phase: record.outcome === 'allow' ? 'Accepted' : 'Rejected' };
  if (record.stage === 'validate' && record.outcome !== 'allow') return { ...base, phase: 'Rejected' };
  if (record.stage === 'evaluate' && record.outcome === 'deny') return { ...base, phase: 'Denied' };
  if (record.stage === 'create' && record.outcome === 'allow')
    return record.step === undefined ? undefined : { ...base, phase: 'Running' };
  if (record.stage === 'finish')
    return { ...base, phase: finishPhase(record), exitCode: record.pod?.exitCode, reason: record.pod?.reason };
  if (record.stage === 'cancel') return undefined;
  // A step that waits at create (src/errors/waits.ts) has not ended: its Running event comes later.
  if (isWaitRecord(record)) return undefined;
  if (record.outcome === 'error') return { ...base, phase: 'Error' };
  return undefined;
}

/** The event phase of a step's `finish` record. */
function finishPhase(record: { outcome: string; code?: string | undefined }): ControlPlaneEvent['phase'] {
  if (record.code === 'STEP_CONDITION_FALSE') return 'Skipped';
  if (record.outcome === 'success') return 'Succeeded';
  if (record.code === 'STEP_CANCELLED') return 'Cancelled';
  if (record.code === 'STEP_ATTEMPT_FAILED') return 'Retrying';
  return record.outcome === 'failure' ? 'Failed' : 'Error';
}
