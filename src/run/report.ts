import type { ErrorCode } from '../errors/codes.ts';
import type { RunPhase } from './status.ts';

/** A step's end as the in-process runner (src/app/runner.ts) and the demo report it. */
export interface StepReport {
  readonly step: string;
  readonly status: 'succeeded' | 'failed' | 'denied' | 'error' | 'skipped';
  readonly code?: ErrorCode | undefined;
  readonly message: string;
  readonly pod?: string | undefined;
  readonly exitCode?: number | undefined;
}

/** One assignment as the in-process runner reports it: accepted or not, then its steps. */
export interface AssignmentReport {
  readonly accepted: boolean;
  readonly code?: ErrorCode | undefined;
  readonly message: string;
  readonly workflow?: { readonly id: string; readonly runId: string; readonly jti?: string | undefined } | undefined;
  /** The run's final phase (absent when it was not accepted). */
  readonly phase?: RunPhase | undefined;
  readonly steps: readonly StepReport[];
}
