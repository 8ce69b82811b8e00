/**
 * The in-process runner of the demo and the cluster tests: the same parts as `serve`
 * (compose.ts, from a Config parsed by the schema), without HTTP, Lease or control-plane client —
 * this process is the only runner, so its reconciler always leads.
 */
import pino, { type Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { createMetrics, type Metrics } from '../observe/metrics.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { openParts } from './compose.ts';

export interface RunningRunner {
  readonly deps: PipelineDeps;
  readonly reconciler: Reconciler;
  /** Stops the reconciler and the informers, then flushes and closes the audit log. */
  close(): Promise<void>;
}

/** Where the runner's log lines and metrics go: nowhere (a silent logger, a private registry) unless given; and its clock. */
export interface RunnerObservers {
  readonly log?: Logger | undefined;
  readonly metrics?: Metrics | undefined;
  /**
   * The pipeline's clock (default the system's): a test moves it past a token's life (a WorkflowRun
   * is deleted only once its token can no longer verify, hours after it was issued; src/reconcile/expire.ts).
   */
  readonly now?: (() => Date) | undefined;
}

/**
 * Opens the parts of `config` (compose.ts: the same as `serve`'s), lists runs and pods, and starts
 * a reconciler that always leads. Throws what openParts throws, after closing what it opened.
 */
export async function startRunner(config: Config, observers: RunnerObservers = {}): Promise<RunningRunner> {
  const log = observers.log ?? pino({ level: 'silent' });
  const metrics = observers.metrics ?? createMetrics(config.runner.name);
  const undo: (() => unknown)[] = [];
  try {
    const parts = await openParts(config, log, metrics, undo);
    await Promise.all([parts.pods.start(), parts.runs.start()]);
    const deps = observers.now === undefined ? parts.deps : { ...parts.deps, now: observers.now };
    const reconciler = new Reconciler(deps, { isLeader: () => true, workers: 64, resyncMs: 30_000 });
    reconciler.start();
    return {
      deps,
      reconciler,
      close: async () => {
        await reconciler.stop();
        await parts.runs.stop();
        await parts.pods.stop();
        parts.policies.close();
        parts.stopKeys();
        await parts.audit.close();
      },
    };
  } catch (e) {
    for (const step of undo.reverse())
      await Promise.resolve()
        .then(step)
        .catch(() => undefined);
    throw e;
  }
}
