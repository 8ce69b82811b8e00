/**
 * `serve`'s link to the control plane (pull mode): the runner token, the client that registers,
 * heartbeats, long-polls and posts events, and the observer that turns audit records and step logs
 * into those events. Without `controlPlane.url` there is no client (push mode only).
 */
import type { Logger } from 'pino';
import { ControlPlaneClient } from '../adapters/control-plane-client.ts';
import { eventOf, type ControlPlaneEvent } from '../adapters/control-plane-event.ts';
import type { Cancel, Intake } from '../adapters/control-plane-poll.ts';
import type { Config } from '../config/schema.ts';
import { HEADER_TOKEN, HEADER_TOKEN_RULE } from '../config/schema-fields.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { PipelineObserver } from '../pipeline/deps.ts';
import { OPERATOR_FILE_MAX_BYTES, readOperatorText } from '../adapters/operator-file.ts';

type StepLog = Parameters<NonNullable<PipelineObserver['stepLog']>>[0];

/** The package version `serve` registers with. */
export const RUNNER_VERSION = '0.1.0';

/** The client once phase 2 has started it; events recorded before then are not forwarded. */
export interface ControlPlaneLink {
  client?: ControlPlaneClient | undefined;
}

/**
 * The runner token: `runner.token` (RUNNER_TOKEN; the config schema has checked it), else the
 * trimmed content of `runner.tokenFile`, which must be a token an HTTP header can carry
 * (HEADER_TOKEN: visible ASCII, not empty; red team 18, finding 8). Throws, naming the key and
 * the file but never the token, when the file's content is not one, and when `controlPlane.url`
 * is set and there is no token (start-up errors, STARTUP_FAILED: pull mode cannot register).
 */
export async function runnerToken(config: Config): Promise<string | undefined> {
  const file = config.runner.tokenFile;
  const token =
    config.runner.token ??
    (file !== undefined ? (await readOperatorText(file, OPERATOR_FILE_MAX_BYTES.secret)).trim() : undefined);
  if (token !== undefined && config.runner.token === undefined && !HEADER_TOKEN.test(token))
    throw new Error(`runner.tokenFile ${file ?? ''}: the token in it ${token === '' ? 'is empty' : HEADER_TOKEN_RULE}`);
  if (config.controlPlane.url !== undefined && token === undefined)
    throw new Error(
      'controlPlane.url is set but there is no runner token (runner.token, runner.tokenFile or RUNNER_TOKEN)',
    );
  return token;
}

/**
 * `base` plus forwarding: each audit record's event and each step log chunk go to the control
 * plane's queue. `stepLog` is there only while a client is (pull mode, from phase 2 on): without
 * one (push mode) the pipeline reads no step's log at all (src/reconcile/logs.ts asks for
 * `stepLog` before each read) instead of one API GET per step thrown away (issue 20 §2).
 */
export function forwardingObserver(
  base: PipelineObserver,
  link: ControlPlaneLink,
  runner: string,
  log: Logger,
): PipelineObserver {
  const stepLog = (l: StepLog): void => {
    if (link.client?.enqueue(logEvent(l, runner)) === false)
      log.error(
        { code: 'CONTROL_PLANE_EVENTS_FULL', workflow_id: l.workflow.id, step_name: l.step },
        'control-plane event queue is full; a log chunk was not queued',
      );
  };
  return {
    ...base,
    get stepLog() {
      return link.client === undefined ? undefined : stepLog;
    },
    recorded: (record, context) => {
      base.recorded(record, context);
      const event = link.client === undefined ? undefined : eventOf(record, runner);
      if (event !== undefined && link.client?.enqueue(event) === false)
        log.error(
          { code: 'CONTROL_PLANE_EVENTS_FULL', decision_id: record.decision_id },
          'control-plane event queue is full; intake pauses until events are acknowledged',
        );
    },
  };
}

/** A log chunk's event. The id is fixed per run, step and chunk: a chunk sent again after a crash is de-duplicated. */
function logEvent(l: StepLog, runner: string): ControlPlaneEvent {
  return {
    id: `log:${l.run}:${l.step}:${l.chunk}`,
    runner,
    workflow: l.workflow.id,
    runId: l.workflow.runId,
    step: l.step,
    phase: 'Log' as const,
    log: l.text,
    chunk: l.chunk,
    ...(l.truncated ? { truncated: true } : {}),
    time: new Date().toISOString(),
  };
}

/** What the client hands work to, and asks before polling for more. */
export interface ControlPlaneIntake {
  readonly intake: Intake;
  readonly cancel: Cancel;
  readonly canAccept: () => boolean;
}

/** The control-plane client for `controlPlane.url` with the runner's capabilities; not yet started. */
export function controlPlaneClient(
  config: Config,
  token: string,
  url: string,
  handlers: ControlPlaneIntake,
  log: Logger,
  metrics: Metrics,
): ControlPlaneClient {
  const { workflow } = config.runner;
  return new ControlPlaneClient(
    {
      url,
      runner: config.runner.name,
      token,
      version: RUNNER_VERSION,
      capabilities: {
        maxConcurrent: workflow.maxConcurrent,
        namespaces: [workflow.namespace],
        gpu: true,
        podSecurityStandard: 'restricted',
      },
      pollWaitSeconds: 20,
      heartbeatMs: 10_000,
      backoff: { initialMs: 500, maxMs: 30_000 },
      requestTimeoutMs: 10_000,
      eventBatch: 100,
      eventQueueMax: 10_000,
      maxTokenBytes: config.controlPlane.maxTokenBytes,
      onError: (operation, message) => {
        metrics.controlPlaneError(operation);
        log.warn(
          { code: 'CONTROL_PLANE_UNAVAILABLE', operation, reason: message },
          'control plane call failed; retrying with backoff',
        );
      },
    },
    handlers.intake,
    handlers.canAccept,
    handlers.cancel,
  );
}

/**
 * Pull mode, in phase 2: with `controlPlane.url` and a runner token, the client for them is made,
 * linked (`link.client`: events are forwarded from now on) and started; without either, nothing
 * (push mode only).
 */
export function startPulling(
  link: ControlPlaneLink,
  config: Config,
  token: string | undefined,
  handlers: ControlPlaneIntake,
  log: Logger,
  metrics: Metrics,
): void {
  if (config.controlPlane.url === undefined || token === undefined) return;
  link.client = controlPlaneClient(config, token, config.controlPlane.url, handlers, log, metrics);
  link.client.start();
}
