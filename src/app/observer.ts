import type { Logger } from 'pino';
import type { Metrics } from '../observe/metrics.ts';
import type { PipelineObserver } from '../pipeline/deps.ts';

/** Turns pipeline events into the seed's log lines and the metrics. */
export function pipelineObserver(log: Logger, metrics: Metrics): PipelineObserver {
  return {
    recorded: (record, context) => {
      metrics.decision(record.stage, record.outcome, record.code);
      const fields = {
        workflow_id: record.workflow?.id,
        step_name: record.step,
        image: context.image,
        namespace: context.namespace,
        stage: record.stage,
        outcome: record.outcome,
        code: record.code,
        decision_id: record.decision_id,
        seq: record.seq,
      };
      const message =
        record.stage === 'create' && record.outcome === 'allow'
          ? `Starting step execution: ${record.message}`
          : record.message;
      if (record.outcome === 'error') log.error(fields, message);
      else if (record.outcome === 'deny' || record.outcome === 'failure') log.warn(fields, message);
      else log.info(fields, message);
    },
    unrecorded: (stage, outcome, code) => metrics.decision(stage, outcome, code),
    workflowsRunning: (count) => metrics.workflowsRunning(count),
    workflowFinished: (status) => metrics.workflowFinished(status),
    stepFinished: (step, seconds) => metrics.stepFinished(step, seconds),
    problem: (error) => log.warn({ code: error.code }, error.message),
    internalError: (error) =>
      log.error(
        {
          err:
            error instanceof Error ? { type: error.name, message: error.message, stack: error.stack } : String(error),
        },
        'internal error',
      ),
  };
}
