import { fail, type Result } from '../errors/result.ts';
import { AuditUnavailable } from '../pipeline/auditor.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';

/**
 * Runs one admission path. Nothing proceeds without a durable record: an audit log that cannot
 * write is AUDIT_UNAVAILABLE (or AUDIT_RECORD_INVALID for one record with no canonical form); any
 * other throw is a bug, reported to the observer and answered INTERNAL. Never throws.
 */
export async function guarded<T>(deps: PipelineDeps, body: () => Promise<Result<T>>): Promise<Result<T>> {
  try {
    return await body();
  } catch (thrown) {
    if (thrown instanceof AuditUnavailable)
      return fail(
        thrown.code,
        thrown.code === 'AUDIT_RECORD_INVALID' ? thrown.message : `audit log unavailable: ${thrown.message}`,
      );
    deps.observer?.internalError(thrown);
    return fail('INTERNAL', 'internal error');
  }
}
