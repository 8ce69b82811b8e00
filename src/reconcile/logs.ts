import type { PipelineDeps } from '../pipeline/deps.ts';
import type { AdmittedRun } from '../run/admitted.ts';

/** The most of a step's log that goes to the control plane, and the size of each event's chunk. */
const LOG_LIMIT_BYTES = 256 * 1024;
const LOG_CHUNK_BYTES = 16 * 1024;

/**
 * The step container's log, once it ended, to the observer (which sends it to the control plane
 * as Log events). Best effort: a log that cannot be read never changes the step's outcome.
 */
export async function shipLogs(run: AdmittedRun, step: string, pod: string, deps: PipelineDeps): Promise<void> {
  const sink = deps.observer?.stepLog?.bind(deps.observer);
  if (sink === undefined) return;
  const log = await deps.logs.read(pod, 'step', LOG_LIMIT_BYTES + 1);
  if (!log.ok) return;
  const bytes = Buffer.from(log.value, 'utf8');
  const truncated = bytes.length > LOG_LIMIT_BYTES;
  const kept = bytes.subarray(0, LOG_LIMIT_BYTES);
  for (let i = 0, chunk = 0; i < kept.length; i += LOG_CHUNK_BYTES, chunk++) {
    const last = i + LOG_CHUNK_BYTES >= kept.length;
    sink({
      run: run.name,
      workflow: { id: run.ref.id, runId: run.ref.runId },
      step,
      pod,
      chunk,
      text: kept.subarray(i, i + LOG_CHUNK_BYTES).toString('utf8'),
      truncated: last && truncated,
    });
  }
}
