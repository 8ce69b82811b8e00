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

/** Log reads at once per runner; more wait in line (each is one GET of a bounded size). */
const LOG_READS_AT_ONCE = 4;
/** Ends whose log waits to be read, at most; past that, a log is not shipped (best effort) rather than held in memory. */
const LOG_QUEUE_LIMIT = 10_000;

interface LogJob {
  readonly run: AdmittedRun;
  readonly step: string;
  readonly pod: string;
}

/** One line of log reads per set of ports (per runner process), off the reconcile pass. */
const lines = new WeakMap<PipelineDeps['logs'], { readonly queue: LogJob[]; active: number }>();

/**
 * The step's log shipped OFF the reconcile pass (issue 20 §2, completion seen): the pass records
 * the end and writes the status without waiting for a log read; the read waits in a bounded line
 * (LOG_READS_AT_ONCE at a time) and goes to the observer as shipLogs does. The pod stays for the
 * TTL, so its log is still there. Never throws; a full line drops the log (it was best effort).
 */
export function shipLogsLater(run: AdmittedRun, step: string, pod: string, deps: PipelineDeps): void {
  if (deps.observer?.stepLog === undefined) return;
  const line = lines.get(deps.logs) ?? { queue: [], active: 0 };
  lines.set(deps.logs, line);
  if (line.queue.length >= LOG_QUEUE_LIMIT) return;
  line.queue.push({ run, step, pod });
  const next = (): void => {
    const job = line.queue.shift();
    if (job === undefined) return;
    line.active++;
    void shipLogs(job.run, job.step, job.pod, deps)
      .catch(() => undefined)
      .finally(() => {
        line.active--;
        next();
      });
  };
  if (line.active < LOG_READS_AT_ONCE) next();
}
