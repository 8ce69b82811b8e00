import type { Workflow } from '../validate/schema.ts';

/** A verified, valid assignment, ready to execute. */
export interface AdmittedRun {
  /** The run's name, derived from the token's jti (DNS-safe). */
  readonly name: string;
  /** Workflow id, run id and the token's jti; jti is absent only for a run stopped because its token did not verify. */
  readonly ref: { readonly id: string; readonly runId: string; readonly jti?: string | undefined };
  readonly workflow: Workflow;
  /** The WorkflowRun's uid once created: step pods are owned by it (garbage-collected with it). */
  readonly uid?: string | undefined;
}
