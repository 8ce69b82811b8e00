import type { ErrorCode } from '../errors/codes.ts';

export type AuditStage =
  'receive' | 'verify' | 'validate' | 'claim' | 'cancel' | 'evaluate' | 'mutate' | 'create' | 'finish';
export type AuditOutcome = 'allow' | 'deny' | 'error' | 'success' | 'failure';

/**
 * One audit record as the pipeline hands it to the appender. Field names follow OPA's decision-log
 * event (decision_id, path, input, result, bundles, labels, timestamp, metrics, erased) plus ours
 * (stage, outcome, code, workflow, step, patch, pod, runner).
 */
export interface AuditEntry {
  readonly decision_id: string;
  readonly timestamp: string;
  readonly stage: AuditStage;
  readonly outcome: AuditOutcome;
  readonly code?: ErrorCode | undefined;
  readonly message: string;
  readonly runner: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly workflow?: { readonly id: string; readonly runId: string; readonly jti?: string } | undefined;
  readonly step?: string | undefined;
  readonly path?: string | undefined;
  readonly input?: unknown;
  readonly result?: unknown;
  /** OPA's bundles member: each bundle's revision; ours also names the verification key that verified it (`keyid`), when one did. */
  readonly bundles?: Readonly<Record<string, { readonly revision: string; readonly keyid?: string }>> | undefined;
  readonly patch?: unknown;
  readonly pod?:
    | {
        readonly name: string;
        readonly namespace: string;
        readonly phase?: string;
        readonly exitCode?: number;
        readonly reason?: string;
      }
    | undefined;
  readonly erased?: readonly string[] | undefined;
  readonly masked?: readonly string[] | undefined;
  readonly metrics?: Readonly<Record<string, number>> | undefined;
}

/** A record as written: the entry plus its place in the hash chain. */
export type AuditRecord = AuditEntry & { readonly seq: number; readonly prev: string; readonly hash: string };

/** The port the pipeline writes through; resolves only once the record is durable. */
export interface AuditSink {
  /**
   * Chains the entry and resolves with its record once it is durable. Rejects (throws) when it
   * cannot be made durable — the auditor (src/pipeline/auditor.ts) turns that into AuditUnavailable,
   * AUDIT_UNAVAILABLE or AUDIT_RECORD_INVALID — never resolves with a record that is not written.
   */
  append(entry: AuditEntry): Promise<AuditRecord>;
}
