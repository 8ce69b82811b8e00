import { maskEntry, maskPatternsOf } from '../audit/mask.ts';
import type { AuditEntry, AuditOutcome, AuditRecord, AuditStage } from '../audit/record.ts';
import type { RunnerError } from '../errors/result.ts';
import type { PipelineDeps } from './deps.ts';
import type { RefusalStage } from './refusal-budget.ts';
import { refusalsOf } from './refusals.ts';

/**
 * How an admission records its refusals before verification (receive, verify): `each` one record
 * each (the control plane's pulled assignments, the CLI, tests), `budgeted` within the audit log's
 * refusal budget (HTTP intake: unauthenticated peers; docs/adr/0008).
 */
export type RefusalRecording = 'each' | 'budgeted';

export type Fields = Partial<
  Omit<AuditEntry, 'decision_id' | 'timestamp' | 'stage' | 'outcome' | 'runner' | 'labels' | 'message' | 'code'>
> & {
  /** For logs and metrics only; not written to the audit record. */
  readonly image?: string | undefined;
};

/**
 * Thrown (only) when an audit record cannot be made durable; the pipeline maps it to its code:
 * AUDIT_UNAVAILABLE (the log cannot write), or AUDIT_RECORD_INVALID (this one record has no
 * canonical form; the log is fine).
 */
export class AuditUnavailable extends Error {
  override readonly name = 'AuditUnavailable';
  readonly code: 'AUDIT_UNAVAILABLE' | 'AUDIT_RECORD_INVALID';
  constructor(message: string, code: 'AUDIT_UNAVAILABLE' | 'AUDIT_RECORD_INVALID' = 'AUDIT_UNAVAILABLE') {
    super(message);
    this.code = code;
  }
}

/**
 * Builds the audit entry of one stage outcome and appends it. Resolves only once the record is
 * durable; rejects when it cannot be made durable, which the pipeline turns into AUDIT_UNAVAILABLE
 * before any side effect.
 */
export function auditor(deps: PipelineDeps, refusals: RefusalRecording = 'each'): Auditor {
  const runner = deps.config.runner;
  const write = (
    stage: AuditStage,
    outcome: AuditOutcome,
    message: string,
    { image, ...fields }: Fields,
    error?: RunnerError,
    id?: string,
  ): Promise<AuditRecord> =>
    // Masked before the appender hashes it: a credential in the chain could never be removed. The
    // built-in patterns plus the current bundle's (what SECRET_LITERAL denies is never logged).
    deps.audit
      .append(
        maskEntry(
          {
            decision_id: id ?? deps.newId(),
            timestamp: deps.now().toISOString(),
            stage,
            outcome,
            ...(error !== undefined ? { code: error.code } : {}),
            message: error?.message ?? message,
            runner,
            labels: { runner },
            ...fields,
          },
          maskPatternsOf(deps.policy()?.settings),
        ),
      )
      .then(
        (record) => {
          deps.observer?.recorded(record, { image, namespace: deps.config.namespace });
          return record;
        },
        (e: unknown) => {
          throw new AuditUnavailable(
            e instanceof Error ? e.message : 'append failed',
            (e as { code?: unknown } | null)?.code === 'AUDIT_RECORD_INVALID'
              ? 'AUDIT_RECORD_INVALID'
              : 'AUDIT_UNAVAILABLE',
          );
        },
      );
  return {
    passed: (stage: AuditStage, message: string, fields: Fields = {}) => write(stage, 'allow', message, fields),
    denied: (stage: AuditStage, error: RunnerError, fields: Fields = {}) =>
      write(stage, 'deny', error.message, fields, error),
    errored: (stage: AuditStage, error: RunnerError, fields: Fields = {}) =>
      write(stage, 'error', error.message, fields, error),
    refused: (stage: RefusalStage, error: RunnerError) => {
      if (refusals === 'each' || refusalsOf(deps).take(stage, error.code, deps))
        return write(stage, 'deny', error.message, {}, error);
      // Counted exactly (kubiya_decisions_total) and in the window's summary record; not logged one by one.
      deps.observer?.unrecorded?.(stage, 'deny', error.code);
      return Promise.resolve(undefined);
    },
    /** `id`: a decision_id fixed for this step of this run, so a record repeated after a crash is recognisably the same. */
    finished: (outcome: 'success' | 'failure', message: string, fields: Fields, error?: RunnerError, id?: string) =>
      write('finish', outcome, message, fields, error, id),
  };
}

/** The stage outcomes one admission or reconcile pass records; each resolves once the record is durable. */
export interface Auditor {
  passed: (stage: AuditStage, message: string, fields?: Fields) => Promise<AuditRecord>;
  denied: (stage: AuditStage, error: RunnerError, fields?: Fields) => Promise<AuditRecord>;
  errored: (stage: AuditStage, error: RunnerError, fields?: Fields) => Promise<AuditRecord>;
  /**
   * A refusal before the token is verified (no workflow named: nothing of it is trusted): one
   * `deny` record, or with `budgeted` (see RefusalRecording) none once its code's budget for the
   * window is spent — then it is counted for the window's summary record and resolves undefined.
   */
  refused: (stage: RefusalStage, error: RunnerError) => Promise<AuditRecord | undefined>;
  /** `id`: a decision_id fixed for this step of this run, so a record repeated after a crash is recognisably the same. */
  finished: (
    outcome: 'success' | 'failure',
    message: string,
    fields: Fields,
    error?: RunnerError,
    id?: string,
  ) => Promise<AuditRecord>;
}
